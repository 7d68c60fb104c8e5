//! Decisions: the example policies answer as the product table says, each guard refuses a
//! second action with its clause, and property tests hold the invariants under any policy.

use model::{
    Action, ActionFamily, IncidentType, ObjectRef, PodPhase, ProposedAction, RiskClass, Severity,
    TargetKind,
};
use policy::{
    Autonomy, BlastRadiusLimits, Cooldowns, Environment, History, IncidentView, LiveObject, Mode,
    Policy, RateLimit, Verdict, check_file, decide,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn example(name: &str) -> Policy {
    check_file(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

fn incident(id: &str) -> IncidentView {
    IncidentView {
        id: id.into(),
        incident_type: IncidentType::CrashLoop,
        severity: Severity::Critical,
        namespace: Some("shop".into()),
        target: Some("cart".into()),
        origins: [model::Origin::Rules].into(),
    }
}

fn propose(action: Action, target: ObjectRef, incident: &str) -> ProposedAction {
    ProposedAction {
        action,
        target,
        incident_id: incident.into(),
        evidence_ids: vec!["ev-1".into()],
        proposed_by: "rca".into(),
        confidence: None,
    }
}

fn cart() -> ObjectRef {
    ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart")
}

const LIVE: LiveObject = LiveObject {
    replicas: Some(3),
    pods: Some(4),
    nodes_total: Some(6),
    nodes_unschedulable: Some(0),
};

/// 2026-11-23 10:00 UTC, a Monday outside every example window.
const NOW: i64 = 1_795_428_000_000;

#[test]
fn restart_asks_in_prod_and_runs_in_demo() {
    let restart = propose(Action::RestartDeployment, cart(), "inc-1");
    let h = History::default();
    let prod = decide(
        &incident("inc-1"),
        &restart,
        &example("prod.toml"),
        &h,
        Some(&LIVE),
        NOW,
    );
    assert_eq!(prod.verdict, Verdict::NeedsApproval, "{prod:?}");
    assert_eq!(prod.clause, "actions.restart_deployment");
    let demo = decide(
        &incident("inc-1"),
        &restart,
        &example("demo.toml"),
        &h,
        Some(&LIVE),
        NOW,
    );
    assert_eq!(demo.verdict, Verdict::Auto, "{demo:?}");
    assert_eq!(demo.blast_radius.unwrap().pods_affected, 3);
    // Same inputs, same answer.
    let again = decide(
        &incident("inc-1"),
        &restart,
        &example("demo.toml"),
        &h,
        Some(&LIVE),
        NOW,
    );
    assert_eq!(again, demo);
}

#[test]
fn cleanup_is_auto_and_human_only_is_denied_in_prod() {
    let p = example("prod.toml");
    let h = History::default();
    let ns = ObjectRef::new(TargetKind::Namespace, None, "shop");
    let clean = propose(
        Action::DeletePods {
            phase: PodPhase::Failed,
        },
        ns.clone(),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &clean, &p, &h, Some(&LIVE), NOW);
    assert_eq!(d.verdict, Verdict::Auto, "{d:?}");
    let drop = propose(Action::DeleteNamespace, ns, "inc-1");
    let d = decide(&incident("inc-1"), &drop, &p, &h, Some(&LIVE), NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "risk.human_only")
    );
    let secret_patch = propose(
        Action::PatchConfig {
            key: "db.password".into(),
            value: "x".into(),
        },
        ObjectRef::new(TargetKind::ConfigMap, Some("shop"), "cart-config"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &secret_patch, &p, &h, Some(&LIVE), NOW);
    assert_eq!(d.clause, "risk.human_only");
}

#[test]
fn allowlists_and_catalogue_refuse() {
    let p = example("prod.toml");
    let h = History::default();
    let other = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("kube-system"), "coredns"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &other, &p, &h, Some(&LIVE), NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "allow.namespaces")
    );
    let wrong_kind = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Node, None, "w1"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &wrong_kind, &p, &h, Some(&LIVE), NOW);
    assert_eq!(d.clause, "catalogue.target");
    let unlisted = propose(
        Action::RunJob {
            template: "report".into(),
        },
        ObjectRef::new(TargetKind::Job, Some("shop"), "report-1"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &unlisted, &p, &h, Some(&LIVE), NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "actions.run_job")
    );
}

