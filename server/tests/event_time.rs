//! Event time at the edge: nothing dropped with a 2xx, a retried batch stored, a sample from
//! the far future refused without moving event time, and no empty ticking through a gap.

use crate::common::{client, get_data, post_v1, start, test_config, v1_request};
use ingest::proto::{self, v2};

/// 2020-06-01T00:00:00Z: a recorded hour.
const RECORDED: i64 = 1_590_969_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn v2_body(metric: &str, timestamps: &[i64]) -> Vec<u8> {
    let mut symbols = v2::SymbolTable::default();
    let series = v2::TimeSeries {
        labels_refs: symbols.label_refs([("__name__", metric), ("job", "recorded")]),
        samples: timestamps
            .iter()
            .map(|&t| proto::Sample {
                value: 1.0,
                timestamp: t,
            })
            .collect(),
        ..Default::default()
    };
    ingest::encode_v2(&v2::Request {
        symbols: symbols.into_symbols(),
        timeseries: vec![series],
    })
}

async fn post_v2(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::Response {
    client
        .post(format!("{url}/api/v1/write"))
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "2.0.0")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn written(response: &reqwest::Response) -> u64 {
    response.headers()["x-prometheus-remote-write-samples-written"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn dropped(client: &reqwest::Client, url: &str, reason: &str) -> f64 {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("srebot_samples_dropped_total{{reason=\"{reason}\",source=\"default\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn nothing_stored_is_400_a_mixed_write_tells_the_truth_and_a_retry_is_204() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let url = server.url();
    let client = client();
    // An hour of 2020, then event time moves on ten minutes past it (within the default
    // hour of retention, far past the lateness).
    let hour: Vec<i64> = (0..240).map(|i| RECORDED + i * 15_000).collect();
    let first = post_v2(&client, &url, v2_body("recorded", &hour)).await;
    assert_eq!(first.status(), 204);
    assert_eq!(written(&first), 240);
    let later = RECORDED + 70 * 60_000;
    let response = post_v1(
        &client,
        &url,
        ingest::encode_v1(&v1_request("later", 1, 1, later)),
    )
    .await;
    assert_eq!(response.status(), 204);

    // All too old, never held: 400 naming the reason and the series (v1 has no headers to
    // tell the truth with, so a 2xx would mean stored).
    let old = post_v1(
        &client,
        &url,
        ingest::encode_v1(&v1_request("old_metric", 2, 3, later - 600_000)),
    )
    .await;
    assert_eq!(old.status(), 400);
    let body: serde_json::Value = old.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("no sample could be stored: 6 too_old"),
        "{error}"
    );
    assert!(error.contains("old_metric"), "{error}");

    // Mixed: one sample stored, one too old; 204 and the header counts only the stored one.
    let mixed = post_v2(&client, &url, v2_body("mixed", &[later - 600_000, later])).await;
    assert_eq!(mixed.status(), 204);
    assert_eq!(written(&mixed), 1);

    // The first batch resent behind the watermark: the server holds it, so it is stored.
    let retried = post_v2(&client, &url, v2_body("recorded", &hour[200..])).await;
    assert_eq!(retried.status(), 204);
    assert_eq!(written(&retried), 40);
    assert_eq!(dropped(&client, &url, "too_old").await, 7.0);
    server.task.abort();
}

#[tokio::test]
async fn a_sample_dated_2100_is_refused_and_present_day_samples_after_it_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let url = server.url();
    let client = client();
    let now = now_ms();
    let year_2100 = 4_102_444_800_000;
    let future = post_v1(
        &client,
        &url,
        ingest::encode_v1(&v1_request("clock_skew", 1, 1, year_2100)),
    )
    .await;
    assert_eq!(future.status(), 400);
    let body: serde_json::Value = future.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too_far_in_future"),
        "{body}"
    );
    assert_eq!(dropped(&client, &url, "too_far_in_future").await, 1.0);
    let status = get_data(&client, &format!("{url}/api/v1/status")).await;
    assert_eq!(status["watermark"], serde_json::Value::Null, "{status}");

    let present = post_v1(
        &client,
        &url,
        ingest::encode_v1(&v1_request("present", 3, 8, now - 120_000)),
    )
    .await;
    assert_eq!(present.status(), 204);
    let status = crate::common::wait_for(
        "detection to catch up",
        std::time::Duration::from_secs(20),
        || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let status = get_data(&client, &format!("{url}/api/v1/status")).await;
                (status["caught_up"] == true).then_some(status)
            }
        },
    )
    .await;
    let watermark = status["watermark"].as_i64().unwrap();
    assert!(watermark <= now, "{status}");
    // Two minutes of data at a 15 s tick: a handful of ticks, not a march towards 2100.
    assert!(status["ticks"].as_u64().unwrap() <= 10, "{status}");
    server.task.abort();
}

#[tokio::test]
async fn a_two_day_gap_in_event_time_is_jumped_not_ticked_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let url = server.url();
    let client = client();
    for start_ms in [RECORDED, RECORDED + 2 * 86_400_000] {
        let response = post_v1(
            &client,
            &url,
            ingest::encode_v1(&v1_request("gap", 2, 20, start_ms)),
        )
        .await;
        assert_eq!(response.status(), 204);
    }
    let status = crate::common::wait_for(
        "detection to catch up",
        std::time::Duration::from_secs(30),
        || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let status = get_data(&client, &format!("{url}/api/v1/status")).await;
                (status["caught_up"] == true).then_some(status)
            }
        },
    )
    .await;
    // Ticking through would take 11,520 ticks; what the store holds (an hour's retention) is
    // at most 240 ticks, plus the first stretch.
    let ticks = status["ticks"].as_u64().unwrap();
    assert!(ticks <= 300, "{ticks} ticks: {status}");
    server.task.abort();
}
