//! `loadgen`: pushes remote_write 1.0 over loopback at N series x M samples with K connections
//! and prints samples/s. Bodies are encoded before the clock starts; 429/503 are retried.

use anyhow::{Context, bail};
use clap::Parser;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(about = "remote_write load generator")]
struct Args {
    /// Write endpoint, e.g. http://127.0.0.1:9710/api/v1/write.
    #[arg(long)]
    url: String,
    /// Active series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Samples per series (15 s apart, ending now).
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// Concurrent connections; each owns a slice of the series and sends in time order.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Series per request (Prometheus sends about 500).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Bearer token, if the receiver needs one.
    #[arg(long)]
    token: Option<String>,
    /// A name for this run in the output line.
    #[arg(long, default_value = "target")]
    label: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.series < args.connections {
        bail!("need at least one connection and one series per connection");
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis() as i64;
    let start_ms = now_ms - args.samples as i64 * 15_000;
    let per = args.series / args.connections;
    let plans: Vec<Vec<Vec<u8>>> = (0..args.connections)
        .map(|c| {
            let end = if c + 1 == args.connections {
                args.series
            } else {
                (c + 1) * per
            };
            bench::sender_bodies(c * per..end, args.samples, start_ms, args.batch)
        })
        .collect();
    let total_samples = args.series * args.samples;
    let bytes: usize = plans.iter().flatten().map(Vec::len).sum();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in plans {
        let url = args.url.clone();
        let token = args.token.clone();
        tasks.push(tokio::spawn(
            async move { send_all(&url, token, bodies).await },
        ));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.context("sender task")??;
    }
    let elapsed = started.elapsed();
    let rate = total_samples as f64 / elapsed.as_secs_f64();
    println!(
        "loadgen {}: {} samples ({} series x {}) in {:.3}s over {} connections = {:.0} samples/s ({} MB sent, {} retries)",
        args.label,
        total_samples,
        args.series,
        args.samples,
        elapsed.as_secs_f64(),
        args.connections,
        rate,
        bytes / 1_000_000,
        retries
    );
    println!(
        "{}",
        serde_json::json!({"label": args.label, "samples": total_samples, "seconds": elapsed.as_secs_f64(), "samples_per_sec": rate, "retries": retries})
    );
    Ok(())
}

/// Sends bodies in order on one connection; returns how many retries were needed.
async fn send_all(url: &str, token: Option<String>, bodies: Vec<Vec<u8>>) -> anyhow::Result<usize> {
    outbound::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut retries = 0;
    for body in bodies {
        loop {
            let mut request = client
                .post(url)
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .body(body.clone());
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = response.status();
            if status.is_success() {
                break;
            }
            if status.as_u16() == 429 || status.is_server_error() {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            bail!("{url} answered {status}: {text}");
        }
    }
    Ok(retries)
}
