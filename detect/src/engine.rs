//! Evaluates rules against the window store at an event time and turns firing groups into
//! candidates with evidence; keeps only cooldown state, so a reload loses nothing.

use crate::rules::{Condition, Environment, Rule, RuleSet};
use model::{
    Evidence, IncidentCandidate, LabelSet, METRIC_NAME, MetricEvidence, OwnerIndex, Sample,
    Severity,
};
use std::collections::{BTreeMap, HashMap};
use windows::{Selector, Store, WindowQuery, WindowRow, WindowSpan};

/// What one evaluation found.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub candidates: Vec<IncidentCandidate>,
    /// Rules evaluated (enabled, not suppressed).
    pub rules_evaluated: usize,
}

/// The rule detector.
#[derive(Debug)]
pub struct Detector {
    rules: RuleSet,
    environment: Environment,
    /// (rule, target) → event time it last fired, for cooldowns.
    last_fired: HashMap<(String, String), i64>,
    /// Pod owners recorded in the store at the last evaluation, for rules targeting pods.
    owners: OwnerIndex,
}

/// R² of a least-squares line through the points.
fn fit(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 3 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    (sxy * sxy) / (sxx * syy)
}

fn group_key(labels: &LabelSet, by: &[String]) -> LabelSet {
    LabelSet::from_pairs(
        by.iter()
            .filter_map(|name| labels.get(name).map(|v| (name.clone(), v.to_owned()))),
    )
    .unwrap_or_default()
}

impl Detector {
    pub fn new(rules: RuleSet, environment: Environment) -> Self {
        Self {
            rules,
            environment,
            last_fired: HashMap::new(),
            owners: OwnerIndex::default(),
        }
    }

