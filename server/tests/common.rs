//! Helpers shared by the integration tests: a server on a free loopback port, child processes
//! that die with the test, polling with a deadline, and remote_write bodies.

use ingest::proto;
use server::config::Config;
use server::serve::RunningServer;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Config for a test server: loopback port 0, no self-scrape, state in `dir`.
pub(crate) fn test_config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.data_dir = dir.to_owned();
    config.scrape.self_scrape = false;
    config.windows.lateness_ms = 2_000;
    config.policy.audit_key_file = Some(audit_key(dir));
    config
}

/// The audit key of a test data dir (made once, mode 0600); next to the data, as only a test may.
pub(crate) fn audit_key(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("audit.key");
    if !path.exists() {
        std::fs::create_dir_all(dir).unwrap();
        policy::AuditKey::create(&path).unwrap();
    }
    path
}

pub(crate) async fn start(config: Config) -> RunningServer {
    server::serve::start(config).await.expect("server starts")
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, whatever happens.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a Debian-packaged binary; fails with the install hint if it is missing.
pub(crate) fn spawn(binary: &str, args: &[String], log: &Path) -> ChildGuard {
    let log_file = std::fs::File::create(log).unwrap();
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary} ({e}); scripts/test.sh installs it from Debian")
        });
    ChildGuard(child)
}

/// Polls `check` until it gives `Some`, or panics after `timeout` naming `what`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A remote_write 1.0 request: `series` series named `metric` with `samples` samples each,
/// one every 15 s from `start_ms`.
pub(crate) fn v1_request(
    metric: &str,
    series: usize,
    samples: usize,
    start_ms: i64,
) -> proto::WriteRequest {
    let timeseries = (0..series)
        .map(|s| proto::TimeSeries {
            labels: vec![
                proto::Label {
                    name: "__name__".into(),
                    value: metric.into(),
                },
                proto::Label {
                    name: "instance".into(),
                    value: format!("host-{s}:9100"),
                },
                proto::Label {
                    name: "job".into(),
                    value: "test".into(),
                },
            ],
            samples: (0..samples)
                .map(|i| proto::Sample {
                    value: (s * 1000 + i) as f64,
                    timestamp: start_ms + i as i64 * 15_000,
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    proto::WriteRequest {
        timeseries,
        ..Default::default()
    }
}

pub(crate) fn client() -> reqwest::Client {
    outbound::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs a remote_write 1.0 body.
pub(crate) async fn post_v1(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(format!("{url}/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The `data` of a JSON success answer.
pub(crate) async fn get_data(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(status.is_success(), "GET {url}: {status} {body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}
