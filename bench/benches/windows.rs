//! The window store: decode + validate + append of remote_write 1.0 into a [`windows::Store`]
//! against decode alone, and 5m aggregate queries against a naive computation over plain
//! vectors, both measured in the same run; plus the bytes each active series costs.
//!
//! The workload is node_exporter's: per host, CPU seconds per cpu and mode, network, disk and
//! filesystem series with their real label names, memory gauges and load averages, values
//! that move as node_exporter's do, scraped every 15 s and sent 500 series per request.
//! Before criterion runs, a one-shot timing prints samples/s and the ratios.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::{Decoder, Protocol, proto};
use model::{Sample, SeriesRef, SeriesVisitor};
use std::hint::black_box;
use std::time::{Duration, Instant};
use windows::{Selector, Store, StoreConfig, WindowQuery, WindowSpan};

/// Active series (about 55 hosts).
const SERIES: usize = 10_000;
/// Series per request, as Prometheus sends them.
const BATCH: usize = 500;
/// Scrapes: 15 minutes at 15 s.
const STEPS: usize = 60;
const STEP_MS: i64 = 15_000;
const START_MS: i64 = 1_700_000_000_000;
const MAX_DECODED: usize = 64 << 20;

/// A tiny deterministic generator, so every run sends the same data.
#[derive(Debug, Clone)]
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a series' value moves from scrape to scrape.
#[derive(Debug, Clone, Copy)]
enum Motion {
    /// A seconds counter with two decimals (`node_cpu_seconds_total`).
    Seconds,
    /// An integer counter growing by up to this much per scrape.
    Counter(u64),
    /// A gauge of 4 KiB pages that moves now and then.
    Pages,
    /// A gauge that almost never changes (sizes, limits, flags).
    Steady,
    /// A load average with two decimals.
    Load,
}

#[derive(Debug, Clone)]
struct NodeSeries {
    labels: Vec<proto::Label>,
    motion: Motion,
    value: f64,
}

impl NodeSeries {
    fn step(&mut self, rng: &mut Lcg) -> f64 {
        self.value = match self.motion {
            Motion::Seconds => {
                ((self.value + rng.below(1_500) as f64 / 100.0) * 100.0).round() / 100.0
            }
            Motion::Counter(max) => self.value + rng.below(max + 1) as f64,
            Motion::Pages if rng.below(3) == 0 => {
                (self.value + (rng.below(201) as f64 - 100.0) * 4096.0).max(0.0)
            }
            Motion::Steady if rng.below(200) == 0 => self.value + 4096.0,
            Motion::Load => rng.below(400) as f64 / 100.0,
            Motion::Pages | Motion::Steady => self.value,
        };
        self.value
    }
}