    /// Swaps in new rules; cooldown state is kept.
    pub fn reload(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    fn query(selector: &Selector, rule: &Rule, window: WindowSpan, at_ms: i64) -> WindowQuery {
        WindowQuery {
            selectors: vec![selector.clone()],
            window,
            at_ms: Some(at_ms),
            by: Some(rule.by.clone()),
        }
    }

    fn by_group(rows: Vec<WindowRow>) -> BTreeMap<LabelSet, windows::Aggregates> {
        rows.into_iter().map(|r| (r.labels, r.aggregates)).collect()
    }

    /// Evaluates every enabled rule at event time `at_ms`.
    pub fn evaluate(&mut self, store: &Store, at_ms: i64) -> Evaluation {
        let mut evaluation = Evaluation::default();
        let rules = self.rules.rules.clone();
        self.owners = if rules.iter().any(|r| r.target.from_pod) {
            store.owners()
        } else {
            OwnerIndex::default()
        };
        for rule in &rules {
            if !rule.enabled_in(self.environment)
                || rule
                    .suppress
                    .iter()
                    .any(|s| s.start_ms <= at_ms && at_ms < s.end_ms)
            {
                continue;
            }
            let Some(selector) = rule.selector.as_ref() else {
                continue;
            };
            evaluation.rules_evaluated += 1;
            let rows = store
                .window(&Self::query(selector, rule, rule.window, at_ms))
                .series;
            for (labels, observed, expected, aggregate) in fired(store, rule, selector, rows, at_ms)
            {
                if let Some(candidate) =
                    self.candidate(rule, &labels, observed, expected, aggregate, at_ms)
                {
                    evaluation.candidates.push(candidate);
                }
            }
        }
        evaluation
    }

    fn candidate(
        &mut self,
        rule: &Rule,
        labels: &LabelSet,
        observed: f64,
        expected: f64,
        aggregate: &str,
        at_ms: i64,
    ) -> Option<IncidentCandidate> {
        let raw_target = labels.get(&rule.target.label)?;
        let target = if rule.target.from_pod {
            self.owners
                .workload_of(labels.get("namespace"), raw_target)
                .name
        } else {
            raw_target
        }
        .to_owned();
        let key = (rule.name.clone(), target.clone());
        if let (Some(cooldown), Some(last)) = (rule.cooldown, self.last_fired.get(&key))
            && at_ms - last < cooldown.ms
        {
            return None;
        }
        self.last_fired.insert(key, at_ms);
        let margin = ((observed - expected).abs() / expected.abs().max(1e-9)).min(1.0);
        let severity = match &rule.escalate {
            Some(e) if observed > e.above => e.severity,
            _ => rule.severity,
        };
        let mut series: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(name) = rule.selector.as_ref().and_then(Selector::metric_name) {
            series.push((METRIC_NAME.to_owned(), name.to_owned()));
        }
        for (k, v) in &rule.labels {
            series.push((format!("route_{k}"), v.clone()));
        }
        Some(IncidentCandidate {
            incident_type: rule.incident_type,
            scope: rule.target.scope,
            target,
            namespace: labels.get("namespace").map(str::to_owned),
            node: labels.get("node").map(str::to_owned),
            confidence: (0.55 + 0.4 * margin).min(0.95),
            severity: if severity < Severity::Warning {
                Severity::Warning
            } else {
                severity
            },
            detector: rule.name.clone(),
            origin: model::Origin::Rules,
            detected_at_ms: at_ms,
            signal: model::Signal::Firing,
            source: model::DEFAULT_SOURCE.to_owned(),
            affects: Vec::new(),
            evidence: Evidence {
                metrics: vec![MetricEvidence {
                    id: format!("{}:{}", rule.name, labels),
                    series: LabelSet::from_pairs(series).unwrap_or_default(),
                    window: rule.window.label(),
                    aggregate: aggregate.to_owned(),
                    observed,
                    expected: Some(expected),
                    rule: rule.name.clone(),
                    at_ms,
                }],
                events: Vec::new(),
            },
        })
    }
}

type Fired = (LabelSet, f64, f64, &'static str);

/// The groups for which `rule` holds at `at_ms`, with the observed and expected values.
fn fired(
    store: &Store,
    rule: &Rule,
    selector: &Selector,
    rows: Vec<WindowRow>,
    at_ms: i64,
) -> Vec<Fired> {
    let mut out = Vec::new();
    match &rule.condition {
        Condition::Threshold {
            aggregate,
            op,
            value,
        } => {
            for row in rows {
                if let Some(v) = aggregate.of(&row.aggregates)
                    && op.holds(v, *value)
                {
                    out.push((row.labels, v, *value, aggregate.name()));
                }
            }
        }
        Condition::RateOfChange { aggregate, above } => {
            let before = Detector::by_group(
                store
                    .window(&Detector::query(
                        selector,
                        rule,
                        rule.window,
                        at_ms - rule.window.ms,
                    ))
                    .series,
            );
            for row in rows {
                let now = aggregate.of(&row.aggregates);
                let then = before.get(&row.labels).and_then(|a| aggregate.of(a));
                if let (Some(now), Some(then)) = (now, then)
                    && then.abs() > 0.0
                {
                    let change = (now - then) / then.abs();
                    if change > *above {
                        out.push((row.labels, change, *above, "relative_change"));
                    }
                }
            }
        }
        Condition::Slope { above, min_fit } => {
            let rising: Vec<WindowRow> = rows
                .into_iter()
                .filter(|r| r.aggregates.slope.is_some_and(|s| s > *above))
                .collect();
            if rising.is_empty() {
                return out;
            }
            // Fit of the group's per-timestamp sum over the window.
            let samples = store.samples(selector, at_ms - rule.window.ms, at_ms);
            let mut sums: BTreeMap<LabelSet, BTreeMap<i64, f64>> = BTreeMap::new();
            for (labels, points) in samples {
                let group = sums.entry(group_key(&labels, &rule.by)).or_default();
                for Sample {
                    timestamp_ms,
                    value,
                } in points
                {
                    *group.entry(timestamp_ms).or_default() += value;
                }
            }
            for row in rising {
                let points: Vec<(f64, f64)> = sums
                    .get(&row.labels)
                    .map(|m| m.iter().map(|(t, v)| (*t as f64 / 1000.0, *v)).collect())
                    .unwrap_or_default();
                // A trend needs most of the window: a few minutes of one GC ramp is no leak.
                let covered = match (points.first(), points.last()) {
                    (Some(first), Some(last)) => last.0 - first.0,
                    _ => 0.0,
                };
                let enough = covered >= 0.8 * rule.window.ms as f64 / 1000.0;
                if enough && fit(&points) >= *min_fit {
                    let slope = row.aggregates.slope.unwrap_or(0.0);
                    out.push((row.labels, slope, *above, "slope"));
                }
            }
        }
        Condition::PredictToFull { toward, horizon } => {
            // A prediction needs most of the window too: two fresh samples make no trend.
            let mut spans: BTreeMap<LabelSet, (i64, i64)> = BTreeMap::new();
            for (labels, points) in store.samples(selector, at_ms - rule.window.ms, at_ms) {
                let (Some(first), Some(last)) = (points.first(), points.last()) else {
                    continue;
                };
                let span = spans
                    .entry(group_key(&labels, &rule.by))
                    .or_insert((i64::MAX, i64::MIN));
                span.0 = span.0.min(first.timestamp_ms);
                span.1 = span.1.max(last.timestamp_ms);
            }
            let needed = rule.window.ms as f64 * 0.8;
            for row in rows {
                let covered = spans.get(&row.labels).map_or(0, |(a, b)| b - a);
                if (covered as f64) < needed {
                    continue;
                }
                let (Some(last), Some(slope)) = (row.aggregates.last, row.aggregates.slope) else {
                    continue;
                };
                if slope == 0.0 {
                    continue;
                }
                let seconds = (toward - last) / slope;
                let limit = horizon.ms as f64 / 1000.0;
                if seconds > 0.0 && seconds < limit {
                    out.push((row.labels, seconds, limit, "seconds_to_limit"));
                }
            }
        }
        Condition::BaselineRatio {
            aggregate,
            baseline,
            above,
            min,
        } => {
            let before = Detector::by_group(
                store
                    .window(&Detector::query(
                        selector,
                        rule,
                        *baseline,
                        at_ms - rule.window.ms,
                    ))
                    .series,
            );
            for row in rows {
                let now = aggregate.of(&row.aggregates);
                let base = before.get(&row.labels).and_then(|a| aggregate.of(a));
                if let (Some(now), Some(base)) = (now, base)
                    && base > 0.0
                    && now >= *min
                    && now / base > *above
                {
                    out.push((row.labels, now, base * above, aggregate.name()));
                }
            }
        }
        Condition::Ratio {
            above,
            min_denominator,
            ..
        } => {
            let Some(numerator) = rule.other.as_ref() else {
                return out;
            };
            let top = Detector::by_group(
                store
                    .window(&Detector::query(numerator, rule, rule.window, at_ms))
                    .series,
            );
            for row in rows {
                let Some(total) = row.aggregates.rate.filter(|r| *r >= *min_denominator) else {
                    continue;
                };
                let part = top.get(&row.labels).and_then(|a| a.rate).unwrap_or(0.0);
                let ratio = part / total;
                if ratio > *above {
                    out.push((row.labels, ratio, *above, "ratio"));
                }
            }
        }
        Condition::Compare { aggregate, op, .. } => {
            let Some(other) = rule.other.as_ref() else {
                return out;
            };
            let others = Detector::by_group(
                store
                    .window(&Detector::query(other, rule, rule.window, at_ms))
                    .series,
            );
            for row in rows {
                let this = aggregate.of(&row.aggregates);
                let that = others.get(&row.labels).and_then(|a| aggregate.of(a));
                if let (Some(this), Some(that)) = (this, that)
                    && op.holds(this, that)
                {
                    out.push((row.labels, this, that, aggregate.name()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names_from_pods() {
        let deployment_of = |pod| model::workload_of(pod).name;
        assert_eq!(deployment_of("payments-api-7d9c5b0f-x0q0"), "payments-api");
        assert_eq!(deployment_of("checkout-5f6d7c8b9-abcde"), "checkout");
        assert_eq!(deployment_of("standalone"), "standalone");
        // A plain name ending in a five-letter word is not a generated one.
        assert_eq!(deployment_of("auth-api-proxy"), "auth-api-proxy");
        assert_eq!(
            deployment_of("auth-api-proxy-6c9f7d8b5-x2x1k"),
            "auth-api-proxy"
        );
    }

    #[test]
    fn fit_of_a_line_is_one() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 * i as f64)).collect();
        assert!((fit(&line) - 1.0).abs() < 1e-12);
        let flat_noise = [(0.0, 1.0), (1.0, -1.0), (2.0, 1.0), (3.0, -1.0)];
        assert!(fit(&flat_noise) < 0.5);
    }
}
