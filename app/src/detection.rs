//! One event-time tick of detection, as the live server and every evaluation run it: the rules,
//! the streaming anomaly detectors, and the gate that decides what an ML finding may do.
//!
//! An ML finding on a workload a rule finds a problem on corroborates it (the rule's finding
//! gains confidence and carries the model's evidence); on its own it reaches correlation, and
//! may open an incident, only when sustained: the workload keeps scoring anomalous over
//! several ticks. The multi-metric models' findings (per workload and node) only ever
//! corroborate: a state a workload has not been in lately (a traffic surge it scales with) is
//! new, not wrong, and a broken relation between its metrics says that something changed, not
//! what; the rules name it.

use detect::{Detector, Evaluation, RuleSet};
use model::IncidentCandidate;
use std::collections::{HashMap, VecDeque};
use windows::Store;

/// What an ML finding needs to count on its own, and how long it corroborates a rule's.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// A rule's finding on a workload a model found anomalous within this much event time is
    /// corroborated.
    pub corroborate_ms: i64,
    /// Alone, an ML finding counts once its workload scored anomalous at this many distinct
    /// ticks ...
    pub sustain_ticks: usize,
    /// ... spread over at least this much event time ...
    pub sustain_span_ms: i64,
    /// ... within this much event time.
    pub sustain_within_ms: i64,
    /// Confidence a rule's finding gains when a model agrees, up to 0.99.
    pub boost: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            corroborate_ms: 5 * 60_000,
            sustain_ticks: 4,
            sustain_span_ms: 10 * 60_000,
            sustain_within_ms: 15 * 60_000,
            boost: 0.1,
        }
    }
}

/// (namespace, workload) an ML or rule finding is about, so a pod's, a service's and a
/// Deployment's findings meet.
type Subject = (Option<String>, String);

fn subject(candidate: &IncidentCandidate) -> Subject {
    let name = match candidate.scope {
        model::Scope::Pod => model::workload_of(&candidate.target).name.to_owned(),
        _ => candidate.target.clone(),
    };
    (candidate.namespace.clone(), name)
}

/// Counts of what the gate did, for `/metrics` and evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateCounts {
    /// Rule findings a model agreed with.
    pub corroborating: u64,
    /// ML findings passed on their own, sustained.
    pub sustained: u64,
    /// ML findings held back (neither).
    pub held: u64,
}

/// Rules, anomaly detectors and the gate, advanced together in event time.
#[derive(Debug)]
pub struct Detection {
    rules: Detector,
    anomaly: anomaly::LiveAnomaly,
    gate: Gate,
}

/// The gate on ML findings, with its memory of what the models found on each workload.
#[derive(Debug, Default)]
pub struct Gate {
    config: GateConfig,
    /// Workload → what the models found on it lately.
    scored: HashMap<Subject, Scored>,
    counts: GateCounts,
}

impl Detection {
    pub fn new(rules: Detector, anomaly: anomaly::LiveAnomaly, gate: GateConfig) -> Self {
        Self {
            rules,
            anomaly,
            gate: Gate::new(gate),
        }
    }

    /// Swaps in new rules; cooldowns and the gate's memory are kept.
    pub fn reload(&mut self, rules: RuleSet) {
        self.rules.reload(rules);
    }

    pub fn rules(&self) -> &RuleSet {
        self.rules.rules()
    }

    pub fn anomaly(&self) -> &anomaly::LiveAnomaly {
        &self.anomaly
    }

    pub fn gate_counts(&self) -> GateCounts {
        self.gate.counts()
    }

    /// Evaluates every rule and feeds the anomaly detectors up to `at_ms`, returning what may
    /// go to correlation.
    pub fn evaluate(&mut self, store: &Store, at_ms: i64) -> Vec<IncidentCandidate> {
        let Evaluation { mut candidates, .. } = self.rules.evaluate(store, at_ms);
        let found = self.anomaly.tick(store, at_ms);
        self.gate.apply(&mut candidates, found, at_ms);
        candidates
    }
}

