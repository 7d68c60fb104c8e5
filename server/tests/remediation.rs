//! Remediation end to end: a crash loop pushed over remote_write becomes an incident, a proposed
//! RestartDeployment asks in prod and runs on its own in demo, an approval with a token sends
//! exactly the rollout-restart PATCH to a loopback Kubernetes API, the incident resolves once
//! the replayed signals recover, and the audit chain verifies until a line is tampered with.
//! Cooldown, rate limit, blast radius and pause each refuse a second action with the reason.

use crate::common::*;
use crate::fake_k8s::{self, Fake};
use datasets::scenarios::{Fault, generate};
use serde_json::{Value, json};
use server::config::{Config, KubeConfig};
use server::replay::Sender;
use server::serve::RunningServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const ALICE: &str = "alice-approver-token-0123456789";
const BOB: &str = "bob-lead-token-0123456789abcdef";

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples")
}

/// An example policy, without its time-of-day windows (so the test does not depend on the
/// hour it runs at) and with `edit` applied to the text.
pub(crate) fn policy_file(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(examples().join(name)).unwrap();
    let kept: String = text
        .split("\n[[")
        .enumerate()
        .filter(|(i, part)| *i == 0 || !part.starts_with("windows]]"))
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("\n[[{part}")
            }
        })
        .collect();
    let path = dir.join(format!("policy-{name}"));
    std::fs::write(&path, edit(kept)).unwrap();
    path
}

/// Alice is on call; Bob is a platform lead, a role only the prod policy names.
fn approvers_file(dir: &Path, with_lead: bool) -> PathBuf {
    let path = dir.join("approvers.toml");
    let mut text =
        format!("[[approver]]\nname = \"alice\"\nrole = \"sre-oncall\"\ntoken = \"{ALICE}\"\n");
    if with_lead {
        text.push_str(&format!(
            "\n[[approver]]\nname = \"bob\"\nrole = \"platform-lead\"\ntoken = \"{BOB}\"\n"
        ));
    }
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

pub(crate) struct Rig {
    pub(crate) server: RunningServer,
    pub(crate) fake: Arc<Fake>,
    pub(crate) client: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
}

impl Rig {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        get_data(&self.client, &self.url(path)).await
    }

    pub(crate) async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub(crate) async fn token(&self, approval: &str, bearer: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/api/v1/approvals/{approval}/token"),
                Some(bearer),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn approve(&self, approval: &str) -> (u16, Value) {
        let token = self.token(approval, ALICE).await;
        self.post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": token}),
        )
        .await
    }

    /// Waits for `n` actions to be recorded and returns them all.
    pub(crate) async fn actions(&self, n: usize) -> Vec<Value> {
        let url = self.url("/api/v1/actions");
        let client = &self.client;
        wait_for("actions", Duration::from_secs(60), || async {
            let list = get_data(client, &url).await.as_array()?.clone();
            (list.len() >= n).then_some(list)
        })
        .await
    }

    /// Posts one firing crash-loop alert about Deployment `shop/<deployment>`.
    async fn alert(&self, deployment: &str, starts_at: &str) {
        let body = json!({
            "version": "4", "status": "firing", "receiver": "srebot", "groupKey": deployment,
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                           "deployment": deployment, "severity": "critical"},
                "annotations": {"summary": format!("{deployment} is crash looping")},
                "startsAt": starts_at, "fingerprint": format!("fp-{deployment}-{starts_at}")
            }]
        });
        let response = self
            .client
            .post(self.url("/api/v1/alerts/alertmanager"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
}

async fn rig(policy: &str, edit: impl Fn(String) -> String) -> Rig {
    rig_with(policy, edit, |_, _| {}).await
}

pub(crate) async fn rig_with(
    policy: &str,
    edit: impl Fn(String) -> String,
    tweak: impl FnOnce(&mut Config, &Fake),
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kube_url) = fake_k8s::start().await;
    for name in ["payments-api", "checkout", "catalogue"] {
        fake.deployment(name, 3);
    }
    let mut config: Config = test_config(dir.path());
    config.policy.file = Some(policy_file(dir.path(), policy, edit));
    config.policy.approvers_file = Some(approvers_file(dir.path(), policy == "prod.toml"));
    config.policy.kube = Some(KubeConfig {
        url: Some(kube_url),
        ..KubeConfig::default()
    });
    tweak(&mut config, &fake);
    let server = start(config).await;
    Rig {
        server,
        fake,
        client: client(),
        dir,
    }
}

