//! NAB evaluation: reads NAB-format corpora, replays every file through a registry detector in
//! input order (one score per row), writes NAB's results layout and computes the NAB score.
//!
//! Scores are computed here as NAB's own scorer does (see [`scorer`]); the results files can
//! also be fed to NAB's scorer unchanged. Throughput is detector time on one thread.

pub mod cv;
pub mod published;
pub mod scorer;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anomaly::{AnomalyError, Params, detector_by_name};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::plot::{PlotError, SeriesPlot, bars_svg, series_svg};
use scorer::{
    PROFILES, Profile, SweepPoint, normalise, optimise_threshold, score_at, sweep_file, window_rows,
};

/// What can go wrong reading a corpus or writing results.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse CSV {path}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("cannot parse labels {path}")]
    Labels {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} row {row}: bad {field} `{text}`")]
    BadField {
        path: PathBuf,
        row: usize,
        field: &'static str,
        text: String,
    },
    #[error("no NAB data files under {dir}")]
    Empty { dir: PathBuf },
    #[error("detector")]
    Detector {
        #[source]
        source: AnomalyError,
    },
    #[error("plot")]
    Plot {
        #[source]
        source: PlotError,
    },
}

impl model::Classify for NabError {
    fn class(&self) -> model::ErrorClass {
        match self {
            NabError::Io { .. } | NabError::Plot { .. } => model::ErrorClass::Internal,
            NabError::Detector { source } => source.class(),
            _ => model::ErrorClass::InvalidInput,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NabError + '_ {
    move |source| NabError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One NAB data file with its labelled anomaly windows.
#[derive(Debug, Clone)]
pub struct NabFile {
    /// Category folder, e.g. `realAWSCloudwatch`.
    pub category: String,
    /// File name, e.g. `ec2_cpu_utilization_5f5533.csv`.
    pub name: String,
    /// Timestamps as written in the file (rewritten unchanged into results).
    pub raw_timestamps: Vec<String>,
    pub timestamps_ms: Vec<i64>,
    pub values: Vec<f64>,
    /// Windows as inclusive row ranges.
    pub windows: Vec<(usize, usize)>,
}

impl NabFile {
    /// `category/name`, the key NAB's label files use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.category, self.name)
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) to milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next().unwrap_or(Some(0))?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let millis = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(3).collect();
        digits.parse::<i64>().ok()?
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + millis)
}

/// Reads `DIR/data/<category>/<file>.csv` and `DIR/labels/combined_windows.json`, sorted by key.
pub fn load_corpus(dir: &Path) -> Result<Vec<NabFile>, NabError> {
    let labels_path = dir.join("labels").join("combined_windows.json");
    let text = std::fs::read_to_string(&labels_path).map_err(io_err(&labels_path))?;
    let labels: BTreeMap<String, Vec<Vec<String>>> =
        serde_json::from_str(&text).map_err(|source| NabError::Labels {
            path: labels_path.clone(),
            source,
        })?;
    let data = dir.join("data");
    let mut files = Vec::new();
    let mut categories: Vec<PathBuf> = std::fs::read_dir(&data)
        .map_err(io_err(&data))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    categories.sort();
    for category_dir in categories.iter().filter(|p| p.is_dir()) {
        let mut csvs: Vec<PathBuf> = std::fs::read_dir(category_dir)
            .map_err(io_err(category_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        csvs.sort();
        for path in csvs {
            files.push(load_file(category_dir, &path, &labels)?);
        }
    }
    if files.is_empty() {
        return Err(NabError::Empty {
            dir: dir.to_owned(),
        });
    }
    Ok(files)
}

fn load_file(
    category_dir: &Path,
    path: &Path,
    labels: &BTreeMap<String, Vec<Vec<String>>>,
) -> Result<NabFile, NabError> {
    let name_of = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let category = name_of(category_dir);
    let name = name_of(path);
    let mut reader = csv::Reader::from_path(path).map_err(|source| NabError::Csv {
        path: path.to_owned(),
        source,
    })?;
    let (mut raw_timestamps, mut timestamps_ms, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|source| NabError::Csv {
            path: path.to_owned(),
            source,
        })?;
        let bad = |field, text: &str| NabError::BadField {
            path: path.to_owned(),
            row: row + 1,
            field,
            text: text.to_owned(),
        };
        let ts_text = record.get(0).unwrap_or_default();
        let value_text = record.get(1).unwrap_or_default();
        let ts = parse_timestamp(ts_text).ok_or_else(|| bad("timestamp", ts_text))?;
        let value = value_text
            .trim()
            .parse::<f64>()
            .map_err(|_| bad("value", value_text))?;
        raw_timestamps.push(ts_text.to_owned());
        timestamps_ms.push(ts);
        values.push(value);
    }
    let key = format!("{category}/{name}");
    let mut limits = Vec::new();
    for window in labels.get(&key).map(Vec::as_slice).unwrap_or_default() {
        let (Some(a), Some(b)) = (window.first(), window.get(1)) else {
            continue;
        };
        match (parse_timestamp(a), parse_timestamp(b)) {
            (Some(a), Some(b)) => limits.push((a, b)),
            _ => {
                return Err(NabError::BadField {
                    path: path.to_owned(),
                    row: 0,
                    field: "label window",
                    text: format!("{a}, {b}"),
                });
            }
        }
    }
    let windows = window_rows(&timestamps_ms, &limits);
    Ok(NabFile {
        category,
        name,
        raw_timestamps,
        timestamps_ms,
        values,
        windows,
    })
}

/// Replays one file through a fresh detector built by the registry: one score per row, in
/// input order. Returns the scores and the seconds spent inside the detector.
pub fn replay_file(
    file: &NabFile,
    detector: &str,
    params: &Params,
) -> Result<(Vec<f64>, f64), NabError> {
    let mut det =
        detector_by_name(detector, params).map_err(|source| NabError::Detector { source })?;
    let mut scores = Vec::with_capacity(file.values.len());
    let start = Instant::now();
    for (&ts, &value) in file.timestamps_ms.iter().zip(&file.values) {
        scores.push(det.update(ts, value).clamp(0.0, 1.0));
    }
    Ok((scores, start.elapsed().as_secs_f64()))
}

/// One file's replay.
#[derive(Debug, Clone)]
pub struct FileRun {
    pub file: NabFile,
    pub scores: Vec<f64>,
    pub detector_secs: f64,
}

/// Replays every file (sequentially, on this thread), with a progress bar when stderr is a TTY.
pub fn replay_corpus(
    files: &[NabFile],
    detector: &str,
    params: &Params,
) -> Result<Vec<FileRun>, NabError> {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(files.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    let mut runs = Vec::with_capacity(files.len());
    for file in files {
        bar.set_message(file.name.clone());
        let (scores, detector_secs) = replay_file(file, detector, params)?;
        runs.push(FileRun {
            file: file.clone(),
            scores,
            detector_secs,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(runs)
}

/// A profile's result over a set of files.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileResult {
    pub profile: &'static str,
    /// Normalised NAB score (null 0, perfect 100).
    pub score: f64,
    pub raw: f64,
    pub threshold: f64,
    pub windows: usize,
    pub detected: usize,
    pub false_positives: usize,
    pub in_window: usize,
}

impl ProfileResult {
    /// Detections inside windows over all detections (after the probationary periods).
    pub fn precision(&self) -> f64 {
        let all = self.in_window + self.false_positives;
        if all == 0 {
            0.0
        } else {
            self.in_window as f64 / all as f64
        }
    }

    /// Windows with a detection over all windows.
    pub fn recall(&self) -> f64 {
        if self.windows == 0 {
            0.0
        } else {
            self.detected as f64 / self.windows as f64
        }
    }
}

struct Swept {
    points: Vec<SweepPoint>,
    windows: usize,
    /// Per file: range of points and first window id.
    spans: Vec<(std::ops::Range<usize>, usize, usize)>,
}

fn sweep_runs(runs: &[&FileRun], profile: &Profile) -> Swept {
    let mut swept = Swept {
        points: Vec::new(),
        windows: 0,
        spans: Vec::new(),
    };
    for run in runs {
        let (points, windows) = sweep_file(&run.scores, &run.file.windows, profile, swept.windows);
        let start = swept.points.len();
        swept.points.extend(points);
        swept
            .spans
            .push((start..swept.points.len(), swept.windows, windows));
        swept.windows += windows;
    }
    swept
}

/// Scores `runs` under `profile`: with `threshold` given, at that threshold; otherwise at the
/// threshold optimised over these runs.
pub fn score_runs(runs: &[&FileRun], profile: &Profile, threshold: Option<f64>) -> ProfileResult {
    let swept = sweep_runs(runs, profile);
    let threshold =
        threshold.unwrap_or_else(|| optimise_threshold(&swept.points, swept.windows, profile).0);
    let raw = score_at(&swept.points, swept.windows, 0, threshold, profile);
    ProfileResult {
        profile: profile.name,
        score: normalise(raw.score, swept.windows, profile),
        raw: raw.score,
        threshold,
        windows: swept.windows,
        detected: raw.detected,
        false_positives: raw.false_positives,
        in_window: raw.in_window,
    }
}

/// What `srebot eval nab` runs.
#[derive(Debug, Clone)]
pub struct NabEvalOptions {
    /// Corpus root holding `data/` and `labels/`.
    pub data_dir: PathBuf,
    /// Registry name of the detector.
    pub detector: String,
    pub params: Params,
    /// Where NAB-layout results, plots and the summary go; nothing is written when `None`.
    pub results_dir: Option<PathBuf>,
}

/// Per-file line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub key: String,
    pub rows: usize,
    pub windows: usize,
    pub detected: usize,
    pub false_positives: usize,
    /// Raw standard-profile score of the file at the corpus threshold.
    pub raw_standard: f64,
}

/// The evaluation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct NabEvalReport {
    pub detector: String,
    pub files: usize,
    pub points: usize,
    pub detector_secs: f64,
    /// Points per second of detector time on one thread.
    pub points_per_sec: f64,
    pub profiles: Vec<ProfileResult>,
    pub per_file: Vec<FileSummary>,
}

impl NabEvalReport {
    /// The one-line JSON object `srebot eval nab --json` prints last.
    pub fn json_line(&self) -> String {
        let score = |name: &str| {
            self.profiles
                .iter()
                .find(|p| p.profile == name)
                .map_or(0.0, |p| p.score)
        };
        serde_json::json!({
            "detector": self.detector,
            "files": self.files,
            "scores": {
                "standard": score("standard"),
                "reward_low_FP_rate": score("reward_low_FP_rate"),
                "reward_low_FN_rate": score("reward_low_FN_rate"),
            },
            "points_per_sec": self.points_per_sec,
        })
        .to_string()
    }

    /// Markdown summary: profile scores, precision/recall, throughput and the per-file table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "# NAB evaluation: {}\n\n{} files, {} points, {:.0} points/s (detector time, one thread)\n\n\
             | profile | score | threshold | windows | detected | FP | precision | recall |\n|---|---|---|---|---|---|---|---|\n",
            self.detector, self.files, self.points, self.points_per_sec
        );
        for p in &self.profiles {
            out.push_str(&format!(
                "| {} | {:.1} | {:.4} | {} | {} | {} | {:.3} | {:.3} |\n",
                p.profile,
                p.score,
                p.threshold,
                p.windows,
                p.detected,
                p.false_positives,
                p.precision(),
                p.recall()
            ));
        }
        out.push_str("\n| file | rows | windows | detected | FP | raw standard |\n|---|---|---|---|---|---|\n");
        for f in &self.per_file {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.3} |\n",
                f.key, f.rows, f.windows, f.detected, f.false_positives, f.raw_standard
            ));
        }
        out
    }
}

