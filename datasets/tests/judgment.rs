//! The quality targets where they were not tuned: the microservice families on a seed drawn
//! after tuning, Loghub-2k left one system out, NAB left one category out, and a labelled
//! recording evaluated end to end.

use std::path::Path;

fn shared(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/datasets")
        .join(name)
}

/// Seed 2026 was never looked at while the ranking was shaped (seed 1 was).
#[test]
fn families_rank_the_root_first_on_a_held_out_seed() {
    let report = datasets::propagation::evaluate(100, 2026);
    println!("{}", report.table());
    assert_eq!(report.overall.draws, 100);
    assert!(report.overall.top1 >= 0.8, "{}", report.table());
    // Where a mesh carries the graph, the callee a delay is in is found.
    for carrier in ["istio", "linkerd"] {
        assert!(
            report.by_delivery[carrier].top1 >= 0.9,
            "{}",
            report.table()
        );
    }
}

#[test]
fn loghub_templates_hold_on_every_system_and_left_out() {
    let data = shared("loghub");
    let report = datasets::loghub::evaluate(&data, None).unwrap();
    println!("{}", report.table());
    assert!(report.avg_ga >= 0.95, "{}", report.table());
    for s in &report.systems {
        assert!(s.group_accuracy >= 0.80, "{}: {}", s.name, s.group_accuracy);
    }
    let loso = datasets::loghub::leave_one_system_out(&data).unwrap();
    println!("{}", loso.table());
    assert_eq!(loso.systems.len(), 16);
    assert!(loso.mean_held_out >= 0.95, "{}", loso.table());
    assert!(loso.min_held_out >= 0.80, "{}", loso.table());
}

/// NAB left one category out: parameters and thresholds chosen without the category scored.
#[test]
fn nab_holds_on_each_category_left_out() {
    let files = datasets::nab::load_corpus(&shared("nab")).unwrap();
    let grid = datasets::nab::cv::default_grid(anomaly::DEFAULT_DETECTOR);
    let report =
        datasets::nab::cv::cross_validate(&files, anomaly::DEFAULT_DETECTOR, &grid).unwrap();
    println!("{}", report.table());
    assert_eq!(report.folds.len(), 4);
    assert!(report.mean_held_out[0] >= 70.0, "{}", report.table());
    // The choice holds on the files without anomalies too.
    for fold in &report.folds {
        assert!(fold.no_anomaly_false_positives <= 5, "{}", report.table());
    }
}

/// A built-in fault recording written, labelled and evaluated as a data engineer would.
#[test]
fn a_labelled_recording_is_scored_against_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("leak");
    let scenario = datasets::scenarios::generate(datasets::scenarios::Fault::CrashLoop, 7);
    scenario.write(&rec).unwrap();
    let start = scenario.meta.expected[0].fault_start_ms;
    let spec = format!(
        "{}..{}:crash_loop:payments-api",
        start / 1000,
        scenario.meta.end_ms / 1000
    );
    let label = datasets::recording::parse_label(&spec, 0).unwrap();
    datasets::recording::add_labels(&rec, &[label.clone(), label]).unwrap();
    assert_eq!(datasets::recording::read_labels(&rec).unwrap().len(), 1);
    let out = dir.path().join("eval");
    let report = datasets::recording::evaluate(&rec, &out).unwrap();
    println!("{}", report.table());
    assert_eq!(report.recall, 1.0, "{}", report.table());
    assert!(report.labels[0].right_type);
    assert!(
        report.labels[0]
            .time_to_detect_ms
            .is_some_and(|t| t < 10 * 60_000)
    );
    assert!(report.nab[0] > 50.0, "{}", report.table());
    let rows = datasets::columnar::row_count(&out.join("results.parquet")).unwrap();
    assert_eq!(rows as usize, scenario.sample_count());
}
