//! Sock Shop (RCAEval layout) root-cause evaluation: load `<service>-<fault>/<n>/` cases, rank
//! services with `rca::rank_services` (the live draft's code), and score AC@k and Avg@5.
//!
//! Layout: a case folder is `<service>-<fault>/<n>/{normal,anomalous}.csv`; the service is
//! everything before the *last* `-`, the fault the rest. CSV columns are `time` then
//! `<service>_<metric>` (split at the first `_`: metrics such as `lat_50` contain `_`).
//!
//! Candidates: every service that has a column in the case's CSV (all 13 Sock Shop containers,
//! databases and the message queue included). No list of "application" services is assumed, so
//! the ranking must beat infrastructure containers on its own.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rca::{RankedService, ServiceSeries, rank_services};
use serde::Serialize;

/// Largest k scored (Avg@5 averages AC@1..AC@5).
pub const MAX_K: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum SockshopError {
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
    #[error("{path} has no `time` column first")]
    NoTimeColumn { path: PathBuf },
    #[error("no case folders (`<service>-<fault>/<n>/normal.csv`) under {path}")]
    NoCases { path: PathBuf },
    #[error("cannot write plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl model::Classify for SockshopError {
    fn class(&self) -> model::ErrorClass {
        match self {
            SockshopError::Io { .. } | SockshopError::Plot { .. } => model::ErrorClass::Internal,
            SockshopError::Csv { .. }
            | SockshopError::NoTimeColumn { .. }
            | SockshopError::NoCases { .. } => model::ErrorClass::InvalidInput,
        }
    }
}

/// Splits a case folder name `<service>-<fault>` at its last `-`.
pub fn split_case_name(name: &str) -> Option<(&str, &str)> {
    let (service, fault) = name.rsplit_once('-')?;
    (!service.is_empty() && !fault.is_empty()).then_some((service, fault))
}

/// Splits a column `<service>_<metric>` at its first `_`.
pub fn split_column(column: &str) -> Option<(&str, &str)> {
    let (service, metric) = column.split_once('_')?;
    (!service.is_empty() && !metric.is_empty()).then_some((service, metric))
}

/// One recorded fault case.
#[derive(Debug, Clone)]
pub struct RcaCase {
    /// `<service>-<fault>/<n>`.
    pub name: String,
    pub service: String,
    pub fault: String,
    pub series: Vec<ServiceSeries>,
}

/// Columns of a metrics CSV (without `time`) and their values; empty or bad cells are NaN.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<(String, Vec<f64>)>, SockshopError> {
    let mut reader = csv::Reader::from_path(path).map_err(|source| SockshopError::Csv {
        path: path.to_owned(),
        source,
    })?;
    let headers = reader
        .headers()
        .map_err(|source| SockshopError::Csv {
            path: path.to_owned(),
            source,
        })?
        .clone();
    if headers.get(0) != Some("time") {
        return Err(SockshopError::NoTimeColumn {
            path: path.to_owned(),
        });
    }
    let mut cols: Vec<(String, Vec<f64>)> = headers
        .iter()
        .skip(1)
        .map(|h| (h.to_owned(), Vec::new()))
        .collect();
    for record in reader.records() {
        let record = record.map_err(|source| SockshopError::Csv {
            path: path.to_owned(),
            source,
        })?;
        for (i, col) in cols.iter_mut().enumerate() {
            let v = record
                .get(i + 1)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            col.1.push(v);
        }
    }
    Ok(cols)
}

/// Pairs the normal and anomalous files of a case into per-service series.
pub fn load_case(
    dir: &Path,
    name: &str,
    service: &str,
    fault: &str,
) -> Result<RcaCase, SockshopError> {
    let normal = read_metrics_csv(&dir.join("normal.csv"))?;
    let anomalous: BTreeMap<String, Vec<f64>> = read_metrics_csv(&dir.join("anomalous.csv"))?
        .into_iter()
        .collect();
    let series = normal
        .into_iter()
        .filter_map(|(column, normal)| {
            let (svc, metric) = split_column(&column)?;
            let anomalous = anomalous.get(&column)?.clone();
            Some(ServiceSeries {
                service: svc.to_owned(),
                metric: metric.to_owned(),
                normal,
                anomalous,
            })
        })
        .collect();
    Ok(RcaCase {
        name: name.to_owned(),
        service: service.to_owned(),
        fault: fault.to_owned(),
        series,
    })
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, SockshopError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SockshopError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|source| SockshopError::Io {
            path: dir.to_owned(),
            source,
        })?;
        if e.path().is_dir() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Finds every `<service>-<fault>/<n>/` case under `data` (in name order).
pub fn find_cases(data: &Path) -> Result<Vec<(PathBuf, String, String, String)>, SockshopError> {
    let mut cases = Vec::new();
    for fault_dir in sorted_dirs(data)? {
        let Some(folder) = fault_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((service, fault)) = split_case_name(folder) else {
            continue;
        };
        for case_dir in sorted_dirs(&fault_dir)? {
            if !case_dir.join("normal.csv").is_file() || !case_dir.join("anomalous.csv").is_file() {
                continue;
            }
            let n = case_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            cases.push((
                case_dir.clone(),
                format!("{folder}/{n}"),
                service.to_owned(),
                fault.to_owned(),
            ));
        }
    }
    if cases.is_empty() {
        return Err(SockshopError::NoCases {
            path: data.to_owned(),
        });
    }
    Ok(cases)
}

/// The ranking of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub case: String,
    pub service: String,
    pub fault: String,
    /// 1-based rank of the true root cause, `None` if it was not ranked at all.
    pub rank: Option<usize>,
    pub top: Vec<RankedService>,
}

