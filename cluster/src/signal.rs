//! How cluster observations become [`IncidentCandidate`]s: one builder stamping the cluster,
//! source and origin on every candidate, and the tracker that turns held conditions into
//! firing candidates while they hold and one healthy signal when they clear.

use model::{
    EventEvidence, Evidence, IncidentCandidate, IncidentType, LabelSet, Origin, Scope, Severity,
    Signal, Target,
};
use std::collections::BTreeMap;

/// Which cluster and source candidates come from.
#[derive(Debug, Clone)]
pub struct Context {
    pub cluster: String,
    pub source: String,
}

impl Context {
    pub fn new(cluster: &str, source: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            source: source.to_owned(),
        }
    }

    /// Evidence labels: `cluster` and `source`, then `extra`.
    pub fn labels<'a>(&self, extra: impl IntoIterator<Item = (&'a str, &'a str)>) -> LabelSet {
        let mut pairs: BTreeMap<&str, &str> = BTreeMap::new();
        pairs.insert("cluster", &self.cluster);
        pairs.insert("source", &self.source);
        for (k, v) in extra {
            if !k.is_empty() && !v.is_empty() {
                pairs.insert(k, v);
            }
        }
        LabelSet::from_pairs(pairs).unwrap_or_default()
    }

    /// One piece of event evidence from the Kubernetes API.
    pub fn evidence<'a>(
        &self,
        id: String,
        reason: &str,
        message: String,
        at_ms: i64,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> EventEvidence {
        EventEvidence {
            id,
            origin: Origin::Kubernetes,
            reason: reason.to_owned(),
            message,
            at_ms,
            labels: self.labels(labels),
        }
    }
}

/// What a candidate is about, before its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct About {
    pub incident_type: IncidentType,
    pub scope: Scope,
    pub namespace: Option<String>,
    pub target: String,
    pub node: Option<String>,
}

impl About {
    pub fn new(
        incident_type: IncidentType,
        scope: Scope,
        namespace: Option<&str>,
        target: &str,
    ) -> Self {
        Self {
            incident_type,
            scope,
            namespace: namespace.map(str::to_owned),
            target: target.to_owned(),
            node: None,
        }
    }

    pub fn on_node(mut self, node: Option<&str>) -> Self {
        self.node = node.map(str::to_owned);
        self
    }

    /// What identifies it to the correlator: type, scope, namespace, target.
    pub fn key(&self) -> (IncidentType, Scope, Option<String>, String) {
        (
            self.incident_type,
            self.scope,
            self.namespace.clone(),
            self.target.clone(),
        )
    }
}

/// A firing candidate from the Kubernetes API.
#[allow(clippy::too_many_arguments)]
pub fn candidate(
    ctx: &Context,
    about: About,
    severity: Severity,
    confidence: f64,
    detector: &str,
    at_ms: i64,
    events: Vec<EventEvidence>,
    affects: Vec<Target>,
) -> IncidentCandidate {
    IncidentCandidate {
        incident_type: about.incident_type,
        scope: about.scope,
        target: about.target,
        namespace: about.namespace,
        node: about.node,
        confidence,
        severity,
        detector: detector.to_owned(),
        origin: Origin::Kubernetes,
        detected_at_ms: at_ms,
        evidence: Evidence {
            metrics: Vec::new(),
            events,
        },
        signal: Signal::Firing,
        source: ctx.source.clone(),
        affects,
    }
}

/// Most evidence items one candidate carries.
pub const MAX_EVIDENCE: usize = 20;

type LevelKey = (IncidentType, Scope, Option<String>, String);

/// Conditions that hold over time (a node under disk pressure, a release drifted): the
/// candidates of each evaluation, re-sent while they hold (at most every `refresh_ms`
/// unless their evidence changes), and a healthy signal once each clears.
#[derive(Debug, Clone, Default)]
pub struct Levels {
    active: BTreeMap<LevelKey, (IncidentCandidate, i64)>,
}

