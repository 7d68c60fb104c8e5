//! Loki push into srebot over a socket: lines are mined into templates and counted as
//! `srebot_log_lines_total` series in the windows; a bad body is refused naming the problem.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn pushed_lines_become_template_counters_in_the_windows() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let client = client();
    let t0: i64 = 1_767_571_200_000; // ms
    let line =
        |i: i64, text: &str| serde_json::json!([((t0 + i * 1000) * 1_000_000).to_string(), text]);
    let body = serde_json::json!({"streams": [{
        "stream": {"app": "cart", "namespace": "shop", "pod": "cart-7d4b9c6f5-x2x9q"},
        "values": [
            line(0, "connection refused to redis:6379 after 3 retries"),
            line(1, "connection refused to redis:6379 after 4 retries"),
            line(2, "connection refused to redis:6379 after 5 retries"),
            line(3, "GET /health 200"),
        ]
    }]});
    let pushed = client
        .post(format!("{}/loki/api/v1/push", server.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 204, "{}", pushed.text().await.unwrap());

    let data = get_data(
        &client,
        &format!(
            "{}/api/v1/windows?match[]=srebot_log_lines_total{{app=\"cart\"}}&window=1m&at={}",
            server.url(),
            t0 + 10_000
        ),
    )
    .await;
    let mut lasts: Vec<f64> = data["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["last"].as_f64().unwrap())
        .collect();
    lasts.sort_by(f64::total_cmp);
    assert_eq!(lasts, vec![1.0, 3.0], "{data}");

    let bad = client
        .post(format!("{}/loki/api/v1/push", server.url()))
        .header("content-type", "application/json")
        .body(r#"{"streams":[{"stream":{"app":"x"},"values":[["not-a-time","x"]]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("not-a-time"), "{text}");
}

/// Logs pushed for a crash-looping deployment's pods: the incident's log context separates
/// the usual templates (seen before the incident) from the novel ones, and the draft cites the
/// known failure signature the lines matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_log_context_ranks_novel_templates_and_feeds_the_draft() {
    use datasets::scenarios::{Fault, generate};
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let scenario = generate(Fault::CrashLoop, 7);
    let sender = server::replay::Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let incidents = sender.incidents("").await.unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let id = incidents[0]["id"].as_str().unwrap();
    let opened =
        incident::record::rfc3339::parse(incidents[0]["opened_at"].as_str().unwrap()).unwrap();
    let target = scenario.meta.expected[0].target.clone();

    let client = client();
    let pod = format!("{target}-6c9f7b-abcde");
    let ns = |ms: i64| (ms * 1_000_000).to_string();
    let mut values = Vec::new();
    for i in 0..20 {
        let at = opened - 30 * 60_000 + i * 30_000;
        values.push(serde_json::json!([
            ns(at),
            format!("order {} placed in {} ms", 1000 + i, 10 + i)
        ]));
    }
    for i in 0..6 {
        let at = opened + i * 20_000;
        values.push(serde_json::json!([
            ns(at),
            format!("order {} placed in {} ms", 2000 + i, 12 + i)
        ]));
        values.push(serde_json::json!([
            ns(at + 1_000),
            format!("dial tcp 10.0.3.{i}:5432: connect: connection refused")
        ]));
    }
    let other = serde_json::json!([ns(opened), "unrelated stream line with connection refused"]);
    let body = serde_json::json!({"streams": [
        {"stream": {"namespace": "shop", "pod": pod, "container": target}, "values": values},
        {"stream": {"namespace": "shop", "pod": "someone-else-1"}, "values": [other]},
    ]});
    let pushed = client
        .post(format!("{}/loki/api/v1/push", server.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 204, "{}", pushed.text().await.unwrap());

    let context = get_data(
        &client,
        &format!("{}/api/v1/incidents/{id}/logs", server.url()),
    )
    .await;
    let chunks = context["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 1, "only the target's stream: {context:#}");
    assert_eq!(chunks[0]["labels"]["pod"], pod.as_str());
    let entries = chunks[0]["entries"].as_array().unwrap();
    let refused = entry(entries, "connection refused", &context);
    assert_eq!(refused["count"], 6);
    assert_eq!(refused["novel"], true);
    let usual = entry(entries, "placed", &context);
    assert_eq!(usual["novel"], false);
    assert_eq!(usual["count"], 6, "baseline lines are not in the window");
    assert_eq!(
        entries[0]["template"], refused["template"],
        "novel errors rank first"
    );

    let rca = get_data(
        &client,
        &format!("{}/api/v1/incidents/{id}/rca", server.url()),
    )
    .await;
    let evidence = rca["draft"]["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["id"].as_str().unwrap().starts_with("log-")),
        "{rca:#}"
    );
}

/// With `[rca.loki]` and no pushed lines for the target, the incident's log context is pulled
/// from Loki's `query_range` (a loopback stand-in answering Loki's documented JSON): scoped to
/// the namespace and workload, with the tenant header, baseline before the incident window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_context_is_pulled_from_loki_when_nothing_was_pushed() {
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use datasets::scenarios::{Fault, generate};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(HashMap<String, String>, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let scenario = generate(Fault::CrashLoop, 7);
    let fault_ms = scenario.meta.expected[0].fault_start_ms;
    let handler = |State((seen, fault_ms)): State<(Seen, i64)>,
                   headers: HeaderMap,
                   Query(params): Query<HashMap<String, String>>| async move {
        let tenant = headers
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        seen.lock().unwrap().push((params, tenant));
        let ns = |ms: i64| (ms * 1_000_000).to_string();
        let mut values = Vec::new();
        for i in 0..10 {
            values.push(serde_json::json!([
                ns(fault_ms - 40 * 60_000 + i * 60_000),
                format!("order {i} placed")
            ]));
        }
        for i in 0..5 {
            values.push(serde_json::json!([
                ns(fault_ms + i * 30_000),
                format!("dial tcp 10.0.0.{i}:5432: connect: connection refused")
            ]));
        }
        axum::Json(serde_json::json!({
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{
                    "stream": {"namespace": "shop", "app": "payments-api", "pod": "payments-api-1"},
                    "values": values
                }],
                "stats": {}
            }
        }))
    };
    let app = axum::Router::new()
        .route("/loki/api/v1/query_range", axum::routing::get(handler))
        .with_state((Arc::clone(&seen), fault_ms));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let loki_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.rca.loki = Some(server::config::LokiSection {
        url: loki_url,
        tenant: Some("team-a".to_owned()),
        token_file: None,
        service_label: "app".to_owned(),
        max_lines: 5_000,
        tls_config: Default::default(),
    });
    let server = start(config).await;
    let sender = server::replay::Sender::new(&server.url(), None).unwrap();
    sender.push(&scenario, 0).await.unwrap();
    let incidents = sender.incidents("").await.unwrap();
    let id = incidents[0]["id"].as_str().unwrap();

    let context = get_data(
        &client(),
        &format!("{}/api/v1/incidents/{id}/logs", server.url()),
    )
    .await;
    let entries = context["chunks"][0]["entries"].as_array().unwrap();
    let refused = entry(entries, "connection refused", &context);
    assert_eq!(refused["count"], 5);
    assert_eq!(refused["novel"], true);

    let seen = seen.lock().unwrap();
    let (params, tenant) = seen.first().expect("Loki was not asked");
    assert_eq!(tenant.as_deref(), Some("team-a"));
    let query = &params["query"];
    assert!(query.contains(r#"namespace="shop""#), "{query}");
    assert!(query.contains(r#"app="payments-api""#), "{query}");
    let start: i64 = params["start"].parse().unwrap();
    assert!(
        start < (fault_ms - 10 * 60_000) * 1_000_000,
        "no baseline asked for"
    );
}

/// The context entry whose template contains `needle`.
fn entry<'a>(entries: &'a [Value], needle: &str, context: &Value) -> &'a Value {
    entries
        .iter()
        .find(|e| e["template"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} template: {context:#}"))
}

/// `[[loki.query]]` ingest against a loopback stand-in answering Loki's documented
/// `query_range` JSON (streams for a log query, a matrix for a metric query): the first call
/// is refused with 429 and `Retry-After`, 2,500 lines in half a second take three pages and,
/// past the query's 2,000-line budget, a second poll; only the kept labels reach the windows;
/// the metric query lands as its own series; a restart resumes from the saved cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_queries_are_polled_into_the_windows_and_resume_after_a_restart() {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Loki {
        calls: Vec<HashMap<String, String>>,
        refused: u32,
        lines_at_ns: Vec<i64>,
    }
    type Shared = Arc<Mutex<Loki>>;
    let now_ns = || chrono::Utc::now().timestamp_nanos_opt().unwrap();
    // 2,500 lines, 200 µs apart, starting 1.5 s from now.
    let first_ns = now_ns() + 1_500_000_000;
    let shared: Shared = Arc::new(Mutex::new(Loki {
        lines_at_ns: (0..2_500).map(|i| first_ns + i * 200_000).collect(),
        ..Loki::default()
    }));
    let handler = |State(shared): State<Shared>, Query(p): Query<HashMap<String, String>>| async move {
        let mut loki = shared.lock().unwrap();
        loki.calls.push(p.clone());
        if loki.refused == 0 {
            loki.refused += 1;
            return axum::response::IntoResponse::into_response((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "too many outstanding requests",
            ));
        }
        let start: i64 = p["start"].parse().unwrap();
        let end: i64 = p["end"].parse().unwrap();
        let body = if p["query"].starts_with('{') {
            let limit: usize = p["limit"].parse().unwrap();
            let values: Vec<serde_json::Value> = loki
                .lines_at_ns
                .iter()
                .filter(|&&t| t >= start && t < end)
                .take(limit)
                .map(|t| serde_json::json!([t.to_string(), format!("order {} placed", t % 97)]))
                .collect();
            serde_json::json!({"status": "success", "data": {"resultType": "streams", "result": [
                {"stream": {"namespace": "shop", "app": "cart", "pod": "cart-7d4b9c6f5-x2x9q"}, "values": values}
            ], "stats": {}}})
        } else {
            let step = 1_000_000_000i64;
            let values: Vec<serde_json::Value> = (0..)
                .map(|i| start + i * step)
                .take_while(|t| *t <= end)
                .map(|t| serde_json::json!([t as f64 / 1e9, "2.5"]))
                .collect();
            serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"app": "cart"}, "values": values}
            ], "stats": {}}})
        };
        axum::response::IntoResponse::into_response(axum::Json(body))
    };
    let app = axum::Router::new()
        .route("/loki/api/v1/query_range", axum::routing::get(handler))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let loki_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config_of = || {
        let mut config = test_config(dir.path());
        config.loki = Some(
            toml::from_str(&format!(
                "url = \"{loki_url}\"\n\
                 [[query]]\nquery = '{{namespace=\"shop\"}}'\ninterval = \"1s\"\n\
                 keep_labels = [\"namespace\", \"app\"]\nmax_lines = 2000\n\
                 [[query]]\nquery = 'sum by (app) (count_over_time({{namespace=\"shop\"}} |= \"error\" [1m]))'\n\
                 interval = \"1s\"\nname = \"shop_error_lines\"\n"
            ))
            .unwrap(),
        );
        config
    };
    let http = client();
    let server = start(config_of()).await;
    let url = server.url();
    let status = wait_for("every line pulled", Duration::from_secs(30), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let data = get_data(&http, &format!("{url}/api/v1/status")).await;
            (data["loki_queries"][0]["taken"] == 2_500).then_some(data)
        }
    })
    .await;
    let q = &status["loki_queries"][0];
    assert!(q["budget_hits"].as_u64().unwrap() >= 1, "{q}");
    assert!(q["last_error"].is_null(), "{q}");
    {
        let loki = shared.lock().unwrap();
        assert_eq!(loki.refused, 1);
        let log_calls = loki
            .calls
            .iter()
            .filter(|c| c["query"].starts_with('{'))
            .count();
        assert!(
            log_calls >= 4,
            "one refused, three pages and a second poll: {log_calls}"
        );
    }
    // Only the kept labels: the pod label is gone from the template counters.
    let series = get_data(
        &http,
        &format!("{url}/api/v1/series?match[]=srebot_log_lines_total"),
    )
    .await;
    let names: Vec<String> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(!names.is_empty(), "{series}");
    assert!(
        names
            .iter()
            .all(|s| s.contains("cart") && !s.contains("pod")),
        "{series}"
    );
    let metric = wait_for("the metric query's series", Duration::from_secs(20), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let s = get_data(
                &http,
                &format!("{url}/api/v1/series?match[]=shop_error_lines"),
            )
            .await;
            (!s.as_array()?.is_empty()).then_some(s)
        }
    })
    .await;
    assert!(metric.to_string().contains("cart"), "{metric}");

    // A restart resumes from the saved cursor instead of starting again from now.
    server
        .state
        .app
        .pollers_stopped
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    drop(server);
    let saved: std::collections::BTreeMap<String, i64> = serde_json::from_slice(
        &std::fs::read(dir.path().join(app::loki_pull::CURSORS_FILE)).unwrap(),
    )
    .unwrap();
    let cursor = *saved
        .iter()
        .find(|(k, _)| k.ends_with("{namespace=\"shop\"}"))
        .unwrap()
        .1;
    let before = shared.lock().unwrap().calls.len();
    let _again = start(config_of()).await;
    let first_start: i64 = wait_for("a poll after the restart", Duration::from_secs(20), || {
        let shared = Arc::clone(&shared);
        async move {
            let loki = shared.lock().unwrap();
            loki.calls[before..]
                .iter()
                .find(|c| c["query"].starts_with('{'))
                .map(|c| c["start"].parse().unwrap())
        }
    })
    .await;
    assert!(first_start >= cursor, "{first_start} < {cursor}");
    assert!(
        first_start <= cursor + 2_000_000_000,
        "resumed from the cursor, not from now: {first_start} vs {cursor}"
    );
}
