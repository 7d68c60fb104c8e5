//! `srebot eval nab --cv category`: leave-one-category-out cross-validation of a detector's
//! parameters and threshold, so the NAB figure is also measured where it was not tuned.
//!
//! For each category with anomaly windows, the parameters (from a fixed grid around the
//! defaults, by the worst training category's score) and each profile's threshold are chosen
//! on every other category — files without windows (`artificialNoAnomaly`) stay on the
//! training side of every fold — and the category left out is scored with them. Never per
//! file: one choice per fold for all its files.

use std::collections::BTreeSet;

use anomaly::Params;
use serde::Serialize;

use super::scorer::{PROFILES, normalise};
use super::{FileRun, NabError, NabFile, replay_corpus, score_runs};
use crate::selection::{best, worst_then_mean};

/// One fold: the category left out and what was chosen without it.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    pub category: String,
    /// The grid point chosen on the other categories (standard profile).
    pub params: Params,
    /// Mean standard score of the training categories at the training threshold.
    pub train_standard: f64,
    /// The worst training category's standard score there (what the grid point was chosen by).
    pub train_worst: f64,
    /// Held-out scores per profile (standard, low FP, low FN) at the training thresholds.
    pub held_out: [f64; 3],
    /// The same category scored at its own best threshold and the default parameters: what
    /// tuning on it would have reached.
    pub held_out_tuned: [f64; 3],
    /// Raw held-out scores and windows, for the pooled figure.
    raw: [f64; 3],
    windows: usize,
    /// Detections on the files without windows, at the fold's standard threshold.
    pub no_anomaly_false_positives: usize,
}

/// The cross-validation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub detector: String,
    pub grid: usize,
    /// All files, default parameters, thresholds optimised over all of them (the tuned figure).
    pub tuned: [f64; 3],
    pub folds: Vec<Fold>,
    /// Mean over folds of the held-out category's score.
    pub mean_held_out: [f64; 3],
    /// Mean over folds of the held-out category's score at its own best threshold.
    pub mean_held_out_tuned: [f64; 3],
    /// Every held-out category scored together (raw scores summed, normalised once): the
    /// figure to set beside `tuned`.
    pub pooled_held_out: [f64; 3],
}

/// The parameter grid around a detector's defaults: the knobs that set how surprising a value
/// must be (level and step z-scores) and how many raw scores the likelihood averages.
pub fn default_grid(detector: &str) -> Vec<Params> {
    let mut grid = Vec::new();
    match detector {
        anomaly::Surprise::NAME => {
            for level_z in [1.5, 2.0, 3.0] {
                for step_z in [4.0, 5.0, 7.0] {
                    for short in [5.0, 10.0, 20.0] {
                        let mut p = Params::new();
                        p.insert("level_z".to_owned(), level_z);
                        p.insert("step_z".to_owned(), step_z);
                        p.insert("short".to_owned(), short);
                        grid.push(p);
                    }
                }
            }
        }
        _ => grid.push(Params::new()),
    }
    grid
}

/// The runs of `category` (`held`) or of every other category.
fn side<'a>(runs: &'a [FileRun], category: &str, held: bool) -> Vec<&'a FileRun> {
    runs.iter()
        .filter(|r| (r.file.category == category) == held)
        .collect()
}

fn scores_of(runs: &[&FileRun], thresholds: Option<[f64; 3]>) -> ([f64; 3], [f64; 3], [f64; 3]) {
    let mut score = [0.0; 3];
    let mut raw = [0.0; 3];
    let mut chosen = [0.0; 3];
    for (i, profile) in PROFILES.iter().enumerate() {
        let r = score_runs(runs, profile, thresholds.map(|t| t[i]));
        score[i] = r.score;
        raw[i] = r.raw;
        chosen[i] = r.threshold;
    }
    (score, raw, chosen)
}

