//! The Loghub evaluation on real systems from the shared datasets.

use std::path::{Path, PathBuf};

use datasets::loghub::{evaluate_systems, load_system};
use rca::MinerConfig;

/// `../shared/datasets/loghub` from the workspace root.
fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub")
}

#[test]
fn two_real_systems_parse_with_high_group_accuracy() {
    let report = evaluate_systems(&data(), &["HDFS", "OpenSSH"], &MinerConfig::default()).unwrap();
    println!("{}", report.table());
    assert_eq!(report.systems.len(), 2);
    for s in &report.systems {
        assert_eq!(s.lines, 2_000);
        assert_eq!(s.header_misses, 0, "{}", s.name);
        assert!(s.group_accuracy > 0.8, "{} GA {}", s.name, s.group_accuracy);
    }
    let json: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
    assert!(json["systems"]["HDFS"].as_f64().unwrap() > 0.8);
    assert!(json["lines_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn header_split_matches_labelled_content() {
    let system = load_system(&data(), "Proxifier").unwrap();
    let format = rca::LogFormat::new(datasets::loghub::log_format("Proxifier").unwrap()).unwrap();
    let mut reader =
        csv::Reader::from_path(data().join("Proxifier/Proxifier_2k.log_structured.csv")).unwrap();
    let contents: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(3).unwrap().to_owned())
        .collect();
    assert_eq!(contents.len(), system.raw_lines.len());
    for (line, content) in system.raw_lines.iter().zip(&contents) {
        assert_eq!(format.content(line).map(str::trim), Some(content.trim()));
    }
}
