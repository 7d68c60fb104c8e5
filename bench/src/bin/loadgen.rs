//! `loadgen`: pushes remote_write 1.0 over loopback at N series x M samples with K connections
//! and prints samples/s. Bodies are encoded before the clock starts; 429/503 are retried.
//!
//! A 2xx does not prove a sample was stored, so with `--stored` loadgen reads the receiver's
//! own counter of stored samples before and after the run and prints sent and stored side by
//! side (`stored_ok` is false when they differ).

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
    /// `URL#metric`: the receiver's own counter of stored samples in its text exposition,
    /// e.g. `http://127.0.0.1:9710/metrics#srebot_samples_received_total` (every line of the
    /// metric is summed), read before and after the run.
    #[arg(long)]
    stored: Option<String>,
    /// Sent as `X-Scope-OrgID` (the receiver's tenant or source).
    #[arg(long)]
    tenant: Option<String>,
}

/// The sum of every sample of `metric` in the exposition at `url`.
async fn read_counter(client: &reqwest::Client, url: &str, metric: &str) -> anyhow::Result<f64> {
    let text = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// The stored-samples counter named by `--stored`, once it has not moved for 6 s (receivers
/// that buffer writes count them later: VictoriaMetrics flushes its buffer every few
/// seconds), or after 30 s.
async fn settled_counter(spec: &str) -> anyhow::Result<f64> {
    let (url, metric) = spec.split_once('#').context("--stored takes URL#metric")?;
    let client = reqwest::Client::new();
    let mut last = read_counter(&client, url, metric).await?;
    let mut still = 0;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = read_counter(&client, url, metric).await?;
        if now == last {
            still += 1;
            if still >= 30 {
                return Ok(now);
            }
        } else {
            still = 0;
        }
        last = now;
    }
    Ok(last)
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

    outbound::install_crypto_provider();
    let stored_before = match &args.stored {
        Some(spec) => Some(settled_counter(spec).await?),
        None => None,
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in plans {
        let url = args.url.clone();
        let token = args.token.clone();
        let tenant = args.tenant.clone();
        tasks.push(tokio::spawn(async move {
            send_all(&url, token, tenant, bodies).await
        }));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.context("sender task")??;
    }
    let elapsed = started.elapsed();
    let rate = total_samples as f64 / elapsed.as_secs_f64();
    let stored = match (&args.stored, stored_before) {
        (Some(spec), Some(before)) => Some((settled_counter(spec).await? - before).round() as i64),
        _ => None,
    };
    let stored_text = match stored {
        Some(n) => format!(", {n} stored by the receiver's own count"),
        None => String::new(),
    };
    println!(
        "loadgen {}: {} samples sent ({} series x {}) in {:.3}s over {} connections = {:.0} samples/s ({} MB sent, {} retries){stored_text}",
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
        serde_json::json!({
            "label": args.label,
            "samples": total_samples,
            "stored": stored,
            "stored_ok": stored.map(|n| n == total_samples as i64),
            "seconds": elapsed.as_secs_f64(),
            "samples_per_sec": rate,
            "retries": retries,
        })
    );
    Ok(())
}

/// Sends bodies in order on one connection; returns how many retries were needed.
async fn send_all(
    url: &str,
    token: Option<String>,
    tenant: Option<String>,
    bodies: Vec<Vec<u8>>,
) -> anyhow::Result<usize> {
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
            if let Some(tenant) = &tenant {
                request = request.header("x-scope-orgid", tenant);
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
