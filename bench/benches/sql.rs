//! SQL over the store: a selective query (one metric, one job) over stores holding 0, 10 000
//! and 100 000 unrelated series, measured in the same run. With the metric and label filters
//! pushed into the store the query reads only its own series, so its cost should stay flat as
//! unrelated series are added; the same query with a filter the store cannot use shows what
//! reading everything costs. Then a full scan over 5 M stored samples under the default
//! `[sql]` limits, which answers within them or fails naming the limit.
//!
//! Before criterion runs, a one-shot timing prints medians and the ratios to the baseline
//! (the store with no unrelated series).

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use model::{MetricType, Sample, SeriesRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use windows::sql::{SqlEngine, SqlLimits};
use windows::{Store, StoreConfig};

const START_MS: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 15_000;
/// Series of the metric the query selects, across four jobs.
const SELECTED: usize = 40;
/// Samples per selected series (one hour at 15 s).
const SELECTED_SAMPLES: usize = 240;
/// Samples per unrelated series.
const UNRELATED_SAMPLES: usize = 20;
const SIZES: [usize; 3] = [0, 10_000, 100_000];

/// Pushed down: `metric` and `labels['job']` become store matchers.
const SELECTIVE: &str = "SELECT count(*) AS n, avg(value) AS mean FROM samples \
     WHERE metric = 'http_requests_total' AND labels['job'] = 'api'";
/// The same rows, with filters the store cannot use: every series is read.
const UNPUSHED: &str = "SELECT count(*) AS n, avg(value) AS mean FROM samples \
     WHERE lower(metric) = 'http_requests_total' AND lower(labels['job']) = 'api'";

fn append(store: &Store, labels: &[(&str, &str)], samples: &[Sample]) {
    store.append(SeriesRef {
        labels,
        samples,
        metric_type: MetricType::Counter,
        unit: "",
        help: "",
        created_timestamp_ms: 0,
    });
}

/// The selected series plus `unrelated` series of other metrics, each over the same hour.
fn build(unrelated: usize, per_unrelated: usize) -> Arc<Store> {
    let store = Store::new(StoreConfig {
        retention_ms: 2 * 3_600_000,
        max_series: 1_000_000,
        ..StoreConfig::default()
    });
    let jobs = ["api", "web", "db", "queue"];
    for i in 0..SELECTED {
        let instance = format!("pod-{i}");
        let labels = [
            ("__name__", "http_requests_total"),
            ("instance", instance.as_str()),
            ("job", jobs[i % jobs.len()]),
        ];
        let samples: Vec<Sample> = (0..SELECTED_SAMPLES)
            .map(|k| Sample {
                timestamp_ms: START_MS + k as i64 * STEP_MS,
                value: (k * 10 + i) as f64,
            })
            .collect();
        append(&store, &labels, &samples);
    }
    let step = (SELECTED_SAMPLES / per_unrelated.max(1)).max(1) as i64 * STEP_MS;
    for i in 0..unrelated {
        let metric = format!("other_metric_{}", i % 500);
        let instance = format!("host-{}", i / 500);
        let labels = [
            ("__name__", metric.as_str()),
            ("instance", instance.as_str()),
            ("job", jobs[i % jobs.len()]),
        ];
        let samples: Vec<Sample> = (0..per_unrelated)
            .map(|k| Sample {
                timestamp_ms: START_MS + k as i64 * step,
                value: (k + i) as f64,
            })
            .collect();
        append(&store, &labels, &samples);
    }
    Arc::new(store)
}

fn run(rt: &tokio::runtime::Runtime, store: &Arc<Store>, text: &str) -> Result<usize, String> {
    rt.block_on(SqlEngine::shared().query(Arc::clone(store), text, SqlLimits::default()))
        .map(|a| a.batches.iter().map(|b| b.num_rows()).sum())
        .map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        })
}

fn median(rt: &tokio::runtime::Runtime, store: &Arc<Store>, text: &str, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            run(rt, store, text).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn one_shot(rt: &tokio::runtime::Runtime, stores: &[(usize, Arc<Store>)]) {
    println!("selective SQL query (40 series of one metric, 10 of one job), median of 15:");
    let base = median(rt, &stores[0].1, SELECTIVE, 15);
    let base_unpushed = median(rt, &stores[0].1, UNPUSHED, 15);
    for (unrelated, store) in stores {
        let pushed = median(rt, store, SELECTIVE, 15);
        let unpushed = median(rt, store, UNPUSHED, 15);
        println!(
            "  {unrelated:>7} unrelated series: pushed down {:>8.3} ms ({:.2}x baseline), \
             not pushed {:>8.3} ms ({:.2}x baseline)",
            pushed.as_secs_f64() * 1e3,
            pushed.as_secs_f64() / base.as_secs_f64(),
            unpushed.as_secs_f64() * 1e3,
            unpushed.as_secs_f64() / base_unpushed.as_secs_f64(),
        );
    }

    let big = build(25_000, 200);
    let stats = big.stats();
    println!(
        "full scans over {} stored samples in {} series, default [sql] limits:",
        stats.samples, stats.active_series
    );
    for text in [
        "SELECT count(*) FROM samples",
        "SELECT metric, avg(value) FROM samples GROUP BY metric ORDER BY metric LIMIT 5",
        "SELECT series, value FROM samples ORDER BY value DESC LIMIT 10",
        "SELECT * FROM samples",
    ] {
        let started = Instant::now();
        let outcome = run(rt, &big, text);
        let took = started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok(rows) => println!("  {took:>9.1} ms  {rows} rows  {text}"),
            Err(e) => println!("  {took:>9.1} ms  refused: {e}  ({text})"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let stores: Vec<(usize, Arc<Store>)> = SIZES
        .iter()
        .map(|&n| (n, build(n, UNRELATED_SAMPLES)))
        .collect();
    one_shot(&rt, &stores);
    let mut group = c.benchmark_group("sql_selective");
    group.sample_size(30);
    for (unrelated, store) in &stores {
        group.bench_function(format!("pushed_down/{unrelated}_unrelated"), |b| {
            b.iter(|| run(&rt, store, SELECTIVE).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
