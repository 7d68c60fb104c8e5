//! NAB evaluation on the stored corpus (skipped when it is absent): the scorer reproduces NAB's
//! published windowed-Gaussian results file by file, and every registry detector replays the
//! corpus with one score in [0, 1] per row.

use std::path::PathBuf;

use anomaly::Params;
use datasets::nab::published::check_windowed_gaussian;
use datasets::nab::{load_corpus, replay_corpus, report};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NAB_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/nab"),
        PathBuf::from,
    );
    dir.join("labels").is_dir().then_some(dir)
}

#[test]
fn scorer_reproduces_nab_published_windowed_gaussian_per_file() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "SKIPPED: the NAB corpus is not at ../shared/datasets/nab (NAB_DIR names another)"
        );
        return;
    };
    let files = load_corpus(&dir).unwrap();
    let runs = replay_corpus(&files, "windowed_gaussian", &Params::new()).unwrap();
    let check = check_windowed_gaussian(&runs);
    assert!(!check.files.is_empty());
    assert_eq!(check.matching(1e-6), check.files.len(), "{}", check.table());
    assert!((check.ours_standard - check.published_standard).abs() < 1e-6);
}

#[test]
fn default_detector_report_has_every_profile_and_one_score_per_row() {
    let Some(dir) = corpus_dir() else {
        eprintln!(
            "SKIPPED: the NAB corpus is not at ../shared/datasets/nab (NAB_DIR names another)"
        );
        return;
    };
    let files = load_corpus(&dir).unwrap();
    let runs = replay_corpus(&files, anomaly::DEFAULT_DETECTOR, &Params::new()).unwrap();
    for run in &runs {
        assert_eq!(run.scores.len(), run.file.values.len());
        assert!(run.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }
    let rep = report(anomaly::DEFAULT_DETECTOR, &runs);
    assert_eq!(rep.profiles.len(), 3);
    // Clearly better than chance on every profile (NAB's random detector: 16.8 / 5.8 / 25.9).
    for (p, random) in rep.profiles.iter().zip([16.8, 5.8, 25.9]) {
        assert!(p.score > random + 10.0, "{}: {}", p.profile, p.score);
    }
    // The default detector's standard score stays at the level it was tuned to (66.9).
    assert!(rep.profiles[0].score >= 60.0, "{}", rep.profiles[0].score);
    let json: serde_json::Value = serde_json::from_str(&rep.json_line()).unwrap();
    assert_eq!(json["files"], files.len());
    assert!(json["scores"]["reward_low_FN_rate"].is_number());
}
