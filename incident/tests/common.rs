//! Candidate builders shared by the tests.

use model::{
    EventEvidence, Evidence, IncidentCandidate, IncidentType, LabelSet, MetricEvidence, Scope,
    Severity,
};

pub(crate) fn candidate(
    incident_type: IncidentType,
    scope: Scope,
    target: &str,
    namespace: Option<&str>,
    node: Option<&str>,
    at: i64,
) -> IncidentCandidate {
    IncidentCandidate {
        incident_type,
        scope,
        target: target.to_owned(),
        namespace: namespace.map(str::to_owned),
        node: node.map(str::to_owned),
        confidence: 0.9,
        severity: Severity::Warning,
        detector: "test_rule".to_owned(),
        origin: model::Origin::Rules,
        detected_at_ms: at,
        signal: model::Signal::Firing,
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
        evidence: Evidence {
            metrics: vec![MetricEvidence {
                id: "m1".to_owned(),
                series: LabelSet::from_pairs([
                    ("__name__", "kube_pod_container_status_restarts_total"),
                    ("pod", target),
                ])
                .unwrap(),
                window: "5m".to_owned(),
                aggregate: "increase".to_owned(),
                observed: 4.0,
                expected: Some(0.0),
                rule: "restarts".to_owned(),
                at_ms: at,
                summary: None,
            }],
            events: vec![EventEvidence {
                id: "e1".to_owned(),
                origin: model::Origin::Kubernetes,
                reason: "BackOff".to_owned(),
                message: format!("Back-off restarting failed container in {target}"),
                at_ms: at,
                labels: LabelSet::default(),
            }],
        },
    }
}

/// A node problem with `pods` crash-looping pods (over two namespaces) on that node.
pub(crate) fn node_scenario(node: &str, pods: usize, start: i64) -> Vec<IncidentCandidate> {
    let mut out = vec![candidate(
        IncidentType::NodeDiskPressure,
        Scope::Node,
        node,
        None,
        None,
        start,
    )];
    for i in 0..pods {
        let namespace = if i % 2 == 0 { "shop" } else { "billing" };
        let name = format!("svc{}-5f6d8c7b9-p{i:04}", i % 3);
        out.push(candidate(
            IncidentType::CrashLoop,
            Scope::Pod,
            &name,
            Some(namespace),
            Some(node),
            start + 1_000 * (i as i64 + 1),
        ));
    }
    out
}
