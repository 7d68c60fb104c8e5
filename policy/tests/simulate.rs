//! Simulation: the same recorded incidents under the demo and prod policies give different,
//! explainable counts, and the table shows each decision.

use model::{Action, IncidentType, ObjectRef, PodPhase, ProposedAction, Severity, TargetKind};
use policy::{
    IncidentView, LiveObject, SimCase, SimOptions, SimProposal, Verdict, check_file, simulate,
};
use std::path::PathBuf;

const NOW: i64 = 1_795_428_000_000;

fn policy(name: &str) -> policy::Policy {
    check_file(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

fn case(id: &str, t: IncidentType, at_ms: i64, actions: Vec<(Action, ObjectRef)>) -> SimCase {
    SimCase {
        incident: IncidentView {
            id: id.into(),
            incident_type: t,
            severity: Severity::Warning,
            namespace: Some("shop".into()),
            target: None,
            origins: [model::Origin::Rules].into(),
        },
        at_ms,
        proposals: actions
            .into_iter()
            .map(|(action, target)| SimProposal {
                proposed: ProposedAction {
                    action,
                    target,
                    incident_id: id.into(),
                    evidence_ids: vec![],
                    proposed_by: "rule:crash_loop".into(),
                    confidence: None,
                },
                live: Some(LiveObject {
                    replicas: Some(3),
                    pods: Some(5),
                    nodes_total: Some(6),
                    nodes_unschedulable: Some(0),
                }),
            })
            .collect(),
    }
}

fn cases() -> Vec<SimCase> {
    let cart = || ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart");
    let shop = || ObjectRef::new(TargetKind::Namespace, None, "shop");
    let inc = |id: &str| ObjectRef::new(TargetKind::Incident, None, id);
    vec![
        case(
            "inc-1",
            IncidentType::CrashLoop,
            NOW,
            vec![
                (Action::Notify, inc("inc-1")),
                (Action::RestartDeployment, cart()),
            ],
        ),
        // Ten minutes later the same deployment crashes again: per-target cooldown.
        case(
            "inc-2",
            IncidentType::CrashLoop,
            NOW + 600_000,
            vec![(Action::RestartDeployment, cart())],
        ),
        case(
            "inc-3",
            IncidentType::NodeDiskPressure,
            NOW + 700_000,
            vec![
                (
                    Action::DeletePods {
                        phase: PodPhase::Failed,
                    },
                    shop(),
                ),
                // Same incident right after the cleanup: per-incident cooldown.
                (
                    Action::CordonNode,
                    ObjectRef::new(TargetKind::Node, None, "worker-2"),
                ),
            ],
        ),
        case(
            "inc-4",
            IncidentType::NodeNotReady,
            NOW + 800_000,
            vec![
                (
                    Action::DrainNode,
                    ObjectRef::new(TargetKind::Node, None, "worker-3"),
                ),
                (Action::DeleteNamespace, shop()),
            ],
        ),
    ]
}

#[test]
fn demo_and_prod_differ_as_the_policies_say() {
    let demo = simulate(&policy("demo.toml"), &cases(), SimOptions::default());
    let verdicts: Vec<Verdict> = demo.rows.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        vec![
            Verdict::Auto,
            Verdict::Auto,
            Verdict::Denied,
            Verdict::Auto,
            Verdict::Denied,
            Verdict::NeedsApproval,
            Verdict::Denied,
        ]
    );
    assert_eq!((demo.auto, demo.ask, demo.denied), (3, 1, 3));
    assert_eq!(demo.rows[4].clause, "cooldown.per_incident");
    assert_eq!(demo.rows[2].clause, "cooldown.per_target");
    assert_eq!(demo.by_clause["risk.human_only"], 1);

    let prod = simulate(&policy("prod.toml"), &cases(), SimOptions::default());
    let verdicts: Vec<Verdict> = prod.rows.iter().map(|r| r.verdict).collect();
    // In prod the restarts ask; nothing ran, so the second restart is not in cooldown.
    assert_eq!(
        verdicts,
        vec![
            Verdict::Auto,
            Verdict::NeedsApproval,
            Verdict::NeedsApproval,
            Verdict::Auto,
            Verdict::Denied,
            Verdict::NeedsApproval,
            Verdict::Denied,
        ]
    );
    // Had approvers said yes, the second restart would have met the cooldown.
    let approved = simulate(
        &policy("prod.toml"),
        &cases(),
        SimOptions {
            assume_approved: true,
        },
    );
    assert_eq!(approved.rows[2].verdict, Verdict::Denied);
    assert_eq!(approved.rows[2].clause, "cooldown.per_target");

    let table = demo.to_string();
    println!("{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 7 + 1);
    assert!(lines[0].starts_with("INCIDENT"));
    assert!(lines[3].contains("restart_deployment") && lines[3].contains("denied"));
    assert_eq!(lines[8], "auto 3  ask 1  denied 3  (of 7)");
}
