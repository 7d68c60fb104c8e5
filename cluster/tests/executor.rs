//! The executor against a loopback fake API server: each typed action sends exactly the
//! expected request, dry-run mode sends `dryRun=All`, and nothing runs without a decision.

use crate::fake_k8s::{self, Fake, HELM_RELEASE};
use cluster::{ExecError, Executor};
use model::{Action, IncidentType, ObjectRef, PodPhase, ProposedAction, Severity, TargetKind};
use policy::{
    ApprovalKey, Approvals, ApproverIdentity, AuditKind, AuditLog, Authorization, History,
    IncidentView, LiveObject, Policy, Verdict, check_file, decide, verify,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// 2026-11-23T10:00:00Z
const NOW: i64 = 1_795_428_000_000;
const LIVE: LiveObject = LiveObject {
    replicas: Some(3),
    pods: Some(2),
    nodes_total: Some(6),
    nodes_unschedulable: Some(0),
};
const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";

/// A demo policy that lets every executable action run on its own.
const EVERYTHING_AUTO: &str = r#"
environment = "demo"
autonomy = "extended"
[allow]
namespaces = ["shop", "argocd"]
resources = ["deployment/shop/*", "stateful_set/shop/*", "daemon_set/shop/*", "application/argocd/*", "namespace/shop", "cron_job/shop/*", "job/shop/*", "config_map/shop/*", "node/*", "release/shop/*"]
[actions]
restart_deployment = "auto"
restart_stateful_set = "auto"
restart_daemon_set = "auto"
scale_deployment = "auto"
scale_stateful_set = "auto"
delete_node_pods = "auto"
rollback_deployment = "auto"
run_job = "auto"
delete_pods = "auto"
suspend_cron_job = "auto"
cordon_node = "auto"
drain_node = "auto"
patch_config = "auto"
reconcile_release = "auto"
sync_application = "auto"
[[approvers]]
role = "sre-oncall"
may_approve = ["auto", "approval"]
"#;

fn incident() -> IncidentView {
    IncidentView {
        id: "inc-7".into(),
        incident_type: IncidentType::CrashLoop,
        severity: Severity::Critical,
        namespace: Some("shop".into()),
        target: Some("cart".into()),
        origins: [model::Origin::Rules].into(),
    }
}

fn propose(action: Action, target: ObjectRef) -> ProposedAction {
    ProposedAction {
        action,
        target,
        incident_id: "inc-7".into(),
        evidence_ids: vec!["ev-restarts".into()],
        proposed_by: "rca".into(),
        confidence: None,
    }
}

struct Rig {
    fake: Arc<Fake>,
    url: String,
    executor: Executor,
    audit_path: PathBuf,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let (fake, url) = fake_k8s::start().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::open_in(dir.path(), test_key()).unwrap();
    let audit_path = audit.path().to_owned();
    let executor = Executor::new(fake_k8s::client(&url), Arc::new(Mutex::new(audit)));
    Rig {
        fake,
        url,
        executor,
        audit_path,
        _dir: dir,
    }
}

fn auto(policy: &Policy, proposed: &ProposedAction) -> Authorization {
    let d = decide(
        &incident(),
        proposed,
        policy,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert_eq!(d.verdict, Verdict::Auto, "{d:?}");
    Authorization::automatic(proposed.clone(), d).unwrap()
}

fn everything() -> Policy {
    Policy::from_toml_str(EVERYTHING_AUTO, "test.toml").unwrap()
}

#[tokio::test]
async fn an_action_proposed_without_a_decision_cannot_execute() {
    let r = rig().await;
    let proposed = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let err = r.executor.execute(&proposed, None, NOW).await.unwrap_err();
    assert!(matches!(err, ExecError::NotAuthorized { .. }), "{err:?}");
    // An authorization for other parameters does not stretch to this one.
    let scale4 = propose(
        Action::ScaleDeployment { replicas: 4 },
        proposed.target.clone(),
    );
    let auth = auto(&everything(), &scale4);
    let scale5 = propose(
        Action::ScaleDeployment { replicas: 5 },
        proposed.target.clone(),
    );
    let err = r
        .executor
        .execute(&scale5, Some(&auth), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::NotAuthorized { .. }), "{err:?}");
    assert!(r.fake.requests().is_empty(), "the cluster was never called");
    // Both refusals are audited.
    assert_eq!(verify(&r.audit_path, &test_key()).unwrap(), 2);
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert!(entries.iter().all(|e| e.record.kind == AuditKind::Refused));
    assert_eq!(entries[0].record.who, "rca");
}

#[tokio::test]
async fn restart_in_demo_sends_the_rollout_restart_patch() {
    let r = rig().await;
    let demo =
        check_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/demo.toml"))
            .unwrap();
    let proposed = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let auth = auto(&demo, &proposed);
    let done = r
        .executor
        .execute(&proposed, Some(&auth), NOW)
        .await
        .unwrap();
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let w = &writes[0];
    assert_eq!((w.method.as_str(), w.path.as_str()), ("PATCH", DEPLOY));
    assert_eq!(w.content_type, "application/strategic-merge-patch+json");
    assert_eq!(
        w.body.as_ref().unwrap(),
        &json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-23T10:00:00Z"
        }}}}})
    );
    assert_eq!(
        w.query.get("fieldManager").map(String::as_str),
        Some("srebot")
    );
    assert!(!w.query.contains_key("dryRun"));
    assert_eq!(done.before["restarted_at"], json!(null));
    assert_eq!(done.after["restarted_at"], json!("2026-11-23T10:00:00Z"));
    assert_eq!(
        r.fake.object(DEPLOY)["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        json!("2026-11-23T10:00:00Z")
    );
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record.kind, AuditKind::Executed);
    assert_eq!(entries[0].record.who, "robot");
    assert_eq!(entries[0].record.why, "actions.restart_deployment");
    assert_eq!(
        entries[0].record.evidence_ids,
        vec!["ev-restarts".to_owned()]
    );
    assert_eq!(verify(&r.audit_path, &test_key()).unwrap(), 1);
}

