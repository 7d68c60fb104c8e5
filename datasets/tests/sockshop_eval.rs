//! Sock Shop RCA evaluation: layout parsing on a synthetic case folder, and the real benchmark.

use std::path::Path;

use datasets::sockshop::{AcScores, evaluate, find_cases, split_case_name, split_column};

/// Writes one case CSV: `time` then the given columns, `rows` samples; `spike` adds to one
/// column in the second half.
fn write_csv(path: &Path, columns: &[&str], rows: usize, spike: Option<(&str, f64)>) {
    let mut s = String::from("time");
    for c in columns {
        s.push(',');
        s.push_str(c);
    }
    s.push('\n');
    for r in 0..rows {
        s.push_str(&(1_000 + r).to_string());
        for (ci, c) in columns.iter().enumerate() {
            let mut v = 10.0 + ((r * 7 + ci * 3) % 5) as f64;
            if let Some((col, add)) = spike
                && col == *c
                && r >= rows / 2
            {
                v += add;
            }
            s.push_str(&format!(",{v}"));
        }
        s.push('\n');
    }
    std::fs::write(path, s).expect("write case csv");
}

#[test]
fn layout_names_split_at_the_last_dash_and_first_underscore() {
    assert_eq!(split_case_name("carts-cpu"), Some(("carts", "cpu")));
    assert_eq!(
        split_case_name("front-end-delay"),
        Some(("front-end", "delay"))
    );
    assert_eq!(split_case_name("nodash"), None);
    assert_eq!(
        split_column("carts-db_lat_50"),
        Some(("carts-db", "lat_50"))
    );
    assert_eq!(split_column("time"), None);
}

#[test]
fn synthetic_cases_rank_the_faulty_service() {
    let dir = tempfile::tempdir().unwrap();
    let columns = [
        "front-end_cpu",
        "front-end_mem",
        "carts_cpu",
        "carts_mem",
        "carts-db_cpu",
    ];
    let cases = [
        ("front-end-cpu", "front-end_cpu"),
        ("carts-mem", "carts_mem"),
        ("carts-db-cpu", "carts-db_cpu"),
    ];
    for (folder, col) in cases {
        let case = dir.path().join(folder).join("1");
        std::fs::create_dir_all(&case).unwrap();
        write_csv(&case.join("normal.csv"), &columns, 60, None);
        write_csv(&case.join("anomalous.csv"), &columns, 60, Some((col, 50.0)));
    }
    // A folder without the two files is not a case.
    std::fs::create_dir_all(dir.path().join("user-cpu/1")).unwrap();

    let found = find_cases(dir.path()).unwrap();
    let names: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|(_, n, s, f)| (n.as_str(), s.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("carts-db-cpu/1", "carts-db", "cpu"),
            ("carts-mem/1", "carts", "mem"),
            ("front-end-cpu/1", "front-end", "cpu"),
        ]
    );

    let out = dir.path().join("out");
    let report = evaluate(dir.path(), Some(&out)).unwrap();
    assert!(out.join("rca_ac_by_fault.svg").is_file());
    for c in &report.cases {
        assert_eq!(c.rank, Some(1), "{c:?}");
        assert_eq!(
            c.top[0].metric,
            if c.fault == "mem" { "mem" } else { "cpu" }
        );
    }
    assert_eq!(report.overall.ac[0], 1.0);
    assert_eq!(report.by_fault.len(), 2);
    let json: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
    assert_eq!(json["cases"], 3);
    assert_eq!(json["by_fault"]["cpu"]["avg5"], 1.0);
}

#[test]
fn ac_scores_from_ranks() {
    let s = AcScores::from_ranks(&[Some(1), Some(3), None, Some(2)]);
    assert_eq!(s.ac, [0.25, 0.5, 0.75, 0.75, 0.75]);
    assert!((s.avg5 - 0.6).abs() < 1e-12);
}

#[test]
fn real_sockshop_benchmark() {
    let report = evaluate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/rca-sockshop"),
        None,
    )
    .unwrap();
    println!("{}", report.table());
    println!("{}", report.json_line());
    assert_eq!(report.overall.cases, 50);
    assert!(report.overall.avg5 >= 0.97, "Avg@5 {}", report.overall.avg5);
}