/// node_exporter's series for `count` series' worth of hosts, labels sorted by name.
fn node_exporter(count: usize) -> Vec<NodeSeries> {
    let mut out = Vec::with_capacity(count);
    let mut rng = Lcg(7);
    let mut host = 0;
    while out.len() < count {
        let instance = format!("10.32.{}.{}:9100", host / 200, 10 + host % 200);
        let mut add = |name: &str, extra: &[(&str, &str)], motion: Motion, value: f64| {
            let mut labels: Vec<proto::Label> =
                [("__name__", name), ("instance", &instance), ("job", "node")]
                    .iter()
                    .chain(extra)
                    .map(|(n, v)| proto::Label {
                        name: (*n).to_owned(),
                        value: (*v).to_owned(),
                    })
                    .collect();
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            out.push(NodeSeries {
                labels,
                motion,
                value,
            });
        };
        for cpu in 0..4 {
            let cpu = cpu.to_string();
            for mode in [
                "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
            ] {
                let start = rng.below(10_000_000) as f64 / 100.0;
                add(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu), ("mode", mode)],
                    Motion::Seconds,
                    start,
                );
            }
        }
        for device in ["eth0", "eth1", "lo", "docker0"] {
            for (metric, max) in [
                ("node_network_receive_bytes_total", 5_000_000),
                ("node_network_transmit_bytes_total", 2_000_000),
                ("node_network_receive_packets_total", 5_000),
                ("node_network_transmit_packets_total", 3_000),
                ("node_network_receive_errs_total", 0),
                ("node_network_transmit_errs_total", 0),
                ("node_network_receive_drop_total", 1),
                ("node_network_transmit_drop_total", 0),
            ] {
                let start = rng.below(1 << 40) as f64;
                add(metric, &[("device", device)], Motion::Counter(max), start);
            }
        }
        for device in ["nvme0n1", "nvme1n1", "sda"] {
            for (metric, max) in [
                ("node_disk_reads_completed_total", 200),
                ("node_disk_writes_completed_total", 800),
                ("node_disk_read_bytes_total", 4_000_000),
                ("node_disk_written_bytes_total", 12_000_000),
                ("node_disk_io_now", 0),
                ("node_disk_reads_merged_total", 20),
                ("node_disk_writes_merged_total", 90),
                ("node_disk_discards_completed_total", 2),
            ] {
                let start = rng.below(1 << 36) as f64;
                add(metric, &[("device", device)], Motion::Counter(max), start);
            }
        }
        for (device, fstype, mountpoint) in [
            ("/dev/nvme0n1p1", "ext4", "/"),
            ("/dev/nvme0n1p2", "vfat", "/boot/efi"),
            ("/dev/nvme1n1", "xfs", "/var/lib/containerd"),
            ("tmpfs", "tmpfs", "/run"),
            ("tmpfs", "tmpfs", "/run/lock"),
        ] {
            for (metric, motion) in [
                ("node_filesystem_avail_bytes", Motion::Pages),
                ("node_filesystem_free_bytes", Motion::Pages),
                ("node_filesystem_size_bytes", Motion::Steady),
                ("node_filesystem_files", Motion::Steady),
                ("node_filesystem_files_free", Motion::Steady),
                ("node_filesystem_readonly", Motion::Steady),
            ] {
                let start = (rng.below(1 << 26) * 4096) as f64;
                add(
                    metric,
                    &[
                        ("device", device),
                        ("fstype", fstype),
                        ("mountpoint", mountpoint),
                    ],
                    motion,
                    start,
                );
            }
        }
        for metric in [
            "Active",
            "Active_anon",
            "Active_file",
            "AnonPages",
            "Buffers",
            "Cached",
            "CommitLimit",
            "Committed_AS",
            "Dirty",
            "Inactive",
            "Inactive_anon",
            "Inactive_file",
            "KernelStack",
            "Mapped",
            "MemAvailable",
            "MemFree",
            "MemTotal",
            "PageTables",
            "SReclaimable",
            "SUnreclaim",
            "Shmem",
            "Slab",
            "SwapCached",
            "SwapFree",
            "SwapTotal",
            "Writeback",
        ] {
            let start = (rng.below(1 << 22) * 4096) as f64;
            add(
                &format!("node_memory_{metric}_bytes"),
                &[],
                Motion::Pages,
                start,
            );
        }
        for metric in ["node_load1", "node_load5", "node_load15"] {
            add(metric, &[], Motion::Load, 1.0);
        }
        for (metric, motion) in [
            ("node_context_switches_total", Motion::Counter(400_000)),
            ("node_intr_total", Motion::Counter(300_000)),
            ("node_forks_total", Motion::Counter(300)),
            ("node_procs_running", Motion::Load),
            ("node_procs_blocked", Motion::Steady),
            ("node_boot_time_seconds", Motion::Steady),
            ("node_time_seconds", Motion::Counter(15)),
            ("node_entropy_available_bits", Motion::Steady),
            ("node_filefd_allocated", Motion::Pages),
            ("node_filefd_maximum", Motion::Steady),
            ("node_sockstat_TCP_inuse", Motion::Pages),
            ("node_netstat_Tcp_ActiveOpens", Motion::Counter(200)),
            ("node_netstat_Tcp_PassiveOpens", Motion::Counter(200)),
            ("node_vmstat_pgfault", Motion::Counter(2_000_000)),
            ("node_vmstat_pgmajfault", Motion::Counter(10)),
        ] {
            let start = rng.below(1 << 30) as f64;
            add(metric, &[], motion, start);
        }
        host += 1;
    }
    out.truncate(count);
    out
}

/// Every scrape of `series` over 15 minutes, as remote_write 1.0 bodies in time order.
fn scrapes(series: &mut [NodeSeries]) -> Vec<Vec<u8>> {
    let mut rng = Lcg(11);
    let mut bodies = Vec::new();
    for step in 0..STEPS {
        let timestamp = START_MS + step as i64 * STEP_MS;
        for chunk in series.chunks_mut(BATCH) {
            let timeseries = chunk
                .iter_mut()
                .map(|s| proto::TimeSeries {
                    labels: s.labels.clone(),
                    samples: vec![proto::Sample {
                        value: s.step(&mut rng),
                        timestamp,
                    }],
                    ..Default::default()
                })
                .collect();
            bodies.push(ingest::encode_v1(&proto::WriteRequest {
                timeseries,
                ..Default::default()
            }));
        }
    }
    bodies
}

fn new_store() -> Store {
    Store::new(StoreConfig::default())
}

