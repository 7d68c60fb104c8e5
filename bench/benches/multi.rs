//! The live anomaly tick with the per-workload multi-metric models against the same tick with
//! them off (the per-series golden-signal detectors alone), measured in the same run.
//!
//! The workload: 250 Deployments of two pods, each pod reporting CPU, memory, requests and
//! latency every 15 s for two hours, ticked every 15 s as `srebot serve` does.

#![allow(clippy::unwrap_used)]

use anomaly::{AnomalyConfig, LiveAnomaly, MultiConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use model::{MetricType, Sample, SeriesRef};
use std::time::Instant;
use windows::{Store, StoreConfig};

const WORKLOADS: usize = 250;
const STEPS: usize = 2 * 60 * 4;
const STEP_MS: i64 = 15_000;
const START_MS: i64 = 1_700_000_000_000;

/// A store holding the whole recording.
fn recorded() -> (Store, usize) {
    let store = Store::new(StoreConfig {
        retention_ms: 3 * 3_600_000,
        lateness_ms: 0,
        max_series: 100_000,
        ..StoreConfig::default()
    });
    let mut samples = 0;
    for w in 0..WORKLOADS {
        let name = format!("svc{w:03}");
        for p in 0..2 {
            let pod = format!("{name}-7d9c5b0f6d-x2x{p}k");
            let metrics = [
                ("container_cpu_usage_seconds_total", MetricType::Counter),
                ("container_memory_working_set_bytes", MetricType::Gauge),
                ("http_requests_total", MetricType::Counter),
                ("http_request_duration_seconds", MetricType::Gauge),
            ];
            for (m, (metric, kind)) in metrics.iter().enumerate() {
                let points: Vec<Sample> = (0..STEPS)
                    .map(|i| {
                        let wave = ((i + w * 7 + m) as f64 / 40.0).sin();
                        let value = match kind {
                            MetricType::Counter => i as f64 * (10.0 + wave),
                            _ => 100.0 + 10.0 * wave,
                        };
                        Sample {
                            timestamp_ms: START_MS + i as i64 * STEP_MS,
                            value,
                        }
                    })
                    .collect();
                let mut labels = vec![
                    ("__name__", *metric),
                    ("container", "app"),
                    ("namespace", "shop"),
                    ("pod", pod.as_str()),
                ];
                labels.sort();
                store.append(SeriesRef {
                    labels: &labels,
                    samples: &points,
                    metric_type: *kind,
                    unit: "",
                    help: "",
                    created_timestamp_ms: 0,
                });
                samples += points.len();
            }
        }
    }
    (store, samples)
}

/// Ticks through the whole recording; returns the candidates raised.
fn replay(store: &Store, multi: bool) -> usize {
    let config = AnomalyConfig {
        multi: MultiConfig {
            enabled: multi,
            ..MultiConfig::default()
        },
        ..AnomalyConfig::golden_signals()
    };
    let mut live = LiveAnomaly::new(&config).unwrap();
    let mut raised = 0;
    for i in 0..STEPS {
        raised += live.tick(store, START_MS + i as i64 * STEP_MS).len();
    }
    raised
}

fn bench(c: &mut Criterion) {
    let (store, samples) = recorded();
    let time = |multi| {
        let started = Instant::now();
        replay(&store, multi);
        samples as f64 / started.elapsed().as_secs_f64()
    };
    let alone = time(false);
    let with = time(true);
    eprintln!(
        "multi: {WORKLOADS} workloads, {samples} samples; per-series detectors alone \
         {alone:.0} samples/s, with the multi-metric models {with:.0} samples/s, ratio {:.2}",
        with / alone
    );
    let mut group = c.benchmark_group("live_tick");
    group.throughput(Throughput::Elements(samples as u64));
    group.sample_size(10);
    for (name, multi) in [("with_multi", true), ("per_series_only", false)] {
        group.bench_function(name, |b| b.iter(|| replay(&store, multi)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