impl Gate {
    pub fn new(config: GateConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    pub fn counts(&self) -> GateCounts {
        self.counts
    }

    /// Applies the gate to this tick's ML findings: a rule's finding on a workload the models
    /// found anomalous within `corroborate_ms` gains confidence and carries the models'
    /// evidence; an ML finding goes on alone only when sustained.
    pub fn apply(
        &mut self,
        candidates: &mut Vec<IncidentCandidate>,
        found: Vec<IncidentCandidate>,
        at_ms: i64,
    ) {
        let keep = self
            .config
            .sustain_within_ms
            .max(self.config.corroborate_ms);
        let mut passed = Vec::new();
        for ml in found {
            let who = subject(&ml);
            let seen = self.scored.entry(who).or_default();
            if seen.ticks.back() != Some(&at_ms) {
                seen.ticks.push_back(at_ms);
            }
            while seen
                .ticks
                .front()
                .is_some_and(|&t| t < at_ms.saturating_sub(self.config.sustain_within_ms))
            {
                seen.ticks.pop_front();
            }
            let sustained = seen.ticks.len() >= self.config.sustain_ticks
                && seen
                    .ticks
                    .front()
                    .is_some_and(|&first| at_ms - first >= self.config.sustain_span_ms);
            seen.evidence = ml.evidence.metrics.clone();
            seen.last_ms = at_ms;
            let corroborates_only = [anomaly::MULTI_DETECTOR, anomaly::MIXTURE_DETECTOR]
                .contains(&ml.detector.as_str());
            if sustained && !corroborates_only {
                self.counts.sustained += 1;
                passed.push(ml);
            } else {
                self.counts.held += 1;
            }
        }
        for rule in candidates.iter_mut() {
            let Some(seen) = self.scored.get(&subject(rule)) else {
                continue;
            };
            if at_ms.saturating_sub(seen.last_ms) <= self.config.corroborate_ms {
                self.counts.corroborating += 1;
                rule.confidence = (rule.confidence + self.config.boost).min(0.99);
                rule.evidence.metrics.extend(seen.evidence.iter().cloned());
            }
        }
        candidates.extend(passed);
        let floor = at_ms.saturating_sub(keep);
        self.scored.retain(|_, seen| seen.last_ms >= floor);
    }
}

/// What the models said of one workload lately.
#[derive(Debug, Default)]
struct Scored {
    /// Ticks at which a model found it anomalous, within `sustain_within_ms`.
    ticks: VecDeque<i64>,
    last_ms: i64,
    /// The latest finding's evidence, for a rule's finding it corroborates.
    evidence: Vec<model::MetricEvidence>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Evidence, IncidentType, Origin, Scope, Severity, Signal};

    fn candidate(origin: Origin, scope: Scope, target: &str, at: i64) -> IncidentCandidate {
        IncidentCandidate {
            incident_type: IncidentType::LatencySpike,
            scope,
            target: target.to_owned(),
            namespace: Some("shop".to_owned()),
            node: None,
            confidence: 0.6,
            severity: Severity::Warning,
            detector: "x".to_owned(),
            origin,
            detected_at_ms: at,
            evidence: Evidence::default(),
            signal: Signal::Firing,
            source: model::DEFAULT_SOURCE.to_owned(),
            affects: Vec::new(),
        }
    }

    fn detection() -> Gate {
        Gate::new(GateConfig::default())
    }

    #[test]
    fn a_lone_blip_is_held_and_a_sustained_anomaly_passes() {
        let mut d = detection();
        let mut out = Vec::new();
        let ml = |at| candidate(Origin::Anomaly, Scope::Service, "payments-api", at);
        d.apply(&mut out, vec![ml(0)], 0);
        assert!(out.is_empty(), "one blip opens nothing");
        for tick in 1..=4 {
            let at = tick * 200_000;
            d.apply(&mut out, vec![ml(at)], at);
        }
        // Four ticks spanning 10 minutes: from the fourth on, it counts.
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].detected_at_ms, 600_000);
        assert_eq!(d.counts().held, 3);
    }

    #[test]
    fn a_multi_metric_finding_never_opens_alone_but_corroborates() {
        let mut d = detection();
        let mut out = Vec::new();
        for tick in 0..=6 {
            let at = tick * 200_000;
            let mut ml = candidate(Origin::Anomaly, Scope::Deployment, "payments-api", at);
            let detectors = [anomaly::MIXTURE_DETECTOR, anomaly::MULTI_DETECTOR];
            ml.detector = detectors[tick as usize % 2].to_owned();
            d.apply(&mut out, vec![ml], at);
        }
        assert!(out.is_empty(), "a new state alone opens nothing");
        let mut out = vec![candidate(
            Origin::Rules,
            Scope::Deployment,
            "payments-api",
            1_260_000,
        )];
        d.apply(&mut out, Vec::new(), 1_260_000);
        assert!((out[0].confidence - 0.7).abs() < 1e-9);
    }

    #[test]
    fn a_model_agreeing_with_a_rule_raises_its_confidence() {
        let mut d = detection();
        let ml = candidate(
            Origin::Anomaly,
            Scope::Pod,
            "payments-api-7d9c5b0f6d-x2x1k",
            0,
        );
        let mut out = Vec::new();
        d.apply(&mut out, vec![ml], 0);
        assert!(out.is_empty());
        // The rule fires a minute later: the model's finding backs it.
        let mut out = vec![candidate(
            Origin::Rules,
            Scope::Deployment,
            "payments-api",
            60_000,
        )];
        d.apply(&mut out, Vec::new(), 60_000);
        assert_eq!(out.len(), 1);
        assert!((out[0].confidence - 0.7).abs() < 1e-9);
        assert_eq!(d.counts().corroborating, 1);
    }
}
