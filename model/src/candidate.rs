//! Incident candidates: what a detector found, the evidence a person can check and the
//! [`Origin`] behind it, as `{type, scope, target, origin, confidence, evidence: {metrics, events}}`.

use crate::{IncidentType, LabelSet, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What produced a candidate or a piece of evidence: srebot's own detectors, or something
/// that told it. Policy can refuse to act alone on what others only posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A payload posted to the Alertmanager webhook.
    Alertmanager,
    /// A streaming anomaly detector.
    Anomaly,
    /// The operator channels' own delivery watch (`channel_delivery_failure`).
    Channels,
    /// The built-in demo.
    Demo,
    /// A finding posted to the watcher webhook.
    Findings,
    /// The Kubernetes API (events, object state).
    Kubernetes,
    /// Log lines and their templates.
    Log,
    /// A recorded dataset replayed offline.
    Replay,
    /// A rule of the rule pack over the windows.
    Rules,
}

impl Origin {
    /// Every origin, in name order (the order sets of them serialise in).
    pub const ALL: [Origin; 9] = [
        Origin::Alertmanager,
        Origin::Anomaly,
        Origin::Channels,
        Origin::Demo,
        Origin::Findings,
        Origin::Kubernetes,
        Origin::Log,
        Origin::Replay,
        Origin::Rules,
    ];

    /// The lowercase name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Alertmanager => "alertmanager",
            Origin::Anomaly => "anomaly",
            Origin::Channels => "channels",
            Origin::Demo => "demo",
            Origin::Findings => "findings",
            Origin::Kubernetes => "kubernetes",
            Origin::Log => "log",
            Origin::Replay => "replay",
            Origin::Rules => "rules",
        }
    }

    /// Parses the lowercase name.
    pub fn from_name(name: &str) -> Option<Self> {
        Origin::ALL.iter().copied().find(|o| o.as_str() == name)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of object a candidate is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Cluster,
    Node,
    Namespace,
    Service,
    Deployment,
    Pod,
    Container,
    Job,
    Series,
    /// A release of a chart (a Flux `HelmRelease`): the workloads it renders.
    Release,
    /// An Ingress: the hosts it routes and the certificates it serves.
    Ingress,
}

impl Scope {
    /// Every scope, in declaration order.
    pub const ALL: [Scope; 11] = [
        Scope::Cluster,
        Scope::Node,
        Scope::Namespace,
        Scope::Service,
        Scope::Deployment,
        Scope::Pod,
        Scope::Container,
        Scope::Job,
        Scope::Series,
        Scope::Release,
        Scope::Ingress,
    ];

    /// The `snake_case` name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Cluster => "cluster",
            Scope::Node => "node",
            Scope::Namespace => "namespace",
            Scope::Service => "service",
            Scope::Deployment => "deployment",
            Scope::Pod => "pod",
            Scope::Container => "container",
            Scope::Job => "job",
            Scope::Series => "series",
            Scope::Release => "release",
            Scope::Ingress => "ingress",
        }
    }

    /// Parses the `snake_case` name.
    pub fn from_name(name: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Whether a candidate reports a problem or says one is over (an Alertmanager `resolved`
/// notification, a rule's recovery): healthy signals resolve incidents, never open them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    #[default]
    Firing,
    Healthy,
}

/// One metric observation behind a candidate: which series, over which window, what was seen
/// and what was expected, and which rule or model said so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEvidence {
    /// Stable id, unique within the candidate (e.g. `m1`), that drafts and claims cite.
    pub id: String,
    pub series: LabelSet,
    /// Window the values come from, e.g. `5m`.
    pub window: String,
    /// The aggregate looked at, e.g. `p95`, `slope`, `last`, `score`.
    pub aggregate: String,
    pub observed: f64,
    /// Threshold or baseline the observation was compared with.
    pub expected: Option<f64>,
    /// Rule or detector that fired.
    pub rule: String,
    pub at_ms: i64,
    /// What was found in an operator's words, e.g. "at 2 MiB/min payments-api reaches its
    /// 1 GiB memory limit in about 4 h"; incident summaries use it when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// One discrete event behind a candidate (an alert, a Kubernetes event, a log pattern).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEvidence {
    pub id: String,
    /// Where it came from: `alertmanager`, `kubernetes`, `log`, ... (`source` before origins
    /// were typed; still read).
    #[serde(alias = "source")]
    pub origin: Origin,
    pub reason: String,
    pub message: String,
    pub at_ms: i64,
    #[serde(default)]
    pub labels: LabelSet,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub metrics: Vec<MetricEvidence>,
    pub events: Vec<EventEvidence>,
}