#[test]
fn cooldown_refuses_a_second_action() {
    let p = example("demo.toml");
    let restart = propose(Action::RestartDeployment, cart(), "inc-1");
    let mut h = History::default();
    let first = decide(&incident("inc-1"), &restart, &p, &h, Some(&LIVE), NOW);
    assert_eq!(first.verdict, Verdict::Auto);
    h.record(&restart, NOW);
    // Another incident, same target, 10 minutes later: the per-target cooldown (900 s) holds.
    let again = propose(Action::RestartDeployment, cart(), "inc-2");
    let d = decide(
        &incident("inc-2"),
        &again,
        &p,
        &h,
        Some(&LIVE),
        NOW + 600_000,
    );
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "cooldown.per_target"),
        "{d:?}"
    );
    assert_eq!(d.retry_after_ms, Some(300_000));
    // Same incident, another target: the per-incident cooldown (300 s) holds after 1 minute.
    let other = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "web"),
        "inc-1",
    );
    let d = decide(
        &incident("inc-1"),
        &other,
        &p,
        &h,
        Some(&LIVE),
        NOW + 60_000,
    );
    assert_eq!(d.clause, "cooldown.per_incident");
    // After the cooldown it passes.
    let d = decide(
        &incident("inc-2"),
        &again,
        &p,
        &h,
        Some(&LIVE),
        NOW + 900_000,
    );
    assert_eq!(d.verdict, Verdict::Auto, "{d:?}");
}

#[test]
fn rate_limit_refuses_a_second_node_action() {
    let p = example("demo.toml");
    let mut h = History::default();
    let cordon = propose(
        Action::CordonNode,
        ObjectRef::new(TargetKind::Node, None, "w1"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &cordon, &p, &h, Some(&LIVE), NOW);
    assert_eq!(d.verdict, Verdict::NeedsApproval);
    h.record(&cordon, NOW);
    let cordon2 = propose(
        Action::CordonNode,
        ObjectRef::new(TargetKind::Node, None, "w2"),
        "inc-9",
    );
    let d = decide(
        &incident("inc-9"),
        &cordon2,
        &p,
        &h,
        Some(&LIVE),
        NOW + 1_000_000,
    );
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "rate_limits.node"),
        "{d:?}"
    );
    assert_eq!(d.retry_after_ms, Some(3_600_000 - 1_000_000));
}

#[test]
fn blast_radius_refuses_and_unknown_asks() {
    let p = example("demo.toml");
    let h = History::default();
    let big = propose(Action::ScaleDeployment { replicas: 10 }, cart(), "inc-1");
    let d = decide(&incident("inc-1"), &big, &p, &h, Some(&LIVE), NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "blast_radius.max_replicas_changed")
    );
    let small = propose(Action::ScaleDeployment { replicas: 5 }, cart(), "inc-1");
    assert_eq!(
        decide(&incident("inc-1"), &small, &p, &h, Some(&LIVE), NOW).verdict,
        Verdict::Auto
    );
    let d = decide(&incident("inc-1"), &small, &p, &h, None, NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::NeedsApproval, "blast_radius.unknown")
    );
    let drain = propose(
        Action::DrainNode,
        ObjectRef::new(TargetKind::Node, None, "w1"),
        "inc-1",
    );
    let crowded = LiveObject {
        nodes_total: Some(3),
        nodes_unschedulable: Some(1),
        ..LIVE
    };
    let d = decide(&incident("inc-1"), &drain, &p, &h, Some(&crowded), NOW);
    assert_eq!(d.clause, "blast_radius.max_node_share");
}

#[test]
fn pause_stops_automatic_actions_but_not_reading() {
    let p = example("demo.toml");
    let h = History {
        paused: true,
        records: vec![],
    };
    let restart = propose(Action::RestartDeployment, cart(), "inc-1");
    let d = decide(&incident("inc-1"), &restart, &p, &h, Some(&LIVE), NOW);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::NeedsApproval, "robot.paused")
    );
    let notify = propose(
        Action::Notify,
        ObjectRef::new(TargetKind::Incident, None, "inc-1"),
        "inc-1",
    );
    assert_eq!(
        decide(&incident("inc-1"), &notify, &p, &h, None, NOW).verdict,
        Verdict::Auto
    );
}

