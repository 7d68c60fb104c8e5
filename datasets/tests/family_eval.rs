//! The scenario families through the live detection step and correlator: one draw of every
//! family (seed 5, not a tuning seed) meets the targets of `srebot eval scenarios`: every fault
//! found with its type and target, and no incident at all on the healthy draws.

use datasets::families::{Family, draw};
use datasets::family_eval::{run_live, score_draw};

/// The families whose judgement is subtlest (a leak with and without kube-state-metrics, a
/// disk filling, a crash loop, and the healthy patterns that look like them), one draw each;
/// `srebot eval scenarios --draws 200` runs them all.
#[test]
fn draws_of_the_subtle_families_are_judged_right() {
    let golden = anomaly::AnomalyConfig::golden_signals();
    let cases = [
        (Family::MemoryLeak, 5),
        (Family::MemoryLeak, 6),
        (Family::DiskFill, 5),
        (Family::CrashLoop, 5),
        (Family::HealthyGcSawtooth, 5),
        (Family::HealthyRollout, 5),
        // Seed 4242's rollout: a new pod's warm-up tail, still creeping up 4% an hour an hour
        // after its start, once read as a leak.
        (Family::HealthyRollout, 11_614_378_638_755_490_454),
        (Family::HealthyDiurnal, 5),
    ];
    let mut healthy_incidents = Vec::new();
    for (family, seed) in cases {
        let scenario = draw(family, seed);
        let score = score_draw(family, seed, &scenario, &run_live(&scenario, &golden));
        let what = format!(
            "{} ({}): {:?}",
            score.family, score.description, score.summaries
        );
        if family.is_fault() {
            assert_eq!(score.false_incidents, 0, "{what}");
            assert!(score.right, "{what}");
            // A leak needs most of its 45-minute window, everything else minutes.
            let limit = if family == Family::MemoryLeak {
                3000.0
            } else {
                1200.0
            };
            assert!(score.time_to_detect_s.is_some_and(|s| s <= limit), "{what}");
        } else if score.incidents > 0 {
            healthy_incidents.push(what);
        }
    }
    assert!(healthy_incidents.is_empty(), "{healthy_incidents:#?}");
}

#[test]
fn the_family_draws_are_reproducible_and_cover_both_label_sets() {
    let with: Vec<bool> = (0..8)
        .map(|seed| {
            let s = datasets::families::draw(Family::MemoryLeak, seed);
            s.series
                .iter()
                .any(|r| r.labels.get("job") == Some("kube-state-metrics"))
        })
        .collect();
    assert!(with.contains(&true) && with.contains(&false), "{with:?}");
}
