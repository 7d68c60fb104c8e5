//! Streaming detector throughput on the NAB corpus (every file, every row, one thread), against
//! NAB's own windowed-Gaussian baseline measured in the same run; the floor is 1 M
//! points/s for the default detector. A one-shot timing before criterion prints both and their ratio.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use anomaly::{DEFAULT_DETECTOR, Params, detector_by_name};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use datasets::nab::{NabFile, load_corpus};

fn corpus() -> Vec<NabFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/nab");
    load_corpus(&dir).unwrap()
}

/// Scores every row of every file with a fresh detector per file; returns the score sum.
fn replay(files: &[NabFile], name: &str) -> f64 {
    let mut sum = 0.0;
    for file in files {
        let mut det = detector_by_name(name, &Params::new()).unwrap();
        for (&ts, &v) in file.timestamps_ms.iter().zip(&file.values) {
            sum += det.update(ts, v);
        }
    }
    sum
}

fn points_per_sec(files: &[NabFile], points: usize, name: &str) -> f64 {
    let rounds = 3;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(replay(files, name));
    }
    (points * rounds) as f64 / start.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let files = corpus();
    let points: usize = files.iter().map(|f| f.values.len()).sum();
    let baseline = points_per_sec(&files, points, "windowed_gaussian");
    let default = points_per_sec(&files, points, DEFAULT_DETECTOR);
    eprintln!(
        "detectors: {} files, {points} points; {DEFAULT_DETECTOR} {default:.0} points/s, \
         windowed_gaussian baseline {baseline:.0} points/s, ratio {:.2}",
        files.len(),
        default / baseline
    );
    let mut group = c.benchmark_group("detectors");
    group.throughput(Throughput::Elements(points as u64));
    group.sample_size(10);
    for name in [DEFAULT_DETECTOR, "windowed_gaussian"] {
        group.bench_function(name, |b| {
            b.iter_batched(|| (), |()| replay(&files, name), BatchSize::SmallInput)
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