impl Levels {
    /// What to send after an evaluation that found `firing` at `now_ms`; `scope_of` says
    /// which held conditions this evaluation judged (others are left as they are).
    pub fn update(
        &mut self,
        firing: Vec<IncidentCandidate>,
        judged: impl Fn(&IncidentCandidate) -> bool,
        now_ms: i64,
        refresh_ms: i64,
    ) -> Vec<IncidentCandidate> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for c in merge_same(firing) {
            let key = level_key(&c);
            seen.insert(key.clone());
            let send = match self.active.get(&key) {
                None => true,
                Some((held, sent_at)) => {
                    !same_evidence(held, &c)
                        || held.severity != c.severity
                        || now_ms.saturating_sub(*sent_at) >= refresh_ms
                }
            };
            if send {
                out.push(c.clone());
                self.active.insert(key, (c, now_ms));
            }
        }
        let cleared: Vec<LevelKey> = self
            .active
            .iter()
            .filter(|(k, (c, _))| !seen.contains(*k) && judged(c))
            .map(|(k, _)| k.clone())
            .collect();
        for key in cleared {
            if let Some((mut c, _)) = self.active.remove(&key) {
                c.signal = Signal::Healthy;
                c.detected_at_ms = now_ms;
                c.confidence = 0.0;
                c.evidence.events.clear();
                out.push(c);
            }
        }
        out
    }

    /// Whether a condition of this identity is held as firing.
    pub fn is_active(&self, about: &About) -> bool {
        self.active.contains_key(&about.key())
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

/// Whether two sightings say the same: the same evidence, whenever each was observed.
fn same_evidence(a: &IncidentCandidate, b: &IncidentCandidate) -> bool {
    let said = |c: &IncidentCandidate| {
        c.evidence
            .events
            .iter()
            .map(|e| (e.id.clone(), e.reason.clone(), e.message.clone()))
            .collect::<Vec<_>>()
    };
    said(a) == said(b) && a.affects == b.affects
}

/// Candidates of one evaluation with the same identity as one: evidence and affected
/// workloads together, the higher severity and confidence.
fn merge_same(firing: Vec<IncidentCandidate>) -> Vec<IncidentCandidate> {
    let mut merged: BTreeMap<LevelKey, IncidentCandidate> = BTreeMap::new();
    for c in firing {
        match merged.entry(level_key(&c)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(c);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let held = o.get_mut();
                held.severity = held.severity.max(c.severity);
                held.confidence = held.confidence.max(c.confidence);
                for e in c.evidence.events {
                    if held.evidence.events.len() < MAX_EVIDENCE
                        && !held.evidence.events.iter().any(|h| h.id == e.id)
                    {
                        held.evidence.events.push(e);
                    }
                }
                for t in c.affects {
                    if !held.affects.contains(&t) {
                        held.affects.push(t);
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}

fn level_key(c: &IncidentCandidate) -> LevelKey {
    (
        c.incident_type,
        c.scope,
        c.namespace.clone(),
        c.target.clone(),
    )
}

/// Now, in Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// "2 h 5 min", "3 days", as operators read a span.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => {
            let (h, m) = (s / 3_600, (s % 3_600) / 60);
            if m == 0 {
                format!("{h} h")
            } else {
                format!("{h} h {m} min")
            }
        }
        _ => {
            let days = s as f64 / 86_400.0;
            if days < 10.0 {
                format!("{days:.1} days")
            } else {
                format!("{} days", s / 86_400)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(at: i64, message: &str) -> IncidentCandidate {
        let ctx = Context::new("prod", "prod");
        candidate(
            &ctx,
            About::new(
                IncidentType::NodeDiskPressure,
                Scope::Node,
                None,
                "worker-2",
            ),
            Severity::Warning,
            0.9,
            "test",
            at,
            vec![ctx.evidence("c1".into(), "DiskPressure", message.into(), 0, [])],
            Vec::new(),
        )
    }

    #[test]
    fn held_conditions_fire_while_they_hold_and_clear_once() {
        let mut levels = Levels::default();
        let all = |_: &IncidentCandidate| true;
        assert_eq!(levels.update(vec![disk(0, "a")], all, 0, 60_000).len(), 1);
        assert!(
            levels
                .update(vec![disk(1_000, "a")], all, 1_000, 60_000)
                .is_empty(),
            "unchanged"
        );
        assert_eq!(
            levels
                .update(vec![disk(2_000, "b")], all, 2_000, 60_000)
                .len(),
            1,
            "changed"
        );
        assert_eq!(
            levels
                .update(vec![disk(70_000, "b")], all, 70_000, 60_000)
                .len(),
            1,
            "refreshed"
        );
        // Not judged by this evaluation: left alone.
        assert!(levels.update(vec![], |_| false, 80_000, 60_000).is_empty());
        let out = levels.update(vec![], all, 90_000, 60_000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].signal, Signal::Healthy);
        assert_eq!(out[0].detected_at_ms, 90_000);
        assert!(levels.update(vec![], all, 95_000, 60_000).is_empty());
    }

    #[test]
    fn spans_read_plainly() {
        assert_eq!(span(42_000), "42 s");
        assert_eq!(span(5 * 60_000), "5 min");
        assert_eq!(span(2 * 3_600_000 + 5 * 60_000), "2 h 5 min");
        assert_eq!(span(3 * 86_400_000), "3.0 days");
        assert_eq!(span(20 * 86_400_000), "20 days");
    }
}
