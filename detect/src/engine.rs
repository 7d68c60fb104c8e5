//! Evaluates rules against the window store at an event time and turns firing groups into
//! candidates with evidence; keeps only cooldown state, so a reload loses nothing.

use crate::rules::{Condition, Environment, Rule, RuleSet};
use model::{
    Evidence, IncidentCandidate, LabelSet, METRIC_NAME, MetricEvidence, OwnerIndex, Sample,
    Severity, human,
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
            // A finding that fired within the rule's window holds while its absolute floor is
            // crossed, even once a baseline has caught up with it.
            let held = |labels: &LabelSet| {
                let Some(raw) = labels.get(&rule.target.label) else {
                    return false;
                };
                let target = if rule.target.from_pod {
                    self.owners.workload_of(labels.get("namespace"), raw).name
                } else {
                    raw
                };
                self.last_fired
                    .get(&(rule.name.clone(), target.to_owned()))
                    .is_some_and(|last| at_ms - last <= rule.window.ms)
            };
            let hits = fired(store, rule, selector, rows, at_ms, &self.owners, &held);
            for hit in hits {
                if let Some(candidate) = self.candidate(rule, hit, at_ms) {
                    evaluation.candidates.push(candidate);
                }
            }
        }
        evaluation
    }

    fn candidate(&mut self, rule: &Rule, hit: Hit, at_ms: i64) -> Option<IncidentCandidate> {
        let Hit {
            labels,
            observed,
            expected,
            aggregate,
            vars,
            sentence,
        } = hit;
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
        let metric = rule
            .selector
            .as_ref()
            .and_then(Selector::metric_name)
            .unwrap_or("");
        let summary = say(
            rule, &labels, &target, metric, observed, expected, &vars, sentence,
        );
        let mut series: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if !metric.is_empty() {
            series.push((METRIC_NAME.to_owned(), metric.to_owned()));
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
                    summary: Some(summary),
                }],
                events: Vec::new(),
            },
        })
    }
}

