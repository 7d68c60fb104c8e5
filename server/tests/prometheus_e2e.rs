//! End to end with Debian's real `prometheus`: it scrapes itself and node_exporter and sends
//! remote_write 1.0 to srebot; the series and their values arrive, counters known as counters.

use crate::common::*;
use std::time::Duration;

fn prometheus_config(prom_port: u16, node_port: Option<u16>, srebot: &str) -> String {
    let node = node_port
        .map(|p| {
            format!("  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\n")
        })
        .unwrap_or_default();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
         {node}\
         remote_write:\n  - url: {srebot}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n    metadata_config:\n      send_interval: 2s\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_remote_writes_into_srebot() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let client = client();

    let node_port = free_port();
    let node_exporter = which("prometheus-node-exporter").then(|| {
        spawn(
            "prometheus-node-exporter",
            &[format!("--web.listen-address=127.0.0.1:{node_port}")],
            &dir.path().join("node.log"),
        )
    });
    let prom_port = free_port();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_path,
        prometheus_config(
            prom_port,
            node_exporter.as_ref().map(|_| node_port),
            &server.url(),
        ),
    )
    .unwrap();
    let _prometheus = spawn(
        "prometheus",
        &[
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.path().join("prometheus.log"),
    );

    let base = server.url();
    let up_url = format!("{base}/api/v1/series?match[]=up{{job=%22prometheus%22}}");
    wait_for(
        "up{job=\"prometheus\"} via remote_write",
        Duration::from_secs(90),
        || async {
            let data = get_data(&client, &up_url).await;
            (!data.as_array()?.is_empty()).then_some(())
        },
    )
    .await;

    // The value srebot holds for a stable series equals what Prometheus itself answers.
    // (It reaches the default window once the watermark, newest minus lateness, passes it.)
    let build_url = format!("{base}/api/v1/windows?match[]=prometheus_build_info&window=5m");
    let ours = wait_for(
        "prometheus_build_info in the 5m window",
        Duration::from_secs(60),
        || async {
            let data = get_data(&client, &build_url).await;
            data["series"][0]["last"].is_number().then_some(data)
        },
    )
    .await;
    assert_eq!(ours["series"][0]["last"], 1.0, "{ours}");
    let theirs: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{prom_port}/api/v1/query?query=prometheus_build_info"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = theirs["data"]["result"][0]["metric"]["version"].clone();
    assert_eq!(ours["series"][0]["labels"]["version"], version);

    // Metadata arrives in its own requests: counters get a rate once it has.
    let counter_url =
        format!("{base}/api/v1/windows?match[]=prometheus_http_requests_total&window=1m");
    wait_for("a rate for a counter", Duration::from_secs(60), || async {
        let data = get_data(&client, &counter_url).await;
        let rows = data["series"].as_array()?;
        rows.iter().any(|r| r["rate"].is_number()).then_some(())
    })
    .await;

    if node_exporter.is_some() {
        let node_url = format!("{base}/api/v1/series?match[]=node_cpu_seconds_total");
        wait_for("node_exporter series", Duration::from_secs(60), || async {
            let data = get_data(&client, &node_url).await;
            (!data.as_array()?.is_empty()).then_some(())
        })
        .await;
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics.contains("srebot_write_requests_rejected_total{"),
        "{metrics}"
    );
}

fn which(binary: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
