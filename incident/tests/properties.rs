//! Property tests: arrival order does not change the incidents, and signatures ignore every
//! free-text and measured field.

use crate::common::candidate;
use incident::{Correlator, signature};
use model::{IncidentCandidate, IncidentType, Scope, Severity};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn arb_candidate() -> impl Strategy<Value = IncidentCandidate> {
    let types = prop::sample::select(vec![
        IncidentType::CrashLoop,
        IncidentType::LatencySpike,
        IncidentType::NodeDiskPressure,
        IncidentType::MemoryLeak,
    ]);
    let scopes = prop::sample::select(vec![
        Scope::Pod,
        Scope::Deployment,
        Scope::Node,
        Scope::Namespace,
    ]);
    (
        types,
        scopes,
        0usize..3,
        0usize..2,
        0usize..3,
        0i64..40,
        prop::sample::select(vec![Severity::Info, Severity::Warning, Severity::Critical]),
    )
        .prop_map(|(t, scope, workload, ns, node, minute, severity)| {
            let namespace = ["shop", "billing"][ns];
            let node = ["node-a", "node-b", "node-c"][node];
            let (target, namespace, node) = match scope {
                Scope::Node => (node.to_owned(), None, None),
                Scope::Namespace => (namespace.to_owned(), Some(namespace), None),
                Scope::Pod => (
                    format!("app{workload}-5f6d8c7b9-ab{workload}{minute:02}"),
                    Some(namespace),
                    Some(node),
                ),
                _ => (format!("app{workload}"), Some(namespace), None),
            };
            let mut c = candidate(t, scope, &target, namespace, node, minute * 60_000);
            c.severity = severity;
            c
        })
}

/// The incidents as an order-free set: per incident, its sorted finding signatures with
/// occurrence counts, candidate count, type, target and severity.
fn incident_set(candidates: &[IncidentCandidate]) -> BTreeSet<String> {
    let mut correlator = Correlator::default();
    for c in candidates {
        correlator.ingest(c.clone());
    }
    let incidents: Vec<_> = correlator
        .incidents()
        .filter(|i| i.merged_into.is_none())
        .cloned()
        .collect();
    incidents
        .iter()
        .map(|i| {
            let mut findings: Vec<String> = correlator
                .findings(&i.id)
                .unwrap()
                .map(|f| {
                    format!(
                        "{}x{}@{}..{}",
                        f.signature, f.occurrences, f.first_seen_ms, f.last_seen_ms
                    )
                })
                .collect();
            findings.sort();
            format!(
                "{} {:?} {:?} {} {} {} | {}",
                i.incident_type,
                i.target,
                i.severity,
                i.candidate_count,
                i.opened_at_ms,
                i.summary.len(),
                findings.join(",")
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_interleaving_gives_the_same_incidents(
        (original, shuffled) in prop::collection::vec(arb_candidate(), 1..40)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        prop_assert_eq!(incident_set(&original), incident_set(&shuffled));
    }

    #[test]
    fn signatures_never_depend_on_free_text(
        base in arb_candidate(),
        detector in "[a-z_]{0,12}",
        message in ".{0,40}",
        confidence in 0.0f64..1.0,
        at in 0i64..10_000_000,
        observed in -1e9f64..1e9,
    ) {
        let mut other = base.clone();
        other.detector = detector;
        other.confidence = confidence;
        other.detected_at_ms = at;
        other.severity = Severity::Critical;
        other.evidence.metrics[0].observed = observed;
        other.evidence.metrics[0].rule = message.clone();
        other.evidence.events[0].message = message;
        other.evidence.events.clear();
        prop_assert_eq!(signature(&base), signature(&other));

        let mut moved = base.clone();
        moved.target.push('x');
        prop_assert_ne!(signature(&base), signature(&moved));
        let mut retyped = base.clone();
        retyped.incident_type = if base.incident_type == IncidentType::OomKilled {
            IncidentType::CrashLoop
        } else {
            IncidentType::OomKilled
        };
        prop_assert_ne!(signature(&base), signature(&retyped));
    }
}

#[test]
fn a_node_problem_with_twenty_pod_symptoms_is_one_incident() {
    let candidates = crate::common::node_scenario("node-b", 20, 0);
    let mut correlator = Correlator::default();
    // Symptoms before the cause, as detectors often report them.
    for c in candidates.iter().rev() {
        correlator.ingest(c.clone());
    }
    let open: Vec<_> = correlator
        .incidents()
        .filter(|i| i.merged_into.is_none())
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].incident_type, IncidentType::NodeDiskPressure);
    let ratio = candidates.len() as f64 / open.len() as f64;
    println!(
        "node scenario: {} candidates -> {} incident(s), {ratio:.1}:1",
        candidates.len(),
        open.len()
    );
    assert!(ratio >= 10.0);
}