/// Hands decoded series to nobody: the decode-only baseline.
#[derive(Debug)]
struct Discard;

impl SeriesVisitor for Discard {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error> {
        black_box(series.labels);
        Ok(())
    }
}

/// Decodes and appends every body into `store`, as the server does; returns samples stored.
fn append_all(decoder: &mut Decoder, store: &Store, bodies: &[Vec<u8>]) -> usize {
    let mut appended = 0;
    for body in bodies {
        let mut appender = store.appender();
        decoder
            .decode(Protocol::V1, body, MAX_DECODED, &mut appender)
            .unwrap();
        appended += appender.finish().appended;
    }
    appended
}

fn decode_all(decoder: &mut Decoder, bodies: &[Vec<u8>]) -> usize {
    let mut samples = 0;
    for body in bodies {
        samples += decoder
            .decode(Protocol::V1, body, MAX_DECODED, &mut Discard)
            .unwrap()
            .samples;
    }
    samples
}

/// The aggregates the naive reference computes (the store's, minus rate extrapolation).
#[derive(Debug, Clone, PartialEq)]
struct Naive {
    count: usize,
    min: f64,
    max: f64,
    sum: f64,
    avg: f64,
    stddev: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    slope: Option<f64>,
    increase: Option<f64>,
}

/// A 5m aggregate computed the obvious way over a plain vector of samples.
fn naive(samples: &[Sample], start: i64, end: i64, counter: bool) -> Option<Naive> {
    let window: Vec<Sample> = samples
        .iter()
        .filter(|s| s.timestamp_ms > start && s.timestamp_ms <= end && !s.value.is_nan())
        .copied()
        .collect();
    let values: Vec<f64> = window.iter().map(|s| s.value).collect();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let sum: f64 = values.iter().sum();
    let avg = sum / n as f64;
    let variance = values.iter().map(|v| (v - avg) * (v - avg)).sum::<f64>() / n as f64;
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let r = q * (n - 1) as f64;
        let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo as f64)
    };
    let slope = (n >= 2).then(|| {
        let t0 = window[0].timestamp_ms;
        let xs: Vec<f64> = window
            .iter()
            .map(|s| (s.timestamp_ms - t0) as f64 / 1000.0)
            .collect();
        let mx = xs.iter().sum::<f64>() / n as f64;
        let num: f64 = xs
            .iter()
            .zip(&values)
            .map(|(x, v)| (x - mx) * (v - avg))
            .sum();
        let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        num / den
    });
    let increase = (counter && n >= 2).then(|| {
        let resets: f64 = values
            .windows(2)
            .filter(|w| w[1] < w[0])
            .map(|w| w[0])
            .sum();
        values[n - 1] - values[0] + resets
    });
    Some(Naive {
        count: n,
        min: sorted[0],
        max: sorted[n - 1],
        sum,
        avg,
        stddev: variance.sqrt(),
        p50: rank(0.5),
        p95: rank(0.95),
        p99: rank(0.99),
        slope,
        increase,
    })
}

/// Series as plain vectors: owned labels and every sample, as a naive store would hold them.
type Plain = Vec<(Vec<(String, String)>, Vec<Sample>)>;

fn plain(series: &[NodeSeries], bodies: &[Vec<u8>]) -> Plain {
    let mut out: Plain = series
        .iter()
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            (labels, Vec::new())
        })
        .collect();
    for (i, body) in bodies.iter().enumerate() {
        let mut raw = Vec::new();
        let decoded = ingest::snappy::decompress_capped(body, MAX_DECODED, &mut raw).unwrap();
        let request: proto::WriteRequest = prost::Message::decode(decoded).unwrap();
        let first = (i % series.len().div_ceil(BATCH)) * BATCH;
        for (offset, ts) in request.timeseries.iter().enumerate() {
            out[first + offset]
                .1
                .extend(ts.samples.iter().map(|s| Sample {
                    timestamp_ms: s.timestamp,
                    value: s.value,
                }));
        }
    }
    out
}

/// The naive query: scan every series, match `job="node"`, aggregate its window.
fn naive_query(plain: &Plain, start: i64, end: i64) -> Vec<(Vec<(String, String)>, Naive)> {
    plain
        .iter()
        .filter(|(labels, _)| labels.iter().any(|(n, v)| n == "job" && v == "node"))
        .filter_map(|(labels, samples)| {
            let counter = labels
                .iter()
                .any(|(n, v)| n == "__name__" && v.ends_with("_total"));
            naive(samples, start, end, counter).map(|a| (labels.clone(), a))
        })
        .collect()
}

