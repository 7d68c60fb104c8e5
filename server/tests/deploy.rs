//! What `deploy/` ships, checked: every overlay renders with kustomize (`kubectl kustomize`)
//! into objects the Kubernetes API types accept field for field, running non-root on a
//! read-only root; every config parses (srebot's own, the policies, and Prometheus',
//! Alertmanager's and Promtail's with their own tools); the image runs as non-root; and every
//! metric the Grafana dashboard queries is one `srebot serve` exports.

use crate::common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `tool` runs here; prints SKIPPED for `what` when not.
fn have(tool: &str, what: &str) -> bool {
    let found = Command::new(tool)
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty());
    if !found {
        eprintln!("SKIPPED: {what}: `{tool}` is not installed (scripts/test.sh installs it)");
    }
    found
}

/// The YAML documents of `text`, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Deserializes `doc` as `T` and serializes it back: a misspelt or misplaced field is not in
/// the type, so it does not survive the round trip and the two differ.
fn conforms<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", doc["kind"], doc["metadata"]["name"]));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, doc,
        "{} {} has fields the Kubernetes type does not know",
        doc["kind"], doc["metadata"]["name"]
    );
}

fn check_schema(doc: &Value) {
    match doc["kind"].as_str().unwrap_or_default() {
        "Namespace" => conforms::<Namespace>(doc),
        "ServiceAccount" => conforms::<ServiceAccount>(doc),
        "ConfigMap" => conforms::<k8s_openapi::api::core::v1::ConfigMap>(doc),
        "Deployment" => conforms::<Deployment>(doc),
        "Service" => conforms::<Service>(doc),
        "PersistentVolumeClaim" => conforms::<PersistentVolumeClaim>(doc),
        "NetworkPolicy" => conforms::<NetworkPolicy>(doc),
        "Role" => conforms::<Role>(doc),
        "RoleBinding" => conforms::<RoleBinding>(doc),
        "ClusterRole" => conforms::<ClusterRole>(doc),
        "ClusterRoleBinding" => conforms::<ClusterRoleBinding>(doc),
        other => panic!("deploy/ renders a {other} this test does not check"),
    }
}

/// Every container (init containers too) runs without privileges on a read-only root.
fn check_hardened(deployment: &Deployment) {
    let spec = deployment.spec.template.spec.as_ref().unwrap();
    let pod = spec.security_context.as_ref().unwrap();
    assert_eq!(pod.run_as_non_root, Some(true));
    assert!(pod.run_as_user.is_some_and(|u| u != 0));
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in all {
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", c.name);
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", c.name);
        let dropped = sc.capabilities.as_ref().and_then(|c| c.drop.clone());
        assert_eq!(dropped, Some(vec!["ALL".to_owned()]), "{}", c.name);
    }
}

fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8(out.stdout).unwrap())
}

