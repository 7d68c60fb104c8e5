//! Alertmanager webhook parsing against a captured version-4 payload.

use incident::{Correlator, Error, candidates_from_alertmanager, is_healthy_signal};
use model::{Classify, ErrorClass, IncidentType, Scope, Severity};

const PAYLOAD: &[u8] = include_bytes!("data/alertmanager_v4.json");

#[test]
fn maps_alerts_to_taxonomy_types_and_scopes() {
    let candidates = candidates_from_alertmanager(PAYLOAD).unwrap();
    assert_eq!(candidates.len(), 5);

    let crash = &candidates[0];
    assert_eq!(crash.incident_type, IncidentType::CrashLoop);
    assert_eq!(crash.scope, Scope::Pod);
    assert_eq!(crash.target, "payments-api-7d9c5b0f-x0q0");
    assert_eq!(crash.namespace.as_deref(), Some("shop"));
    assert_eq!(crash.node.as_deref(), Some("node-b"));
    assert_eq!(crash.detected_at_ms, 1_767_574_800_000);
    assert!(!is_healthy_signal(crash));
    assert_eq!(
        crash.evidence.events[0].labels.get("alertname"),
        Some("KubePodCrashLooping")
    );

    let disk = &candidates[1];
    assert_eq!(disk.incident_type, IncidentType::NodeDiskPressure);
    assert_eq!((disk.scope, disk.target.as_str()), (Scope::Node, "node-b"));
    assert_eq!(disk.namespace, None);
    assert_eq!(disk.severity, Severity::Critical);
    assert_eq!(disk.detected_at_ms, 1_767_574_710_123);

    let degraded = &candidates[2];
    assert_eq!(degraded.incident_type, IncidentType::DeploymentDegraded);
    assert_eq!(
        (degraded.scope, degraded.target.as_str()),
        (Scope::Deployment, "checkout")
    );
    assert!(
        is_healthy_signal(degraded),
        "resolved alerts are healthy signals"
    );
    assert_eq!(
        degraded.detected_at_ms, 1_767_574_500_000,
        "resolved at endsAt"
    );

    let down = &candidates[3];
    assert_eq!(down.incident_type, IncidentType::DependencyUnavailable);
    assert_eq!(
        (down.scope, down.target.as_str()),
        (Scope::Service, "redis")
    );

    let unknown = &candidates[4];
    assert_eq!(unknown.incident_type, IncidentType::MetricAnomaly);
    assert_eq!(
        (unknown.scope, unknown.target.as_str()),
        (Scope::Service, "catalogue")
    );
    assert!(
        unknown.evidence.events[0]
            .message
            .contains("WeirdCustomThing")
    );
}

#[test]
fn firing_alerts_join_the_same_correlation() {
    let mut correlator = Correlator::default();
    for candidate in candidates_from_alertmanager(PAYLOAD).unwrap() {
        correlator.ingest(candidate);
    }
    let open: Vec<_> = correlator
        .incidents()
        .filter(|i| i.merged_into.is_none())
        .collect();
    // node-b disk pressure absorbs the crash-looping pod on node-b; redis and catalogue are
    // their own; the resolved alert opens nothing.
    assert_eq!(open.len(), 3, "{open:#?}");
    let node = open
        .iter()
        .find(|i| i.incident_type == IncidentType::NodeDiskPressure)
        .unwrap();
    assert_eq!(node.candidate_count, 2);
}

#[test]
fn bad_bodies_are_refused_as_invalid_input() {
    let err = candidates_from_alertmanager(b"{not json").unwrap_err();
    assert!(matches!(err, Error::AlertmanagerJson { .. }));
    assert_eq!(err.class(), ErrorClass::InvalidInput);
    let err = candidates_from_alertmanager(br#"{"version":"3","alerts":[]}"#).unwrap_err();
    assert!(matches!(err, Error::AlertmanagerVersion { .. }));
    let bad_time = br#"{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"X"},"startsAt":"yesterday"}]}"#;
    assert!(matches!(
        candidates_from_alertmanager(bad_time).unwrap_err(),
        Error::AlertTimestamp { .. }
    ));
}