#[tokio::test]
async fn restart_in_prod_runs_after_approval_with_a_token() {
    let r = rig().await;
    let prod =
        check_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/prod.toml"))
            .unwrap();
    let proposed = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let d = decide(
        &incident(),
        &proposed,
        &prod,
        &History::default(),
        Some(&LIVE),
        NOW,
    );
    assert_eq!(d.verdict, Verdict::NeedsApproval);
    assert!(Authorization::automatic(proposed.clone(), d.clone()).is_err());
    let mut book = Approvals::new(ApprovalKey::random(), 600_000);
    let (req, tokens) = book
        .request(incident(), proposed.clone(), d, &prod, NOW)
        .unwrap();
    let alice = ApproverIdentity {
        name: "alice".into(),
        role: "sre-oncall".into(),
    };
    let token = &tokens
        .iter()
        .find(|t| t.role == "sre-oncall")
        .unwrap()
        .token;
    let auth = book
        .approve(
            &req.id,
            token,
            &alice,
            &prod,
            &History::default(),
            Some(&LIVE),
            NOW + 60_000,
        )
        .unwrap();
    r.executor
        .execute(&proposed, Some(&auth), NOW + 60_000)
        .await
        .unwrap();
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, DEPLOY);
    assert_eq!(
        writes[0].body.as_ref().unwrap()["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        json!("2026-11-23T10:01:00Z")
    );
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert_eq!(entries[0].record.who, "alice (sre-oncall)");
}

#[tokio::test]
async fn dry_run_sends_dry_run_all_and_changes_nothing() {
    let r = rig().await;
    let mut p = everything();
    p.dry_run = true;
    let proposed = propose(
        Action::ScaleDeployment { replicas: 5 },
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let auth = auto(&p, &proposed);
    let done = r
        .executor
        .execute(&proposed, Some(&auth), NOW)
        .await
        .unwrap();
    assert!(done.dry_run);
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].query.get("dryRun").map(String::as_str),
        Some("All")
    );
    assert_eq!(done.after, json!({"replicas": 5}));
    assert_eq!(
        r.fake.object(DEPLOY)["spec"]["replicas"],
        json!(3),
        "nothing changed"
    );
}

