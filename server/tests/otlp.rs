//! OTLP/HTTP metrics into srebot: the official OpenTelemetry Python SDK's exporter
//! (`opentelemetry-exporter-otlp-proto-http`, protobuf) sends a counter, a histogram, a gauge
//! and an up-down counter, which land named as Prometheus names them; an OTLP/JSON body with a
//! delta sum is answered as a partial success; bad bodies are refused naming the problem.

use crate::common::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

fn sdk_installed() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.http.metric_exporter, opentelemetry.sdk",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn names(series: &Value) -> Vec<String> {
    let mut out: Vec<String> = series
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["__name__"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_exports_into_the_windows() {
    if !sdk_installed() {
        eprintln!(
            "SKIPPED: the OpenTelemetry Python SDK and OTLP/HTTP exporter are not installed (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let url = server.url();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/export.py");
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            Command::new("python3")
                .arg(script)
                .arg(&url)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let http = client();
    let series = get_data(
        &http,
        &format!("{url}/api/v1/series?match[]={{job=\"checkout\"}}"),
    )
    .await;
    assert_eq!(
        names(&series),
        [
            "active_sessions",
            "http_server_request_duration_seconds_bucket",
            "http_server_request_duration_seconds_count",
            "http_server_request_duration_seconds_sum",
            "http_server_requests_total",
            "queue_depth",
            "target_info"
        ],
        "{series}"
    );
    let requests = series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["__name__"] == "http_server_requests_total")
        .unwrap();
    assert_eq!(requests["instance"], "checkout-0", "{requests}");
    assert_eq!(requests["http_route"], "/pay");
    assert_eq!(requests["http_response_status_code"], "200");
    assert_eq!(requests["otel_scope_name"], "shop.checkout");
    let info = series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["__name__"] == "target_info")
        .unwrap();
    assert_eq!(info["deployment_environment"], "test", "{info}");
    // The values: 5 requests, 3 durations (windows ending now, past the lateness).
    let at = chrono::Utc::now().timestamp_millis() + 1_000;
    let window = get_data(
        &http,
        &format!("{url}/api/v1/windows?match[]=http_server_requests_total&window=15m&at={at}"),
    )
    .await;
    assert_eq!(window["series"][0]["last"], 5.0, "{window}");
    let count = get_data(
        &http,
        &format!(
            "{url}/api/v1/windows?match[]=http_server_request_duration_seconds_count&window=15m&at={at}"
        ),
    )
    .await;
    assert_eq!(count["series"][0]["last"], 3.0, "{count}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_partial_success_and_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let url = format!("{}/v1/metrics", server.url());
    let now_ns = chrono::Utc::now()
        .timestamp_nanos_opt()
        .unwrap()
        .to_string();
    let point = |v: f64| {
        json!({"timeUnixNano": now_ns, "asDouble": v, "attributes": [
        {"key": "queue", "value": {"stringValue": "mail"}}]})
    };
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mailer"}}]},
        "scopeMetrics": [{"scope": {"name": "mailer"}, "metrics": [
            {"name": "mail.pending", "unit": "{mail}", "gauge": {"dataPoints": [point(12.0)]}},
            {"name": "mail.sent", "unit": "{mail}", "sum": {
                "aggregationTemporality": 1, "isMonotonic": true, "dataPoints": [point(4.0), point(5.0)]}}
        ]}]
    }]});
    let http = client();
    let answer = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedDataPoints"], 2,
        "{answer}"
    );
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("delta temporality"),
        "{answer}"
    );
    let series = get_data(
        &http,
        &format!("{}/api/v1/series?match[]={{job=\"mailer\"}}", server.url()),
    )
    .await;
    assert_eq!(names(&series), ["mail_pending"], "{series}");

    let wrong_type = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let garbage = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff_u8, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let text = garbage.text().await.unwrap();
    assert!(text.contains("ExportMetricsServiceRequest"), "{text}");
}