/// One firing group: what was measured, against what, and the words to say it in.
#[derive(Debug, Clone)]
struct Hit {
    labels: LabelSet,
    observed: f64,
    expected: f64,
    aggregate: &'static str,
    /// Values for the rule's `say` placeholders, already in operator units.
    vars: Vec<(&'static str, String)>,
    /// The condition's own sentence, used when the rule has no `say`.
    sentence: String,
}

impl Hit {
    fn new(labels: LabelSet, observed: f64, expected: f64, aggregate: &'static str) -> Self {
        Self {
            labels,
            observed,
            expected,
            aggregate,
            vars: Vec::new(),
            sentence: String::new(),
        }
    }
}

/// The rule's `say` with its placeholders filled, or the condition's own sentence.
#[allow(clippy::too_many_arguments)]
fn say(
    rule: &Rule,
    labels: &LabelSet,
    target: &str,
    metric: &str,
    observed: f64,
    expected: f64,
    vars: &[(&'static str, String)],
    sentence: String,
) -> String {
    let Some(template) = &rule.say else {
        return sentence;
    };
    let unit = |v: f64| match rule.condition {
        Condition::Threshold { aggregate, .. }
            if matches!(aggregate.name(), "count" | "increase") =>
        {
            human::number(v.round())
        }
        _ => human::in_unit_of(metric, v),
    };
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        let value = match name {
            "target" => target.to_owned(),
            "value" => unit(observed),
            "expected" => unit(expected),
            "window" => human::duration_secs(rule.window.ms as f64 / 1000.0),
            "what" => what(rule, metric).to_owned(),
            "metric" => metric.to_owned(),
            _ => vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| labels.get(name).map(str::to_owned))
                .unwrap_or_default(),
        };
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// What the series measures, for sentences.
fn what<'a>(rule: &'a Rule, metric: &'a str) -> &'a str {
    match &rule.what {
        Some(w) => w,
        None if metric.is_empty() => "the series",
        None => metric,
    }
}

/// Who a group is about, in words: `payments-api (pod payments-api-7d9c5b0f-x0q0)`.
fn subject(rule: &Rule, labels: &LabelSet, owners: &OwnerIndex) -> String {
    let raw = labels.get(&rule.target.label).unwrap_or("");
    if rule.target.from_pod {
        let workload = owners.workload_of(labels.get("namespace"), raw).name;
        if workload == raw {
            format!("pod {raw}")
        } else {
            format!("{workload} (pod {raw})")
        }
    } else {
        match rule.target.scope {
            model::Scope::Node => format!("node {raw}"),
            _ => raw.to_owned(),
        }
    }
}

/// A rate per minute in the metric's unit: `2 MiB/min`, `48/min`.
fn per_minute(metric: &str, per_second: f64) -> String {
    let v = per_second * 60.0;
    if metric.ends_with("_bytes") {
        format!("{}/min", human::in_unit_of(metric, v))
    } else {
        format!("{}/min", human::number(v))
    }
}

/// Per-group levels of `segments` equal slices of the window, with the slice's middle time
/// (s) and the level's standard error: the mean of each slice without its highest and lowest
/// tenth, and the spread of what is left over the square root of its count. A line through them
/// ignores noise and single outliers, and a GC sawtooth faster than a slice averages out
/// (a median would jump between the sawtooth's levels as slices cut its cycles differently).
fn levels(points: &[(f64, f64)], from_s: f64, to_s: f64, segments: usize) -> Vec<(f64, f64, f64)> {
    let width = (to_s - from_s) / segments as f64;
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); segments];
    for &(t, v) in points {
        let i = (((t - from_s) / width).floor().max(0.0) as usize).min(segments - 1);
        buckets[i].push(v);
    }
    buckets
        .into_iter()
        .enumerate()
        .filter(|(_, b)| !b.is_empty())
        .map(|(i, mut b)| {
            b.sort_by(f64::total_cmp);
            let trim = b.len() / 10;
            let kept = &b[trim..b.len() - trim];
            let n = kept.len() as f64;
            let level = kept.iter().sum::<f64>() / n;
            let spread = if kept.len() > 1 {
                (kept.iter().map(|v| (v - level) * (v - level)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            (from_s + (i as f64 + 0.5) * width, level, spread / n.sqrt())
        })
        .collect()
}

/// Least-squares line: (slope, intercept at x = 0).
fn line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    (sxx > 0.0).then(|| {
        let slope = sxy / sxx;
        (slope, my - slope * mx)
    })
}

/// Whether a series rises as a line over the window: what a leak looks like and a GC
/// sawtooth, a warming cache or a daily swing does not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Steadiness {
    /// Per second, from the slices' levels (of the second half where it rises faster).
    pub slope: f64,
    /// The line's value at the window's end.
    pub level: f64,
    /// R² of the slices' levels against the line.
    pub fit: f64,
    /// Share of steps between consecutive slices' levels that rise.
    pub rising: f64,
    /// Slope of the window's second half over the whole window's (a fading rise is a warm-up).
    pub holding: f64,
    /// The whole window's slope in standard errors of the slices' own levels: a GC sawtooth
    /// whose slices alias into a slow wave has a wide spread and scores low, a leak high.
    pub significance: f64,
    /// How far the first half's slope stands above the second's, in standard errors of the
    /// difference: a warm-up's tail fades, a leak does not.
    pub fading: f64,
}

/// Levels over nine slices of the window: enough to see the shape, each holding enough
/// samples (at 15 s, 20 in a 45-minute window) for its level to shrug off the noise.
const SLICES: usize = 9;

/// The steadiness of the points (time in s) over `(from_s, to_s]`.
pub fn steadiness(points: &[(f64, f64)], from_s: f64, to_s: f64) -> Option<Steadiness> {
    let slices = levels(points, from_s, to_s, SLICES);
    if slices.len() < SLICES - 2 {
        return None;
    }
    let m = levels_of(&slices);
    let (slope, intercept) = line(&m)?;
    let significance = ratio(slope, slope_variance(&slices));
    // A rise that fades: the first half's slope above the second's, in standard errors of
    // their difference. A steady leak scores about 0 either way; a cache warming towards its
    // level scores tens however long it keeps creeping.
    let mid = slices.len() / 2;
    let (early, late) = (line(&m[..=mid]), line(&m[mid..]));
    let fading = match (early, late) {
        (Some((e, _)), Some((l, _))) => ratio(
            e - l,
            slope_variance(&slices[..=mid]) + slope_variance(&slices[mid..]),
        ),
        _ => 0.0,
    };
    let rising = m.windows(2).filter(|w| w[1].1 > w[0].1).count() as f64 / (m.len() - 1) as f64;
    let holding = match late {
        Some((late, _)) if slope.abs() > 0.0 => late / slope,
        _ => 0.0,
    };
    // Growth that began inside the window is steeper in its second half: that half tells its
    // rate and where it stands now.
    let (slope_now, level_now) = match late {
        Some((late, at0)) if late > slope => (late, at0 + late * to_s),
        _ => (slope, intercept + slope * to_s),
    };
    Some(Steadiness {
        slope: slope_now,
        level: level_now,
        fit: fit(&m),
        rising,
        holding,
        significance,
        fading,
    })
}

/// Whether the rise before the window (`earlier`, as far back as the store holds it, up to a
/// window) ran faster than the window's `slope` over [`MIN_HOLDING`], by more than
/// [`MIN_FADED`] standard errors: the tail of a warm-up, which creeps on long after a start
/// but at a fraction of its earlier pace, where a leak keeps its pace.
fn faded(earlier: &[(f64, f64)], from_s: f64, window_s: f64, slope: f64) -> bool {
    let slice_s = window_s / SLICES as f64;
    let Some(first) = earlier.first() else {
        return false;
    };
    let count = (((from_s - first.0) / slice_s).floor() as usize).min(SLICES);
    if count < 2 {
        return false;
    }
    let start = from_s - count as f64 * slice_s;
    let kept: Vec<(f64, f64)> = earlier.iter().copied().filter(|p| p.0 > start).collect();
    let slices = levels(&kept, start, from_s, count);
    if slices.len() < 2 {
        return false;
    }
    let Some((before, _)) = line(&levels_of(&slices)) else {
        return false;
    };
    ratio(before - slope / MIN_HOLDING, slope_variance(&slices)) >= MIN_FADED
}

fn levels_of(slices: &[(f64, f64, f64)]) -> Vec<(f64, f64)> {
    slices.iter().map(|&(t, level, _)| (t, level)).collect()
}

/// The variance of the least-squares slope through the slices' levels, from their own
/// standard errors: Var(b) = Σ ((tᵢ − t̄)/Sxx)² · seᵢ².
fn slope_variance(slices: &[(f64, f64, f64)]) -> f64 {
    let mean_t = slices.iter().map(|s| s.0).sum::<f64>() / slices.len() as f64;
    let sxx = slices
        .iter()
        .map(|s| (s.0 - mean_t) * (s.0 - mean_t))
        .sum::<f64>();
    if sxx <= 0.0 {
        return 0.0;
    }
    slices
        .iter()
        .map(|&(t, _, se)| ((t - mean_t) / sxx).powi(2) * se * se)
        .sum()
}

/// `value` in standard deviations of `variance` (infinite for a positive value and none).
fn ratio(value: f64, variance: f64) -> f64 {
    if variance > 0.0 {
        value / variance.sqrt()
    } else if value > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// How many standard errors `rise` stands above the wandering of the points' own steps:
/// rise / (σ of the steps · √steps), the t statistic of the mean step. A random walk scores
/// about 1 whatever its path; a queue filling faster than it drains scores tens.
fn drift_z(points: &[(f64, f64)], rise: f64) -> f64 {
    let steps: Vec<f64> = points.windows(2).map(|w| w[1].1 - w[0].1).collect();
    if steps.len() < 2 {
        return 0.0;
    }
    let n = steps.len() as f64;
    let mean = steps.iter().sum::<f64>() / n;
    let var = steps.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (n - 1.0);
    let spread = var.sqrt() * n.sqrt();
    if spread > 0.0 {
        rise / spread
    } else if rise > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// A rise whose second half keeps at least this share of the whole window's slope is steady;
/// a cache warming up after a start flattens well below it.
const MIN_HOLDING: f64 = 0.5;

/// A rise must stand this many standard errors above the slices' own spread (about one chance
/// in thirty thousand of arising from the spread alone).
const MIN_SIGNIFICANCE: f64 = 4.0;

/// A rise whose first half outpaces its second by this many standard errors is fading (about
/// one chance in a thousand for a steady one, which the next evaluation sees again).
const MAX_FADING: f64 = 3.0;

/// A pace before the window this many standard errors above twice the window's has faded. The
/// few slices before the window give a wide error, so the bar is lower: a steady rise passes
/// it about once in forty evaluations, and the next ones see it again.
const MIN_FADED: f64 = 2.0;

/// The group's limit: the first limit selector with a positive value for the group's `on`
/// labels (0 in cAdvisor's `container_spec_memory_limit_bytes` means no limit).
fn limits(store: &Store, rule: &Rule, on: &[String], at_ms: i64) -> Vec<BTreeMap<LabelSet, f64>> {
    rule.limits
        .iter()
        .map(|selector| {
            let query = WindowQuery {
                selectors: vec![selector.clone()],
                window: WindowSpan {
                    ms: rule.window.ms.min(15 * 60_000),
                },
                at_ms: Some(at_ms),
                by: Some(on.to_vec()),
            };
            store
                .window(&query)
                .series
                .into_iter()
                .filter_map(|r| {
                    r.aggregates
                        .last
                        .filter(|v| *v > 0.0)
                        .map(|v| (r.labels, v))
                })
                .collect()
        })
        .collect()
}

fn limit_of(found: &[BTreeMap<LabelSet, f64>], labels: &LabelSet, on: &[String]) -> Option<f64> {
    let key = group_key(labels, on);
    found.iter().find_map(|m| m.get(&key).copied())
}

/// The group's samples in `(from_ms, at_ms]`, summed per timestamp, with time in seconds.
fn group_points(
    store: &Store,
    rule: &Rule,
    selector: &Selector,
    from_ms: i64,
    at_ms: i64,
) -> BTreeMap<LabelSet, Vec<(f64, f64)>> {
    let samples = store.samples(selector, from_ms, at_ms);
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
    sums.into_iter()
        .map(|(k, m)| {
            (
                k,
                m.into_iter().map(|(t, v)| (t as f64 / 1000.0, v)).collect(),
            )
        })
        .collect()
}

/// Whether the points cover most of the window: a trend needs it, two fresh samples make none.
fn covers(points: &[(f64, f64)], window: WindowSpan) -> bool {
    match (points.first(), points.last()) {
        (Some(first), Some(last)) => last.0 - first.0 >= 0.8 * window.ms as f64 / 1000.0,
        _ => false,
    }
}

/// The groups for which `rule` holds at `at_ms`, with the observed and expected values.
fn fired(
    store: &Store,
    rule: &Rule,
    selector: &Selector,
    rows: Vec<WindowRow>,
    at_ms: i64,
    owners: &OwnerIndex,
    held: &dyn Fn(&LabelSet) -> bool,
) -> Vec<Hit> {
    let mut out = Vec::new();
    let metric = selector.metric_name().unwrap_or("");
    let unit = |v: f64| human::in_unit_of(metric, v);
    let window_words = human::duration_secs(rule.window.ms as f64 / 1000.0);
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
                    let mut hit = Hit::new(row.labels, v, *value, aggregate.name());
                    let who = subject(rule, &hit.labels, owners);
                    hit.sentence = format!(
                        "{} of {who} is {} over {window_words} ({} {})",
                        what(rule, metric),
                        human::number(v),
                        op.symbol(),
                        human::number(*value)
                    );
                    hit.vars.push(("subject", who));
                    out.push(hit);
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
            let mut firing = Vec::new();
            for row in rows {
                let now = aggregate.of(&row.aggregates);
                let then = before.get(&row.labels).and_then(|a| aggregate.of(a));
                if let (Some(now), Some(then)) = (now, then)
                    && then.abs() > 0.0
                    && (now - then) / then.abs() > *above
                {
                    firing.push((row, now, then));
                }
            }
            // A series younger than three windows is starting up, not jumping: its first
            // window is the start itself and the next one still settling (a cache warming).
            let from = at_ms - 3 * rule.window.ms;
            let spans = if firing.is_empty() {
                BTreeMap::new()
            } else {
                group_points(store, rule, selector, from, at_ms)
            };
            for (row, now, then) in firing {
                let steady_before =
                    spans
                        .get(&row.labels)
                        .and_then(|p| p.first())
                        .is_some_and(|first| {
                            first.0 * 1000.0 <= from as f64 + 0.2 * rule.window.ms as f64
                        });
                if steady_before {
                    let change = (now - then) / then.abs();
                    {
                        let mut hit = Hit::new(row.labels, change, *above, "relative_change");
                        let who = subject(rule, &hit.labels, owners);
                        hit.sentence = format!(
                            "{} of {who} jumped {} in {window_words}, from {} to {}",
                            what(rule, metric),
                            human::percent(change),
                            unit(then),
                            unit(now)
                        );
                        hit.vars.extend([
                            ("subject", who),
                            ("now", unit(now)),
                            ("before", unit(then)),
                            ("factor", human::number(now / then)),
                        ]);
                        out.push(hit);
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
            let sums = group_points(store, rule, selector, at_ms - rule.window.ms, at_ms);
            for row in rising {
                let points = sums.get(&row.labels).map(Vec::as_slice).unwrap_or(&[]);
                if covers(points, rule.window) && fit(points) >= *min_fit {
                    let slope = row.aggregates.slope.unwrap_or(0.0);
                    let mut hit = Hit::new(row.labels, slope, *above, "slope");
                    let who = subject(rule, &hit.labels, owners);
                    hit.sentence = format!(
                        "{} of {who} rises {} steadily over {window_words}",
                        what(rule, metric),
                        per_minute(metric, slope)
                    );
                    hit.vars.push(("subject", who));
                    out.push(hit);
                }
            }
        }
        Condition::Growth {
            min_fit,
            min_rising,
            on,
            horizon,
            min_growth_per_hour,
            min_drift_z,
            ..
        } => {
            let on = if on.is_empty() { &rule.by } else { on };
            // The window and, where the store still holds it, the window before.
            let sums = group_points(store, rule, selector, at_ms - 2 * rule.window.ms, at_ms);
            let found = limits(store, rule, on, at_ms);
            // The group's own level before the window, where the store still holds it.
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
            let to_s = at_ms as f64 / 1000.0;
            let from_s = to_s - rule.window.ms as f64 / 1000.0;
            for (labels, all) in sums {
                let (earlier, points) = all.split_at(all.partition_point(|p| p.0 <= from_s));
                // Growth is judged over the whole window: a pod younger than the window is
                // still starting (caches warming, pools filling).
                let whole = points
                    .first()
                    .is_some_and(|first| first.0 <= from_s + 0.05 * rule.window.ms as f64 / 1000.0);
                if !whole {
                    continue;
                }
                let Some(st) = steadiness(points, from_s, to_s) else {
                    continue;
                };
                let steady = st.slope > 0.0
                    && st.fit >= *min_fit
                    && st.rising >= *min_rising
                    && st.holding >= MIN_HOLDING
                    && st.significance >= MIN_SIGNIFICANCE
                    && st.fading < MAX_FADING;
                let window_s = rule.window.ms as f64 / 1000.0;
                if !steady || faded(earlier, from_s, window_s, st.slope) {
                    continue;
                }
                if let Some(z) = min_drift_z
                    && drift_z(points, st.slope * window_s) < *z
                {
                    continue;
                }
                // Growth relative to the group's own level: where the window started, or the
                // most it held in the span before the window if more (a queue wandering up
                // from near empty has not tripled against what it usually holds).
                let usual = before.get(&labels).and_then(|a| a.max).unwrap_or(0.0);
                let start = (st.level - st.slope * window_s)
                    .max(usual)
                    .max(st.level.abs() * 0.01)
                    .max(f64::MIN_POSITIVE);
                let per_hour = st.slope * 3600.0 / start;
                // With a limit, what matters is the time left before it is reached; without
                // one, how fast the value grows against its own level.
                let limit = limit_of(&found, &labels, on);
                let seconds = limit.map(|l| ((l - st.level) / st.slope).max(0.0));
                let horizon_s = horizon.ms as f64 / 1000.0;
                let matters = match seconds {
                    Some(s) => s <= horizon_s,
                    None => per_hour >= *min_growth_per_hour,
                };
                if !matters {
                    continue;
                }
                let who = subject(rule, &labels, owners);
                let rate = per_minute(metric, st.slope);
                let mut hit = match (limit, seconds) {
                    (Some(limit), Some(seconds)) => {
                        let mut hit = Hit::new(labels, seconds, horizon_s, "seconds_to_limit");
                        hit.sentence = format!(
                            "at {rate} {who} reaches its {} {} limit in {} ({} now, rising steadily for {window_words})",
                            unit(limit),
                            what(rule, metric),
                            human::duration_secs(seconds),
                            unit(st.level)
                        );
                        hit.vars.extend([
                            ("limit", unit(limit)),
                            ("time", human::duration_secs(seconds)),
                        ]);
                        hit
                    }
                    _ => {
                        let mut hit =
                            Hit::new(labels, per_hour, *min_growth_per_hour, "growth_per_hour");
                        hit.sentence = format!(
                            "{} of {who} rises steadily at {rate}, {} of its level an hour, for {window_words} ({} now, no limit known)",
                            what(rule, metric),
                            human::percent(per_hour),
                            unit(st.level)
                        );
                        hit
                    }
                };
                hit.vars.extend([
                    ("subject", who),
                    ("rate", rate),
                    ("level", unit(st.level)),
                    ("per_hour", human::percent(per_hour)),
                ]);
                out.push(hit);
            }
        }
        Condition::NearLimit {
            aggregate,
            on,
            above,
            ..
        } => {
            let on = if on.is_empty() { &rule.by } else { on };
            let found = limits(store, rule, on, at_ms);
            for row in rows {
                let Some(v) = aggregate.of(&row.aggregates) else {
                    continue;
                };
                let Some(limit) = limit_of(&found, &row.labels, on) else {
                    continue;
                };
                let share = v / limit;
                if share >= *above {
                    let mut hit = Hit::new(row.labels, share, *above, "share_of_limit");
                    let who = subject(rule, &hit.labels, owners);
                    hit.sentence = format!(
                        "{} of {who} stays at {} of its {} limit ({}) for {window_words}",
                        what(rule, metric),
                        human::percent(share),
                        unit(limit),
                        unit(v)
                    );
                    hit.vars.extend([
                        ("subject", who),
                        ("level", unit(v)),
                        ("limit", unit(limit)),
                        ("share", human::percent(share)),
                    ]);
                    out.push(hit);
                }
            }
        }
        Condition::PredictToFull {
            toward,
            horizon,
            min_fit,
        } => {
            let sums = group_points(store, rule, selector, at_ms - rule.window.ms, at_ms);
            for row in rows {
                let points = sums.get(&row.labels).map(Vec::as_slice).unwrap_or(&[]);
                if !covers(points, rule.window) || fit(points) < *min_fit {
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
                    let mut hit = Hit::new(row.labels, seconds, limit, "seconds_to_limit");
                    let who = subject(rule, &hit.labels, owners);
                    let left = unit((last - toward).abs());
                    let rate = per_minute(metric, slope.abs());
                    let time = human::duration_secs(seconds);
                    hit.sentence = format!(
                        "{} of {who} has {left} to go and moves {rate}: it gets there in {time}",
                        what(rule, metric)
                    );
                    hit.vars.extend([
                        ("subject", who),
                        ("left", left),
                        ("rate", rate),
                        ("time", time),
                    ]);
                    out.push(hit);
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
                    let mut hit = Hit::new(row.labels, now, base * above, aggregate.name());
                    let who = subject(rule, &hit.labels, owners);
                    hit.sentence = format!(
                        "{} {} of {who} is {} over {window_words}, {}× the {} before",
                        aggregate.name(),
                        what(rule, metric),
                        unit(now),
                        human::number(now / base),
                        unit(base)
                    );
                    hit.vars.extend([
                        ("subject", who),
                        ("now", unit(now)),
                        ("before", unit(base)),
                        ("factor", human::number(now / base)),
                    ]);
                    out.push(hit);
                }
            }
        }
        Condition::Ratio {
            above,
            min_denominator,
            baseline,
            over_baseline,
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
            let before = baseline.map(|span| {
                let at = at_ms - rule.window.ms;
                (
                    Detector::by_group(
                        store
                            .window(&Detector::query(numerator, rule, span, at))
                            .series,
                    ),
                    Detector::by_group(
                        store
                            .window(&Detector::query(selector, rule, span, at))
                            .series,
                    ),
                )
            });
            for row in rows {
                let Some(total) = row.aggregates.rate.filter(|r| *r >= *min_denominator) else {
                    continue;
                };
                let part = top.get(&row.labels).and_then(|a| a.rate).unwrap_or(0.0);
                let ratio = part / total;
                if ratio <= *above {
                    continue;
                }
                let earlier = before.as_ref().and_then(|(parts, totals)| {
                    let total = totals.get(&row.labels).and_then(|a| a.rate)?;
                    let part = parts.get(&row.labels).and_then(|a| a.rate).unwrap_or(0.0);
                    (total > 0.0).then(|| part / total)
                });
                if earlier.is_some_and(|e| ratio < over_baseline * e) && !held(&row.labels) {
                    continue;
                }
                let mut hit = Hit::new(row.labels, ratio, *above, "ratio");
                let who = subject(rule, &hit.labels, owners);
                let before_words = earlier
                    .map(|e| format!(", against {} before", human::percent(e)))
                    .unwrap_or_default();
                hit.sentence = format!(
                    "{} of {who}'s {} over {window_words} ({} of {} a second){before_words}",
                    human::percent(ratio),
                    what(rule, metric),
                    human::number(part),
                    human::number(total)
                );
                hit.vars.extend([
                    ("subject", who),
                    ("share", human::percent(ratio)),
                    (
                        "before",
                        earlier
                            .map(human::percent)
                            .unwrap_or_else(|| "?".to_owned()),
                    ),
                ]);
                out.push(hit);
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
                    let mut hit = Hit::new(row.labels, this, that, aggregate.name());
                    let who = subject(rule, &hit.labels, owners);
                    hit.sentence = format!(
                        "{} of {who} is {} against {} for {window_words}",
                        what(rule, metric),
                        human::number(this),
                        human::number(that)
                    );
                    hit.vars.push(("subject", who));
                    out.push(hit);
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

    const MIB: f64 = 1_048_576.0;

    /// A store holding one container's working set (value per step from `memory`) and, when
    /// given, its kube-state-metrics memory limit, 15 s apart for `steps` steps.
    fn store_with(memory: impl Fn(usize) -> f64, limit: Option<f64>, steps: usize) -> Store {
        store_from(memory, limit, 0, steps)
    }

    /// A pod's working set (and its limit, if any) from step `first` (15 s apart) to `steps`.
    fn store_from(
        memory: impl Fn(usize) -> f64,
        limit: Option<f64>,
        first: usize,
        steps: usize,
    ) -> Store {
        let store = empty_store();
        for step in first..steps {
            push(&store, step, memory(step), limit);
        }
        store
    }

    fn empty_store() -> Store {
        Store::new(windows::StoreConfig {
            lateness_ms: 0,
            ..windows::StoreConfig::default()
        })
    }

    /// Appends the pod's working set (and its limit, if any) at `step`.
    fn push(store: &Store, step: usize, memory: f64, limit: Option<f64>) {
        let pod = [
            ("__name__", "container_memory_working_set_bytes"),
            ("container", "payments-api"),
            ("namespace", "shop"),
            ("pod", "payments-api-7d9c5b0f6d-x2x1k"),
        ];
        let lim = [
            ("__name__", "kube_pod_container_resource_limits"),
            ("container", "payments-api"),
            ("namespace", "shop"),
            ("pod", "payments-api-7d9c5b0f6d-x2x1k"),
            ("resource", "memory"),
            ("unit", "byte"),
        ];
        let timestamp_ms = step as i64 * 15_000;
        let mut series = vec![(&pod[..], memory)];
        if let Some(l) = limit {
            series.push((&lim[..], l));
        }
        for (labels, value) in series {
            store.append(model::SeriesRef {
                labels,
                samples: &[Sample {
                    timestamp_ms,
                    value,
                }],
                metric_type: model::MetricType::Gauge,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            });
        }
    }

    /// What `detector` finds as the pod's working set arrives step by step (the store holding
    /// what it would live), evaluated at every step from `from`.
    fn found_live(
        memory: impl Fn(usize) -> f64,
        detector: &str,
        from: usize,
        steps: usize,
    ) -> Vec<(usize, IncidentCandidate)> {
        let store = empty_store();
        let mut rules = Detector::new(crate::builtin_rules(), Environment::Prod);
        let mut found = Vec::new();
        for step in 0..steps {
            push(&store, step, memory(step), None);
            if step >= from {
                found.extend(found_at(&mut rules, &store, detector, step));
            }
        }
        found
    }

    fn leak_findings(store: &Store, steps: usize) -> Vec<IncidentCandidate> {
        found_at_each(store, "memory_leak", steps - 1..steps)
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }

    /// What `detector` finds at each of `steps` (15 s apart), with the step it was found at.
    fn found_at_each(
        store: &Store,
        detector: &str,
        steps: impl Iterator<Item = usize>,
    ) -> Vec<(usize, IncidentCandidate)> {
        let mut rules = Detector::new(crate::builtin_rules(), Environment::Prod);
        steps
            .flat_map(|step| found_at(&mut rules, store, detector, step))
            .collect()
    }

    /// What `detector` finds at `step`, with the step.
    fn found_at(
        rules: &mut Detector,
        store: &Store,
        detector: &str,
        step: usize,
    ) -> Vec<(usize, IncidentCandidate)> {
        rules
            .evaluate(store, step as i64 * 15_000)
            .candidates
            .into_iter()
            .filter(|c| c.detector == detector)
            .map(|c| (step, c))
            .collect()
    }

    /// Deterministic noise in [-1, 1].
    fn jitter(step: usize) -> f64 {
        ((step as f64 * 12.9898).sin() * 43_758.547).fract() * 2.0 - 1.0
    }

    #[test]
    fn a_leak_is_judged_by_the_time_to_its_limit() {
        // 2 MiB/min from 520 MiB, noise of about 3 MB, an hour of it.
        let steps = 240;
        let memory = |s: usize| 520.0 * MIB + s as f64 * 0.5 * MIB + 3e6 * jitter(s);
        let found = leak_findings(&store_with(memory, Some(1024.0 * MIB), steps), steps);
        assert_eq!(found.len(), 1, "{found:#?}");
        let evidence = &found[0].evidence.metrics[0];
        assert_eq!(evidence.aggregate, "seconds_to_limit");
        let hours = evidence.observed / 3600.0;
        assert!((3.0..4.0).contains(&hours), "{hours} h");
        let said = evidence.summary.as_deref().unwrap_or("");
        let rate: f64 = said
            .strip_prefix("at ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        assert!((1.9..2.1).contains(&rate), "{said}");
        assert!(
            said.contains(" MiB/min payments-api (pod payments-api-7d9c5b0f6d-x2x1k) reaches its 1 GiB memory limit in about 3"),
            "{said}"
        );
        // The same growth with 40 GiB of headroom is days from its limit: no incident yet.
        let far = leak_findings(&store_with(memory, Some(40.0 * 1024.0 * MIB), steps), steps);
        assert!(far.is_empty(), "{far:#?}");
    }

    #[test]
    fn without_a_limit_a_leak_is_judged_by_its_growth_per_hour() {
        let steps = 240;
        let memory = |s: usize| 520.0 * MIB + s as f64 * 0.5 * MIB + 3e6 * jitter(s);
        let found = leak_findings(&store_with(memory, None, steps), steps);
        assert_eq!(found.len(), 1);
        let said = found[0].evidence.metrics[0]
            .summary
            .clone()
            .unwrap_or_default();
        assert!(said.contains("no limit known"), "{said}");
        assert_eq!(found[0].evidence.metrics[0].aggregate, "growth_per_hour");
    }

    #[test]
    fn a_random_walk_is_no_drift_and_a_filling_queue_is() {
        // A deterministic walk of ±3 steps (a queue wandering), and the same steps on top of
        // a fill of 7.5 a step.
        let steps: Vec<f64> = (0..120)
            .map(|i: i64| if (i * 7919) % 13 < 6 { 3.0 } else { -3.0 })
            .collect();
        let walk: Vec<(f64, f64)> = steps
            .iter()
            .scan(20.0, |v, d| {
                *v += d;
                Some(*v)
            })
            .enumerate()
            .map(|(i, v)| (i as f64 * 15.0, v))
            .collect();
        let rise = walk[walk.len() - 1].1 - walk[0].1;
        assert!(drift_z(&walk, rise).abs() < 3.0, "{}", drift_z(&walk, rise));
        let filling: Vec<(f64, f64)> = walk
            .iter()
            .enumerate()
            .map(|(i, (t, v))| (*t, v + 7.5 * i as f64))
            .collect();
        let rise = filling[filling.len() - 1].1 - filling[0].1;
        assert!(
            drift_z(&filling, rise) > 10.0,
            "{}",
            drift_z(&filling, rise)
        );
    }

    #[test]
    fn sawtooth_and_warm_up_are_no_leak() {
        let steps = 240;
        // GC: 30% climbs and drops every 20 minutes.
        let gc = |s: usize| 400.0 * MIB * (1.0 + 0.3 * (s % 80) as f64 / 80.0) + 2e6 * jitter(s);
        assert!(leak_findings(&store_with(gc, Some(1024.0 * MIB), steps), steps).is_empty());
        // A cache warming after start: fast growth that fades.
        let warm =
            |s: usize| 400.0 * MIB * (1.0 - 0.6 * (-(s as f64) / 40.0).exp()) + 2e6 * jitter(s);
        assert!(leak_findings(&store_with(warm, Some(1024.0 * MIB), steps), steps).is_empty());
        // Flat with noise.
        let flat = |s: usize| 400.0 * MIB + 4e6 * jitter(s);
        assert!(leak_findings(&store_with(flat, None, steps), steps).is_empty());
    }

    #[test]
    fn a_fast_sawtooth_beating_against_the_slices_is_no_leak_at_any_time() {
        // GC every 5.5 minutes, 27% deep: 22 samples a cycle against 20 a slice, so the
        // slices' levels drift in a slow wave that looks like growth for part of it.
        let steps = 480;
        let gc = |s: usize| 800.0 * MIB * (1.0 + 0.27 * (s % 22) as f64 / 22.0) + 1e6 * jitter(s);
        let store = store_with(gc, None, steps);
        let found = found_at_each(&store, "memory_leak", (180..steps).step_by(2));
        assert!(found.is_empty(), "{found:#?}");
        // The same leak under that sawtooth is still seen.
        let leaking = |s: usize| gc(s) + s as f64 * 1.5 * MIB;
        assert_eq!(
            leak_findings(&store_with(leaking, None, steps), steps).len(),
            1
        );
    }

    #[test]
    fn a_pod_warming_up_after_start_has_not_jumped() {
        // Started 9 minutes in at a fifth of its working set, warming to it in minutes.
        let warming = |step: usize| {
            let age = (step - 36) as f64;
            100.0 * MIB * (1.0 - 0.8 * (-age / 16.0).exp()) + 1e5 * jitter(step)
        };
        let store = store_from(warming, None, 36, 120);
        let spikes = found_at_each(&store, "memory_spike", 40..120);
        assert!(spikes.is_empty(), "{spikes:#?}");
    }

    #[test]
    fn a_slow_warm_up_creeping_past_its_first_window_is_no_leak() {
        // A JVM warming to 177 MiB with a 25-minute time constant: an hour after its start its
        // tail still rises several percent an hour, steadily enough for fit and holding alone.
        let steps = 480;
        let warm =
            |s: usize| 177.0 * MIB * (1.0 - 0.6 * (-(s as f64) / 100.0).exp()) + 2.5e6 * jitter(s);
        let found = found_live(warm, "memory_leak", 180, steps);
        assert!(found.is_empty(), "{found:#?}");
        // A leak of 0.5 MiB/min under the same warm-up is found once the warm-up has faded.
        let leaking = |s: usize| warm(s) + s as f64 * 0.125 * MIB;
        let found = found_live(leaking, "memory_leak", 180, steps);
        assert!(!found.is_empty());
    }

    #[test]
    fn fit_of_a_line_is_one() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 * i as f64)).collect();
        assert!((fit(&line) - 1.0).abs() < 1e-12);
        let flat_noise = [(0.0, 1.0), (1.0, -1.0), (2.0, 1.0), (3.0, -1.0)];
        assert!(fit(&flat_noise) < 0.5);
    }
}
