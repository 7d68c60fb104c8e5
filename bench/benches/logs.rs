//! Log template mining throughput on real Loghub lines (all 16 systems' contents, 32k lines),
//! against a trivial baseline that only splits each line into whitespace tokens, in one run.
//! A one-shot timing before criterion prints lines/s of both and their ratio.
//!
//! The reference is the Python Drain implementation (drain3) on the same contents: this bench
//! runs `scripts/drain-baseline.py` in the same run and prints the miner's speed against it
//! (targets: at least 2 M lines/s and 10x drain3); without python3 and drain3 (`pip3 install
//! drain3`) it says SKIPPED for that comparison.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rca::{LogFormat, TemplateMiner};

/// Header-stripped contents of every Loghub system, in file order.
fn contents() -> Vec<String> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub");
    let mut out = Vec::new();
    for (name, format) in datasets::loghub::SYSTEMS {
        let format = LogFormat::new(format).unwrap();
        let raw = std::fs::read(data.join(name).join(format!("{name}_2k.log"))).unwrap();
        for line in String::from_utf8_lossy(&raw).lines() {
            let content = format.content(line).unwrap_or(line);
            out.push(content.to_owned());
        }
    }
    out
}

fn mine(lines: &[String]) -> usize {
    let mut miner = TemplateMiner::default();
    for l in lines {
        std::hint::black_box(miner.add(l));
    }
    miner.len()
}

fn split_only(lines: &[String]) -> usize {
    lines
        .iter()
        .map(|l| l.split_ascii_whitespace().count())
        .sum()
}

fn lines_per_sec(lines: &[String], f: fn(&[String]) -> usize) -> f64 {
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(f(lines));
    }
    (lines.len() * rounds) as f64 / start.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let lines = contents();
    let baseline = lines_per_sec(&lines, split_only);
    let miner = lines_per_sec(&lines, mine);
    eprintln!(
        "logs: {} lines; miner {:.0} lines/s, split-only baseline {:.0} lines/s, miner/baseline {:.3}",
        lines.len(),
        miner,
        baseline,
        miner / baseline
    );
    drain_baseline(miner);
    let mut group = c.benchmark_group("logs");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    group.bench_function("split_only", |b| {
        b.iter_batched(|| (), |()| split_only(&lines), BatchSize::SmallInput)
    });
    group.bench_function("template_miner", |b| {
        b.iter_batched(|| (), |()| mine(&lines), BatchSize::SmallInput)
    });
    group.finish();
}

/// Python Drain (drain3) on the same contents, timed by `scripts/drain-baseline.py`.
fn drain_baseline(miner: f64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("python3")
        .arg(root.join("scripts/drain-baseline.py"))
        .arg(root.join("../shared/datasets/loghub"))
        .output();
    let rate = out.ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let json: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
        json["lines_per_sec"].as_f64()
    });
    match rate {
        Some(drain) => eprintln!(
            "logs: drain3 {drain:.0} lines/s; miner {:.1}x drain3 (target 10x), {:.2} M lines/s (target 2 M)",
            miner / drain,
            miner / 1e6
        ),
        None => eprintln!("logs: drain3 baseline SKIPPED (python3 with drain3 not available)"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