#[tokio::test]
async fn scale_goes_through_the_scale_subresource() {
    let r = rig().await;
    let proposed = propose(
        Action::ScaleDeployment { replicas: 5 },
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let w = &r.fake.writes()[0];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/cart/scale"
        )
    );
    assert_eq!(w.content_type, "application/merge-patch+json");
    assert_eq!(w.body.as_ref().unwrap(), &json!({"spec": {"replicas": 5}}));
    assert_eq!(
        (done.before.clone(), done.after.clone()),
        (json!({"replicas": 3}), json!({"replicas": 5}))
    );
    assert_eq!(r.fake.object(DEPLOY)["spec"]["replicas"], json!(5));
}

#[tokio::test]
async fn rollback_puts_back_the_revision_template() {
    let r = rig().await;
    let proposed = propose(
        Action::RollbackDeployment { to_revision: 2 },
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let reqs = r.fake.requests();
    let list = reqs
        .iter()
        .find(|q| q.path == "/apis/apps/v1/namespaces/shop/replicasets")
        .unwrap();
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("app=cart")
    );
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PUT", DEPLOY)
    );
    let sent = writes[0].body.as_ref().unwrap();
    assert_eq!(
        sent["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("ghcr.io/example/cart:1.4.1")
    );
    assert_eq!(
        sent["spec"]["template"]["metadata"]["labels"],
        json!({"app": "cart"}),
        "pod-template-hash dropped"
    );
    assert_eq!(
        sent["metadata"]["resourceVersion"],
        json!("184532"),
        "optimistic concurrency"
    );
    assert_eq!(done.before["images"], json!(["ghcr.io/example/cart:1.4.2"]));
    assert_eq!(done.after["images"], json!(["ghcr.io/example/cart:1.4.1"]));

    let missing = propose(
        Action::RollbackDeployment { to_revision: 9 },
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    let err = r
        .executor
        .execute(&missing, Some(&auto(&everything(), &missing)), NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::RevisionNotFound { revision: 9, .. }),
        "{err:?}"
    );
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert_eq!(
        entries.last().unwrap().record.kind,
        AuditKind::ExecutionFailed
    );
}

#[tokio::test]
async fn run_job_creates_a_job_from_the_cronjob_template() {
    let r = rig().await;
    let proposed = propose(
        Action::RunJob {
            template: "report".into(),
        },
        ObjectRef::new(TargetKind::Job, Some("shop"), "report-manual-1"),
    );
    r.executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let w = &r.fake.writes()[0];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("POST", "/apis/batch/v1/namespaces/shop/jobs")
    );
    let job = w.body.as_ref().unwrap();
    assert_eq!(job["metadata"]["name"], json!("report-manual-1"));
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        json!("manual")
    );
    assert_eq!(
        job["metadata"]["ownerReferences"][0]["kind"],
        json!("CronJob")
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("ghcr.io/example/report:0.9.0")
    );
    assert_eq!(job["spec"]["backoffLimit"], json!(2));
}

#[tokio::test]
async fn delete_pods_removes_only_the_phase() {
    let r = rig().await;
    let proposed = propose(
        Action::DeletePods {
            phase: PodPhase::Failed,
        },
        ObjectRef::new(TargetKind::Namespace, None, "shop"),
    );
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let w = &r.fake.writes()[0];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("DELETE", "/api/v1/namespaces/shop/pods")
    );
    assert_eq!(
        w.query.get("fieldSelector").map(String::as_str),
        Some("status.phase=Failed")
    );
    // In the API server's order: by name.
    assert_eq!(
        done.after["deleted"],
        json!(["report-29391230-q9d8w", "report-29391235-7xk2p"])
    );
    let left = r.fake.object("/api/v1/namespaces/shop/pods");
    assert_eq!(
        left["items"].as_array().unwrap().len(),
        2,
        "running pods stay"
    );
}

