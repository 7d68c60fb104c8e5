//! Runs the scenario-family evaluation and prints its table, or one family's draws in full.
//!
//! `cargo run --release -p datasets --example families -- [DRAWS] [SEED] [FAMILY]`; the
//! environment's `THRESHOLD` overrides the golden signals' threshold while tuning.

use datasets::families::Family;
use datasets::family_eval::evaluate;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let draws = args.first().and_then(|a| a.parse().ok()).unwrap_or(32);
    let seed = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let only = args.get(2).and_then(|a| Family::from_name(a));
    let mut config = anomaly::AnomalyConfig::golden_signals();
    if let Some(t) = std::env::var("THRESHOLD").ok().and_then(|t| t.parse().ok()) {
        config.threshold = t;
    }
    let report = evaluate(draws, seed, &config);
    print!("{}", report.table());
    for d in &report.draws {
        let wrong = (d.fault && !d.right) || d.false_incidents > 0;
        if wrong || only.is_some_and(|f| f.name() == d.family) {
            println!("{} seed {}: {}", d.family, d.seed, d.description);
            for s in &d.summaries {
                println!("    {s}");
            }
        }
    }
}
