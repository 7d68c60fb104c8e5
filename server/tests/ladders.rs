//! The built-in remediation ladders through `srebot serve`, against the loopback Kubernetes
//! fake (watched as the cluster and written to by the executor) and, for a dependency, a real
//! `redis-server`: the first rungs run or ask, a fault that persists past a rung's `after`
//! brings the next rung, a recovery ends the climb, and exactly the expected writes reach the
//! cluster. The fake stands in for a real API server, which cannot run here; it speaks the
//! Kubernetes wire format (JSON objects, watches, field selectors, subresources).

use crate::cluster_signals::redis;
use crate::common::*;
use crate::fake_k8s::{self, Fake, Recorded};
use crate::remediation::{Rig, rig_with};
use datasets::scenarios::{Fault, Scenario, generate};
use serde_json::{Value, json};
use server::config::Config;
use server::replay::Sender;
use std::time::Duration;

/// Demo policy without cooldowns: a ladder's rungs follow one another at once.
fn no_cooldowns(text: String) -> String {
    text.replace("per_incident_secs = 300", "per_incident_secs = 0")
        .replace("per_target_secs = 900", "per_target_secs = 0")
}

/// Watches the fake the executor writes to, as the cluster of the default source; its seeded
/// worker-2 has its disk pressure cleared first (its own ladder is another test's subject).
fn watch_the_fake(config: &mut Config, fake: &Fake) {
    fake.patch(
        "/api/v1/nodes/worker-2",
        &json!({"status": {"conditions": [
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure", "lastTransitionTime": "2026-11-23T10:30:00Z"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status", "lastTransitionTime": "2026-10-01T12:01:00Z"}]}}),
    );
    let url = config
        .policy
        .kube
        .as_ref()
        .and_then(|k| k.url.clone())
        .unwrap();
    let mut watched = cluster::ClusterSpec::named("shop-cluster");
    watched.url = Some(url);
    watched.resync = Duration::from_millis(500);
    config.cluster = vec![watched];
}

async fn synced(rig: &Rig) {
    wait_for("the cluster watched", Duration::from_secs(20), || async {
        let status = rig.get("/api/v1/status").await;
        (status["clusters"][0]["synced"] == Value::Bool(true)).then_some(())
    })
    .await;
}

/// The climb of the one incident of `incident_type`, once `done` holds for it.
async fn climb_until(
    rig: &Rig,
    incident_type: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, Duration::from_secs(60), || async {
        let runs = rig.get("/api/v1/ladders").await;
        let run = runs
            .as_array()?
            .iter()
            .find(|r| r["incident_type"] == incident_type)?
            .clone();
        done(&run).then_some(run)
    })
    .await
}

fn rungs(run: &Value) -> Vec<Value> {
    run["rungs"].as_array().cloned().unwrap_or_default()
}