fn srebot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_srebot"))
}

pub(crate) fn audit_verify(dir: &Path) -> std::process::Output {
    srebot()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .arg("--key-file")
        .arg(audit_key(dir))
        .output()
        .unwrap()
}

const PAYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments/payments-api";

fn assert_one_restart_patch(fake: &Fake, path: &str) {
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let w = &writes[0];
    assert_eq!((w.method.as_str(), w.path.as_str()), ("PATCH", path));
    assert_eq!(w.content_type, "application/strategic-merge-patch+json");
    assert!(!w.query.contains_key("dryRun"));
    let body = w.body.as_ref().unwrap();
    let annotations = &body["spec"]["template"]["metadata"]["annotations"];
    let stamp = annotations["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
    // Exactly the annotation, nothing else in the patch.
    assert_eq!(
        body,
        &json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": stamp}}}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_asks_in_prod_runs_after_approval_and_resolves() {
    let rig = rig("prod.toml", |t| t).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();

    let actions = rig.actions(1).await;
    let restart = actions
        .iter()
        .find(|a| a["proposed"]["action"]["type"] == "restart_deployment")
        .unwrap_or_else(|| panic!("no restart proposed: {actions:#?}"));
    assert_eq!(
        restart["proposed"]["target"],
        json!({"kind": "deployment", "namespace": "shop", "name": "payments-api"})
    );
    assert_eq!(restart["decision"]["verdict"], "needs_approval");
    assert_eq!(restart["decision"]["clause"], "actions.restart_deployment");
    assert_eq!(restart["status"], "pending_approval");
    assert!(
        !restart["proposed"]["evidence_ids"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(rig.fake.writes().is_empty(), "nothing runs before approval");

    let pending = rig.get("/api/v1/approvals?status=pending").await;
    let approval = restart["approval_id"].as_str().unwrap();
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == approval),
        "{pending}"
    );

    // Reading needs no approver; answering does.
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            None,
            json!({"token": "x.y"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["refusal"]["code"], "approver_required");

    let token = rig.token(approval, ALICE).await;
    // A tampered token (one signature character changed) is refused.
    let (payload, sig) = token.split_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{payload}.{flipped}{}", &sig[1..]);
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": tampered}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["refusal"]["code"], "tampered");
    // A token of another role is refused for this approver.
    let bob_token = rig.token(approval, BOB).await;
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": bob_token}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["refusal"]["code"], "permission");
    assert!(rig.fake.writes().is_empty());

    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": token}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "executed");
    assert_eq!(body["data"]["answered_by"]["name"], "alice");
    assert_one_restart_patch(&rig.fake, PAYMENTS);

    // The same token again: refused as reused, and nothing more reaches the cluster.
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": token}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["refusal"]["code"], "reused");
    assert_eq!(rig.fake.writes().len(), 1);

    // The replayed signals recover: two more hours of healthy data resolve the incident and
    // the action is recorded as having worked.
    let healthy = generate(Fault::HealthyGcSawtooth, 7);
    let shift = scenario.meta.end_ms - healthy.meta.start_ms + 15_000;
    sender.push(&healthy, shift).await.unwrap();
    let incident = restart["incident_id"].as_str().unwrap().to_owned();
    let detail = rig.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "resolved", "{detail}");
    let verified = wait_for("verification", Duration::from_secs(30), || async {
        let list = rig.get("/api/v1/actions").await;
        let entry = list
            .as_array()?
            .iter()
            .find(|a| a["approval_id"] == approval)?
            .clone();
        (entry["verification"]["outcome"] == "recovered").then_some(entry)
    })
    .await;
    assert_eq!(verified["verification"]["status_after"], "resolved");
    let robot = rig.get("/api/v1/robot").await;
    assert_eq!(
        robot["outcomes"]["crash_loop/restart_deployment"]["recovered"],
        1
    );

    // The audit log holds the decision, the request, the approval, the refusals, the
    // execution and the verification, and its chain verifies.
    let audit = rig.get(&format!("/api/v1/audit?incident={incident}")).await;
    assert_eq!(audit["chain"]["ok"], true, "{audit}");
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "decision",
        "approval_requested",
        "refused",
        "approved",
        "executed",
        "verified",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let out = audit_verify(rig.dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What-if: the same ledger under the demo policy would have restarted on its own.
    let demo = policy_file(rig.dir.path(), "demo.toml", |t| t);
    let out = srebot()
        .args(["policy", "simulate", "--json", "--policy"])
        .arg(&demo)
        .arg("--data-dir")
        .arg(rig.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["incident_id"] == incident.as_str() && r["action"] == "restart_deployment")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row["verdict"], "auto", "{report}");
    let out = srebot()
        .args(["policy", "simulate", "--policy"])
        .arg(examples().join("prod.toml"))
        .arg("--data-dir")
        .arg(rig.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("{incident}: auto 0, would ask 1")),
        "{text}"
    );

    // Tamper with one line: verification fails and names it.
    let path = rig.dir.path().join("audit.jsonl");
    let log = std::fs::read_to_string(&path).unwrap();
    let edited = log.replacen("\"who\":\"alice (sre-oncall)\"", "\"who\":\"mallory\"", 1);
    assert_ne!(log, edited);
    std::fs::write(&path, edited).unwrap();
    let out = audit_verify(rig.dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("edited"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_restarts_on_its_own_in_demo_and_escalates_when_it_goes_on() {
    let rig = rig("demo.toml", |t| t).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let actions = rig.actions(1).await;
    let restart = actions
        .iter()
        .find(|a| a["proposed"]["action"]["type"] == "restart_deployment")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(restart["decision"]["verdict"], "auto", "{restart}");
    assert_eq!(restart["status"], "executed", "{restart}");
    assert_eq!(restart["execution"]["before"]["replicas"], 3);
    assert_one_restart_patch(&rig.fake, PAYMENTS);
    let annotations = &rig.fake.object(PAYMENTS)["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["kubectl.kubernetes.io/restartedAt"].is_string());
    let pending = rig.get("/api/v1/approvals?status=pending").await;
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["proposed"]["action"]["type"] != "restart_deployment"),
        "{pending}"
    );
    // The crash loop goes on for the rest of the recording, well past the verification
    // period after the restart: the incident is escalated and the outcome counted.
    let id = restart["id"].as_str().unwrap();
    let escalated = wait_for("escalation", Duration::from_secs(30), || async {
        let list = rig.get("/api/v1/actions").await;
        let entry = list.as_array()?.iter().find(|a| a["id"] == id)?.clone();
        (entry["verification"]["outcome"] == "escalated").then_some(entry)
    })
    .await;
    assert_eq!(escalated["verification"]["status_after"], "escalated");
    let incident = restart["incident_id"].as_str().unwrap();
    let detail = rig.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["status"], "escalated", "{detail}");
    let robot = rig.get("/api/v1/robot").await;
    assert_eq!(
        robot["outcomes"]["crash_loop/restart_deployment"]["escalated"],
        1
    );
    let audit = rig.get("/api/v1/audit").await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["why"] == "verification.not_recovered"),
        "{audit}"
    );
    let out = audit_verify(rig.dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pending approval of the restart of `deployment`.
async fn pending_restart(rig: &Rig, deployment: &str) -> String {
    wait_for("a pending restart", Duration::from_secs(30), || async {
        let list = rig.get("/api/v1/approvals?status=pending").await;
        list.as_array()?
            .iter()
            .find(|r| r["proposed"]["target"]["name"] == deployment)
            .and_then(|r| r["id"].as_str().map(str::to_owned))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_restart_of_the_same_target_waits_for_the_cooldown() {
    let rig = rig("prod.toml", |t| t).await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let first = pending_restart(&rig, "checkout").await;
    // The same deployment fails again two hours later: a second incident, a second request.
    rig.alert("checkout", "2026-01-05T12:00:00Z").await;
    let second = wait_for("a second request", Duration::from_secs(30), || async {
        let list = rig.get("/api/v1/approvals?status=pending").await;
        list.as_array()?
            .iter()
            .find(|r| r["id"] != first.as_str())
            .and_then(|r| r["id"].as_str().map(str::to_owned))
    })
    .await;
    let (status, body) = rig.approve(&first).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rig.approve(&second).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["refusal"]["code"], "policy");
    assert_eq!(body["refusal"]["clause"], "cooldown.per_target");
    assert!(
        body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("deployment/shop/checkout"),
        "{body}"
    );
    assert!(body["refusal"]["retry_after_secs"].as_u64().unwrap() > 3000);
    assert_eq!(rig.fake.writes().len(), 1, "only the first restart ran");
    // The refused request stays pending: it may be approved once the cooldown is over.
    let pending = rig.get("/api/v1/approvals?status=pending").await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_workload_action_in_the_hour_is_rate_limited() {
    let rig = rig("prod.toml", |t| {
        t.replace(
            "workload = { max = 2, per_secs = 3600 }",
            "workload = { max = 1, per_secs = 3600 }",
        )
    })
    .await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    rig.alert("catalogue", "2026-01-05T10:00:00Z").await;
    let checkout = pending_restart(&rig, "checkout").await;
    let catalogue = pending_restart(&rig, "catalogue").await;
    let (status, body) = rig.approve(&checkout).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rig.approve(&catalogue).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["refusal"]["clause"], "rate_limits.workload");
    assert!(
        body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("the limit is 1"),
        "{body}"
    );
    assert_eq!(rig.fake.writes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_touching_too_many_pods_is_refused() {
    let rig = rig("prod.toml", |t| t).await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let approval = pending_restart(&rig, "checkout").await;
    // The deployment was scaled up meanwhile: the live object is read again at approval.
    rig.fake.deployment("checkout", 30);
    let (status, body) = rig.approve(&approval).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["refusal"]["clause"], "blast_radius.max_pods_affected");
    assert!(
        body["refusal"]["reason"]
            .as_str()
            .unwrap()
            .contains("touches 30 pods, over the limit of 10"),
        "{body}"
    );
    // A new incident on a too-large deployment is denied outright.
    rig.fake.deployment("catalogue", 40);
    rig.alert("catalogue", "2026-01-05T10:00:00Z").await;
    let actions = rig.actions(2).await;
    let denied = actions
        .iter()
        .find(|a| a["proposed"]["target"]["name"] == "catalogue")
        .unwrap();
    assert_eq!(denied["status"], "denied");
    assert_eq!(
        denied["decision"]["clause"],
        "blast_radius.max_pods_affected"
    );
    assert!(rig.fake.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_automatic_actions_but_not_approvals_and_survives_a_restart() {
    // The incident below is backed by a posted alert only, which the shipped demo policy
    // never acts on alone (`unless_only`); without that condition the pause is what asks.
    let rig = rig("demo.toml", |t| {
        t.replace(
            r#"restart_deployment = { tier = "auto", unless_only = ["alertmanager", "findings"] }"#,
            r#"restart_deployment = "auto""#,
        )
    })
    .await;
    // Pausing needs only API access; resuming needs an approver.
    let (status, body) = rig
        .post(
            "/api/v1/robot/pause",
            None,
            json!({"reason": "database migration"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["paused"], true);
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let actions = rig.actions(1).await;
    assert_eq!(actions[0]["decision"]["verdict"], "needs_approval");
    assert_eq!(actions[0]["decision"]["clause"], "robot.paused");
    assert!(
        actions[0]["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    assert!(rig.fake.writes().is_empty(), "nothing ran while paused");
    // An approval still goes through while paused.
    let approval = actions[0]["approval_id"].as_str().unwrap();
    let (status, body) = rig.approve(approval).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.fake.writes().len(), 1);

    let (status, body) = rig.post("/api/v1/robot/resume", None, json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        policy::load_pause(rig.dir.path()).unwrap().paused,
        "the pause is on disk"
    );

    // A server started again on the same data dir is still paused.
    rig.server.task.abort();
    let mut config = test_config(rig.dir.path());
    config.policy.file = Some(rig.dir.path().join("policy-demo.toml"));
    config.policy.approvers_file = Some(rig.dir.path().join("approvers.toml"));
    let again = start(config).await;
    let robot = get_data(&rig.client, &format!("{}/api/v1/robot", again.url())).await;
    assert_eq!(robot["paused"], true, "{robot}");
    assert_eq!(robot["reason"], "database migration");
    let response = rig
        .client
        .post(format!("{}/api/v1/robot/resume", again.url()))
        .bearer_auth(ALICE)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!policy::load_pause(rig.dir.path()).unwrap().paused);
}

/// The approval book (requests, used token nonces) lives in the ledger: a server started again
/// on the same ledger still refuses a token already used, and keeps no book file of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_token_stays_used_across_a_restart_and_the_book_is_in_the_ledger() {
    let rig = rig("prod.toml", |t| t).await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let approval = pending_restart(&rig, "checkout").await;
    let token = rig.token(&approval, ALICE).await;
    let answer = json!({"token": token});
    let path = format!("/api/v1/approvals/{approval}/approve");
    let (status, body) = rig.post(&path, Some(ALICE), answer.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !rig.dir.path().join("remediation.json").exists(),
        "the book is in the ledger, not a file"
    );
    rig.server.task.abort();

    let mut config = test_config(rig.dir.path());
    config.policy.file = Some(rig.dir.path().join("policy-prod.toml"));
    config.policy.approvers_file = Some(rig.dir.path().join("approvers.toml"));
    let again = start(config).await;
    let response = rig
        .client
        .post(format!("{}{path}", again.url()))
        .bearer_auth(ALICE)
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["refusal"]["code"], "reused", "{body}");
    let approvals = get_data(&rig.client, &format!("{}/api/v1/approvals", again.url())).await;
    assert!(
        approvals
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == approval.as_str() && a["status"] == "approved"),
        "{approvals}"
    );
    again.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_and_the_request_shows_expired() {
    let rig = rig_with(
        "prod.toml",
        |t| t,
        |c, _| {
            c.policy.approval_ttl = Duration::from_secs(1);
        },
    )
    .await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let approval = pending_restart(&rig, "checkout").await;
    let token = rig.token(&approval, ALICE).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": token}),
        )
        .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["refusal"]["code"], "expired");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let expired = rig.get("/api/v1/approvals?status=expired").await;
    assert_eq!(expired[0]["id"], approval.as_str());
    let actions = rig.actions(1).await;
    assert_eq!(actions[0]["status"], "expired");
    assert!(rig.fake.writes().is_empty());
    let bad = rig
        .client
        .get(rig.url("/api/v1/approvals?status=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// The line (1-based) of the first line of `path` starting with `prefix`.
fn line_of(path: &Path, prefix: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(prefix))
        .unwrap()
        + 1
}

/// The audit entries of policy reloads, oldest first.
async fn reload_entries(rig: &Rig) -> Vec<Value> {
    let audit = rig.get("/api/v1/audit").await;
    assert_eq!(audit["chain"]["ok"], true, "{audit}");
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["why"] == "policy.reload")
        .cloned()
        .collect()
}

fn sha256_of(path: &Path) -> String {
    policy::read_file(path).sha256.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reload_by_api_needs_admin_and_keeps_the_old_policy_on_a_bad_file() {
    let rig = rig("prod.toml", |t| t).await;
    let file = rig.dir.path().join("policy-prod.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let first = sha256_of(&file);

    // Policy reload needs the admin role (it used to take an approver's token): an approver
    // is refused with the role it lacks. On loopback with no token configured every caller
    // is admin, so the reloads below go without one.
    for approver in [ALICE, BOB] {
        let (status, body) = rig
            .post("/api/v1/policy/reload", Some(approver), json!({}))
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["required_role"], "admin", "{body}");
    }

    // The same bytes: reloaded, unchanged.
    let (status, body) = rig.post("/api/v1/policy/reload", None, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["changed"], false);
    assert_eq!(body["data"]["old_sha256"], first.as_str());
    assert_eq!(body["data"]["new_sha256"], first.as_str());

    // A restart made automatic in prod is refused with its file and line.
    std::fs::write(
        &file,
        original.replace(
            "restart_deployment = \"approval\"",
            "restart_deployment = \"auto\"",
        ),
    )
    .unwrap();
    let bad = sha256_of(&file);
    let line = line_of(&file, "restart_deployment");
    let (status, body) = rig.post("/api/v1/policy/reload", None, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["refusal"]["code"], "invalid_policy");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(&format!("policy-prod.toml:{line}: ")),
        "{message}"
    );
    assert_eq!(body["refusal"]["issues"][0]["line"], line);
    assert_eq!(body["refusal"]["sha256"], bad.as_str());
    // The old policy runs on: the restart asks instead of running.
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let pending = pending_restart(&rig, "checkout").await;
    assert!(rig.fake.writes().is_empty(), "nothing ran on its own");

    // A valid change (at most 2 pods touched) is taken: a 3-replica restart is now denied.
    let tight = original.replace("max_pods_affected = 10", "max_pods_affected = 2");
    std::fs::write(&file, &tight).unwrap();
    let second = sha256_of(&file);
    let (status, body) = rig.post("/api/v1/policy/reload", None, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["changed"], true);
    assert_eq!(body["data"]["old_sha256"], first.as_str());
    assert_eq!(body["data"]["new_sha256"], second.as_str());
    rig.alert("catalogue", "2026-01-05T10:00:00Z").await;
    let actions = rig.actions(2).await;
    let catalogue = actions
        .iter()
        .find(|a| a["proposed"]["target"]["name"] == "catalogue")
        .unwrap();
    assert_eq!(catalogue["status"], "denied", "{catalogue}");
    assert_eq!(
        catalogue["decision"]["clause"],
        "blast_radius.max_pods_affected"
    );
    // The approval asked under the old policy is decided again under the new one.
    let (status, body) = rig.approve(&pending).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["refusal"]["clause"], "blast_radius.max_pods_affected");
    assert!(rig.fake.writes().is_empty());

    // Every attempt is audited: who, and the old and new file hashes.
    let entries = reload_entries(&rig).await;
    let seen: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["who"].as_str().unwrap(),
                e["before"]["sha256"].as_str().unwrap(),
                e["after"]["sha256"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("policy_reloaded", "anonymous (admin)", &*first, &*first),
            ("policy_reload_refused", "anonymous (admin)", &*first, &*bad),
            ("policy_reloaded", "anonymous (admin)", &*first, &*second),
        ]
    );
    assert!(
        entries[1]["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("policy-prod.toml:{line}:")),
        "{}",
        entries[1]
    );
    let out = audit_verify(rig.dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reload_on_sighup_keeps_the_old_policy_on_a_bad_file() {
    let rig = rig("prod.toml", |t| t).await;
    let file = rig.dir.path().join("policy-prod.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let first = sha256_of(&file);
    let hangup = || {
        // Our own process: the server installed its SIGHUP handler at start.
        let pid = std::process::id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    let rig = &rig;
    let wait_entries = |n: usize| async move {
        wait_for("policy reload entries", Duration::from_secs(10), || async {
            let entries = reload_entries(rig).await;
            (entries.len() >= n).then_some(entries)
        })
        .await
    };

    let tight = original.replace("max_pods_affected = 10", "max_pods_affected = 2");
    std::fs::write(&file, &tight).unwrap();
    let second = sha256_of(&file);
    hangup();
    let entries = wait_entries(1).await;
    assert_eq!(entries[0]["kind"], "policy_reloaded");
    assert_eq!(entries[0]["who"], "SIGHUP");
    assert_eq!(entries[0]["before"]["sha256"], first.as_str());
    assert_eq!(entries[0]["after"]["sha256"], second.as_str());

    // A file that is not even TOML: refused, logged, audited; the reloaded policy stays.
    std::fs::write(&file, format!("{tight}\n[blast_radius\n")).unwrap();
    hangup();
    let entries = wait_entries(2).await;
    assert_eq!(entries[1]["kind"], "policy_reload_refused");
    assert_eq!(entries[1]["who"], "SIGHUP");
    assert_eq!(entries[1]["before"]["sha256"], second.as_str());
    assert!(
        entries[1]["detail"]
            .as_str()
            .unwrap()
            .contains("policy-prod.toml:"),
        "{}",
        entries[1]
    );
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let actions = rig.actions(1).await;
    assert_eq!(actions[0]["status"], "denied", "{}", actions[0]);
    assert_eq!(
        actions[0]["decision"]["clause"],
        "blast_radius.max_pods_affected"
    );
    assert!(rig.fake.writes().is_empty());
}

/// What the RCA layer proposes carries no authority: no route takes an action in directly, a
/// made-up approval or token is refused, a smuggled-in human-only action is refused, and the
/// cluster sees nothing until the policy's decision is approved with an issued token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rca_proposal_reaches_the_cluster_only_through_a_decision() {
    let rig = rig("prod.toml", |t| t).await;
    rig.alert("checkout", "2026-01-05T10:00:00Z").await;
    let approval = pending_restart(&rig, "checkout").await;
    let actions = rig.actions(1).await;
    assert_eq!(actions[0]["decision"]["verdict"], "needs_approval");
    assert_eq!(
        actions[0]["decision"]["clause"],
        "actions.restart_deployment"
    );
    // The same restart as the RCA/LLM layer would phrase it, with a decision record copied in.
    let mut proposed = actions[0]["proposed"].clone();
    proposed["proposed_by"] = json!("rca:llm");

    // No route executes a proposal handed in from outside.
    for path in [
        "/api/v1/actions",
        "/api/v1/actions/execute",
        "/api/v1/execute",
    ] {
        let response = rig
            .client
            .post(rig.url(path))
            .bearer_auth(ALICE)
            .json(&json!({"proposed": proposed, "decision": actions[0]["decision"]}))
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
    }
    // A made-up approval, and a made-up token for the real one, are refused.
    let (status, body) = rig
        .post(
            "/api/v1/approvals/apr-made-up/approve",
            Some(ALICE),
            json!({"token": "v1.apr-made-up.sre-oncall.0.deadbeef"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": format!("v1.{approval}.sre-oncall.9999999999999.00")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["refusal"]["code"], "tampered");
    // An issued token does not stretch to a human-only action slipped in by modify.
    let token = rig.token(&approval, ALICE).await;
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/modify"),
            Some(ALICE),
            json!({"token": token, "action": {"type": "delete_namespace"}}),
        )
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(rig.fake.writes().is_empty(), "{:#?}", rig.fake.writes());
    let audit = rig.get("/api/v1/audit").await;
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"executed"), "{kinds:?}");
    assert!(
        kinds.iter().filter(|k| **k == "refused").count() >= 3,
        "{kinds:?}"
    );

    // The decided path still works: an issued token approves exactly the decided action.
    let (status, body) = rig.approve(&approval).await;
    assert_eq!(status, 200, "{body}");
    assert_one_restart_patch(
        &rig.fake,
        "/apis/apps/v1/namespaces/shop/deployments/checkout",
    );
}

/// A loopback stand-in for a Slack incoming webhook: keeps every `{"text": ...}` posted.
async fn webhook() -> (String, Arc<parking_lot::Mutex<Vec<String>>>) {
    use axum::extract::State;
    type Texts = Arc<parking_lot::Mutex<Vec<String>>>;
    let texts: Texts = Arc::default();
    let app = axum::Router::new()
        .route(
            "/services/T000/B000/XXXX",
            axum::routing::post(
                |State(texts): State<Texts>, axum::Json(body): axum::Json<Value>| async move {
                    texts
                        .lock()
                        .push(body["text"].as_str().unwrap_or_default().to_owned());
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&texts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/T000/B000/XXXX",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, texts)
}

/// Approvers hear of a waiting approval (prod), and operators of an escalation when the
/// robot's own restart did not help (demo), on the configured incoming webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_waiting_and_escalations_are_announced_on_the_webhook() {
    let (rig, asked) =
        crash_loop_announcement("prod.toml", "Approval needed", Duration::from_secs(10)).await;
    let approval = pending_restart(&rig, "payments-api").await;
    assert!(asked.contains(&approval), "{asked}");
    assert!(asked.contains("payments-api"), "{asked}");

    let (_rig, escalated) =
        crash_loop_announcement("demo.toml", "Escalated", Duration::from_secs(30)).await;
    assert!(
        escalated.contains("crash_loop on payments-api"),
        "{escalated}"
    );
}

/// A rig on `policy` announcing to a fresh webhook, fed a crash loop, with the first message
/// it announced that starts with `prefix`.
async fn crash_loop_announcement(policy: &str, prefix: &str, within: Duration) -> (Rig, String) {
    let (url, texts) = webhook().await;
    let rig = rig_with(
        policy,
        |t| t,
        move |c, _| c.policy.notify_webhook = Some(url),
    )
    .await;
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender
        .push(&generate(Fault::CrashLoop, 7), 0)
        .await
        .unwrap();
    let text = wait_for("an announcement", within, || async {
        texts.lock().iter().find(|t| t.starts_with(prefix)).cloned()
    })
    .await;
    (rig, text)
}

/// The crash-loop finding the built-in rules make first on `scenario`, from the same
/// detector code run offline: when and on what the rule fires.
fn first_rule_finding(scenario: &datasets::scenarios::Scenario) -> model::IncidentCandidate {
    let store = windows::Store::new(windows::StoreConfig {
        lateness_ms: 2_000,
        ..windows::StoreConfig::default()
    });
    let mut detector = detect::Detector::new(detect::builtin_rules(), detect::Environment::Prod);
    let outcome = datasets::replay::replay(scenario, &store, &mut detector, 15_000);
    outcome
        .candidates
        .into_iter()
        .filter(|c| c.incident_type == model::IncidentType::CrashLoop && c.target == "payments-api")
        .min_by_key(|c| c.detected_at_ms)
        .expect("the crash-loop rule fires on the scenario")
}

/// A posted Alertmanager alert alone cannot make the robot change the cluster under the
/// shipped demo policy: the restart asks (clause `actions.restart_deployment.unless_only`).
/// Once the rule's own finding over remote_write backs the same incident, the restart is
/// decided again, its request withdrawn, and exactly one PATCH reaches the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_alone_asks_under_demo_and_runs_once_the_rule_backs_it() {
    let rig = rig("demo.toml", |t| t).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let finding = first_rule_finding(&scenario);
    assert_eq!(finding.scope, model::Scope::Deployment);
    let starts_at = incident::record::rfc3339::format(finding.detected_at_ms);
    rig.alert("payments-api", &starts_at).await;

    let actions = rig.actions(1).await;
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let restart = &actions[0];
    assert_eq!(restart["proposed"]["action"]["type"], "restart_deployment");
    assert_eq!(
        restart["decision"]["verdict"], "needs_approval",
        "{restart}"
    );
    assert_eq!(
        restart["decision"]["clause"],
        "actions.restart_deployment.unless_only"
    );
    assert_eq!(restart["status"], "pending_approval");
    let incident = restart["incident_id"].as_str().unwrap().to_owned();
    let approval = restart["approval_id"].as_str().unwrap().to_owned();
    let detail = rig.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(detail["origins"], json!(["alertmanager"]), "{detail}");
    // Nothing else is coming: the robot has decided and waits for a person.
    let token = rig.token(&approval, ALICE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rig.fake.writes().is_empty(), "{:#?}", rig.fake.writes());

    // The rule's own finding joins the incident: the restart runs on its own.
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let executed = wait_for("the restart to run", Duration::from_secs(60), || async {
        let list = rig.get("/api/v1/actions").await;
        let entry = list
            .as_array()?
            .iter()
            .find(|a| a["id"] == restart["id"])?
            .clone();
        (entry["status"] == "executed").then_some(entry)
    })
    .await;
    assert_eq!(executed["decision"]["verdict"], "auto", "{executed}");
    assert_eq!(executed["decision"]["clause"], "actions.restart_deployment");
    assert_one_restart_patch(&rig.fake, PAYMENTS);
    let detail = rig.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        detail["origins"],
        json!(["alertmanager", "rules"]),
        "{detail}"
    );
    let summaries = rig.get("/api/v1/incidents").await;
    assert!(
        summaries
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == incident.as_str()
                && s["origins"] == json!(["alertmanager", "rules"])),
        "{summaries}"
    );
    // The request nobody answered is withdrawn; its token no longer approves anything.
    let withdrawn = rig.get("/api/v1/approvals?status=withdrawn").await;
    assert_eq!(withdrawn[0]["id"], approval.as_str(), "{withdrawn}");
    let (status, body) = rig
        .post(
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(ALICE),
            json!({"token": token}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["refusal"]["code"], "already_decided", "{body}");
    assert_eq!(body["refusal"]["approval_status"], "withdrawn", "{body}");
    assert_eq!(rig.fake.writes().len(), 1);
    let actions = rig.get("/api/v1/actions").await;
    assert_eq!(actions.as_array().unwrap().len(), 1, "{actions:#?}");
    let out = audit_verify(rig.dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
