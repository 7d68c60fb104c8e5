//! `soak`: a long run against a live `srebot serve` at a steady remote_write rate from two
//! sources (tenants), with Loki pushes, one source dropping out and then resending its backlog
//! in order. Prints, per report period, the server's RSS, ingest latency p50/p99 and what each
//! source sent against what the server says it stored; at the end the detection loop's time.
//!
//! `--find-max SECS` instead measures the most this server stores per second from the same two
//! senders sending flat out, so the soak can run at half of it (`bench/soak/run.sh` does both).
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
    /// Requests each source keeps in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Measure the maximum instead: both sources send flat out for this many seconds (event
    /// time running ahead as fast as the server takes it), then print what was stored per second.
    #[arg(long)]
    find_max: Option<u64>,
    /// Series per source while measuring the maximum.
    #[arg(long, default_value_t = 100_000)]
    max_series: usize,
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

/// One source's series with their labels encoded once: a second's requests are these bytes
/// with one sample appended to each series, so the generator costs the server little CPU.
struct Series {
    labels: Vec<Vec<u8>>,
    batch: usize,
}

impl Series {
    fn new(count: usize, batch: usize) -> Self {
        let labels = (0..count)
            .map(|i| {
                let mut encoded = Vec::new();
                for label in bench::node_labels(i) {
                    prost::encoding::message::encode(1, &label, &mut encoded);
                }
                encoded
            })
            .collect();
        Series {
            labels,
            batch: batch.max(1),
        }
    }

    /// Snappy-compressed remote_write 1.0 bodies for one second, each with its series count;
    /// the same requests as `bench::node_request` would give.
    fn bodies(&self, second: i64) -> Vec<(bytes::Bytes, u64)> {
        let timestamp = second * 1000;
        let mut encoder = snap::raw::Encoder::new();
        let mut raw = Vec::new();
        let mut series = Vec::new();
        self.labels
            .chunks(self.batch)
            .enumerate()
            .map(|(chunk, labels)| {
                raw.clear();
                for (i, encoded) in labels.iter().enumerate() {
                    let index = chunk * self.batch + i;
                    let sample = ingest::proto::Sample {
                        value: second as f64 * 0.25 + index as f64,
                        timestamp,
                    };
                    series.clear();
                    series.extend_from_slice(encoded);
                    prost::encoding::message::encode(2, &sample, &mut series);
                    prost::encoding::encode_key(
                        1,
                        prost::encoding::WireType::LengthDelimited,
                        &mut raw,
                    );
                    prost::encoding::encode_varint(series.len() as u64, &mut raw);
                    raw.extend_from_slice(&series);
                }
                let body = encoder.compress_vec(&raw).unwrap_or_default();
                (bytes::Bytes::from(body), labels.len() as u64)
            })
            .collect()
    }
}

/// Posts one remote_write body, retrying while the server sheds load (429/5xx).
async fn post(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    body: bytes::Bytes,
    latencies: &parking_lot::Mutex<Latencies>,
) -> anyhow::Result<()> {
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
            return Ok(());
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
}

/// Sends the given seconds of one source in order, `concurrency` requests in flight within
/// a second; returns the samples sent.
async fn send_seconds(
    sender: Arc<Sender>,
    seconds: Vec<i64>,
    latencies: Arc<parking_lot::Mutex<Latencies>>,
) -> anyhow::Result<u64> {
    use futures::StreamExt;
    let mut sent = 0;
    for second in seconds {
        let series = Arc::clone(&sender.series);
        let bodies = tokio::task::spawn_blocking(move || series.bodies(second)).await?;
        let results: Vec<anyhow::Result<u64>> = futures::stream::iter(bodies)
            .map(|(body, count)| {
                let latencies = Arc::clone(&latencies);
                let sender = Arc::clone(&sender);
                async move {
                    post(&sender.client, &sender.url, sender.tenant, body, &latencies).await?;
                    Ok(count)
                }
            })
            .buffer_unordered(sender.concurrency)
            .collect()
            .await;
        for result in results {
            sent += result?;
        }
    }
    Ok(sent)
}

/// Where one source sends, and what.
struct Sender {
    client: reqwest::Client,
    url: String,
    tenant: &'static str,
    series: Arc<Series>,
    concurrency: usize,
}

