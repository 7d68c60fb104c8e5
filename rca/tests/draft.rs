//! The deterministic draft: change-impact, per-type causes, refutation, recall of past
//! incidents, citations that resolve, catalogue-only actions, determinism.

use model::{IncidentType, Scope, Target};
use rca::catalogue::{ACTIONS, TOOLS};
use rca::{ChangeKind, Draft, DraftInput, Drafter, EvidenceKind, PastIncident, RankedService};

use crate::fixtures::{self, MIN, OPENED};

fn draft(input: &DraftInput) -> Draft {
    Drafter::default().draft(input)
}

fn assert_grounded(d: &Draft) {
    let (unresolved, total) = d.citation_counts();
    assert_eq!(unresolved, 0, "{d:#?}");
    assert!(total > 0);
    for h in &d.root_causes {
        assert!(!h.evidence.is_empty(), "{} cites nothing", h.id);
        assert!((0.0..=1.0).contains(&h.confidence));
        assert!(!h.refuted_by.is_empty());
    }
    for a in &d.recommended_actions {
        assert!(ACTIONS.contains(&a.action.as_str()), "{}", a.action);
    }
    for s in &d.investigation_plan {
        assert!(TOOLS.contains(&s.tool.as_str()), "{}", s.tool);
    }
    let mut ids: Vec<&str> = d.evidence.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "bundle ids are unique");
}

#[test]
fn a_deploy_shortly_before_ranks_first_and_is_cited() {
    let d = draft(&fixtures::input());
    assert_grounded(&d);
    let top = &d.root_causes[0];
    assert_eq!(top.cause, "change_impact");
    assert!(top.evidence.contains(&"chg-1".to_owned()));
    assert!(
        top.hypothesis.contains("10 min before"),
        "{}",
        top.hypothesis
    );
    assert!(top.hypothesis.contains("payments:1.4.3"));
    assert!(top.confidence >= 0.8, "{}", top.confidence);
    let rollback = d
        .recommended_actions
        .iter()
        .find(|a| a.action == "rollback_deployment")
        .unwrap();
    assert_eq!(rollback.target, "deployment/shop/payments");
    assert_eq!(rollback.source, "h1");
    // The OOM causes follow, resting on the metric, the event and the log signature.
    let oom = d
        .root_causes
        .iter()
        .find(|h| h.cause == "memory_limit_exceeded")
        .unwrap();
    for id in ["m1", "e1"] {
        assert!(oom.evidence.contains(&id.to_owned()), "{oom:?}");
    }
    let heap = d
        .root_causes
        .iter()
        .find(|h| h.cause == "jvm_heap_exhausted")
        .unwrap();
    let cited_log = d
        .evidence
        .iter()
        .find(|e| heap.evidence.contains(&e.id))
        .unwrap();
    assert_eq!(cited_log.kind, EvidenceKind::Log);
}

#[test]
fn same_input_same_output() {
    let input = fixtures::input();
    let a = serde_json::to_string(&draft(&input)).unwrap();
    let b = serde_json::to_string(&draft(&input.clone())).unwrap();
    assert_eq!(a, b);
}

#[test]
fn serialises_in_the_seed_shape() {
    let v = serde_json::to_value(draft(&fixtures::input())).unwrap();
    let rc = &v["root_causes"][0];
    assert!(rc["hypothesis"].is_string());
    assert!(rc["confidence"].is_f64());
    assert!(rc["evidence"].as_array().unwrap()[0].is_string());
    assert!(rc["refuted_by"].is_array());
    assert!(v["recommended_actions"][0]["action"].is_string());
    assert!(v["investigation_plan"][0]["tool"].is_string());
    assert!(v["similar_incidents"].is_array());
    assert_eq!(v["incident_type"], "oom_killed");
}

#[test]
fn without_a_change_the_type_causes_rank() {
    let mut input = fixtures::input();
    input.changes.clear();
    let d = draft(&input);
    assert_grounded(&d);
    assert_eq!(d.root_causes[0].cause, "memory_limit_exceeded");
    assert!(!d.root_causes.iter().any(|h| h.cause == "change_impact"));
    assert_eq!(d.recommended_actions[0].action, "patch_config");
    assert_eq!(d.recommended_actions[0].source, "h1");
}

#[test]
fn old_changes_do_not_count_and_neighbours_rank_low() {
    let mut input = fixtures::input();
    input.changes = vec![fixtures::deploy(OPENED - 3 * 60 * MIN)];
    let d = draft(&input);
    assert!(!d.root_causes.iter().any(|h| h.cause.contains("change")));

    let mut neighbour = fixtures::deploy(OPENED - 5 * MIN);
    neighbour.target = Target::new(Scope::Deployment, Some("shop"), "cart");
    neighbour.kind = ChangeKind::Config;
    let mut elsewhere = fixtures::deploy(OPENED - 5 * MIN);
    elsewhere.id = "chg-2".into();
    elsewhere.target = Target::new(Scope::Deployment, Some("ops"), "cart");
    input.changes = vec![neighbour, elsewhere];
    let d = draft(&input);
    assert_grounded(&d);
    let n = d
        .root_causes
        .iter()
        .position(|h| h.cause == "neighbour_change")
        .unwrap();
    assert!(
        n > 0,
        "a neighbour's change must not outrank direct evidence"
    );
    assert!(
        !d.root_causes
            .iter()
            .any(|h| h.evidence.contains(&"chg-2".to_owned()))
    );
}

