//! The clusters' own state as signals, through `srebot serve`: a watched cluster (the loopback
//! fake of the Kubernetes API) and a real Redis probed on loopback, their candidates in the same
//! correlation as the rules over remote_write metrics.

use crate::common::*;
use crate::fake_k8s;
use datasets::scenarios::{Fault, generate};
use serde_json::Value;
use server::replay::Sender;
use std::time::Duration;

fn now_ms() -> i64 {
    cluster::signal::now_ms()
}

/// A real `redis-server` on `port`; `None` without the binary.
pub(crate) fn redis(port: u16) -> Option<ChildGuard> {
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(guard);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_events_and_a_stopped_redis_become_incidents_beside_the_metrics() {
    let port = crate::support::restartable_port();
    let Some(redis_server) = redis(port) else {
        eprintln!("SKIPPED: redis-server is not installed (scripts/test.sh installs it)");
        return;
    };
    let (fake, kube_url) = fake_k8s::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let mut watched = cluster::ClusterSpec::named("shop-cluster");
    watched.url = Some(kube_url);
    watched.resync = Duration::from_millis(500);
    config.cluster = vec![watched];
    config.incidents.correlation.resolve_after_healthy_ms = 1_000;
    config.dependencies = vec![
        toml::from_str(&format!(
            "name = \"redis\"\nkind = \"redis\"\naddress = \"127.0.0.1:{port}\"\n\
             dependents = [\"shop/payments-api\"]\ninterval = \"200ms\"\ntimeout = \"1s\""
        ))
        .unwrap(),
    ];
    let server = start(config).await;
    let client = client();
    let url = server.url();

    // The watches are up and the probe answers: status says so.
    let status = wait_for(
        "the cluster watched and redis probed",
        Duration::from_secs(20),
        || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let status = get_data(&client, &format!("{url}/api/v1/status")).await;
                let synced = status["clusters"][0]["synced"] == Value::Bool(true);
                let up = status["dependencies"][0]["up"] == Value::Bool(true);
                (synced && up).then_some(status)
            }
        },
    )
    .await;
    assert_eq!(status["clusters"][0]["name"], "shop-cluster");
    assert_eq!(status["clusters"][0]["kinds"]["pods"]["objects"], 4);
    assert_eq!(status["dependencies"][0]["detail"], "PONG");

    // A disk-pressure episode on worker-2: one node_disk_pressure incident, its events as evidence.
    fake.apply(crate::support::recent(
        fake_k8s::fixture("events-disk-pressure.json"),
        20_000,
    ));
    let sender = Sender::new(&url, None).unwrap();
    let incident = wait_for("the node incident", Duration::from_secs(20), || {
        let sender = sender.clone();
        async move {
            let all = sender.incidents("").await.ok()?;
            let disk: Vec<Value> = all
                .into_iter()
                .filter(|i| i["type"] == "node_disk_pressure")
                .collect();
            (disk.len() == 1 && disk[0]["severity"] == "critical").then(|| disk[0].clone())
        }
    })
    .await;
    assert_eq!(incident["target"]["name"], "worker-2");
    let id = incident["id"].as_str().unwrap().to_owned();
    let reasons = wait_for("every event as evidence", Duration::from_secs(20), || {
        let (client, url, id) = (client.clone(), url.clone(), id.clone());
        async move {
            let detail = get_data(&client, &format!("{url}/api/v1/incidents/{id}")).await;
            let mut reasons: Vec<String> = detail["evidence"]
                .as_array()?
                .iter()
                .filter_map(|e| e["evidence"]["reason"].as_str().map(str::to_owned))
                .collect();
            reasons.sort();
            let all_seen = [
                "EvictionThresholdMet",
                "FreeDiskSpaceFailed",
                "NodeHasDiskPressure",
                "DiskPressure",
            ]
            .iter()
            .all(|want| reasons.iter().any(|r| r == want));
            (all_seen && reasons.iter().filter(|r| *r == "Evicted").count() == 3).then_some(reasons)
        }
    })
    .await;
    for reason in [
        "EvictionThresholdMet",
        "FreeDiskSpaceFailed",
        "NodeHasDiskPressure",
        "DiskPressure",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }

    // The pressure clears: with no metrics for its source yet, the incident follows the wall
    // clock and resolves.
    fake.patch(
        "/api/v1/nodes/worker-2",
        &serde_json::json!({"status": {"conditions": [
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "kubelet has no disk pressure", "lastTransitionTime": "2026-11-23T10:30:00Z"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status", "lastTransitionTime": "2026-10-01T12:01:00Z"}]}}),
    );
    wait_for(
        "the node incident to resolve",
        Duration::from_secs(30),
        || {
            let (client, url, id) = (client.clone(), url.clone(), id.clone());
            async move {
                let detail = get_data(&client, &format!("{url}/api/v1/incidents/{id}")).await;
                (detail["status"] == "resolved").then_some(())
            }
        },
    )
    .await;

    // Redis stops, then payments-api's errors spike: one incident, the dependency first.
    drop(redis_server);
    wait_for("dependency_unavailable", Duration::from_secs(20), || {
        let sender = sender.clone();
        async move {
            let all = sender.incidents("").await.ok()?;
            all.iter()
                .any(|i| i["type"] == "dependency_unavailable")
                .then_some(())
        }
    })
    .await;
    let scenario = generate(Fault::ErrorRateSpike, 7);
    let shift = now_ms() - scenario.meta.end_ms;
    let pushed = sender.push(&scenario, shift).await.unwrap();
    assert_eq!(pushed.written, pushed.samples);
    let joined = wait_for("the error spike to join", Duration::from_secs(30), || {
        let (client, url, sender) = (client.clone(), url.clone(), sender.clone());
        async move {
            let all = sender.incidents("").await.ok()?;
            let open: Vec<&Value> = all
                .iter()
                .filter(|i| i["status"] != "suppressed" && i["merged_into"].is_null())
                .filter(|i| {
                    i["type"] == "dependency_unavailable" || i["type"] == "error_rate_spike"
                })
                .collect();
            if open.len() != 1 || open[0]["type"] != "dependency_unavailable" {
                return None;
            }
            let id = open[0]["id"].as_str()?;
            let detail = get_data(&client, &format!("{url}/api/v1/incidents/{id}")).await;
            let types: Vec<String> = detail["findings"]
                .as_array()?
                .iter()
                .filter_map(|f| {
                    Some(format!(
                        "{} {}",
                        f["candidate"]["type"].as_str()?,
                        f["candidate"]["target"].as_str()?
                    ))
                })
                .collect();
            types
                .iter()
                .any(|t| t == "error_rate_spike payments-api")
                .then_some(types)
        }
    })
    .await;
    assert!(
        joined.iter().any(|t| t == "dependency_unavailable redis"),
        "{joined:?}"
    );
}
