//! The watches against the fake API server: `kubectl` sees what they hold, they resume after a
//! dropped connection without listing again and list again only after a 410, their caches are
//! bounded, and the RBAC in `rbac.yaml` is exactly what they need.

use crate::fake_k8s::{self, Rule, fixture};
use crate::support::{recent, spec, watch};
use cluster::{ClusterState, Kind};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// Runs the real `kubectl` against the fake; `None` when kubectl is not installed.
fn kubectl(url: &str, args: &[&str]) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", dir.path().join("none"))
        .env("HOME", dir.path())
        .args(["--server", url, "--request-timeout", "10s"])
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// `(kind, namespace, name)` of every item of a kubectl list.
fn listed(list: &Value) -> BTreeSet<(String, String, String)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The same triples from what the watches hold.
fn held(state: &ClusterState) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |kind: &str, meta: &cluster::views::Meta| {
        out.insert((
            kind.to_owned(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone(),
        ));
    };
    state.nodes.values().for_each(|v| add("Node", &v.meta));
    state.pods.values().for_each(|v| add("Pod", &v.meta));
    state
        .deployments
        .values()
        .for_each(|v| add("Deployment", &v.meta));
    state
        .replica_sets
        .values()
        .for_each(|v| add("ReplicaSet", &v.meta));
    state
        .stateful_sets
        .values()
        .for_each(|v| add("StatefulSet", &v.meta));
    state
        .daemon_sets
        .values()
        .for_each(|v| add("DaemonSet", &v.meta));
    state.jobs.values().for_each(|v| add("Job", &v.meta));
    state
        .cron_jobs
        .values()
        .for_each(|v| add("CronJob", &v.meta));
    state
        .ingresses
        .values()
        .for_each(|v| add("Ingress", &v.meta));
    state
        .services
        .values()
        .for_each(|v| add("Service", &v.meta));
    state
        .endpoint_slices
        .values()
        .for_each(|v| add("EndpointSlice", &v.meta));
    state
        .config_maps
        .values()
        .for_each(|v| add("ConfigMap", &v.meta));
    state.secrets.values().for_each(|v| add("Secret", &v.meta));
    state
        .helm_releases
        .values()
        .for_each(|v| add("HelmRelease", &v.meta));
    out
}