fn store_query(at: i64) -> WindowQuery {
    WindowQuery {
        selectors: vec![Selector::parse(r#"{job="node"}"#).unwrap()],
        window: WindowSpan::FIVE_MINUTES,
        at_ms: Some(at),
        by: None,
    }
}

fn seconds(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let mut series = node_exporter(SERIES);
    let bodies = scrapes(&mut series);
    let samples = SERIES * STEPS;
    let mut decoder = Decoder::default();

    // One-shot: the whole 15 minutes, decode-only then decode + append into a fresh store.
    decode_all(&mut decoder, &bodies[..bodies.len() / 4]);
    let decode_secs = seconds(|| assert_eq!(decode_all(&mut decoder, &bodies), samples));
    let store = new_store();
    let append_secs = seconds(|| assert_eq!(append_all(&mut decoder, &store, &bodies), samples));
    let stats = store.stats();
    assert_eq!((stats.active_series, stats.samples), (SERIES, samples));
    println!(
        "windows append: {SERIES} node_exporter series x {STEPS} scrapes ({samples} samples), one core:"
    );
    println!(
        "  decode_only            {:>7.2} M samples/s",
        samples as f64 / decode_secs / 1e6
    );
    println!(
        "  decode_validate_append {:>7.2} M samples/s",
        samples as f64 / append_secs / 1e6
    );
    println!(
        "  decode_validate_append = {:.2} of decode_only",
        decode_secs / append_secs
    );
    println!(
        "  bytes per active series, 15 min at 15 s, labels included: {:.1} ({} bytes, {} series)",
        stats.bytes_per_series(),
        stats.bytes,
        stats.active_series
    );

    // One-shot: the 5m query over every series, store against the naive reference.
    let end = START_MS + (STEPS as i64 - 1) * STEP_MS;
    let start = end - WindowSpan::FIVE_MINUTES.ms;
    let reference = plain(&series, &bodies);
    let query = store_query(end);
    let answer = store.window(&query);
    let expected = naive_query(&reference, start, end);
    assert_eq!(answer.series.len(), expected.len());
    let mut by_labels: std::collections::HashMap<String, &Naive> = std::collections::HashMap::new();
    for (labels, aggregates) in &expected {
        let set = model::LabelSet::from_pairs(labels.iter().cloned()).unwrap();
        by_labels.insert(set.to_string(), aggregates);
    }
    for row in &answer.series {
        let want = by_labels[&row.labels.to_string()];
        let got = &row.aggregates;
        assert_eq!(got.count, want.count, "{}", row.labels);
        assert_eq!(
            (got.min, got.max, got.sum),
            (Some(want.min), Some(want.max), Some(want.sum))
        );
        assert_eq!(
            (got.p50, got.p95, got.p99),
            (Some(want.p50), Some(want.p95), Some(want.p99))
        );
    }
    let rounds = 5;
    let store_secs = seconds(|| {
        for _ in 0..rounds {
            black_box(store.window(&query));
        }
    });
    let naive_secs = seconds(|| {
        for _ in 0..rounds {
            black_box(naive_query(&reference, start, end));
        }
    });
    let per_second = |secs: f64| (SERIES * rounds) as f64 / secs;
    println!("windows 5m aggregate query over {SERIES} series (20 samples each in the window):");
    println!("  store      {:>9.0} series/s", per_second(store_secs));
    println!("  naive_vec  {:>9.0} series/s", per_second(naive_secs));
    println!("  store = {:.2}x naive_vec", naive_secs / store_secs);

    let mut group = c.benchmark_group("windows/append");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_only", |b| {
        let mut next = 0;
        b.iter(|| {
            let body = &bodies[next % bodies.len()];
            next += 1;
            decoder
                .decode(Protocol::V1, body, MAX_DECODED, &mut Discard)
                .unwrap()
        })
    });
    group.bench_function("decode_validate_append", |b| {
        b.iter_custom(|iters| {
            let mut store = new_store();
            let mut next = 0;
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                if next == bodies.len() {
                    // 15 minutes stored: start again on an empty store (not timed).
                    store = new_store();
                    next = 0;
                }
                let started = Instant::now();
                let mut appender = store.appender();
                decoder
                    .decode(Protocol::V1, &bodies[next], MAX_DECODED, &mut appender)
                    .unwrap();
                black_box(appender.finish());
                spent += started.elapsed();
                next += 1;
            }
            spent
        })
    });
    group.finish();

    let mut group = c.benchmark_group("windows/query_5m");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.sample_size(10);
    group.bench_function("store", |b| b.iter(|| store.window(&query)));
    group.bench_function("naive_vec", |b| {
        b.iter(|| naive_query(&reference, start, end))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