/// A detector's finding before correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentCandidate {
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    pub scope: Scope,
    /// Name of the object in `scope`, e.g. the deployment `payments-api`.
    pub target: String,
    /// Namespace of the target where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Node the target runs on where known (lets a node problem absorb its pods' symptoms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// In `[0, 1]`.
    pub confidence: f64,
    pub severity: Severity,
    /// Rule or detector name.
    pub detector: String,
    /// What produced the candidate.
    pub origin: Origin,
    /// Event time of the detection (ms).
    pub detected_at_ms: i64,
    pub evidence: Evidence,
    /// Firing (the default) or healthy.
    #[serde(default, skip_serializing_if = "is_firing")]
    pub signal: Signal,
    /// Where the data behind it came from (see [`crate::source`]); findings of different
    /// sources never merge, and each source's incidents follow its own clock.
    #[serde(
        default = "crate::source::default_source",
        skip_serializing_if = "crate::source::is_default_source"
    )]
    pub source: String,
    /// Workloads the finding affects besides its target (a dependency's dependents): the
    /// correlator links it to findings on them as if they were its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affects: Vec<crate::Target>,
}

impl IncidentCandidate {
    /// The object the candidate is about, as a [`crate::Target`].
    pub fn target_ref(&self) -> crate::Target {
        crate::Target::new(self.scope, self.namespace.as_deref(), self.target.clone())
    }
}

fn is_firing(signal: &Signal) -> bool {
    *signal == Signal::Firing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_the_seed_shape() {
        let candidate = IncidentCandidate {
            incident_type: IncidentType::MemoryLeak,
            scope: Scope::Deployment,
            target: "payments-api".into(),
            namespace: None,
            node: None,
            confidence: 0.71,
            severity: Severity::Warning,
            detector: "memory_leak_slope".into(),
            origin: Origin::Rules,
            detected_at_ms: 0,
            evidence: Evidence::default(),
            signal: Signal::Firing,
            source: crate::DEFAULT_SOURCE.to_owned(),
            affects: Vec::new(),
        };
        let value = serde_json::to_value(&candidate).unwrap();
        assert_eq!(value["type"], "memory_leak");
        assert_eq!(value["scope"], "deployment");
        assert_eq!(value["target"], "payments-api");
        assert_eq!(value["confidence"], 0.71);
        assert!(value["evidence"]["metrics"].is_array());
        assert!(value["evidence"]["events"].is_array());
        assert_eq!(value["origin"], "rules");
        assert!(
            value.get("affects").is_none(),
            "empty affects is not written"
        );
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
    }

    #[test]
    fn event_evidence_reads_the_old_source_key() {
        let old = serde_json::json!({"id": "e1", "source": "kubernetes", "reason": "BackOff",
            "message": "back-off", "at_ms": 1});
        let event: EventEvidence = serde_json::from_value(old).unwrap();
        assert_eq!(event.origin, Origin::Kubernetes);
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["origin"], "kubernetes");
        assert!(value.get("source").is_none());
        let unknown = serde_json::json!({"id": "e1", "origin": "k8s", "reason": "r",
            "message": "m", "at_ms": 1});
        assert!(serde_json::from_value::<EventEvidence>(unknown).is_err());
        for a in Origin::ALL {
            for b in Origin::ALL {
                assert_eq!(
                    a < b,
                    a.as_str() < b.as_str(),
                    "sets serialise in name order"
                );
            }
        }
        for origin in Origin::ALL {
            assert_eq!(Origin::from_name(origin.as_str()), Some(origin));
            assert_eq!(serde_json::to_value(origin).unwrap(), origin.as_str());
        }
    }
}
