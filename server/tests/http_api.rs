//! The HTTP API over a real socket and in-process: ingest, queries, SQL, auth, bad input.

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use server::app::{AppState, router};
use server::auth::Tokens;
use std::sync::Arc;
use tower::ServiceExt;

const T0: i64 = 1_700_000_000_000;

#[tokio::test]
async fn v1_samples_arrive_and_answer_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let client = client();
    let body = ingest::encode_v1(&v1_request("test_metric", 10, 4, T0));
    let response = post_v1(&client, &server.url(), body).await;
    assert_eq!(response.status(), 204);

    let series = get_data(
        &client,
        &format!("{}/api/v1/series?match[]=test_metric", server.url()),
    )
    .await;
    assert_eq!(series.as_array().unwrap().len(), 10, "{series}");
    assert_eq!(series[0]["__name__"], "test_metric");

    // Samples of host-3 are 3000..3003 at T0, T0+15s, T0+30s, T0+45s.
    let at = T0 + 45_000;
    let windows = get_data(
        &client,
        &format!(
            "{}/api/v1/windows?match[]=test_metric{{instance=%22host-3:9100%22}}&window=1m&at={at}",
            server.url()
        ),
    )
    .await;
    assert_eq!(windows["window"], "1m");
    let row = &windows["series"][0];
    assert_eq!(row["labels"]["instance"], "host-3:9100");
    assert_eq!(row["count"], 4);
    assert_eq!(row["min"], 3000.0);
    assert_eq!(row["max"], 3003.0);
    assert_eq!(row["last"], 3003.0);
    assert_eq!(row["sum"], 12006.0);
    assert!(row["rate"].is_null(), "a gauge has no rate: {row}");

    let grouped = get_data(
        &client,
        &format!(
            "{}/api/v1/windows?match[]=test_metric&window=1m&at={at}&by=job",
            server.url()
        ),
    )
    .await;
    assert_eq!(grouped["series"].as_array().unwrap().len(), 1, "{grouped}");
    assert_eq!(grouped["series"][0]["labels"]["job"], "test");
    assert_eq!(grouped["series"][0]["count"], 40);

    let sql = client
        .post(format!("{}/api/v1/sql", server.url()))
        .json(&serde_json::json!({"query": "SELECT count(*) AS n FROM samples WHERE metric = 'test_metric'"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sql.status(), 200);
    let sql: serde_json::Value = sql.json().await.unwrap();
    assert_eq!(sql["data"]["rows"][0]["n"], 40, "{sql}");

    let bad_sql = client
        .post(format!("{}/api/v1/sql", server.url()))
        .json(&serde_json::json!({"query": "SELEC nonsense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_sql.status(), 400);

    let metrics = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("srebot_samples_received_total{protocol=\"v1\"} 40"),
        "{metrics}"
    );
    assert!(metrics.contains("srebot_active_series 10"), "{metrics}");
}

fn write_request(body: Vec<u8>, content_type: &str) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-type", content_type)
        .header("content-encoding", "snappy")
        .body(Body::from(body))
        .unwrap()
}

async fn status_and_text(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.ingest.max_body_bytes = 64 * 1024;
    let state = AppState::open(config, Tokens::default()).await.unwrap();
    let app = router(Arc::clone(&state));
    let pb = "application/x-protobuf";

    let good = ingest::encode_v1(&v1_request("kept", 3, 2, T0));
    let (status, _) = status_and_text(&app, write_request(good, pb)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut unsorted = v1_request("bad", 1, 1, T0);
    unsorted.timeseries[0].labels.swap(1, 2);
    let mut empty_name = v1_request("bad", 1, 1, T0);
    empty_name.timeseries[0].labels[1].name.clear();
    let valid_raw = snap::raw::Decoder::new()
        .decompress_vec(&ingest::encode_v1(&v1_request("bad", 2, 2, T0)))
        .unwrap();
    let truncated = snappy(&valid_raw[..valid_raw.len() / 2]);
    let mut cut_snappy = snappy(&valid_raw);
    cut_snappy.truncate(cut_snappy.len() - 7);

    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "garbage",
            write_request(b"not snappy at all".to_vec(), pb),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        (
            "truncated snappy",
            write_request(cut_snappy, pb),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        (
            "wrong protobuf",
            write_request(snappy(&[0xff; 64]), pb),
            StatusCode::BAD_REQUEST,
            "protobuf",
        ),
        (
            "truncated protobuf",
            write_request(truncated, pb),
            StatusCode::BAD_REQUEST,
            "protobuf",
        ),
        (
            "unsorted labels",
            write_request(ingest::encode_v1(&unsorted), pb),
            StatusCode::BAD_REQUEST,
            "sorted",
        ),
        (
            "empty label name",
            write_request(ingest::encode_v1(&empty_name), pb),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "oversize",
            write_request(vec![0u8; 128 * 1024], pb),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "content type",
            write_request(b"x".to_vec(), "application/json"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "unknown proto",
            write_request(b"x".to_vec(), "application/x-protobuf;proto=foo.Bar"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "foo.Bar",
        ),
    ];
    for (name, request, expected, needle) in cases {
        let (status, text) = status_and_text(&app, request).await;
        assert_eq!(status, expected, "{name}: {text}");
        assert!(
            text.to_lowercase().contains(&needle.to_lowercase()),
            "{name}: message {text:?} should mention {needle:?}"
        );
    }

    // Everything accepted before is still there, and the server still serves.
    assert_eq!(state.app.sources.stats().samples, 6);
    let request = Request::get("/api/v1/series?match[]=kept")
        .body(Body::empty())
        .unwrap();
    let (status, text) = status_and_text(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text.matches("\"kept\"").count(), 3, "{text}");
    let request = Request::get("/api/v1/series?match[]=bad")
        .body(Body::empty())
        .unwrap();
    let (_, text) = status_and_text(&app, request).await;
    assert!(
        !text.contains("\"bad\""),
        "refused requests stored nothing: {text}"
    );
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let (_, text) = status_and_text(&app, request).await;
    assert!(
        text.contains("srebot_write_requests_rejected_total{reason=\"bad_request\"} 6"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_queries_answer_400() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(test_config(dir.path()), Tokens::default())
        .await
        .unwrap();
    let app = router(state);
    for uri in [
        "/api/v1/series",
        "/api/v1/series?match[]=up{job=~%22(%22}",
        "/api/v1/windows?match[]=up&window=fortnight",
        "/api/v1/windows?match[]=up&at=yesterday",
    ] {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let (status, text) = status_and_text(&app, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
        assert!(text.contains("\"status\":\"error\""), "{uri}: {text}");
    }
}

#[tokio::test]
async fn token_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let mut config = test_config(dir.path());
    config.server.token_file = Some(token_file);
    let server = start(config).await;
    let client = client();
    let url = format!("{}/api/v1/series?match[]=up", server.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let wrong = client.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(right.status(), 200);
    let health = client
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn non_loopback_needs_a_token_or_insecure() {
    let mut config = server::config::Config::default();
    config.server.listen = "0.0.0.0:9710".parse().unwrap();
    let error = server::serve::check_exposure(&config)
        .unwrap_err()
        .to_string();
    assert!(error.contains("--token-file"), "{error}");
    config.server.insecure = true;
    server::serve::check_exposure(&config).unwrap();
    config.server.insecure = false;
    config.server.token_file = Some("token".into());
    server::serve::check_exposure(&config).unwrap();
}

#[tokio::test]
async fn pull_mode_scrapes_its_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.scrape.self_scrape = true;
    config.scrape.interval = std::time::Duration::from_millis(200);
    let server = start(config).await;
    let client = client();
    let url = format!(
        "{}/api/v1/series?match[]=up{{job=%22srebot%22}}",
        server.url()
    );
    wait_for(
        "self-scrape up series",
        std::time::Duration::from_secs(20),
        || async {
            let data = get_data(&client, &url).await;
            (!data.as_array()?.is_empty()).then_some(())
        },
    )
    .await;
    let gauges = format!(
        "{}/api/v1/series?match[]=srebot_active_series",
        server.url()
    );
    let data = get_data(&client, &gauges).await;
    assert_eq!(data[0]["job"], "srebot", "{data}");
}