#[test]
fn windows_suppress_and_hold() {
    let p = example("prod.toml");
    let h = History::default();
    // Black Friday freeze on payments.
    let bf = 1_795_824_000_000; // 2026-11-28T00:00:00Z
    let clean = propose(
        Action::DeletePods {
            phase: PodPhase::Succeeded,
        },
        ObjectRef::new(TargetKind::Namespace, None, "payments"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &clean, &p, &h, Some(&LIVE), bf);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::Denied, "windows.black-friday-freeze")
    );
    // Nightly maintenance (Mon 23:30): auto cleanup asks instead.
    let night = NOW + 13 * 3_600_000 + 1_800_000;
    let shop = propose(
        Action::DeletePods {
            phase: PodPhase::Succeeded,
        },
        ObjectRef::new(TargetKind::Namespace, None, "shop"),
        "inc-1",
    );
    let d = decide(&incident("inc-1"), &shop, &p, &h, Some(&LIVE), night);
    assert_eq!(
        (d.verdict, d.clause.as_str()),
        (Verdict::NeedsApproval, "windows.nightly-db-maintenance")
    );
}

// ---- properties -------------------------------------------------------------------------

fn any_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::RestartDeployment),
        (0u32..20).prop_map(|replicas| Action::ScaleDeployment { replicas }),
        (1u64..9).prop_map(|to_revision| Action::RollbackDeployment { to_revision }),
        Just(Action::RunJob {
            template: "t".into()
        }),
        Just(Action::DeletePods {
            phase: PodPhase::Failed
        }),
        Just(Action::SuspendCronJob),
        Just(Action::CordonNode),
        Just(Action::DrainNode),
        prop_oneof![Just("log_level"), Just("api_token"), Just("tls.cert")].prop_map(|k| {
            Action::PatchConfig {
                key: k.into(),
                value: "v".into(),
            }
        }),
        Just(Action::ReconcileRelease),
        Just(Action::Notify),
        Just(Action::CollectEvidence),
        Just(Action::DeleteNamespace),
        Just(Action::DeleteVolume),
        Just(Action::RotateCredential),
        Just(Action::DisableSecurityControl {
            control: "admission".into()
        }),
    ]
}

fn fitting_target(action: &Action, name: &str) -> ObjectRef {
    let kind = action.target_kind();
    let ns = (!kind.cluster_scoped()).then_some("shop");
    ObjectRef::new(kind, ns, name)
}

fn any_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Auto), Just(Mode::Approval), Just(Mode::Deny)]
}

/// Any policy at all, including ones validation would refuse.
fn any_policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![
            Just(Environment::Demo),
            Just(Environment::Staging),
            Just(Environment::Prod)
        ],
        prop_oneof![
            Just(Autonomy::Observe),
            Just(Autonomy::Safe),
            Just(Autonomy::Extended)
        ],
        proptest::collection::vec(any_mode(), Action::NAMES.len()),
        (0u32..20, 0u32..50, 0.0f64..1.0),
        (0u64..1000, 0u64..1000),
        (1u32..5, 1u64..600),
    )
        .prop_map(|(environment, autonomy, modes, br, cd, rl)| Policy {
            environment,
            autonomy,
            dry_run: false,
            namespaces: vec!["*".into()],
            resources: vec!["*/*/*".into(), "*/*".into()],
            actions: Action::NAMES
                .iter()
                .map(|n| n.to_string())
                .zip(modes)
                .collect(),
            unless_only: BTreeMap::new(),
            min_confidence: BTreeMap::new(),
            blast_radius: BlastRadiusLimits {
                max_replicas_changed: br.0,
                max_pods_affected: br.1,
                max_node_share: br.2,
            },
            cooldowns: Cooldowns {
                per_incident_secs: cd.0,
                per_target_secs: cd.1,
            },
            rate_limits: ActionFamily::ALL
                .iter()
                .map(|f| {
                    (
                        *f,
                        RateLimit {
                            max: rl.0,
                            per_secs: rl.1,
                        },
                    )
                })
                .collect(),
            windows: vec![],
            approvers: vec![],
        })
}