#[tokio::test]
async fn suspend_cordon_drain_and_config() {
    let r = rig().await;
    let p = everything();
    let suspend = propose(
        Action::SuspendCronJob,
        ObjectRef::new(TargetKind::CronJob, Some("shop"), "report"),
    );
    r.executor
        .execute(&suspend, Some(&auto(&p, &suspend)), NOW)
        .await
        .unwrap();
    let drain = propose(
        Action::DrainNode,
        ObjectRef::new(TargetKind::Node, None, "worker-2"),
    );
    let done = r
        .executor
        .execute(&drain, Some(&auto(&p, &drain)), NOW)
        .await
        .unwrap();
    let patch = propose(
        Action::PatchConfig {
            key: "log_level".into(),
            value: "debug".into(),
        },
        ObjectRef::new(TargetKind::ConfigMap, Some("shop"), "cart-config"),
    );
    let cfg = r
        .executor
        .execute(&patch, Some(&auto(&p, &patch)), NOW)
        .await
        .unwrap();
    let writes: Vec<(String, String, Option<serde_json::Value>)> = r
        .fake
        .writes()
        .into_iter()
        .map(|w| (w.method, w.path, w.body))
        .collect();
    assert_eq!(
        writes,
        vec![
            (
                "PATCH".into(),
                "/apis/batch/v1/namespaces/shop/cronjobs/report".into(),
                Some(json!({"spec": {"suspend": true}}))
            ),
            (
                "PATCH".into(),
                "/api/v1/nodes/worker-2".into(),
                Some(json!({"spec": {"unschedulable": true}}))
            ),
            (
                "POST".into(),
                "/api/v1/namespaces/shop/pods/cart-7d9f8b6c5d-h5vnm/eviction".into(),
                writes[2].2.clone()
            ),
            (
                "PATCH".into(),
                "/api/v1/namespaces/shop/configmaps/cart-config".into(),
                Some(json!({"data": {"log_level": "debug"}}))
            ),
        ]
    );
    let eviction = writes[2].2.as_ref().unwrap();
    assert_eq!(eviction["kind"], json!("Eviction"));
    assert_eq!(eviction["metadata"]["name"], json!("cart-7d9f8b6c5d-h5vnm"));
    // Finished pods and DaemonSet pods are not evicted.
    assert_eq!(done.after["evicted"], json!(["shop/cart-7d9f8b6c5d-h5vnm"]));
    assert_eq!(done.after["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(
        (
            cfg.before["log_level"].clone(),
            cfg.after["log_level"].clone()
        ),
        (json!("info"), json!("debug"))
    );
    let list = r
        .fake
        .requests()
        .into_iter()
        .find(|q| q.path == "/api/v1/pods")
        .unwrap();
    assert_eq!(
        list.query.get("fieldSelector").map(String::as_str),
        Some("spec.nodeName=worker-2")
    );
    assert_eq!(verify(&r.audit_path, &test_key()).unwrap(), 3);
}

fn release() -> ProposedAction {
    propose(
        Action::ReconcileRelease,
        ObjectRef::new(TargetKind::Release, Some("shop"), "cart"),
    )
}

#[tokio::test]
async fn reconcile_release_sends_the_flux_reconcile_request() {
    let r = rig().await;
    let proposed = release();
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let w = &writes[0];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("PATCH", HELM_RELEASE)
    );
    assert_eq!(
        w.path,
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/shop/helmreleases/cart"
    );
    assert_eq!(w.content_type, "application/merge-patch+json");
    assert_eq!(
        w.body.as_ref().unwrap(),
        &json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": "2026-11-23T10:00:00Z"
        }}})
    );
    assert_eq!(
        w.query.get("fieldManager").map(String::as_str),
        Some("srebot")
    );
    assert!(!w.query.contains_key("dryRun"));
    // The GET before it is the only other request.
    let reads: Vec<_> = r
        .fake
        .requests()
        .into_iter()
        .filter(|q| q.method == "GET")
        .map(|q| q.path)
        .collect();
    assert_eq!(reads, vec![HELM_RELEASE.to_owned()]);
    assert_eq!(done.before["requested_at"], json!("2026-11-22T17:01:40Z"));
    assert_eq!(done.after["requested_at"], json!("2026-11-23T10:00:00Z"));
    assert_eq!(done.before["revision"], json!(4), "{:#}", done.before);
    assert_eq!(done.before["chart_version"], json!("1.4.2"));
    assert_eq!(
        done.before["ready"],
        json!({"status": "True", "reason": "UpgradeSucceeded"})
    );
    assert_eq!(done.after["force_at"], json!(null));
    let stored = r.fake.object(HELM_RELEASE);
    assert_eq!(
        stored["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"],
        json!("2026-11-23T10:00:00Z")
    );
    assert_eq!(
        stored["metadata"]["generation"],
        json!(4),
        "an annotation is not a new generation"
    );
    assert_eq!(stored["spec"]["chart"]["spec"]["version"], json!("1.4.x"));
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record.kind, AuditKind::Executed);
    assert_eq!(entries[0].record.why, "actions.reconcile_release");
    assert_eq!(
        entries[0].record.before.as_ref().unwrap()["revision"],
        json!(4)
    );
}