/// AC@1..AC@5 and Avg@5 over some cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AcScores {
    pub cases: usize,
    pub ac: [f64; MAX_K],
    pub avg5: f64,
}

impl AcScores {
    /// Scores from 1-based ranks (`None` = never found).
    pub fn from_ranks(ranks: &[Option<usize>]) -> Self {
        let mut ac = [0.0; MAX_K];
        if !ranks.is_empty() {
            for (k, slot) in ac.iter_mut().enumerate() {
                let hit = ranks
                    .iter()
                    .filter(|r| r.is_some_and(|r| r <= k + 1))
                    .count();
                *slot = hit as f64 / ranks.len() as f64;
            }
        }
        Self {
            cases: ranks.len(),
            ac,
            avg5: ac.iter().sum::<f64>() / MAX_K as f64,
        }
    }
}

/// Result of an RCA evaluation run.
#[derive(Debug, Clone, Serialize)]
pub struct RcaReport {
    pub cases: Vec<CaseResult>,
    pub overall: AcScores,
    pub by_fault: BTreeMap<String, AcScores>,
}

impl RcaReport {
    /// Per-case table followed by the summary.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<22} {:<14} {:>5}  {:<40}\n",
            "case", "root cause", "rank", "top 3 (score, metric)"
        );
        for c in &self.cases {
            let top: Vec<String> = c
                .top
                .iter()
                .take(3)
                .map(|r| format!("{} {:.1} {}", r.service, r.score, r.metric))
                .collect();
            let rank = c.rank.map_or("-".to_owned(), |r| r.to_string());
            s.push_str(&format!(
                "{:<22} {:<14} {:>5}  {}\n",
                c.case,
                c.service,
                rank,
                top.join(" | ")
            ));
        }
        s.push_str(&format!(
            "\n{:<10} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
            "fault", "cases", "AC@1", "AC@2", "AC@3", "AC@4", "AC@5", "Avg@5"
        ));
        let rows = self
            .by_fault
            .iter()
            .map(|(f, a)| (f.as_str(), a))
            .chain(std::iter::once(("all", &self.overall)));
        for (fault, a) in rows {
            s.push_str(&format!(
                "{:<10} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3}\n",
                fault, a.cases, a.ac[0], a.ac[1], a.ac[2], a.ac[3], a.ac[4], a.avg5
            ));
        }
        s
    }

    /// The one-line JSON summary:
    /// `{"cases":N,"ac1":X,"ac3":X,"avg5":X,"by_fault":{"cpu":{"avg5":X},...}}`.
    pub fn json_line(&self) -> String {
        let by_fault: serde_json::Map<String, serde_json::Value> = self
            .by_fault
            .iter()
            .map(|(f, a)| (f.clone(), serde_json::json!({ "avg5": a.avg5 })))
            .collect();
        serde_json::json!({
            "cases": self.overall.cases,
            "ac1": self.overall.ac[0],
            "ac3": self.overall.ac[2],
            "avg5": self.overall.avg5,
            "by_fault": by_fault,
        })
        .to_string()
    }
}

/// Ranks one case with the live ranking code and finds the true root cause's rank.
pub fn rank_case(case: &RcaCase) -> CaseResult {
    let ranked = rank_services(&case.series);
    let rank = ranked
        .iter()
        .position(|r| r.service == case.service)
        .map(|i| i + 1);
    CaseResult {
        case: case.name.clone(),
        service: case.service.clone(),
        fault: case.fault.clone(),
        rank,
        top: ranked.into_iter().take(MAX_K).collect(),
    }
}

fn progress(len: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// Evaluates every case under `data`; writes `rca_ac_by_fault.svg` into `out_dir` if given.
pub fn evaluate(data: &Path, out_dir: Option<&Path>) -> Result<RcaReport, SockshopError> {
    let found = find_cases(data)?;
    let bar = progress(found.len(), "rca cases");
    let mut results = Vec::with_capacity(found.len());
    for (dir, name, service, fault) in &found {
        let case = load_case(dir, name, service, fault)?;
        results.push(rank_case(&case));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ranks: Vec<Option<usize>> = results.iter().map(|c| c.rank).collect();
    let mut by_fault_ranks: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
    for c in &results {
        by_fault_ranks
            .entry(c.fault.clone())
            .or_default()
            .push(c.rank);
    }
    let report = RcaReport {
        overall: AcScores::from_ranks(&ranks),
        by_fault: by_fault_ranks
            .into_iter()
            .map(|(f, r)| (f, AcScores::from_ranks(&r)))
            .collect(),
        cases: results,
    };
    if let Some(out) = out_dir {
        write_plot(&report, out)?;
    }
    Ok(report)
}

fn write_plot(report: &RcaReport, out: &Path) -> Result<(), SockshopError> {
    std::fs::create_dir_all(out).map_err(|source| SockshopError::Io {
        path: out.to_owned(),
        source,
    })?;
    let path = out.join("rca_ac_by_fault.svg");
    let categories: Vec<String> = (1..=MAX_K).map(|k| format!("AC@{k}")).collect();
    let series: Vec<(String, Vec<f64>)> = report
        .by_fault
        .iter()
        .map(|(f, a)| (f.clone(), a.ac.to_vec()))
        .chain(std::iter::once((
            "all".to_owned(),
            report.overall.ac.to_vec(),
        )))
        .collect();
    crate::loghub::write_bar_svg(&path, "Root-cause accuracy by fault", &categories, &series)
        .map_err(|message| SockshopError::Plot { path, message })
}