#[test]
fn a_change_on_a_pod_of_the_workload_counts() {
    let mut input = fixtures::input();
    input.incident.target = Target::new(Scope::Pod, Some("shop"), "payments-7d9f-x2k4q");
    let d = draft(&input);
    assert_eq!(d.root_causes[0].cause, "change_impact");
}

#[test]
fn symptoms_before_the_change_weigh_against_it() {
    let clean = draft(&fixtures::input());
    let mut input = fixtures::input();
    // The deploy happened after every symptom.
    input.changes = vec![fixtures::deploy(OPENED + MIN)];
    input.log_context = None;
    let late = draft(&input);
    let h_clean = clean
        .root_causes
        .iter()
        .find(|h| h.cause == "change_impact")
        .unwrap();
    let h_late = late
        .root_causes
        .iter()
        .find(|h| h.cause == "change_impact")
        .unwrap();
    assert!(!h_late.contradicted_by.is_empty());
    assert!(h_late.confidence < h_clean.confidence);
    assert!(h_late.hypothesis.contains("after the incident opened"));
    assert_ne!(late.root_causes[0].cause, "change_impact");
}

#[test]
fn past_incidents_are_recalled_with_their_fix() {
    let mut input = fixtures::input();
    let template = input.log_context.as_ref().unwrap().chunks[0].entries[0]
        .template
        .clone();
    input.similar_past.push(PastIncident {
        id: "inc-3".into(),
        signature: "other".into(),
        templates: vec![template],
        fix: "restarted".into(),
        actions: vec!["restart_deployment".into()],
    });
    input.similar_past.push(PastIncident {
        id: "inc-1".into(),
        signature: "unrelated".into(),
        templates: vec!["nothing like it <*>".into()],
        fix: "n/a".into(),
        actions: Vec::new(),
    });
    let d = draft(&input);
    let ids: Vec<&str> = d.similar_incidents.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["inc-7", "inc-3"]);
    assert_eq!(d.similar_incidents[0].matched_on, "signature");
    assert_eq!(d.similar_incidents[1].matched_on, "template");
    assert_eq!(
        d.similar_incidents[0].actions,
        ["patch_config"],
        "non-catalogue fix dropped"
    );
    for s in &d.similar_incidents {
        for a in &s.actions {
            assert!(d.recommended_actions.iter().any(|r| &r.action == a), "{a}");
        }
    }
    assert!(
        !d.recommended_actions
            .iter()
            .any(|a| a.action == "format_disk")
    );
}

#[test]
fn every_type_gets_a_grounded_draft_from_its_symptoms() {
    for &t in IncidentType::ALL {
        let mut input = DraftInput::new(fixtures::incident(t));
        input.evidence = vec![fixtures::metric_m1()];
        let d = draft(&input);
        assert_grounded(&d);
        assert!(!d.root_causes.is_empty(), "{t}");
        assert!(!d.investigation_plan.is_empty(), "{t}");
        assert!(
            d.investigation_plan.iter().any(|s| s.tool == "logs.recent"),
            "{t}: without log context the plan fetches logs"
        );
        assert!(d.recommended_actions.iter().any(|a| a.action == "notify"));
    }
}

#[test]
fn no_evidence_means_no_hypothesis_but_still_a_plan() {
    let d = draft(&DraftInput::new(fixtures::incident(
        IncidentType::LatencySpike,
    )));
    assert!(d.root_causes.is_empty());
    assert!(!d.investigation_plan.is_empty());
    assert_eq!(d.citation_counts(), (0, 0));
}

#[test]
fn node_actions_need_a_node() {
    let mut input = DraftInput::new(fixtures::incident(IncidentType::NodeDiskPressure));
    input.evidence = vec![rca::EvidenceRef::from_event(
        "e1",
        &model::EventEvidence {
            id: "e1".into(),
            origin: model::Origin::Kubernetes,
            reason: "DiskPressure".into(),
            message: "node has disk pressure".into(),
            at_ms: OPENED,
            labels: Default::default(),
        },
    )];
    let d = draft(&input);
    let cordon = d
        .recommended_actions
        .iter()
        .find(|a| a.action == "cordon_node")
        .unwrap();
    assert_eq!(cordon.target, "node/node-a");
    input.incident.node = None;
    let d = draft(&input);
    assert!(
        !d.recommended_actions
            .iter()
            .any(|a| a.action == "cordon_node")
    );
}

#[test]
fn metric_ranking_names_another_service_as_origin() {
    let mut input = DraftInput::new(fixtures::incident(IncidentType::LatencySpike));
    input.evidence = vec![fixtures::metric_m1()];
    input.ranked_services = vec![
        RankedService {
            service: "carts-db".into(),
            score: 40.0,
            change: 8.0,
            metric: "cpu".into(),
            kind: rca::MetricKind::Cpu,
            share: 0.8,
            inherits_from: None,
        },
        RankedService {
            service: "payments".into(),
            score: 4.0,
            change: 0.5,
            metric: "latency".into(),
            kind: rca::MetricKind::Latency,
            share: 0.2,
            inherits_from: Some("carts-db".into()),
        },
    ];
    let d = draft(&input);
    assert_grounded(&d);
    let h = d
        .root_causes
        .iter()
        .find(|h| h.cause == "origin_service")
        .unwrap();
    assert_eq!(h.evidence, ["rank-carts-db"]);
    assert!(h.hypothesis.contains("carts-db"));
    assert!(d.has_evidence("rank-payments"));
}
