//! Incident candidates: what a detector (rule or model) found, with the evidence a person can
//! check. Serialises exactly as `{type, scope, target, confidence, evidence: {metrics, events}}`.

use crate::{IncidentType, LabelSet, Severity};
use serde::{Deserialize, Serialize};

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
}

impl Scope {
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
        }
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
}

/// One discrete event behind a candidate (an alert, a Kubernetes event, a log pattern).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEvidence {
    pub id: String,
    /// Where it came from: `alertmanager`, `kubernetes`, `log`, ...
    pub source: String,
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
    /// Event time of the detection (ms).
    pub detected_at_ms: i64,
    pub evidence: Evidence,
    /// Firing (the default) or healthy.
    #[serde(default, skip_serializing_if = "is_firing")]
    pub signal: Signal,
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
            detected_at_ms: 0,
            evidence: Evidence::default(),
            signal: Signal::Firing,
        };
        let value = serde_json::to_value(&candidate).unwrap();
        assert_eq!(value["type"], "memory_leak");
        assert_eq!(value["scope"], "deployment");
        assert_eq!(value["target"], "payments-api");
        assert_eq!(value["confidence"], 0.71);
        assert!(value["evidence"]["metrics"].is_array());
        assert!(value["evidence"]["events"].is_array());
    }
}