/// `(method, path, fieldSelector)` of every write the fake received.
fn writes(fake: &Fake) -> Vec<(String, String, String)> {
    fake.writes()
        .into_iter()
        .map(|w: Recorded| {
            (
                w.method,
                w.path,
                w.query.get("fieldSelector").cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// What follows `cut` when the fault is over: the scenario's healthy hour before its fault,
/// moved to start one step after `cut` ends, cumulative series carried on from where they
/// stood (so a counter does not look reset).
fn recovery(scenario: &Scenario, cut: &Scenario) -> Scenario {
    let fault = scenario.meta.expected[0].fault_start_ms;
    let step = scenario.meta.step_ms;
    let shift = cut.meta.end_ms + step - scenario.meta.start_ms;
    let mut after = scenario.clone();
    after.meta.expected.clear();
    for (series, before) in after.series.iter_mut().zip(&cut.series) {
        let cumulative = matches!(
            series.metric_type,
            model::MetricType::Counter | model::MetricType::Histogram | model::MetricType::Summary
        );
        let first = series.samples.first().map_or(0.0, |s| s.1);
        let offset = match (cumulative, before.samples.last()) {
            (true, Some(&(_, last))) => last - first,
            _ => 0.0,
        };
        series.samples.retain(|(t, _)| *t < fault);
        for (t, v) in &mut series.samples {
            *t += shift;
            *v += offset;
        }
    }
    after.meta.start_ms += shift;
    after.meta.end_ms = fault + shift;
    after
}

/// `scenario` cut `minutes` after its fault began.
fn cut(scenario: &Scenario, minutes: i64) -> Scenario {
    let fault = scenario.meta.expected[0].fault_start_ms;
    let end = fault + minutes * 60_000;
    let mut cut = scenario.clone();
    for series in &mut cut.series {
        series.samples.retain(|(t, _)| *t <= end);
    }
    cut.meta.end_ms = end;
    cut
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_pressure_cleans_the_node_then_asks_to_drain_it_when_the_pressure_stays() {
    // Seeded before the server starts, so the watch lists it all at once.
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        // node-b holds a failed run of the `report` CronJob and a completed pod; worker-2 holds a
        // failed pod that is not node-b's and must stay.
        fake.apply(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-b", "uid": "uid-node-b", "creationTimestamp": "2026-10-01T12:00:00Z"},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        fake.apply(json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "report-29001", "namespace": "shop", "uid": "uid-job-r1",
                         "creationTimestamp": "2026-10-01T12:00:00Z",
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "report",
                                              "uid": "uid-cron-report", "controller": true}]},
            "spec": {"template": {"spec": {"containers": [{"name": "r", "image": "busybox"}]}}},
            "status": {"failed": 1}}));
        fake.finished_pod("shop", "report-29001-x1x1x", "node-b", "Failed");
        fake.patch(
            "/api/v1/namespaces/shop/pods/report-29001-x1x1x",
            &json!({"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                "name": "report-29001", "uid": "uid-job-r1", "controller": true}]}}),
        );
        fake.finished_pod("shop", "migrate-7c9d2", "node-b", "Succeeded");
        fake.finished_pod("shop", "elsewhere-1a2b3", "worker-2", "Failed");
        // Four nodes: draining one stays within the demo policy's share.
        fake.load("nodes-more.json");
    })
    .await;
    let fake = &rig.fake;
    synced(&rig).await;

    let scenario = generate(Fault::NodeDiskPressure, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let run = climb_until(&rig, "node_disk_pressure", "the drain rung", |run| {
        rungs(run).len() >= 6
    })
    .await;
    let r = rungs(&run);
    let kinds: Vec<&str> = r.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "observation",       // 1. the channels were told
            "executed_action",   // 2. the node's CronJob suspended
            "executed_action",   // 3. failed pods deleted
            "executed_action",   // 4. completed pods deleted
            "observation",       // 5. no demo workloads on the node: skipped
            "required_approval"  // 6. drain, 15 minutes later
        ],
        "{run:#}"
    );
    assert!(
        r[4]["text"].as_str().unwrap().contains("skipped"),
        "{}",
        r[4]["text"]
    );
    let step = |i: usize| r[i]["event_ms"].as_i64().unwrap();
    assert!(
        step(5) - step(4) >= 15 * 60_000,
        "the drain came {} ms after the cleanup",
        step(5) - step(4)
    );
    assert_eq!(r[5]["proposals"][0]["action"]["type"], "drain_node");
    assert_eq!(
        r[5]["proposals"][0]["target"],
        json!({"kind": "node", "name": "node-b"})
    );
    assert!(!r[5]["rollback"][0].as_str().unwrap().is_empty());
    let pending = rig.get("/api/v1/approvals?status=pending").await;
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["proposed"]["action"]["type"] == "drain_node"),
        "{pending:#}"
    );
    // Exactly the suspend and the two deletions reached the cluster, nothing else.
    assert_eq!(
        writes(fake),
        vec![
            (
                "PATCH".into(),
                "/apis/batch/v1/namespaces/shop/cronjobs/report".into(),
                String::new()
            ),
            (
                "DELETE".into(),
                "/api/v1/namespaces/shop/pods".into(),
                "spec.nodeName=node-b,status.phase=Failed".into()
            ),
            (
                "DELETE".into(),
                "/api/v1/namespaces/shop/pods".into(),
                "spec.nodeName=node-b,status.phase=Succeeded".into()
            ),
        ]
    );
    assert_eq!(
        fake.object("/api/v1/namespaces/shop/pods/elsewhere-1a2b3")["status"]["phase"],
        "Failed",
        "another node's pod stays"
    );
    assert_eq!(
        fake.object("/apis/batch/v1/namespaces/shop/cronjobs/report")["spec"]["suspend"],
        true
    );

    // The pressure goes away: the incident resolves and the climb ends there.
    sender
        .push(&recovery(&scenario, &scenario), 0)
        .await
        .unwrap();
    let run = climb_until(&rig, "node_disk_pressure", "the climb to end", |run| {
        run["ended"]
            .as_str()
            .is_some_and(|e| e.contains("resolved"))
    })
    .await;
    assert_eq!(rungs(&run).len(), 6);
    let actions = rig.get("/api/v1/actions").await;
    let deletions: Vec<&Value> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["proposed"]["action"]["type"] == "delete_node_pods")
        .collect();
    assert_eq!(deletions.len(), 2);
    // Verified: the pressure outlasted the verification period after the cleanup.
    for d in deletions {
        assert_eq!(d["verification"]["outcome"], "escalated", "{d:#}");
        assert!(
            d["proposed"]["proposed_by"]
                .as_str()
                .unwrap()
                .starts_with("playbook:node_disk_pressure#"),
            "{d:#}"
        );
    }
    assert_eq!(writes(fake).len(), 3, "nothing more after the recovery");
    // The drain nobody answered is withdrawn: the incident is over.
    let drain = wait_for("the drain withdrawn", Duration::from_secs(30), || async {
        let actions = rig.get("/api/v1/actions").await;
        actions
            .as_array()?
            .iter()
            .find(|a| a["proposed"]["action"]["type"] == "drain_node" && a["status"] == "withdrawn")
            .cloned()
    })
    .await;
    let withdrawn = rig.get("/api/v1/approvals?status=withdrawn").await;
    assert!(
        withdrawn
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == drain["approval_id"]),
        "{withdrawn:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_that_recovers_after_the_restart_climbs_no_further() {
    let rig = rig_with("demo.toml", no_cooldowns, |c, _| {
        c.incidents.correlation.resolve_after_healthy_ms = 60_000;
    })
    .await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    // Two minutes of the crash loop, then healthy again: the restart-count rule's 15-minute
    // window clears before the next rung's 20.
    let first = cut(&scenario, 2);
    sender.push(&first, 0).await.unwrap();
    let run = climb_until(&rig, "crash_loop", "the restart", |run| {
        rungs(run).len() >= 3
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[0]["kind"], "observation", "{run:#}");
    assert!(
        r[1]["text"].as_str().unwrap().contains("skipped"),
        "nothing to roll back: {run:#}"
    );
    assert_eq!(r[2]["kind"], "executed_action", "{run:#}");
    assert_eq!(r[2]["proposals"][0]["action"]["type"], "restart_deployment");
    sender.push(&recovery(&scenario, &first), 0).await.unwrap();
    let run = climb_until(&rig, "crash_loop", "the climb to end", |run| {
        run["ended"]
            .as_str()
            .is_some_and(|e| e.contains("resolved"))
    })
    .await;
    assert_eq!(rungs(&run).len(), 3, "no further rung: {run:#}");
    let writes = writes(&rig.fake);
    assert_eq!(
        writes,
        vec![(
            "PATCH".into(),
            "/apis/apps/v1/namespaces/shop/deployments/payments-api".into(),
            String::new()
        )]
    );
    let actions = rig.get("/api/v1/actions").await;
    let restart = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["proposed"]["action"]["type"] == "restart_deployment")
        .unwrap();
    assert_eq!(
        restart["verification"]["outcome"], "recovered",
        "{restart:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_redis_statefulset_is_restarted_and_its_recovery_verified() {
    let port = crate::support::restartable_port();
    let Some(redis_server) = redis(port) else {
        eprintln!("SKIPPED: redis-server is not installed (scripts/test.sh installs it)");
        return;
    };
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        fake.load("redis-service.json");
        fake.stateful_set("shop", "redis", 1);
        config.incidents.correlation.resolve_after_healthy_ms = 1_000;
        config.dependencies = vec![
            toml::from_str(&format!(
                "name = \"redis\"\nkind = \"redis\"\naddress = \"127.0.0.1:{port}\"\n\
                 service = \"shop/redis\"\ndependents = [\"shop/payments-api\"]\n\
                 interval = \"200ms\"\ntimeout = \"1s\""
            ))
            .unwrap(),
        ];
    })
    .await;
    synced(&rig).await;
    wait_for("redis probed", Duration::from_secs(20), || async {
        let status = rig.get("/api/v1/status").await;
        (status["dependencies"][0]["up"] == Value::Bool(true)).then_some(())
    })
    .await;

    drop(redis_server);
    let run = climb_until(&rig, "dependency_unavailable", "the restart", |run| {
        rungs(run).len() >= 2
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[0]["kind"], "observation", "{run:#}");
    assert_eq!(r[1]["kind"], "executed_action", "{run:#}");
    assert_eq!(
        r[1]["proposals"][0]["action"]["type"],
        "restart_stateful_set"
    );
    assert_eq!(
        r[1]["proposals"][0]["target"],
        json!({"kind": "stateful_set", "namespace": "shop", "name": "redis"})
    );
    let writes = rig.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", "/apis/apps/v1/namespaces/shop/statefulsets/redis")
    );
    let stamp = &writes[0].body.as_ref().unwrap()["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(stamp.is_string(), "{:?}", writes[0].body);

    // Redis answers again (as the restarted pod would): the incident, which its dependents'
    // findings join, resolves; the restart is verified and the climb ends before its
    // "a person is needed" rung.
    let _back = redis(port).unwrap();
    let run = climb_until(&rig, "dependency_unavailable", "the climb to end", |run| {
        run["ended"]
            .as_str()
            .is_some_and(|e| e.contains("resolved"))
    })
    .await;
    assert_eq!(rungs(&run).len(), 2, "{run:#}");
    let actions = rig.get("/api/v1/actions").await;
    let restart = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["proposed"]["action"]["type"] == "restart_stateful_set")
        .unwrap();
    assert_eq!(
        restart["verification"]["outcome"], "recovered",
        "{restart:#}"
    );
    assert_eq!(rig.fake.writes().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_failures_get_their_concrete_fix_then_a_release_reconcile_to_approve() {
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        // payments-api was rendered by the `cart` release.
        fake.patch(
            "/apis/apps/v1/namespaces/shop/deployments/payments-api",
            &json!({"metadata": {"annotations": {"meta.helm.sh/release-name": "cart",
                                                 "meta.helm.sh/release-namespace": "shop"}}}),
        );
    })
    .await;
    synced(&rig).await;
    // The kubelet's messages classify each failure: the suggestion names the fix.
    rig.fake.apply(crate::support::recent(
        fake_k8s::fixture("events-image-pull.json"),
        30_000,
    ));
    let run = climb_until(&rig, "image_pull_failure", "the suggestion", |run| {
        rungs(run).len() >= 2
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[1]["kind"], "recommendation", "{run:#}");
    let text = r[1]["text"].as_str().unwrap();
    assert!(
        text.contains("regcred") || text.contains("mirror") || text.contains("tag"),
        "{text}"
    );
    // Pulls keep failing over remote_write for the next hour: ten minutes on, the reconcile
    // of the release is asked for; nothing is written.
    let scenario = generate(Fault::ImagePullFailure, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let reconcile = wait_for("the reconcile rung", Duration::from_secs(60), || async {
        let runs = rig.get("/api/v1/ladders").await;
        runs.as_array()?
            .iter()
            .filter(|r| r["incident_type"] == "image_pull_failure")
            .flat_map(rungs)
            .find(|g| g["proposals"][0]["action"]["type"] == "reconcile_release")
    })
    .await;
    assert_eq!(reconcile["kind"], "required_approval", "{reconcile:#}");
    assert_eq!(
        reconcile["proposals"][0]["target"],
        json!({"kind": "release", "namespace": "shop", "name": "cart"})
    );
    assert!(rig.fake.writes().is_empty(), "{:?}", writes(&rig.fake));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_drift_finding_is_corrected_key_by_key_after_approval() {
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        // Argo CD manages cart: the release rung syncs its Application.
        fake.patch(
            "/apis/apps/v1/namespaces/shop/deployments/cart",
            &json!({"metadata": {"annotations": {
                "argocd.argoproj.io/tracking-id": "shop-cart:apps/Deployment:shop/cart"}}}),
        );
        fake.apply(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop-cart", "namespace": "argocd", "uid": "uid-app-1",
                         "creationTimestamp": "2026-10-01T12:00:00Z"},
            "spec": {"source": {"repoURL": "https://git.example/shop.git", "targetRevision": "main"}},
            "status": {"sync": {"status": "OutOfSync"}, "operationState": {"phase": "Succeeded"}}
        }));
    })
    .await;
    synced(&rig).await;
    let finding = json!({"version": 1, "findings": [{
        "type": "config_drift", "severity": "warning", "status": "firing",
        "reporter": "gitops-diff", "summary": "cart-config differs from git",
        "target": {"kind": "deployment", "namespace": "shop", "name": "cart"},
        "evidence": [{"reason": "ConfigDrift", "message": "log_level is debug; git declares info",
                      "labels": {"config_map": "shop/cart-config", "key": "log_level",
                                 "declared": "info"}}]}]});
    let (status, body) = rig.post("/api/v1/findings", None, finding).await;
    assert!(status < 300, "{status} {body}");
    let run = climb_until(&rig, "config_drift", "the release rung", |run| {
        rungs(run).len() >= 3
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[2]["kind"], "required_approval", "{run:#}");
    assert_eq!(r[2]["proposals"][0]["action"]["type"], "sync_application");
    assert_eq!(
        r[2]["proposals"][0]["target"],
        json!({"kind": "application", "namespace": "argocd", "name": "shop-cart"})
    );
    assert_eq!(r[1]["kind"], "required_approval", "{run:#}");
    assert_eq!(
        r[1]["proposals"][0]["action"],
        json!({"type": "patch_config", "key": "log_level", "value": "info"})
    );
    assert!(rig.fake.writes().is_empty());
    let id = r[1]["action_ids"][0].as_str().unwrap();
    let actions = rig.get("/api/v1/actions").await;
    let entry = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap()
        .clone();
    let approval = entry["approval_id"].as_str().unwrap();
    let (status, body) = rig.approve(approval).await;
    assert_eq!(status, 200, "{body}");
    let writes = rig.fake.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path.as_str()),
        ("PATCH", "/api/v1/namespaces/shop/configmaps/cart-config")
    );
    assert_eq!(
        writes[0].body.as_ref().unwrap(),
        &json!({"data": {"log_level": "info"}})
    );
    // The rung says what became of its approval.
    let run = climb_until(
        &rig,
        "config_drift",
        "the rung to follow its answer",
        |run| rungs(run)[1]["kind"] == "executed_action",
    )
    .await;
    assert!(
        rungs(&run)[1]["text"]
            .as_str()
            .unwrap()
            .ends_with("Now: approved and done."),
        "{run:#}"
    );
    // The decision's audit entry says how to undo it.
    let audit = rig.get("/api/v1/audit").await;
    assert!(
        audit["entries"].as_array().unwrap().iter().any(|e| {
            e["action"]["action"]["type"] == "patch_config"
                && e["detail"].as_str().unwrap_or("").contains("to undo")
        }),
        "{audit:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_file_that_makes_a_drain_automatic_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ladders.toml");
    std::fs::write(
        &path,
        "[[ladder]]\nincident = \"node_disk_pressure\"\n\n[[ladder.step]]\naction = \"notify\"\n\n\
         [[ladder.step]]\naction = \"drain_node\"\nmode = \"auto\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srebot"))
        .args(["playbooks", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:9: ", path.display()))
            && stderr.contains("never be automatic"),
        "{stderr}"
    );
    // The built-in ladders check, and print with each policy's tier.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_srebot"))
        .args(["playbooks", "check", "--policy"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policy/examples/prod.toml"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("drain_node on node (mode approval, after 15m) [prod: approval]"),
        "{stdout}"
    );
}

/// A playbook file is reloaded with the policy: a valid edit replaces the ladder in force, an
/// invalid one is refused with its line and the running ladders stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbooks_reload_with_the_policy_and_a_bad_file_keeps_the_running_ladders() {
    let ladder = |say: &str| {
        format!(
            "[[ladder]]\nincident = \"crash_loop\"\n\n[[ladder.step]]\naction = \"notify\"\nmode = \"auto\"\nsay = \"{say}\"\n"
        )
    };
    let mut path = None;
    let rig = rig_with(
        "demo.toml",
        |t| t,
        |config, _| {
            let file = config.server.data_dir.join("ladders.toml");
            std::fs::write(&file, ladder("first")).unwrap();
            config.policy.playbooks_file = Some(file.clone());
            path = Some(file);
        },
    )
    .await;
    let path = path.unwrap();
    let crash_says = |ladders: &Value| {
        ladders
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["incident_type"] == "crash_loop")
            .map(|l| l["steps"][0]["say"].clone())
    };
    let first = rig.get("/api/v1/playbooks").await;
    assert_eq!(crash_says(&first), Some(json!("first")));
    // The other classes keep their built-in ladders.
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["incident_type"] == "node_disk_pressure" && l["file"] == "builtin playbooks")
    );
    std::fs::write(&path, ladder("second")).unwrap();
    let (status, body) = rig.post("/api/v1/policy/reload", None, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        crash_says(&rig.get("/api/v1/playbooks").await),
        Some(json!("second"))
    );
    std::fs::write(
        &path,
        "[[ladder]]\nincident = \"crash_loop\"\n[[ladder.step]]\naction = \"rollback_deployment\"\nmode = \"auto\"\n",
    )
    .unwrap();
    let (status, body) = rig.post("/api/v1/policy/reload", None, json!({})).await;
    assert_eq!(status, 400, "{body}");
    let shown = body.to_string();
    assert!(
        shown.contains(&format!("{}:5:", path.display())) && shown.contains("never be automatic"),
        "{shown}"
    );
    assert_eq!(
        crash_says(&rig.get("/api/v1/playbooks").await),
        Some(json!("second")),
        "the running ladders stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_ready_is_cordoned_then_drained_with_approval_when_it_stays_down() {
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        fake.apply(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-b", "uid": "uid-node-b", "creationTimestamp": "2026-10-01T12:00:00Z"},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        fake.load("nodes-more.json");
    })
    .await;
    synced(&rig).await;
    let scenario = generate(Fault::NodeNotReadyCascade, 7);
    let sender = Sender::new(&rig.server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let run = climb_until(&rig, "node_not_ready", "the drain rung", |run| {
        rungs(run).len() >= 3
    })
    .await;
    let r = rungs(&run);
    let kinds: Vec<&str> = r.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["observation", "required_approval", "required_approval"],
        "{run:#}"
    );
    assert_eq!(r[1]["proposals"][0]["action"]["type"], "cordon_node");
    assert_eq!(r[2]["proposals"][0]["action"]["type"], "drain_node");
    assert_eq!(
        r[2]["proposals"][0]["target"],
        json!({"kind": "node", "name": "node-b"})
    );
    assert!(r[2]["event_ms"].as_i64().unwrap() - r[1]["event_ms"].as_i64().unwrap() >= 15 * 60_000);
    assert!(rig.fake.writes().is_empty(), "{:?}", writes(&rig.fake));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_cronjob_runs_get_their_cronjob_suspended() {
    let rig = rig_with("demo.toml", no_cooldowns, watch_the_fake).await;
    synced(&rig).await;
    // Three runs of the `report` CronJob hit their backoff limit.
    let mut events = crate::support::recent(fake_k8s::fixture("events-workloads.json"), 30_000);
    if let Some(items) = events["items"].as_array_mut() {
        items.retain(|e| e["reason"] == "BackoffLimitExceeded");
    }
    rig.fake.apply(events);
    let run = climb_until(&rig, "job_failures", "the suspend", |run| {
        rungs(run).len() >= 2
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[1]["kind"], "executed_action", "{run:#}");
    assert_eq!(
        r[1]["proposals"][0]["target"],
        json!({"kind": "cron_job", "namespace": "shop", "name": "report"})
    );
    assert_eq!(
        writes(&rig.fake),
        vec![(
            "PATCH".into(),
            "/apis/batch/v1/namespaces/shop/cronjobs/report".into(),
            String::new()
        )]
    );
    assert_eq!(
        rig.fake
            .object("/apis/batch/v1/namespaces/shop/cronjobs/report")["spec"]["suspend"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_churning_controller_is_offered_one_replica_less() {
    let rig = rig_with("demo.toml", no_cooldowns, |config, fake| {
        watch_the_fake(config, fake);
        fake.deployment("tekton-pipelines-controller", 2);
    })
    .await;
    synced(&rig).await;
    // 150 events from one controller in one minute.
    let now = cluster::signal::now_ms();
    let at = crate::support::rfc3339(now - now.rem_euclid(60_000) + 1_000);
    let items: Vec<Value> = (0..150)
        .map(|i| {
            json!({
            "metadata": {"name": format!("run-{i}.18800"), "namespace": "ci",
                         "uid": format!("churn-{i:04}"), "creationTimestamp": at},
            "involvedObject": {"kind": "TaskRun", "namespace": "ci", "name": format!("run-{i}"),
                               "apiVersion": "tekton.dev/v1"},
            "reason": "Running", "message": "Not all Steps in the Task have finished executing",
            "source": {"component": "tekton-pipelines-controller"}, "firstTimestamp": at,
            "lastTimestamp": at, "count": 1, "type": "Normal",
            "reportingComponent": "tekton-pipelines-controller", "reportingInstance": ""})
        })
        .collect();
    rig.fake
        .apply(json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}));
    let run = climb_until(&rig, "controller_churn", "the scale rung", |run| {
        rungs(run).len() >= 2
    })
    .await;
    let r = rungs(&run);
    assert_eq!(r[1]["kind"], "required_approval", "{run:#}");
    assert_eq!(
        r[1]["proposals"][0]["action"],
        json!({"type": "scale_deployment", "replicas": 1})
    );
    assert!(rig.fake.writes().is_empty(), "{:?}", writes(&rig.fake));
}
