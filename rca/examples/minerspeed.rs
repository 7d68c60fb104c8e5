//! Template miner throughput on every Loghub-2k line's labelled content (what
//! `scripts/drain-baseline.py` feeds drain3): `cargo run --release -p rca --example minerspeed`.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/datasets/loghub".to_owned());
    let mut lines = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for dir in paths {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let csv_path = dir.join(format!("{name}_2k.log_structured.csv"));
        let Ok(mut reader) = csv::Reader::from_path(&csv_path) else {
            continue;
        };
        let col = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "Content")
            .unwrap();
        for r in reader.records() {
            lines.push(r.unwrap().get(col).unwrap_or_default().to_owned());
        }
    }
    let rounds = 10;
    let start = Instant::now();
    let mut templates = 0;
    for _ in 0..rounds {
        let mut miner = rca::TemplateMiner::default();
        for l in &lines {
            std::hint::black_box(miner.add(l));
        }
        templates = miner.len();
    }
    let rate = (lines.len() * rounds) as f64 / start.elapsed().as_secs_f64();
    println!(
        "miner: {} lines x {rounds} rounds, {rate:.0} lines/s, {templates} templates",
        lines.len()
    );
}