#[test]
fn every_overlay_renders_into_objects_the_kubernetes_types_accept() {
    if !have("kubectl", "rendering the kustomize overlays") {
        return;
    }
    for overlay in ["demo", "staging", "prod"] {
        let docs = kustomize(&deploy().join("overlays").join(overlay));
        for doc in &docs {
            check_schema(doc);
        }
        let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        for kind in [
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "Deployment",
            "Service",
            "PersistentVolumeClaim",
            "NetworkPolicy",
            "ClusterRole",
        ] {
            assert!(kinds.contains(kind), "{overlay} renders no {kind}");
        }
        let deployment: Deployment = serde_json::from_value(
            docs.iter()
                .find(|d| d["kind"] == "Deployment")
                .unwrap()
                .clone(),
        )
        .unwrap();
        check_hardened(&deployment);
        let spec = deployment.spec.template.spec.unwrap();
        // The identity is the one rbac.yaml grants, and every ConfigMap mounted is rendered.
        let account = spec.service_account_name.unwrap();
        assert!(
            docs.iter()
                .any(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == account),
            "{overlay}: no ServiceAccount {account}"
        );
        for volume in &spec.volumes.unwrap() {
            if let Some(map) = &volume.config_map {
                assert!(
                    docs.iter()
                        .any(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == map.name),
                    "{overlay}: ConfigMap {} not rendered",
                    map.name
                );
            }
        }
        // The policy each overlay ships is the one in its ConfigMap, and it is valid.
        let policy = docs
            .iter()
            .find(|d| {
                d["kind"] == "ConfigMap"
                    && d["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("srebot-policy"))
            })
            .unwrap();
        let text = policy["data"]["policy.toml"].as_str().unwrap();
        let parsed = policy::Policy::from_toml_str(text, &format!("{overlay}/policy.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.environment.as_str(), overlay);
        // srebot's own config, as mounted: it parses, and its data dir is the PVC's mount.
        let config = docs
            .iter()
            .find(|d| {
                d["kind"] == "ConfigMap"
                    && d["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("srebot-config"))
            })
            .unwrap();
        let config = server::config::Config::parse(config["data"]["srebot.toml"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{overlay}: srebot.toml: {e}"));
        let data_mount = spec.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == "data")
            .unwrap();
        assert_eq!(
            config.server.data_dir,
            PathBuf::from(&data_mount.mount_path)
        );
    }
    for doc in kustomize(&deploy().join("ollama")) {
        check_schema(&doc);
        if doc["kind"] == "Deployment" {
            check_hardened(&serde_json::from_value(doc).unwrap());
        }
    }
}

#[test]
fn the_in_cluster_configs_pass_their_own_tools() {
    let dir = deploy().join("in-cluster");
    let promtail = documents(&read(&dir.join("promtail.yaml")));
    assert_eq!(promtail.len(), 1);
    let push = promtail[0]["clients"][0]["url"].as_str().unwrap();
    assert!(push.ends_with("/loki/api/v1/push"), "{push}");
    if have("promtool", "checking deploy/in-cluster/prometheus.yml") {
        let out = Command::new("promtool")
            .args(["check", "config", "--syntax-only"])
            .arg(dir.join("prometheus.yml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if have("amtool", "checking deploy/in-cluster/alertmanager.yml") {
        let out = Command::new("amtool")
            .arg("check-config")
            .arg(dir.join("alertmanager.yml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // They send to the routes srebot serves.
    let prometheus = read(&dir.join("prometheus.yml"));
    assert!(prometheus.contains("srebot.srebot.svc:9710/api/v1/write"));
    let alertmanager = read(&dir.join("alertmanager.yml"));
    assert!(alertmanager.contains("srebot.srebot.svc:9710/api/v1/alerts/alertmanager"));
}

#[test]
fn the_image_is_multi_stage_and_runs_as_non_root() {
    let text = read(&deploy().join("Containerfile"));
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("FROM ")).count(), 2);
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "runs as {user}");
    assert!(lines.iter().any(|l| l.contains("--bin srebot")));
}

/// Metric names a PromQL expression reads (`srebot_*`), histogram series as written.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("srebot_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        out.push(name);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_reads_a_metric_srebot_exports() {
    let dashboard: Value =
        serde_json::from_str(&read(&deploy().join("grafana/srebot.json"))).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");

    // A server that scrapes itself, so its per-source counters have a source.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.scrape.self_scrape = true;
    config.scrape.interval = std::time::Duration::from_millis(200);
    let server = start(config).await;
    let url = format!("{}/metrics", server.url());
    let exported: BTreeSet<String> = wait_for(
        "the self-scrape stored",
        std::time::Duration::from_secs(20),
        || {
            let url = url.clone();
            async move {
                let text = client().get(url).send().await.ok()?.text().await.ok()?;
                let names: BTreeSet<String> = text
                    .lines()
                    .filter(|l| !l.starts_with('#') && !l.is_empty())
                    .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
                    .collect();
                names
                    .contains("srebot_samples_stored_total")
                    .then_some(names)
            }
        },
    )
    .await;
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{expr} reads no srebot metric");
        for name in names {
            assert!(
                exported.contains(&name),
                "{expr}: {name} is not exported (exported: {exported:?})"
            );
        }
    }
}

/// `srebot doctor` against a running server whose dependencies are half broken: it names
/// each one with what to fix, and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_is_broken_and_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    // A cluster (the loopback fake of the API server) that grants everything rbac.yaml asks
    // but patching nodes.
    let (fake, kube_url) = crate::fake_k8s::start().await;
    let docs = documents(&read(&deploy().join("base/rbac.yaml")));
    let mut rules: Vec<crate::fake_k8s::Rule> = Vec::new();
    for doc in docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Role" | "ClusterRole")))
    {
        let mut more: Vec<crate::fake_k8s::Rule> =
            serde_json::from_value(doc["rules"].clone()).unwrap();
        for rule in &mut more {
            if rule.resources == ["nodes"] {
                rule.verbs.retain(|v| v != "patch");
            }
        }
        rules.extend(more);
    }
    fake.enforce(rules);
    // One channel that takes messages, one that cannot be reached.
    let (hook_url, hook) = loopback_hook().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    for (name, url) in [("good", &hook_url), ("dead", &dead_url)] {
        let secret = dir.path().join(format!("{name}.secret"));
        std::fs::write(&secret, "whsec-0123456789abcdef").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            dir.path().join(format!("{name}.toml")),
            format!("url = \"{url}\"\nsecret_file = \"{name}.secret\"\n"),
        )
        .unwrap();
    }
    let mut config = test_config(dir.path());
    config.channels = toml::from_str(
        "[[provider]]\nid = \"good\"\nkind = \"webhook\"\nconfig = \"good.toml\"\n\
         [[provider]]\nid = \"dead\"\nkind = \"webhook\"\nconfig = \"dead.toml\"\n",
    )
    .unwrap();
    config.channels.base_dir = dir.path().to_owned();
    config.policy.file =
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/overlays/prod/policy.toml"));
    let mut watched = cluster::ClusterSpec::named("lab");
    watched.url = Some(kube_url);
    config.cluster = vec![watched];
    // Loki configured where nothing answers.
    let loki = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let loki_url = format!("http://{}", loki.local_addr().unwrap());
    drop(loki);
    config.rca.loki = Some(toml::from_str(&format!("url = \"{loki_url}\"\n")).unwrap());
    let server = start(config).await;

    let out = tokio::task::spawn_blocking({
        let url = server.url();
        move || {
            Command::new(env!("CARGO_BIN_EXE_srebot"))
                .args(["doctor", "--url", &url])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "a failing check fails the command: {table}"
    );
    let row = |name: &str| -> String {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name:?} in\n{table}"))
            .to_owned()
    };
    assert!(
        row("ingest ").contains("fail") && row("ingest ").contains("remote_write"),
        "{table}"
    );
    assert!(row("data dir").contains(" ok "), "{table}");
    assert!(row("ledger").contains(" ok "), "{table}");
    // The tests keep the key in the data dir, which the doctor points out.
    assert!(
        row("audit key").contains("warn") && row("audit key").contains("outside the data dir"),
        "{table}"
    );
    assert!(row("loki").contains("fail"), "{table}");
    assert!(row("model").contains(" off "), "{table}");
    let access = row("cluster lab access");
    assert!(
        access.contains("fail")
            && access.contains("patch core nodes")
            && access.contains("rbac.yaml"),
        "{table}"
    );
    assert!(row("channel good").contains(" ok "), "{table}");
    assert!(row("channel dead").contains("fail"), "{table}");
    let bodies = hook.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Test message from SRE Smart Bot")),
        "the good channel got the test message: {bodies:?}"
    );
    for failed in ["ingest", "loki", "cluster lab access", "channel dead"] {
        assert!(stderr.contains(failed), "{stderr}");
    }
}

/// A loopback webhook receiver: the bodies it was posted.
async fn loopback_hook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(got): axum::extract::State<
                    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
                >,
                 body: String| async move {
                    got.lock().unwrap().push(body);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(std::sync::Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/hook"), got)
}
