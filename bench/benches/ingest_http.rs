//! End-to-end HTTP ingest over loopback: a remote_write 1.0 request of 500 node_exporter-like
//! series through axum, decode, validate and append, against a bare axum handler that only
//! reads the body (the HTTP floor), measured in the same run.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::post;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use server::config::Config;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const SERIES: usize = 500;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, floor_url) = runtime.block_on(async {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.data_dir = dir.path().to_owned();
        config.scrape.self_scrape = false;
        config.windows.lateness_ms = 3_600_000;
        let server = server::serve::start(config).await.unwrap();
        let floor = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let floor_addr = floor.local_addr().unwrap();
        let app = Router::new().route(
            "/api/v1/write",
            post(|body: bytes::Bytes| async move {
                std::hint::black_box(body.len());
                axum::http::StatusCode::NO_CONTENT
            }),
        );
        tokio::spawn(async move { axum::serve(floor, app).await });
        let url = format!("{}/api/v1/write", server.url());
        std::mem::forget(server);
        (url, format!("http://{floor_addr}/api/v1/write"))
    });
    outbound::install_crypto_provider();
    let client = reqwest::Client::new();
    let clock = AtomicI64::new(1_700_000_000_000);
    let next_body = || {
        let ts = clock.fetch_add(15_000, Ordering::Relaxed);
        ingest::encode_v1(&bench::node_request(0..SERIES, ts))
    };

    let mut group = c.benchmark_group("ingest_http");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.measurement_time(Duration::from_secs(5));
    for (name, target) in [("srebot", &url), ("http_floor", &floor_url)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                next_body,
                |body| {
                    let client = client.clone();
                    let target = target.clone();
                    async move {
                        let response = client
                            .post(target)
                            .header("content-type", "application/x-protobuf")
                            .header("content-encoding", "snappy")
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 204);
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