/// Scores a replayed corpus: all three profiles at their optimised thresholds, per-file lines.
pub fn report(detector: &str, runs: &[FileRun]) -> NabEvalReport {
    let all: Vec<&FileRun> = runs.iter().collect();
    let profiles: Vec<ProfileResult> = PROFILES.iter().map(|p| score_runs(&all, p, None)).collect();
    let threshold = profiles.first().map_or(1.1, |p| p.threshold);
    let per_file = runs
        .iter()
        .map(|run| {
            let r = score_runs(&[run], &PROFILES[0], Some(threshold));
            FileSummary {
                key: run.file.key(),
                rows: run.scores.len(),
                windows: r.windows,
                detected: r.detected,
                false_positives: r.false_positives,
                raw_standard: r.raw,
            }
        })
        .collect();
    let points: usize = runs.iter().map(|r| r.scores.len()).sum();
    let detector_secs: f64 = runs.iter().map(|r| r.detector_secs).sum();
    NabEvalReport {
        detector: detector.to_owned(),
        files: runs.len(),
        points,
        detector_secs,
        points_per_sec: if detector_secs > 0.0 {
            points as f64 / detector_secs
        } else {
            0.0
        },
        profiles,
        per_file,
    }
}

/// Writes `results/<detector>/<category>/<detector>_<file>.csv` (timestamp, value,
/// anomaly_score, label), one SVG per file beside it, and `summary.md` + `scores.svg`.
pub fn write_results(dir: &Path, report: &NabEvalReport, runs: &[FileRun]) -> Result<(), NabError> {
    let root = dir.join(&report.detector);
    let threshold = report.profiles.first().map_or(1.1, |p| p.threshold);
    for run in runs {
        let folder = root.join(&run.file.category);
        std::fs::create_dir_all(&folder).map_err(io_err(&folder))?;
        let path = folder.join(format!("{}_{}", report.detector, run.file.name));
        let mut labels = vec![0u8; run.scores.len()];
        for &(a, b) in &run.file.windows {
            let last = labels.len().saturating_sub(1);
            if labels.is_empty() || a > last {
                continue;
            }
            labels[a..=b.min(last)].iter_mut().for_each(|l| *l = 1);
        }
        let mut out = String::from("timestamp,value,anomaly_score,label\n");
        for (i, (score, label)) in run.scores.iter().zip(&labels).enumerate() {
            out.push_str(&format!(
                "{},{},{},{}\n",
                run.file.raw_timestamps[i], run.file.values[i], score, label
            ));
        }
        std::fs::write(&path, out).map_err(io_err(&path))?;
        let probation = scorer::probation_rows(run.scores.len());
        let marks: Vec<usize> = (probation..run.scores.len())
            .filter(|&i| run.scores[i] >= threshold)
            .collect();
        let svg = path.with_extension("svg");
        let title = run.file.key();
        series_svg(
            &svg,
            &SeriesPlot {
                title: &title,
                values: &run.file.values,
                bands: &run.file.windows,
                marks: &marks,
                unit_series: Some(&run.scores),
            },
        )
        .map_err(|source| NabError::Plot { source })?;
    }
    std::fs::create_dir_all(&root).map_err(io_err(&root))?;
    let summary = root.join("summary.md");
    std::fs::write(&summary, report.table()).map_err(io_err(&summary))?;
    let bars: Vec<(String, f64)> = report
        .per_file
        .iter()
        .map(|f| (f.key.clone(), f.raw_standard))
        .collect();
    bars_svg(
        &root.join("scores.svg"),
        "raw standard score per file",
        &bars,
    )
    .map_err(|source| NabError::Plot { source })?;
    Ok(())
}

/// The `srebot eval nab` entry point: load, replay, score, and write results when asked.
pub fn run_nab_eval(options: &NabEvalOptions) -> Result<NabEvalReport, NabError> {
    let files = load_corpus(&options.data_dir)?;
    let runs = replay_corpus(&files, &options.detector, &options.params)?;
    let report = report(&options.detector, &runs);
    if let Some(dir) = &options.results_dir {
        write_results(dir, &report, &runs)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_utc() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2014-04-01 00:05:00"),
            Some(1_396_310_700_000)
        );
        assert_eq!(
            parse_timestamp("2014-04-01 00:05:00.000000"),
            Some(1_396_310_700_000)
        );
        assert_eq!(
            parse_timestamp("2000-02-29 12:00:00.5"),
            Some(951_825_600_500)
        );
        assert_eq!(parse_timestamp("2014-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
