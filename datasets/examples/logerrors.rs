//! Where the template miner's groups differ from Loghub's labels, per system:
//! `cargo run -p datasets --example logerrors -- SYSTEM [DATA_DIR]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let system = args.next().unwrap_or_else(|| "Proxifier".to_owned());
    let data = args
        .next()
        .map_or_else(|| PathBuf::from("../shared/datasets/loghub"), PathBuf::from);
    let Ok(sys) = datasets::loghub::load_system(&data, &system) else {
        eprintln!("cannot load {system}");
        return;
    };
    let Some(format) =
        datasets::loghub::log_format(&system).and_then(|f| rca::LogFormat::new(f).ok())
    else {
        return;
    };
    let mut config = rca::MinerConfig::default();
    if let Some(k) = std::env::var("K").ok().and_then(|k| k.parse().ok()) {
        config.max_variant_values = k;
    }
    if let Some(s) = std::env::var("SIM").ok().and_then(|k| k.parse().ok()) {
        config.similarity = s;
    }
    let mut miner = rca::TemplateMiner::new(config);
    let ids: Vec<u32> = sys
        .raw_lines
        .iter()
        .map(|l| miner.add(format.content(l).unwrap_or(l)))
        .collect();
    let groups: Vec<u32> = ids.iter().map(|i| miner.group(*i)).collect();
    let mut by_truth: BTreeMap<&str, BTreeMap<u32, usize>> = BTreeMap::new();
    let mut by_group: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    for (g, t) in groups.iter().zip(&sys.event_ids) {
        *by_truth.entry(t).or_default().entry(*g).or_default() += 1;
        *by_group.entry(*g).or_default().entry(t).or_default() += 1;
    }
    let ga = datasets::loghub::group_accuracy(&groups, &sys.event_ids);
    println!(
        "{system}: GA {ga:.3}, {} groups, {} true",
        by_group.len(),
        by_truth.len()
    );
    let mut shown = 0;
    for (truth, gs) in &by_truth {
        let exact = gs.len() == 1 && by_group[gs.keys().next().unwrap_or(&0)].len() == 1;
        if exact {
            continue;
        }
        let lines: usize = gs.values().sum();
        println!("{truth} ({lines} lines) split over {} groups:", gs.len());
        for (g, n) in gs.iter().take(6) {
            let others: Vec<String> = by_group[g]
                .iter()
                .filter(|(t, _)| *t != truth)
                .map(|(t, n)| format!("{t}x{n}"))
                .collect();
            println!(
                "   {n:>4}  {}   also: {}",
                miner.template(*g).unwrap_or_default(),
                others.join(" ")
            );
        }
        shown += 1;
        if shown > 25 {
            break;
        }
    }
}
