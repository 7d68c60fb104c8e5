//! `soak`: a long run against a live `srebot serve` at a steady remote_write rate from two
//! sources (tenants), with Loki pushes, one source dropping out and then resending its backlog
//! in order. Prints, per report period, the server's RSS, ingest latency p50/p99 and what each
//! source sent against what the server says it stored; at the end the detection loop's time.
//!
//! Usage: `soak --url http://127.0.0.1:9710 --pid PID --rate 200000 --minutes 30`.

use anyhow::{Context, bail};
use clap::Parser;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(about = "srebot soak and fault run")]
struct Args {
    /// The server's base URL.
    #[arg(long)]
    url: String,
    /// The server's process id, for its RSS (from /proc).
    #[arg(long)]
    pid: Option<u32>,
    /// Samples per second, both sources together (one sample per series per second).
    #[arg(long, default_value_t = 100_000)]
    rate: usize,
    /// Length of the run.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Minute at which source `b` drops out.
    #[arg(long, default_value_t = 10)]
    outage_at: u64,
    /// Minutes source `b` stays away before resending its backlog in order.
    #[arg(long, default_value_t = 10)]
    outage_minutes: u64,
    /// Seconds of backlog `b` resends per second once back (besides the present).
    #[arg(long, default_value_t = 2)]
    catch_up: usize,
    /// Log lines pushed per second (source `a`).
    #[arg(long, default_value_t = 200)]
    lines: usize,
    /// Seconds between report lines.
    #[arg(long, default_value_t = 60)]
    report_secs: u64,
    /// Series per request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn rss_mb(pid: Option<u32>) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Latencies of one report period, in ms.
#[derive(Debug, Default)]
struct Latencies(Vec<f64>);

impl Latencies {
    fn quantile(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_by(f64::total_cmp);
        let i = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[i]
    }
}

/// Sends one second of one source: `series` samples at `second`, `batch` series per request.
async fn send_second(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    series: usize,
    second: i64,
    batch: usize,
    latencies: &parking_lot::Mutex<Latencies>,
) -> anyhow::Result<u64> {
    let mut first = 0;
    while first < series {
        let last = (first + batch).min(series);
        let body = ingest::encode_v1(&bench::node_request(first..last, second * 1000));
        loop {
            let started = Instant::now();
            let response = client
                .post(format!("{url}/api/v1/write"))
                .header("content-type", "application/x-protobuf")
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "0.1.0")
                .header("x-scope-orgid", tenant)
                .body(body.clone())
                .send()
                .await
                .context("remote_write")?;
            let status = response.status();
            latencies
                .lock()
                .0
                .push(started.elapsed().as_secs_f64() * 1e3);
            if status.is_success() {
                break;
            }
            if status.as_u16() == 429 || status.is_server_error() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            bail!(
                "{tenant}: remote_write answered {status}: {}",
                response.text().await?
            );
        }
        first = last;
    }
    Ok(series as u64)
}

async fn push_lines(
    client: &reqwest::Client,
    url: &str,
    second: i64,
    lines: usize,
) -> anyhow::Result<()> {
    let values: Vec<serde_json::Value> = (0..lines)
        .map(|i| {
            let ns = (second * 1000 + (i * 1000 / lines.max(1)) as i64) * 1_000_000;
            let text = match i % 4 {
                0 => format!("GET /api/orders/{i} 200 {}ms", 3 + i % 40),
                1 => format!("payment {i} authorised for customer {}", i * 7),
                2 => format!("cache miss for key session:{i}"),
                _ => format!("upstream inventory answered 503 after {} ms", 100 + i),
            };
            serde_json::json!([ns.to_string(), text])
        })
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"app": "shop", "namespace": "soak"}, "values": values}]});
    loop {
        let response = client
            .post(format!("{url}/loki/api/v1/push"))
            .header("x-scope-orgid", "a")
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() == 503 || status.as_u16() == 429 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        bail!("Loki push answered {status}: {}", response.text().await?);
    }
}

async fn status(client: &reqwest::Client, url: &str) -> anyhow::Result<serde_json::Value> {
    Ok(client
        .get(format!("{url}/api/v1/status"))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["data"]
        .clone())
}

fn stored(status: &serde_json::Value, source: &str) -> u64 {
    status["sources"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["source"] == source))
        .and_then(|s| s["stored_total"].as_u64())
        .unwrap_or(0)
}