#[tokio::test]
async fn sync_application_refreshes_and_syncs_to_its_target_revision() {
    let r = rig().await;
    r.fake.apply(argo_application("Succeeded"));
    let proposed = propose(
        Action::SyncApplication,
        ObjectRef::new(TargetKind::Application, Some("argocd"), "shop-cart"),
    );
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let w = &writes[0];
    assert_eq!((w.method.as_str(), w.path.as_str()), ("PATCH", APPLICATION));
    assert_eq!(w.content_type, "application/merge-patch+json");
    // What `argocd app sync` sets: a refresh and a sync operation to the target revision.
    assert_eq!(
        w.body.as_ref().unwrap(),
        &json!({
            "metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}},
            "operation": {"initiatedBy": {"username": "srebot"},
                          "sync": {"revision": "v1.4.2", "prune": false}}
        })
    );
    assert_eq!(done.before["synced_revision"], "v1.4.1");
    assert_eq!(done.before["sync"], "OutOfSync");
    assert_eq!(done.after["requested"], "v1.4.2");
    // An Application with a sync already running is left alone.
    let r = rig().await;
    r.fake.apply(argo_application("Running"));
    let err = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("a sync running"), "{err}");
    assert!(r.fake.writes().is_empty());
}

const APPLICATION: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop-cart";

/// An Argo CD Application out of sync with its target revision, its last operation in `phase`.
fn argo_application(phase: &str) -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop-cart", "namespace": "argocd", "uid": "uid-app-1",
                     "creationTimestamp": "2026-10-01T12:00:00Z"},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "cart",
                            "targetRevision": "v1.4.2"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"}},
        "status": {"sync": {"status": "OutOfSync", "revision": "v1.4.1"},
                   "health": {"status": "Degraded"},
                   "operationState": {"phase": phase},
                   "resources": [{"kind": "Deployment", "namespace": "shop", "name": "cart"},
                                 {"kind": "ConfigMap", "namespace": "shop", "name": "cart-config"}]}
    })
}

#[tokio::test]
async fn reconcile_release_in_dry_run_changes_nothing() {
    let r = rig().await;
    let mut p = everything();
    p.dry_run = true;
    let proposed = release();
    let done = r
        .executor
        .execute(&proposed, Some(&auto(&p, &proposed)), NOW)
        .await
        .unwrap();
    assert!(done.dry_run);
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, HELM_RELEASE);
    assert_eq!(
        writes[0].query.get("dryRun").map(String::as_str),
        Some("All")
    );
    assert_eq!(done.after["requested_at"], json!("2026-11-23T10:00:00Z"));
    assert_eq!(
        r.fake.object(HELM_RELEASE)["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"],
        json!("2026-11-22T17:01:40Z"),
        "nothing changed"
    );
}

#[tokio::test]
async fn a_suspended_release_is_not_asked_to_reconcile() {
    let r = rig().await;
    r.fake
        .objects
        .lock()
        .unwrap()
        .get_mut(HELM_RELEASE)
        .unwrap()["spec"]["suspend"] = json!(true);
    let proposed = release();
    let err = r
        .executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("release/shop/cart: is suspended"),
        "{err}"
    );
    assert!(r.fake.writes().is_empty());
    let entries = policy::audit::read_entries(&r.audit_path).unwrap();
    assert_eq!(entries[0].record.kind, AuditKind::ExecutionFailed);
}

