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

/// A v1 body of one gauge series, `value(t)` at every timestamp, with extra labels.
fn v1_series(
    metric: &str,
    extra: &[(&str, &str)],
    timestamps: &[i64],
    value: impl Fn(i64) -> f64,
) -> Vec<u8> {
    let mut labels = vec![proto::Label {
        name: "__name__".into(),
        value: metric.into(),
    }];
    labels.extend(extra.iter().map(|(n, v)| proto::Label {
        name: (*n).into(),
        value: (*v).into(),
    }));
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    ingest::encode_v1(&proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels,
            samples: timestamps
                .iter()
                .map(|&t| proto::Sample {
                    value: value(t),
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

async fn post_v1_as(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client
        .post(format!("{url}/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .header("x-scope-orgid", tenant)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recorded_2020_hour_is_kept_beside_the_self_scrape_and_its_windows_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.scrape.self_scrape = true;
    config.scrape.interval = std::time::Duration::from_millis(200);
    let server = start(config).await;
    let url = server.url();
    let client = client();
    // The self-scrape puts its own source at the wall clock first.
    crate::common::wait_for(
        "the self-scrape",
        std::time::Duration::from_secs(20),
        || {
            let client = client.clone();
            let url = url.clone();
            async move {
                let status = get_data(&client, &format!("{url}/api/v1/status")).await;
                status["sources"]
                    .as_array()
                    .and_then(|all| {
                        all.iter()
                            .find(|s| s["source"] == "self" && !s["watermark"].is_null())
                    })
                    .cloned()
            }
        },
    )
    .await;

    // The recorded hour: its first half over remote_write 1.0, its second over 2.0.
    let value = |t: i64| ((t / 15_000) % 7) as f64 * 1.5;
    let hour: Vec<i64> = (0..240).map(|i| RECORDED + i * 15_000).collect();
    let v1 = post_v1(
        &client,
        &url,
        v1_series("recorded", &[("job", "recorded")], &hour[..120], value),
    )
    .await;
    assert_eq!(v1.status(), 204, "{}", v1.text().await.unwrap());
    let mut symbols = v2::SymbolTable::default();
    let series = v2::TimeSeries {
        labels_refs: symbols.label_refs([("__name__", "recorded"), ("job", "recorded")]),
        samples: hour[120..]
            .iter()
            .map(|&t| proto::Sample {
                value: value(t),
                timestamp: t,
            })
            .collect(),
        ..Default::default()
    };
    let body = ingest::encode_v2(&v2::Request {
        symbols: symbols.into_symbols(),
        timeseries: vec![series],
    });
    let v2 = post_v2(&client, &url, body).await;
    assert_eq!(v2.status(), 204);
    assert_eq!(written(&v2), 120);

    // Each window at the hour's end equals the naive computation over what was sent.
    let end = *hour.last().unwrap();
    for (window, span) in [("1m", 60_000), ("5m", 300_000), ("15m", 900_000)] {
        let data = get_data(
            &client,
            &format!(
                "{url}/api/v1/windows?match[]=recorded&window={window}&at={end}&source=default"
            ),
        )
        .await;
        let rows = data["series"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{data}");
        let row = &rows[0];
        assert_eq!(row["source"], "default");
        let inside: Vec<f64> = hour
            .iter()
            .filter(|&&t| t > end - span && t <= end)
            .map(|&t| value(t))
            .collect();
        let sum: f64 = inside.iter().sum();
        let min = inside.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            row["count"].as_u64().unwrap() as usize,
            inside.len(),
            "{window}: {row}"
        );
        assert!(
            (row["sum"].as_f64().unwrap() - sum).abs() < 1e-9,
            "{window}: {row}"
        );
        assert!((row["avg"].as_f64().unwrap() - sum / inside.len() as f64).abs() < 1e-9);
        assert_eq!(row["min"].as_f64().unwrap(), min, "{window}");
        assert_eq!(row["max"].as_f64().unwrap(), max, "{window}");
        assert_eq!(row["last"].as_f64().unwrap(), value(end), "{window}");
    }
    // The live source was not disturbed, and nothing was dropped anywhere.
    let status = get_data(&client, &format!("{url}/api/v1/status")).await;
    let sources = status["sources"].as_array().unwrap();
    let default = sources.iter().find(|s| s["source"] == "default").unwrap();
    assert_eq!(default["samples"], 240, "{status}");
    for source in sources {
        let dropped: u64 = source["dropped"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(dropped, 0, "{source}");
    }
    server.task.abort();
}

#[tokio::test]
async fn two_senders_thirty_minutes_apart_are_each_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.ingest.source_label = Some("cluster".to_owned());
    // The default lateness (5 min): far less than the 30 min between the senders.
    config.windows.lateness_ms = 300_000;
    let server = start(config).await;
    let url = server.url();
    let client = client();
    let now = now_ms() - 60_000;
    // Interleaved: cluster a at the present, cluster b (one tenant) and tenant "acme" half an
    // hour behind, resending in order as a reconnecting Prometheus does.
    let mut sent = std::collections::BTreeMap::<String, u64>::new();
    for minute in 0..20i64 {
        let batch = |start: i64| -> Vec<i64> { (0..4).map(|i| start + i * 15_000).collect() };
        let ahead = batch(now - (20 - minute) * 60_000);
        let behind = batch(now - 30 * 60_000 - (20 - minute) * 60_000);
        for (tenant, cluster, times) in [
            ("default", "a", &ahead),
            ("default", "b", &behind),
            ("acme", "b", &behind),
        ] {
            for series in 0..3 {
                let instance = format!("host-{series}");
                let body = v1_series(
                    "up",
                    &[("cluster", cluster), ("instance", &instance)],
                    times,
                    |_| 1.0,
                );
                let response = post_v1_as(&client, &url, tenant, body).await;
                assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
                let source = model::source_name(Some(tenant), Some(cluster));
                *sent.entry(source).or_default() += times.len() as u64;
            }
        }
    }
    assert_eq!(sent.keys().collect::<Vec<_>>(), ["a", "acme/b", "b"]);
    // Every sample of every source is in the windows: count them per source with SQL.
    let answer: serde_json::Value = client
        .post(format!("{url}/api/v1/sql"))
        .json(&serde_json::json!({
            "query": "SELECT source, count(*) AS n FROM samples WHERE metric = 'up' GROUP BY source ORDER BY source"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::BTreeMap<String, u64> = answer["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_owned(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, sent, "{answer}");
    // The same target in two sources stays two series, each found by its source.
    let series = get_data(&client, &format!("{url}/api/v1/series?match[]=up&source=b")).await;
    assert_eq!(series.as_array().unwrap().len(), 3, "{series}");
    assert!(
        series
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["__source__"] == "b")
    );
    server.task.abort();
}

#[tokio::test]
async fn a_recording_replayed_into_a_live_server_is_detected_in_its_own_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.scrape.self_scrape = true;
    config.scrape.interval = std::time::Duration::from_millis(200);
    let server = start(config).await;
    let url = server.url();
    // Live data at the wall clock first, then a recording of another time, not shifted.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let scenario = app::demo::generate(app::demo::Fault::CrashLoop, 7);
    let sender = server::replay::Sender::new(&url, None)
        .unwrap()
        .with_source("replay");
    let pushed = sender.push(&scenario, 0).await.unwrap();
    assert_eq!(pushed.written, pushed.samples, "every recorded sample kept");
    let incidents = sender.incidents("source=replay").await.unwrap();
    assert!(
        incidents
            .iter()
            .any(|i| i["type"] == "crash_loop" && i["source"] == "replay"),
        "{incidents:#?}"
    );
    // Nothing of the recording leaks into the live sources.
    assert!(sender.incidents("source=default").await.unwrap().is_empty());
    server.task.abort();
}