async fn counter(client: &reqwest::Client, url: &str, metric: &str) -> f64 {
    let Ok(response) = client.get(format!("{url}/metrics")).send().await else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix(metric))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    outbound::install_crypto_provider();
    let args = Args::parse();
    let url = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let per_source = (args.rate / 2).max(1);
    let sent = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let latencies = Arc::new(parking_lot::Mutex::new(Latencies::default()));
    let busy_before = counter(&client, &url, "srebot_detection_seconds_total").await;
    let run = Duration::from_secs(args.minutes * 60);
    let started = Instant::now();
    let outage = (
        args.outage_at * 60,
        (args.outage_at + args.outage_minutes) * 60,
    );
    let mut backlog: VecDeque<i64> = VecDeque::new();
    let mut next_report = args.report_secs;
    let mut lines_pushed = 0u64;
    println!(
        "soak: {} samples/s ({} series per source, 1 s apart), {} lines/s, {} min, source b away from minute {} for {} min",
        per_source * 2,
        per_source,
        args.lines,
        args.minutes,
        args.outage_at,
        args.outage_minutes
    );
    println!(
        "minute  rss_mb   p50_ms   p99_ms   sent_a     stored_a   sent_b     stored_b   backlog_s"
    );
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started.elapsed() < run {
        ticker.tick().await;
        let second = now_s();
        let elapsed = started.elapsed().as_secs();
        let away = elapsed >= outage.0 && elapsed < outage.1;
        // Source b queues while away, then resends its backlog in order, oldest first.
        let mut b_seconds = Vec::new();
        if away {
            backlog.push_back(second);
        } else {
            for _ in 0..args.catch_up {
                if let Some(old) = backlog.pop_front() {
                    b_seconds.push(old);
                }
            }
            if backlog.is_empty() {
                b_seconds.push(second);
            } else {
                backlog.push_back(second);
            }
        }
        let a = {
            let (client, url, lat, sent) = (
                client.clone(),
                url.clone(),
                Arc::clone(&latencies),
                Arc::clone(&sent[0]),
            );
            let batch = args.batch;
            tokio::spawn(async move {
                let n = send_second(&client, &url, "a", per_source, second, batch, &lat).await?;
                sent.fetch_add(n, Ordering::Relaxed);
                anyhow::Ok(())
            })
        };
        let b = {
            let (client, url, lat, sent) = (
                client.clone(),
                url.clone(),
                Arc::clone(&latencies),
                Arc::clone(&sent[1]),
            );
            let batch = args.batch;
            tokio::spawn(async move {
                for s in b_seconds {
                    let n = send_second(&client, &url, "b", per_source, s, batch, &lat).await?;
                    sent.fetch_add(n, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        };
        if args.lines > 0 {
            push_lines(&client, &url, second, args.lines).await?;
            lines_pushed += args.lines as u64;
        }
        a.await??;
        b.await??;
        if elapsed >= next_report {
            next_report += args.report_secs;
            let status = status(&client, &url).await?;
            let mut lat = std::mem::take(&mut *latencies.lock());
            println!(
                "{:>6}  {:>6.0}  {:>7.1}  {:>7.1}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                elapsed / 60,
                rss_mb(args.pid).unwrap_or(0.0),
                lat.quantile(0.5),
                lat.quantile(0.99),
                sent[0].load(Ordering::Relaxed),
                stored(&status, "a"),
                sent[1].load(Ordering::Relaxed),
                stored(&status, "b"),
                backlog.len()
            );
        }
    }
    // Whatever b still owes, then a last look once the server has settled.
    while let Some(old) = backlog.pop_front() {
        let n = send_second(&client, &url, "b", per_source, old, args.batch, &latencies).await?;
        sent[1].fetch_add(n, Ordering::Relaxed);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = status(&client, &url).await?;
    let busy = counter(&client, &url, "srebot_detection_seconds_total").await - busy_before;
    let wall = started.elapsed().as_secs_f64();
    for (i, source) in ["a", "b"].iter().enumerate() {
        let sent = sent[i].load(Ordering::Relaxed);
        // Source a's log lines are counted in its windows too: every line has its own
        // millisecond, so each is one sample of its template's counter.
        let lines = if i == 0 { lines_pushed } else { 0 };
        let kept = stored(&status, source);
        println!(
            "source {source}: sent {sent} samples + {lines} log lines counted, stored {kept}{}",
            if sent + lines == kept {
                " (equal)"
            } else {
                " (DIFFERENT)"
            }
        );
    }
    println!(
        "detection loop: {busy:.1} s busy in {wall:.0} s ({:.1}% of one core); final RSS {:.0} MB",
        100.0 * busy / wall,
        rss_mb(args.pid).unwrap_or(0.0)
    );
    Ok(())
}