#[test]
fn a_forced_reconcile_sets_force_at_to_the_requested_time() {
    assert_eq!(
        cluster::reconcile_request_patch("2026-11-23T10:00:00Z", true),
        json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": "2026-11-23T10:00:00Z",
            "reconcile.fluxcd.io/forceAt": "2026-11-23T10:00:00Z"
        }}})
    );
    assert_eq!(
        cluster::reconcile_request_patch("2026-11-23T10:00:00Z", false)["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_release_touches_the_running_pods_of_its_namespace() {
    let (fake, url) = fake_k8s::start().await;
    let client = fake_k8s::client(&url);
    // shop has two running pods and two failed ones.
    let live = cluster::release_live(&client, "shop", "cart")
        .await
        .unwrap();
    assert_eq!(live.pods, Some(2));
    let radius = policy::blast_radius(&Action::ReconcileRelease, Some(&live)).unwrap();
    assert_eq!(radius.pods_affected, 2);
    // A release installing into another namespace counts the pods there.
    fake.objects.lock().unwrap().get_mut(HELM_RELEASE).unwrap()["spec"]["targetNamespace"] =
        json!("payments");
    let pods = fake.object("/api/v1/namespaces/shop/pods");
    let moved = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["name"] != "node-exporter-8kq2x");
    for pod in moved {
        let mut pod = pod.clone();
        pod["apiVersion"] = json!("v1");
        pod["kind"] = json!("Pod");
        pod["metadata"]["namespace"] = json!("payments");
        fake.apply(pod);
    }
    let live = cluster::release_live(&client, "shop", "cart")
        .await
        .unwrap();
    assert_eq!(live.pods, Some(1));
    assert!(
        cluster::release_live(&client, "shop", "absent")
            .await
            .is_err()
    );
    // Pods that cannot be listed: a radius of one pod.
    fake.objects.lock().unwrap().get_mut(HELM_RELEASE).unwrap()["spec"]["targetNamespace"] =
        json!("nowhere");
    fake.forbid("/api/v1/namespaces/nowhere/");
    let live = cluster::release_live(&client, "shop", "cart")
        .await
        .unwrap();
    assert_eq!(live.pods, None);
    let radius = policy::blast_radius(&Action::ReconcileRelease, Some(&live)).unwrap();
    assert_eq!(radius.pods_affected, 1);
    // Under prod's limit of 10 pods it asks; over it, it is denied; unread, a person judges.
    let mut prod =
        check_file(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/prod.toml"))
            .unwrap();
    prod.resources.push("release/shop/*".into());
    let decide_with = |pods: Option<u32>, known: bool| {
        let live = policy::LiveObject {
            pods,
            ..policy::LiveObject::default()
        };
        decide(
            &incident(),
            &release(),
            &prod,
            &History::default(),
            known.then_some(&live),
            NOW,
        )
    };
    let asks = decide_with(Some(2), true);
    assert_eq!(asks.verdict, Verdict::NeedsApproval, "{asks:?}");
    assert_eq!(asks.blast_radius.unwrap().pods_affected, 2);
    let denied = decide_with(Some(11), true);
    assert_eq!(denied.verdict, Verdict::Denied, "{denied:?}");
    assert_eq!(denied.clause, "blast_radius.max_pods_affected");
    assert_eq!(
        decide_with(None, true).blast_radius.unwrap().pods_affected,
        1
    );
    assert!(decide_with(None, false).blast_radius.is_none());
}

#[tokio::test]
async fn read_only_actions_are_not_cluster_operations() {
    let r = rig().await;
    let mut p = everything();
    p.actions.insert("notify".into(), policy::Mode::Auto);
    let notify = propose(
        Action::Notify,
        ObjectRef::new(TargetKind::Incident, None, "inc-7"),
    );
    let err = r
        .executor
        .execute(&notify, Some(&auto(&p, &notify)), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::Unsupported { action: "notify" }));
    assert!(r.fake.requests().is_empty());
}