/// Every kind the watches hold, as kubectl names them.
const ALL: &str = "nodes,pods,deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,ingresses,services,endpointslices,configmaps,secrets,helmreleases";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_what_the_watches_hold() {
    let (fake, url) = fake_k8s::start().await;
    for f in [
        "nodes-more.json",
        "release-cart-partial.json",
        "ingress-shop.json",
        "redis-service.json",
    ] {
        fake.load(f);
    }
    fake.apply(recent(fixture("events-disk-pressure.json"), 60_000));
    let mut w = watch(spec(&url)).await;
    let u = url.clone();
    let Some(objects) = blocking(move || kubectl(&u, &["get", ALL, "-A", "-o", "json"])).await
    else {
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    };
    let from_kubectl = listed(&objects);
    assert_eq!(from_kubectl.len(), 18, "{from_kubectl:#?}");
    let state = w.watch.state();
    assert_eq!(held(&state.read()), from_kubectl);
    let u = url.clone();
    let events = blocking(move || kubectl(&u, &["get", "events", "-A", "-o", "json"]))
        .await
        .unwrap();
    let event_names: BTreeSet<String> = listed(&events)
        .into_iter()
        .map(|(_, ns, n)| format!("{ns}/{n}"))
        .collect();
    let held_events: BTreeSet<String> = state
        .read()
        .events
        .iter()
        .map(|e| format!("{}/{}", e.namespace.as_deref().unwrap_or(""), e.name))
        .collect();
    assert_eq!(held_events, event_names);

    // A pod appears while `kubectl get --watch` and the watches both follow the stream.
    let mut follower = std::process::Command::new("kubectl")
        .env("KUBECONFIG", "/nonexistent")
        .args([
            "--server", &url, "get", "pods", "-n", "shop", "--watch", "-o", "name",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let seen_by_kubectl = blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line == "pod/late-7f9c6d5b8-q1w2e";
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pod = fixture("pods-shop.json")["items"][2].clone();
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    pod["metadata"]["name"] = json!("late-7f9c6d5b8-q1w2e");
    fake.apply(pod);
    let lines = tokio::time::timeout(Duration::from_secs(15), seen_by_kubectl)
        .await
        .expect("kubectl saw the pod");
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert!(
        lines.contains(&"pod/cart-7d9f8b6c5d-h5vnm".to_owned()),
        "{lines:?}"
    );
    for _ in 0..100 {
        if state
            .read()
            .pods
            .get(Some("shop"), "late-7f9c6d5b8-q1w2e")
            .is_some()
        {
            break;
        }
        w.drain(Duration::from_millis(50)).await;
    }
    let u = url.clone();
    let now_listed = listed(
        &blocking(move || kubectl(&u, &["get", ALL, "-A", "-o", "json"]))
            .await
            .unwrap(),
    );
    assert_eq!(held(&state.read()), now_listed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_where_they_left_off_and_list_again_only_after_410() {
    let (fake, url) = fake_k8s::start().await;
    let mut w = watch(spec(&url)).await;
    let state = w.watch.state();
    let nodes = |s: &ClusterState| {
        s.nodes
            .values()
            .map(|n| n.meta.name.clone())
            .collect::<Vec<_>>()
    };
    let wait = |want: Vec<&'static str>| {
        let state = std::sync::Arc::clone(&state);
        async move {
            for _ in 0..200 {
                if nodes(&state.read()) == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("nodes {:?}, want {want:?}", nodes(&state.read()));
        }
    };
    assert_eq!(state.read().status[&Kind::Nodes].lists, 1);
    let node = |name: &str| {
        let mut n = fixture("node-worker-2.json");
        n["metadata"]["name"] = json!(name);
        n
    };
    // A dropped connection: the watch resumes from its resource version, no new list.
    fake.cut_watches();
    fake.apply(node("worker-4"));
    wait(vec!["worker-2", "worker-4"]).await;
    assert_eq!(
        state.read().status[&Kind::Nodes].lists,
        1,
        "resumed, not listed again"
    );
    // The watch cache moved past it while disconnected (a delete and an add): 410, a list.
    fake.expire("/api/v1/nodes");
    fake.delete("/api/v1/nodes/worker-4");
    fake.apply(node("worker-5"));
    for _ in 0..200 {
        if state.read().status[&Kind::Nodes].lists == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state.read().status[&Kind::Nodes].lists, 2);
    wait(vec!["worker-2", "worker-5"]).await;
    assert!(
        state.read().status[&Kind::Nodes].errors >= 1,
        "the 410 is counted"
    );
    w.drain(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_are_bounded_per_kind() {
    let (fake, url) = fake_k8s::start().await;
    fake.load("nodes-more.json");
    let mut small = spec(&url);
    small.max_objects = 2;
    small.max_events = 3;
    fake.apply(recent(fixture("events-disk-pressure.json"), 60_000));
    let w = watch(small).await;
    let state = w.watch.state();
    let s = state.read();
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.status[&Kind::Nodes].refused, 1);
    assert_eq!(s.pods.len(), 2, "4 pods in shop, 2 held");
    assert_eq!(s.events.len(), 3);
}

/// The rules of ClusterRole `srebot-reader` in `path`.
fn reader_rules(path: &str) -> Vec<Rule> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let role = docs
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "srebot-reader")
        .expect("ClusterRole srebot-reader");
    serde_json::from_value(role["rules"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_role_grants_exactly_the_read_verbs_the_watches_use() {
    let rules = reader_rules("rbac.yaml");
    assert_eq!(
        serde_json::to_value(
            reader_rules("../deploy/base/rbac.yaml")
                .iter()
                .map(|r| (&r.api_groups, &r.resources, &r.verbs))
                .collect::<Vec<_>>()
        )
        .unwrap(),
        serde_json::to_value(
            rules
                .iter()
                .map(|r| (&r.api_groups, &r.resources, &r.verbs))
                .collect::<Vec<_>>()
        )
        .unwrap(),
        "deploy/ ships the same RBAC"
    );
    let mut granted = BTreeSet::new();
    for rule in &rules {
        assert_eq!(rule.verbs, ["get", "list", "watch"], "only read verbs");
        for g in &rule.api_groups {
            for r in &rule.resources {
                granted.insert((g.clone(), r.clone()));
            }
        }
    }
    let watched: BTreeSet<(String, String)> = Kind::ALL
        .iter()
        .map(|k| (k.group().to_owned(), k.as_str().to_owned()))
        .collect();
    assert_eq!(granted, watched, "a grant per watched kind, nothing more");

    // Under exactly these rules every watch lists and follows without a refusal.
    let (fake, url) = fake_k8s::start().await;
    fake.enforce(rules.clone());
    let w = watch(spec(&url)).await;
    let state = w.watch.state();
    for (kind, status) in &state.read().status {
        assert!(status.synced && status.errors == 0, "{kind:?}: {status:?}");
    }
    let used: BTreeSet<String> = fake.verbs_used().into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(
        used,
        BTreeSet::from(["list".to_owned(), "watch".to_owned()])
    );
    drop(w);

    // Without the grant on secrets, that watch says what is missing and the rest carry on.
    let (fake, url) = fake_k8s::start().await;
    let mut less = rules;
    for r in &mut less {
        r.resources.retain(|r| r != "secrets");
    }
    fake.enforce(less);
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let spec = spec(&url);
    let watch = cluster::ClusterWatch::start(spec.clone(), spec.client().await.unwrap(), tx);
    let state = watch.state();
    for _ in 0..100 {
        if state
            .read()
            .status
            .get(&Kind::Secrets)
            .is_some_and(|s| s.errors > 0)
            && state
                .read()
                .status
                .get(&Kind::Pods)
                .is_some_and(|s| s.synced)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = state.read();
    let secrets = &s.status[&Kind::Secrets];
    assert!(!secrets.synced);
    assert_eq!(
        secrets.last_error.as_deref(),
        Some(
            "watching secrets is forbidden: grant get, list and watch on core secrets (cluster/rbac.yaml)"
        )
    );
    assert!(s.status[&Kind::Pods].synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_context_reaches_its_cluster() {
    let (_fake, url) = fake_k8s::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n\
             clusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             - name: nowhere\n  cluster:\n    server: http://127.0.0.1:9\n\
             contexts:\n- name: shop\n  context:\n    cluster: fake\n    user: reader\n\
             - name: elsewhere\n  context:\n    cluster: nowhere\n    user: reader\n\
             users:\n- name: reader\n  user: {{}}\n"
        ),
    )
    .unwrap();
    let mut spec = cluster::ClusterSpec::named("shop");
    spec.kubeconfig = Some(path.clone());
    spec.context = Some("shop".into());
    spec.validate().unwrap();
    let w = watch(spec).await;
    assert_eq!(w.watch.state().read().nodes.len(), 1);
    let mut missing = cluster::ClusterSpec::named("gone");
    missing.kubeconfig = Some(dir.path().join("absent"));
    let Err(err) = missing.client().await else {
        panic!("a missing kubeconfig is refused");
    };
    let err = err.to_string();
    assert!(err.contains("cannot read kubeconfig"), "{err}");
}