/// Runs the cross-validation of `detector` over `files` with `grid` (the defaults are added
/// when missing).
pub fn cross_validate(
    files: &[NabFile],
    detector: &str,
    grid: &[Params],
) -> Result<CvReport, NabError> {
    let mut grid = grid.to_vec();
    if !grid.iter().any(Params::is_empty) {
        grid.insert(0, Params::new());
    }
    let replays: Vec<Vec<FileRun>> = grid
        .iter()
        .map(|params| replay_corpus(files, detector, params))
        .collect::<Result<_, _>>()?;
    let default_runs = grid
        .iter()
        .position(Params::is_empty)
        .map_or(&replays[0], |i| &replays[i]);
    let all: Vec<&FileRun> = default_runs.iter().collect();
    let tuned = scores_of(&all, None).0;
    let categories: BTreeSet<&str> = files
        .iter()
        .filter(|f| !f.windows.is_empty())
        .map(|f| f.category.as_str())
        .collect();
    let mut folds = Vec::new();
    for &category in &categories {
        // The grid point whose worst training category scores best (`crate::selection`),
        // with the thresholds optimised over the whole training side.
        let training: Vec<&str> = categories
            .iter()
            .copied()
            .filter(|c| *c != category)
            .collect();
        let scored: Vec<((f64, f64), [f64; 3])> = replays
            .iter()
            .map(|runs| {
                let (_, _, thresholds) = scores_of(&side(runs, category, false), None);
                let scores: Vec<f64> = training
                    .iter()
                    .map(|c| {
                        score_runs(&side(runs, c, true), &PROFILES[0], Some(thresholds[0])).score
                    })
                    .collect();
                (worst_then_mean(&scores), thresholds)
            })
            .collect();
        let Some(chosen) = best(scored.iter().map(|(key, _)| *key)) else {
            continue;
        };
        let ((train_worst, train_standard), thresholds) = scored[chosen];
        let held = side(&replays[chosen], category, true);
        let (held_out, raw, _) = scores_of(&held, Some(thresholds));
        let windows = score_runs(&held, &PROFILES[0], Some(thresholds[0])).windows;
        let held_default = side(default_runs, category, true);
        let held_out_tuned = scores_of(&held_default, None).0;
        let quiet: Vec<&FileRun> = replays[chosen]
            .iter()
            .filter(|r| r.file.windows.is_empty())
            .collect();
        let no_anomaly_false_positives =
            score_runs(&quiet, &PROFILES[0], Some(thresholds[0])).false_positives;
        folds.push(Fold {
            category: category.to_owned(),
            params: grid[chosen].clone(),
            train_standard,
            train_worst,
            held_out,
            held_out_tuned,
            raw,
            windows,
            no_anomaly_false_positives,
        });
    }
    let n = folds.len().max(1) as f64;
    let mean = |pick: &dyn Fn(&Fold) -> [f64; 3]| {
        let mut m = [0.0; 3];
        for f in &folds {
            for (a, b) in m.iter_mut().zip(pick(f)) {
                *a += b / n;
            }
        }
        m
    };
    let mean_held_out = mean(&|f| f.held_out);
    let mean_held_out_tuned = mean(&|f| f.held_out_tuned);
    let windows: usize = folds.iter().map(|f| f.windows).sum();
    let mut pooled_held_out = [0.0; 3];
    for (i, profile) in PROFILES.iter().enumerate() {
        let raw: f64 = folds.iter().map(|f| f.raw[i]).sum();
        pooled_held_out[i] = normalise(raw, windows, profile);
    }
    Ok(CvReport {
        detector: detector.to_owned(),
        grid: grid.len(),
        tuned,
        folds,
        mean_held_out,
        mean_held_out_tuned,
        pooled_held_out,
    })
}

impl CvReport {
    /// The table `srebot eval nab --cv category` prints.
    pub fn table(&self) -> String {
        let three = |s: [f64; 3]| format!("{:.1} / {:.1} / {:.1}", s[0], s[1], s[2]);
        let mut out = format!(
            "# NAB leave-one-category-out: {} ({} parameter sets)\n\n\
             | held-out category | params chosen without it | held out (std / lowFP / lowFN) | tuned on it | FP on artificialNoAnomaly |\n|---|---|---|---|---|\n",
            self.detector, self.grid
        );
        for f in &self.folds {
            let params = if f.params.is_empty() {
                "defaults".to_owned()
            } else {
                f.params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push_str(&format!(
                "| {} | {params} | {} | {} | {} |\n",
                f.category,
                three(f.held_out),
                three(f.held_out_tuned),
                f.no_anomaly_false_positives
            ));
        }
        out.push_str(&format!(
            "\nmean held-out {} (tuned on each category {}); all held-out categories together {}; \
             every file, tuned on all: {}\n",
            three(self.mean_held_out),
            three(self.mean_held_out_tuned),
            three(self.pooled_held_out),
            three(self.tuned)
        ));
        out
    }

    /// One JSON object for scripts.
    pub fn json_line(&self) -> String {
        serde_json::json!({
            "detector": self.detector,
            "tuned": {"standard": self.tuned[0], "reward_low_FP_rate": self.tuned[1], "reward_low_FN_rate": self.tuned[2]},
            "mean_held_out": {"standard": self.mean_held_out[0], "reward_low_FP_rate": self.mean_held_out[1], "reward_low_FN_rate": self.mean_held_out[2]},
            "pooled_held_out": {"standard": self.pooled_held_out[0], "reward_low_FP_rate": self.pooled_held_out[1], "reward_low_FN_rate": self.pooled_held_out[2]},
            "folds": self.folds.iter().map(|f| serde_json::json!({
                "held_out": f.category,
                "standard": f.held_out[0],
                "no_anomaly_false_positives": f.no_anomaly_false_positives,
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }
}
