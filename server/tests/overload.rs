//! Saturation: with one decode slot and many concurrent senders some writes must answer 503
//! with Retry-After, and senders that retry as told end with every sample stored.

use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_ingest_says_retry_and_retrying_senders_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.ingest.max_inflight = 1;
    config.ingest.retry_after_secs = 1;
    config.windows.lateness_ms = 3_600_000;
    let server = start(config).await;
    let url = server.url();

    let senders = 8;
    let batches = 4;
    let series_per_batch = 400;
    let samples_per_series = 5;
    let refused = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for sender in 0..senders {
        let url = url.clone();
        let refused = Arc::clone(&refused);
        tasks.push(tokio::spawn(async move {
            let client = client();
            for batch in 0..batches {
                let start = T0 + (batch * samples_per_series) as i64 * 15_000;
                let body = ingest::encode_v1(&v1_request(
                    &format!("load_{sender}"),
                    series_per_batch,
                    samples_per_series,
                    start,
                ));
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts < 200, "sender {sender} never got through");
                    let response = post_v1(&client, &url, body.clone()).await;
                    match response.status().as_u16() {
                        204 => break,
                        503 | 429 => {
                            let retry_after = response
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok())
                                .expect("503 carries Retry-After in seconds");
                            refused.fetch_add(1, Ordering::Relaxed);
                            // Honour the hint, capped so the test stays quick.
                            tokio::time::sleep(Duration::from_millis(
                                (retry_after * 1000).min(100),
                            ))
                            .await;
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "8 senders on one decode slot must see 503s"
    );
    let sent = senders * batches * series_per_batch * samples_per_series;
    assert_eq!(
        server.state.app.sources.stats().samples,
        sent,
        "count sent == count stored"
    );
}
