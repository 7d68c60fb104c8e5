//! Root-cause ranking on the labelled fault scenarios: the targets (top-1 ≥ 0.8,
//! top-3 ≥ 0.95, every citation resolves) as the evaluation computes them.

use datasets::rca_eval::evaluate;

#[test]
fn fault_scenarios_rank_the_right_cause_first_and_cite_only_their_evidence() {
    let report = evaluate(7);
    assert_eq!(report.cases, 12, "{}", report.table());
    assert!(report.top1 >= 0.8, "{}", report.table());
    assert!(report.top3 >= 0.95, "{}", report.table());
    assert!(report.citations > report.cases, "{}", report.table());
    assert!(
        (report.citations_resolved - 1.0).abs() < f64::EPSILON,
        "{}",
        report.table()
    );
    for line in &report.lines {
        assert!(
            line.top_hypothesis.is_some(),
            "{}: no hypothesis",
            line.scenario
        );
    }
}
