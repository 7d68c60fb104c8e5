//! The data engineer's loop against Debian's real Prometheus scraping node_exporter:
//! `srebot record` pulls raw samples (not step-resampled), `srebot label` marks a window,
//! `srebot eval recording` scores it and writes plots and per-series Parquet.

use crate::common::{ChildGuard, free_port, spawn, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn which(binary: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn srebot(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_srebot"))
        .args(args)
        .output()
        .expect("srebot runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Prometheus scraping node_exporter every second; both killed when dropped.
fn prometheus_with_node(dir: &Path) -> (ChildGuard, ChildGuard, u16) {
    let node_port = free_port();
    let node = spawn(
        "prometheus-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{node_port}")],
        &dir.join("node.log"),
    );
    let prom_port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n"
        ),
    )
    .unwrap();
    let prom = spawn(
        "prometheus",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.join("prometheus.log"),
    );
    (prom, node, prom_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_label_and_evaluate_a_real_prometheus_recording() {
    if !which("prometheus") || !which("prometheus-node-exporter") {
        println!(
            "SKIPPED: Debian's prometheus and prometheus-node-exporter are not installed (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_prom, _node, port) = prometheus_with_node(dir.path());
    let url = format!("http://127.0.0.1:{port}");
    let client = crate::common::client();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let probe = format!("{url}/api/v1/query?query=up");
    wait_for(
        "Prometheus to scrape node_exporter",
        Duration::from_secs(60),
        || {
            let client = client.clone();
            let probe = probe.clone();
            async move {
                let body: serde_json::Value =
                    client.get(&probe).send().await.ok()?.json().await.ok()?;
                (body["data"]["result"][0]["value"][1] == "1").then_some(())
            }
        },
    )
    .await;
    // Ninety one-second scrapes.
    tokio::time::sleep(Duration::from_secs(90)).await;

    let rec = dir.path().join("rec");
    let from = started.to_string();
    let (ok, out, err) = srebot(&[
        "record",
        "--prometheus",
        &url,
        "--match",
        "node_load1",
        "--match",
        "{__name__=~\"node_cpu_seconds_total|node_memory_MemAvailable_bytes|node_filesystem_avail_bytes\"}",
        "--from",
        &from,
        "--to",
        "now",
        "--step",
        "15s",
        "--out",
        rec.to_str().unwrap(),
    ]);
    assert!(ok, "record failed: {out}{err}");
    assert!(out.contains("samples.parquet"), "{out}");
    let scenario = datasets::scenarios::Scenario::read(&rec).unwrap();
    let load = scenario
        .series
        .iter()
        .find(|s| s.labels.metric_name() == "node_load1")
        .expect("node_load1 recorded");
    // Raw samples, one a second as scraped, not resampled at the 15 s step.
    assert!(load.samples.len() >= 60, "{} samples", load.samples.len());
    let mut gaps: Vec<i64> = load.samples.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort_unstable();
    assert!(
        gaps[gaps.len() / 2] <= 1_500,
        "median gap {} ms",
        gaps[gaps.len() / 2]
    );
    assert!(gaps.iter().all(|g| *g > 0), "a sample twice");
    let cpu = scenario
        .series
        .iter()
        .find(|s| s.labels.metric_name() == "node_cpu_seconds_total")
        .expect("node_cpu_seconds_total recorded");
    assert_eq!(cpu.metric_type, model::MetricType::Counter);
    let rows = datasets::columnar::row_count(&rec.join("samples.parquet")).unwrap();
    assert_eq!(rows as usize, scenario.sample_count());

    // A bad selector is refused with Prometheus's reason.
    let (ok, _, err) = srebot(&[
        "record",
        "--prometheus",
        &url,
        "--match",
        "rate(x[1m]",
        "--from",
        "now-1m",
        "--to",
        "now",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("Prometheus answered 400"), "{err}");

    // Label the last minute as a disk filling on this node (it was not: a false label).
    let (ok, out, err) = srebot(&[
        "label",
        rec.to_str().unwrap(),
        "--incident",
        "now-60s..now:node_disk_pressure:*",
    ]);
    assert!(ok, "label failed: {out}{err}");
    assert!(out.contains("node_disk_pressure on *"), "{out}");
    let (ok, _, err) = srebot(&[
        "label",
        rec.to_str().unwrap(),
        "--incident",
        "now-60s..now:disk_full:*",
    ]);
    assert!(!ok && err.contains("unknown incident type"), "{err}");

    let out_dir = dir.path().join("eval");
    let (ok, out, err) = srebot(&[
        "eval",
        "recording",
        rec.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "eval failed: {out}{err}");
    let json: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(json["labels"], 1);
    // A quiet machine opens no disk incident: the label is missed, and nothing else is
    // claimed as found.
    assert_eq!(json["recall"], 0.0, "{out}");
    assert!(
        json["nab"]["standard"].as_f64().is_some_and(|s| s <= 0.0),
        "{out}"
    );
    assert!(out.contains("precision"), "{out}");
    let results = datasets::columnar::row_count(&out_dir.join("results.parquet")).unwrap();
    assert_eq!(results as usize, scenario.sample_count());
    let plots = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "svg"))
        })
        .count();
    assert!(plots >= 1, "no plot of the labelled series");
}