#[tokio::test]
async fn dry_run_delete_and_drain_carry_dry_run() {
    let r = rig().await;
    let mut p = everything();
    p.dry_run = true;
    let clean = propose(
        Action::DeletePods {
            phase: PodPhase::Failed,
        },
        ObjectRef::new(TargetKind::Namespace, None, "shop"),
    );
    r.executor
        .execute(&clean, Some(&auto(&p, &clean)), NOW)
        .await
        .unwrap();
    let drain = propose(
        Action::DrainNode,
        ObjectRef::new(TargetKind::Node, None, "worker-2"),
    );
    r.executor
        .execute(&drain, Some(&auto(&p, &drain)), NOW)
        .await
        .unwrap();
    let writes = r.fake.writes();
    assert_eq!(writes.len(), 3, "{writes:#?}");
    assert_eq!(writes[0].method, "DELETE");
    assert_eq!(writes[0].body.as_ref().unwrap()["dryRun"], json!(["All"]));
    assert_eq!(
        writes[1].query.get("dryRun").map(String::as_str),
        Some("All")
    );
    assert_eq!(
        writes[2].query.get("dryRun").map(String::as_str),
        Some("All")
    );
    assert_eq!(
        writes[2].body.as_ref().unwrap()["deleteOptions"],
        json!({"dryRun": ["All"]})
    );
    assert_eq!(
        r.fake.object("/api/v1/namespaces/shop/pods")["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        r.fake.object("/api/v1/nodes/worker-2")["spec"].get("unschedulable"),
        None
    );
}

/// Runs the real `kubectl` against the fake; `None` when kubectl is not installed.
fn kubectl(url: &str, args: &[&str]) -> Option<std::process::Output> {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", dir.path().join("none"))
        .env("HOME", dir.path())
        .args(["--server", url, "--request-timeout", "10s"])
        .args(args)
        .output()
        .ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_agrees_with_the_fake_and_sends_the_same_patches() {
    let (fake, url) = fake_k8s::start().await;
    let url2 = url.clone();
    let Some(get) = tokio::task::spawn_blocking(move || {
        kubectl(
            &url2,
            &["-n", "shop", "get", "deployment", "cart", "-o", "json"],
        )
    })
    .await
    .unwrap() else {
        eprintln!("kubectl not installed: skipped");
        return;
    };
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(shown["spec"]["replicas"], json!(3));

    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let a = kubectl(
            &url2,
            &["-n", "shop", "scale", "deployment/cart", "--replicas=5"],
        )
        .unwrap();
        let b = kubectl(
            &url2,
            &["-n", "shop", "rollout", "restart", "deployment/cart"],
        )
        .unwrap();
        (a, b)
    })
    .await
    .unwrap();
    assert!(
        out.0.status.success(),
        "{}",
        String::from_utf8_lossy(&out.0.stderr)
    );
    assert!(
        out.1.status.success(),
        "{}",
        String::from_utf8_lossy(&out.1.stderr)
    );
    let writes = fake.writes();
    let scale = writes.iter().find(|w| w.path.ends_with("/scale")).unwrap();
    assert_eq!(scale.method, "PATCH");
    assert_eq!(scale.content_type, "application/merge-patch+json");
    assert_eq!(
        scale.body.as_ref().unwrap(),
        &json!({"spec": {"replicas": 5}})
    );
    let restart = writes.iter().find(|w| w.path == DEPLOY).unwrap();
    assert_eq!(
        restart.content_type,
        "application/strategic-merge-patch+json"
    );
    let annotations = restart.body.as_ref().unwrap()["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        vec!["kubectl.kubernetes.io/restartedAt"]
    );
    // Our executor's restart has exactly kubectl's shape.
    let r = rig().await;
    let proposed = propose(
        Action::RestartDeployment,
        ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
    );
    r.executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let ours = r.fake.writes()[0].body.clone().unwrap();
    let mut theirs = restart.body.clone().unwrap();
    theirs["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
        json!("2026-11-23T10:00:00Z");
    assert_eq!(ours, theirs);

    // The Flux HelmRelease is found through discovery (short name `hr`) and annotated with a
    // merge patch of exactly the shape the executor sends for a reconcile request.
    let url2 = url.clone();
    let (shown, annotated) = tokio::task::spawn_blocking(move || {
        let shown = kubectl(&url2, &["-n", "shop", "get", "hr", "cart", "-o", "json"]).unwrap();
        let annotated = kubectl(
            &url2,
            &[
                "-n",
                "shop",
                "annotate",
                "--overwrite",
                "helmrelease/cart",
                "reconcile.fluxcd.io/requestedAt=2026-11-23T10:00:00Z",
            ],
        )
        .unwrap();
        (shown, annotated)
    })
    .await
    .unwrap();
    for out in [&shown, &annotated] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let hr: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(hr["apiVersion"], json!("helm.toolkit.fluxcd.io/v2"));
    assert_eq!(hr["status"]["history"][0]["version"], json!(4));
    let theirs = fake
        .writes()
        .into_iter()
        .find(|w| w.path == HELM_RELEASE)
        .unwrap();
    assert_eq!(theirs.method, "PATCH");
    assert_eq!(theirs.content_type, "application/merge-patch+json");
    let proposed = release();
    r.executor
        .execute(&proposed, Some(&auto(&everything(), &proposed)), NOW)
        .await
        .unwrap();
    let ours = r
        .fake
        .writes()
        .into_iter()
        .find(|w| w.path == HELM_RELEASE)
        .unwrap();
    assert_eq!(ours.content_type, theirs.content_type);
    assert_eq!(ours.body, theirs.body);
}

/// The RBAC manifest grants each (group, resource) exactly the verbs the executor sends,
/// checked against the requests recorded while running every typed action.
#[tokio::test]
async fn rbac_grants_exactly_the_verbs_the_executor_uses() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rbac.yaml")).unwrap();
    assert!(!text.contains("\"*\""), "no wildcards");
    // The executor's roles (the watches' read-only role is checked beside the watches).
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut granted = std::collections::BTreeSet::new();
    for doc in docs.iter().filter(|d| {
        matches!(d["kind"].as_str(), Some("Role" | "ClusterRole"))
            && d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("srebot-executor"))
    }) {
        let rules: Vec<fake_k8s::Rule> = serde_json::from_value(doc["rules"].clone()).unwrap();
        for rule in rules {
            assert!(
                !rule.resources.iter().any(|r| r == "secrets"),
                "the executor never reads secrets"
            );
            for g in &rule.api_groups {
                for r in &rule.resources {
                    for v in &rule.verbs {
                        granted.insert((g.clone(), r.clone(), v.clone()));
                    }
                }
            }
        }
    }
    // Run every executable action against the fake and map each request to its RBAC verb.
    let r = rig().await;
    r.fake.stateful_set("shop", "redis", 1);
    r.fake.daemon_set("shop", "log-shipper", 3);
    r.fake
        .finished_pod("shop", "report-29001-x1", "worker-2", "Failed");
    let p = everything();
    let deploy = ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart");
    let sts = ObjectRef::new(TargetKind::StatefulSet, Some("shop"), "redis");
    let mut actions = vec![
        propose(Action::RestartStatefulSet, sts.clone()),
        propose(Action::ScaleStatefulSet { replicas: 2 }, sts),
        propose(
            Action::RestartDaemonSet,
            ObjectRef::new(TargetKind::DaemonSet, Some("shop"), "log-shipper"),
        ),
        propose(
            Action::DeleteNodePods {
                phase: PodPhase::Failed,
            },
            ObjectRef::new(TargetKind::Node, None, "worker-2"),
        ),
        propose(Action::RestartDeployment, deploy.clone()),
        propose(Action::ScaleDeployment { replicas: 4 }, deploy.clone()),
        propose(Action::RollbackDeployment { to_revision: 2 }, deploy),
        propose(
            Action::RunJob {
                template: "report".into(),
            },
            ObjectRef::new(TargetKind::Job, Some("shop"), "r1"),
        ),
        propose(
            Action::DeletePods {
                phase: PodPhase::Succeeded,
            },
            ObjectRef::new(TargetKind::Namespace, None, "shop"),
        ),
        propose(
            Action::SuspendCronJob,
            ObjectRef::new(TargetKind::CronJob, Some("shop"), "report"),
        ),
        propose(
            Action::DrainNode,
            ObjectRef::new(TargetKind::Node, None, "worker-2"),
        ),
        propose(
            Action::PatchConfig {
                key: "log_level".into(),
                value: "debug".into(),
            },
            ObjectRef::new(TargetKind::ConfigMap, Some("shop"), "cart-config"),
        ),
        propose(
            Action::ReconcileRelease,
            ObjectRef::new(TargetKind::Release, Some("shop"), "cart"),
        ),
    ];
    r.fake.apply(argo_application("Succeeded"));
    actions.push(propose(
        Action::SyncApplication,
        ObjectRef::new(TargetKind::Application, Some("argocd"), "shop-cart"),
    ));
    cluster::executor::application_live(&fake_k8s::client(&r.url), "argocd", "shop-cart")
        .await
        .unwrap();
    // The live read for a release's blast radius runs under the same identity.
    cluster::release_live(&fake_k8s::client(&r.url), "shop", "cart")
        .await
        .unwrap();
    for a in &actions {
        r.executor
            .execute(a, Some(&auto(&p, a)), NOW)
            .await
            .unwrap();
    }
    let used = r.fake.verbs_used();
    assert_eq!(
        used, granted,
        "RBAC must grant exactly what the executor uses"
    );
}

fn test_key() -> policy::AuditKey {
    policy::AuditKey::from_bytes(&[1; 32]).unwrap()
}