fn any_live() -> impl Strategy<Value = Option<LiveObject>> {
    proptest::option::of(
        (0u32..30, 0u32..30, 1u32..10, 0u32..10).prop_map(|(r, p, t, u)| LiveObject {
            replicas: Some(r),
            pods: Some(p),
            nodes_total: Some(t),
            nodes_unschedulable: Some(u.min(t)),
        }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn human_only_is_never_automatic(
        policy in any_policy(),
        action in any_action(),
        paused in any::<bool>(),
        live in any_live(),
        now in 0i64..10_000_000,
    ) {
        let proposed = propose(action.clone(), fitting_target(&action, "x"), "inc-1");
        let history = History { paused, records: vec![] };
        let d = decide(&incident("inc-1"), &proposed, &policy, &history, live.as_ref(), now);
        if action.risk() == RiskClass::HumanOnly {
            prop_assert_eq!(d.verdict, Verdict::Denied);
        }
        if d.verdict == Verdict::Auto {
            prop_assert!(action.risk() != RiskClass::HumanOnly);
            prop_assert_eq!(policy.mode(action.name()), Mode::Auto);
            if action.risk() != RiskClass::ReadOnly {
                prop_assert!(!paused, "paused robot ran {}", action);
                prop_assert!(policy.autonomy != Autonomy::Observe);
                let b = d.blast_radius.unwrap();
                prop_assert!(b.replicas_changed <= policy.blast_radius.max_replicas_changed);
                prop_assert!(b.pods_affected <= policy.blast_radius.max_pods_affected);
                prop_assert!(b.node_share <= policy.blast_radius.max_node_share);
            }
            if action.risk() == RiskClass::Approval {
                prop_assert_eq!(policy.environment == Environment::Prod, false);
                prop_assert_eq!(policy.autonomy, Autonomy::Extended);
            }
        }
    }

    #[test]
    fn cooldowns_and_rate_limits_hold_under_any_interleaving(
        policy in any_policy(),
        steps in proptest::collection::vec(
            (0i64..200_000, 0usize..3, 0usize..3, any_action(), any::<bool>()),
            1..80,
        ),
    ) {
        let mut history = History::default();
        let mut now = 0i64;
        let live = LiveObject { replicas: Some(1), pods: Some(0), nodes_total: Some(100), nodes_unschedulable: Some(0) };
        for (advance, inc, tgt, action, approve) in steps {
            now += advance;
            let inc_id = format!("inc-{inc}");
            let proposed = propose(action.clone(), fitting_target(&action, &format!("t{tgt}")), &inc_id);
            let view = incident(&inc_id);
            let d = decide(&view, &proposed, &policy, &history, Some(&live), now);
            let dispatched = match d.verdict {
                Verdict::Auto => true,
                Verdict::NeedsApproval => approve,
                Verdict::Denied => false,
            };
            if dispatched {
                history.record(&proposed, now);
            }
        }
        let cd = policy.cooldowns;
        let acting: Vec<_> = history.records.iter().filter(|r| r.family != ActionFamily::Inform).collect();
        for (i, a) in acting.iter().enumerate() {
            for b in &acting[i + 1..] {
                let gap = b.at_ms - a.at_ms;
                if a.target == b.target {
                    prop_assert!(gap >= (cd.per_target_secs * 1000) as i64, "target cooldown broken: {a:?} {b:?}");
                }
                if a.incident_id == b.incident_id {
                    prop_assert!(gap >= (cd.per_incident_secs * 1000) as i64, "incident cooldown broken: {a:?} {b:?}");
                }
            }
        }
        // Read-only actions are exempt from cooldowns and rate limits.
        for r in &acting {
            let limit = policy.rate_limit(r.family);
            let per_ms = (limit.per_secs * 1000) as i64;
            let in_window = acting.iter()
                .filter(|o| o.family == r.family && o.at_ms <= r.at_ms && r.at_ms - o.at_ms < per_ms)
                .count();
            prop_assert!(in_window <= limit.max as usize, "rate limit broken for {}", r.family);
        }
    }
}

#[test]
fn policies_with_no_actions_deny_everything() {
    let p = Policy {
        actions: BTreeMap::new(),
        ..example("demo.toml")
    };
    let d = decide(
        &incident("inc-1"),
        &propose(Action::RestartDeployment, cart(), "inc-1"),
        &p,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert_eq!(d.verdict, Verdict::Denied);
}

fn backed_by(id: &str, origins: &[model::Origin]) -> IncidentView {
    IncidentView {
        origins: origins.iter().copied().collect(),
        ..incident(id)
    }
}

/// The shipped policies act on their own only when srebot's own rules or detectors back the
/// incident: posted alerts alone, or no recorded origin, fall back to asking.
#[test]
fn posted_alerts_alone_never_act_automatically_under_the_shipped_policies() {
    use model::Origin;
    let h = History::default();
    let restart = propose(Action::RestartDeployment, cart(), "inc-1");
    let demo = example("demo.toml");
    let alerts_only = backed_by("inc-1", &[Origin::Alertmanager]);
    let d = decide(&alerts_only, &restart, &demo, &h, Some(&LIVE), NOW);
    assert_eq!(d.verdict, Verdict::NeedsApproval, "{d:?}");
    assert_eq!(d.clause, "actions.restart_deployment.unless_only");
    assert!(
        d.reason.contains("unless only alertmanager") && d.reason.contains("only alertmanager"),
        "{}",
        d.reason
    );
    let unknown = backed_by("inc-1", &[]);
    let d = decide(&unknown, &restart, &demo, &h, Some(&LIVE), NOW);
    assert_eq!(d.clause, "actions.restart_deployment.unless_only");
    assert!(d.reason.contains("no recorded origin"), "{}", d.reason);
    for backing in [
        vec![Origin::Alertmanager, Origin::Rules],
        vec![Origin::Anomaly],
    ] {
        let d = decide(
            &backed_by("inc-1", &backing),
            &restart,
            &demo,
            &h,
            Some(&LIVE),
            NOW,
        );
        assert_eq!(d.verdict, Verdict::Auto, "{backing:?}: {d:?}");
    }
    // Every shipped policy, every action it may run on its own, an alert-only incident.
    for name in ["demo.toml", "prod.toml"] {
        let p = example(name);
        for (action, target) in [
            (Action::RestartDeployment, cart()),
            (Action::ScaleDeployment { replicas: 4 }, cart()),
            (
                Action::DeletePods {
                    phase: PodPhase::Failed,
                },
                ObjectRef::new(TargetKind::Namespace, None, "shop"),
            ),
            (
                Action::SuspendCronJob,
                ObjectRef::new(TargetKind::CronJob, Some("shop"), "report"),
            ),
        ] {
            let proposed = propose(action, target, "inc-1");
            let d = decide(&alerts_only, &proposed, &p, &h, Some(&LIVE), NOW);
            assert_ne!(d.verdict, Verdict::Auto, "{name}: {d:?}");
            if d.risk != RiskClass::ReadOnly && p.mode(proposed.action.name()) == Mode::Auto {
                assert!(d.clause.ends_with(".unless_only"), "{name}: {d:?}");
            }
        }
    }
    // Denials still come first: a target outside the allowlist is denied, not asked.
    let elsewhere = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("kube-system"), "coredns"),
        "inc-1",
    );
    let d = decide(&alerts_only, &elsewhere, &demo, &h, Some(&LIVE), NOW);
    assert_eq!(d.verdict, Verdict::Denied, "{d:?}");
}

/// `min_confidence` on an `auto` tier: a proposal at least that sure runs on its own; a less
/// sure one (or one of unknown confidence) asks, and the decision says why.
#[test]
fn min_confidence_holds_back_unsure_proposals() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.toml"),
    )
    .unwrap()
    .replace(
        r#"restart_deployment = { tier = "auto", unless_only = ["alertmanager", "findings"] }"#,
        r#"restart_deployment = { tier = "auto", min_confidence = 0.8 }"#,
    );
    let p = Policy::from_toml_str(&text, "demo.toml").unwrap();
    assert_eq!(p.min_confidence.get("restart_deployment"), Some(&0.8));
    let h = History::default();
    let sure = |c: Option<f64>| ProposedAction {
        confidence: c.map(model::Confidence::new),
        ..propose(Action::RestartDeployment, cart(), "inc-1")
    };
    let backed = backed_by("inc-1", &[model::Origin::Rules]);
    let d = decide(&backed, &sure(Some(0.91)), &p, &h, Some(&LIVE), NOW);
    assert_eq!(d.verdict, Verdict::Auto, "{d:?}");
    for unsure in [Some(0.62), None] {
        let d = decide(&backed, &sure(unsure), &p, &h, Some(&LIVE), NOW);
        assert_eq!(d.verdict, Verdict::NeedsApproval, "{d:?}");
        assert_eq!(d.clause, "actions.restart_deployment.min_confidence");
        assert!(d.reason.contains("at least 0.80 sure"), "{}", d.reason);
    }
    let d = decide(&backed, &sure(Some(0.62)), &p, &h, Some(&LIVE), NOW);
    assert!(d.reason.contains("this one is 0.62"), "{}", d.reason);
}
