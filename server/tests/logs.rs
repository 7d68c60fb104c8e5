//! Loki push into srebot over a socket: lines are mined into templates and counted as
//! `srebot_log_lines_total` series in the windows; a bad body is refused naming the problem.

use crate::common::*;

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