/// The senders of sources a and b, both sending `series`.
fn senders(
    args: &Args,
    client: &reqwest::Client,
    url: &str,
    series: &Arc<Series>,
) -> [Arc<Sender>; 2] {
    ["a", "b"].map(|tenant| {
        Arc::new(Sender {
            client: client.clone(),
            url: url.to_owned(),
            tenant,
            series: Arc::clone(series),
            concurrency: args.concurrency,
        })
    })
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

/// Both sources send flat out for `seconds`, event time running on from a few minutes ago as
/// fast as the server takes it; prints and returns what the server stored per second.
async fn find_max(
    args: &Args,
    client: &reqwest::Client,
    url: &str,
    seconds: u64,
) -> anyhow::Result<f64> {
    let series = Arc::new(Series::new(args.max_series, args.batch));
    let latencies = Arc::new(parking_lot::Mutex::new(Latencies::default()));
    let before = status(client, url).await?;
    let stored_before = stored(&before, "a") + stored(&before, "b");
    let started = Instant::now();
    let until = Duration::from_secs(seconds);
    // Far enough back that event time never passes the wall clock (the server refuses the
    // future), near enough that everything is inside the windows' retention.
    let first = now_s() - 600;
    let mut running = Vec::new();
    for sender in senders(args, client, url, &series) {
        let latencies = Arc::clone(&latencies);
        running.push(tokio::spawn(async move {
            let mut sent = 0;
            let mut second = first;
            while started.elapsed() < until && second < now_s() {
                sent +=
                    send_seconds(Arc::clone(&sender), vec![second], Arc::clone(&latencies)).await?;
                second += 1;
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = 0;
    for sender in running {
        sent += sender.await??;
    }
    let wall = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = status(client, url).await?;
    let kept = stored(&after, "a") + stored(&after, "b") - stored_before;
    let rate = kept as f64 / wall;
    let mut lat = std::mem::take(&mut *latencies.lock());
    println!(
        "maximum: sent {sent}, stored {kept} samples in {wall:.1} s from two sources of {} series, {} requests in flight each: {rate:.0} samples/s stored (p50 {:.1} ms, p99 {:.1} ms)",
        args.max_series,
        args.concurrency,
        lat.quantile(0.5),
        lat.quantile(0.99)
    );
    Ok(rate)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    outbound::install_crypto_provider();
    let args = Args::parse();
    let url = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    if let Some(seconds) = args.find_max {
        find_max(&args, &client, &url, seconds).await?;
        return Ok(());
    }
    let per_source = (args.rate / 2).max(1);
    let series = Arc::new(Series::new(per_source, args.batch));
    let senders = senders(&args, &client, &url, &series);
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
    let mut skipped = 0u64;
    let mut last_second = now_s() - 1;
    while started.elapsed() < run {
        ticker.tick().await;
        let second = now_s();
        // A second the generator could not keep up with is still sent (late), never skipped;
        // a tick that lands in the second already sent (ticks jitter around the boundary)
        // sends nothing, or the same samples would go twice.
        let present: Vec<i64> = ((last_second + 1)..=second).collect();
        if present.is_empty() {
            continue;
        }
        skipped += present.len().saturating_sub(1) as u64;
        last_second = second;
        let elapsed = started.elapsed().as_secs();
        let away = elapsed >= outage.0 && elapsed < outage.1;
        // Source b queues while away, then resends its backlog in order, oldest first.
        let mut b_seconds = Vec::new();
        if away {
            backlog.extend(&present);
        } else {
            for _ in 0..args.catch_up {
                if let Some(old) = backlog.pop_front() {
                    b_seconds.push(old);
                }
            }
            if backlog.is_empty() {
                b_seconds.extend(&present);
            } else {
                backlog.extend(&present);
            }
        }
        let a = tokio::spawn(send_seconds(
            Arc::clone(&senders[0]),
            present.clone(),
            Arc::clone(&latencies),
        ));
        let b = tokio::spawn(send_seconds(
            Arc::clone(&senders[1]),
            b_seconds,
            Arc::clone(&latencies),
        ));
        if args.lines > 0 {
            for &s in &present {
                push_lines(&client, &url, s, args.lines).await?;
                lines_pushed += args.lines as u64;
            }
        }
        sent[0].fetch_add(a.await??, Ordering::Relaxed);
        sent[1].fetch_add(b.await??, Ordering::Relaxed);
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
    let owed: Vec<i64> = backlog.drain(..).collect();
    let n = send_seconds(Arc::clone(&senders[1]), owed, Arc::clone(&latencies)).await?;
    sent[1].fetch_add(n, Ordering::Relaxed);
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
        "seconds the generator fell behind and sent late: {skipped}; achieved {:.0} samples/s",
        (sent[0].load(Ordering::Relaxed) + sent[1].load(Ordering::Relaxed)) as f64 / wall
    );
    println!(
        "detection loop: {busy:.1} s busy in {wall:.0} s ({:.1}% of one core); final RSS {:.0} MB",
        100.0 * busy / wall,
        rss_mb(args.pid).unwrap_or(0.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_encoded_bodies_are_the_requests_node_request_builds() {
        let series = Series::new(7, 3);
        let bodies = series.bodies(1_700_000_000);
        assert_eq!(
            bodies.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        for (chunk, (body, _)) in bodies.iter().enumerate() {
            let mut out = Vec::new();
            let raw = ingest::snappy::decompress_capped(body, 1 << 20, &mut out).unwrap();
            let decoded: ingest::proto::WriteRequest = prost::Message::decode(raw).unwrap();
            let first = chunk * 3;
            let want = bench::node_request(first..(first + 3).min(7), 1_700_000_000_000);
            assert_eq!(decoded, want);
        }
    }
}
