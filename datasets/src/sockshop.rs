//! Root-cause evaluation on recorded cases in the RCAEval layout (Sock Shop and other corpora
//! brought into it): each case into a window store, ranked by the live draft's own code
//! ([`app::live_rca::rank_window`]), scored as AC@k and Avg@5 per fault kind.
//!
//! Layout: a case folder is `<service>-<fault>/<n>/{normal,anomalous}.csv`; the service is
//! everything before the *last* `-`, the fault the rest. CSV columns are `time` then
//! `<service>_<metric>`: the longest service named by a case folder that prefixes the column,
//! else split at the first `_` (metrics such as `lat_50` contain `_`). A `topology.toml` with
//! `[[topology.edge]]` tables (`caller`, `callee`), in the case folder or any folder above it
//! up to the data root, gives the call graph the ranking walks. Normal and anomalous periods
//! are told apart by file, not by timestamp (one Sock Shop case records its normal data after
//! its anomalous data): the anomalous rows are laid right after the normal ones, one step on.
//!
//! Candidates: every service that has a column in the case's CSV (all 13 Sock Shop containers,
//! databases and the message queue included). No list of "application" services is assumed, so
//! the ranking must beat infrastructure containers on its own.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use app::live_rca::{RankWindow, rank_window};
use indicatif::{ProgressBar, ProgressStyle};
use rca::RankedService;
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
    #[error("{path}: {message}")]
    Topology { path: PathBuf, message: String },
    #[error("cannot write plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl model::Classify for SockshopError {
    fn class(&self) -> model::ErrorClass {
        match self {
            SockshopError::Io { .. } | SockshopError::Plot { .. } => model::ErrorClass::Internal,
            SockshopError::Csv { .. }
            | SockshopError::NoTimeColumn { .. }
            | SockshopError::Topology { .. }
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

/// Splits a column at the longest of `services` it starts with (followed by `_`), else at its
/// first `_`: service names may contain `_` when the case folders say so.
pub fn split_column_among<'a>(
    column: &'a str,
    services: &std::collections::BTreeSet<String>,
) -> Option<(&'a str, &'a str)> {
    let known = services
        .iter()
        .filter(|s| {
            column.len() > s.len() + 1
                && column.starts_with(s.as_str())
                && column.as_bytes()[s.len()] == b'_'
        })
        .max_by_key(|s| s.len());
    match known {
        Some(s) => Some((&column[..s.len()], &column[s.len() + 1..])),
        None => split_column(column),
    }
}

/// One column of a case: a service's metric in both periods.
#[derive(Debug, Clone)]
pub struct CaseColumn {
    pub service: String,
    pub metric: String,
    pub normal: Vec<f64>,
    pub anomalous: Vec<f64>,
}

/// One recorded fault case.
#[derive(Debug, Clone)]
pub struct RcaCase {
    /// `<service>-<fault>/<n>`.
    pub name: String,
    pub service: String,
    pub fault: String,
    /// Times of the normal and anomalous rows (ms).
    pub normal_ms: Vec<i64>,
    pub anomalous_ms: Vec<i64>,
    pub columns: Vec<CaseColumn>,
    /// Call edges from `topology.toml`, if any.
    pub topology: rca::Topology,
}

/// A metrics CSV: the times of its rows (ms) and its columns (without `time`) with their
/// values; empty or bad cells are NaN. Times are epoch seconds or milliseconds; a time column
/// that is not numbers counts rows a minute apart.
pub type MetricsCsv = (Vec<i64>, Vec<(String, Vec<f64>)>);

/// Reads a metrics CSV.
pub fn read_metrics_csv(path: &Path) -> Result<MetricsCsv, SockshopError> {
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
    if headers.get(0).map(str::trim) != Some("time") {
        return Err(SockshopError::NoTimeColumn {
            path: path.to_owned(),
        });
    }
    let mut cols: Vec<(String, Vec<f64>)> = headers
        .iter()
        .skip(1)
        .map(|h| (h.trim().to_owned(), Vec::new()))
        .collect();
    let mut times = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|source| SockshopError::Csv {
            path: path.to_owned(),
            source,
        })?;
        let t = record.get(0).and_then(|s| s.trim().parse::<f64>().ok());
        times.push(match t {
            Some(t) if t.abs() > 1e11 => t as i64,
            Some(t) => (t * 1000.0) as i64,
            None => row as i64 * 60_000,
        });
        for (i, col) in cols.iter_mut().enumerate() {
            let v = record
                .get(i + 1)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN);
            col.1.push(v);
        }
    }
    Ok((times, cols))
}

/// The `topology.toml` nearest to `dir`, looking up to `root`.
fn topology_for(dir: &Path, root: &Path) -> Result<rca::Topology, SockshopError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        topology: rca::TopologyConfig,
    }
    let mut at = Some(dir);
    while let Some(d) = at {
        let path = d.join("topology.toml");
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|source| SockshopError::Io {
                path: path.clone(),
                source,
            })?;
            let file: File = toml::from_str(&text).map_err(|e| SockshopError::Topology {
                path: path.clone(),
                message: e.to_string(),
            })?;
            return Ok(file.topology.topology());
        }
        if d == root {
            break;
        }
        at = d.parent();
    }
    Ok(rca::Topology::default())
}

/// Pairs the normal and anomalous files of a case into per-service columns; `services` are
/// the services the case folders name (to split columns whose service holds `_`).
pub fn load_case(
    dir: &Path,
    name: &str,
    service: &str,
    fault: &str,
    services: &std::collections::BTreeSet<String>,
) -> Result<RcaCase, SockshopError> {
    let (normal_ms, normal) = read_metrics_csv(&dir.join("normal.csv"))?;
    let (anomalous_ms, anomalous) = read_metrics_csv(&dir.join("anomalous.csv"))?;
    let anomalous: BTreeMap<String, Vec<f64>> = anomalous.into_iter().collect();
    let columns = normal
        .into_iter()
        .filter_map(|(column, normal)| {
            let (svc, metric) = split_column_among(&column, services)?;
            let anomalous = anomalous.get(&column)?.clone();
            Some(CaseColumn {
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
        normal_ms,
        anomalous_ms,
        columns,
        topology: rca::Topology::default(),
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

/// The case in a window store as the live path holds series (`{__name__=<metric>,
/// service=<service>}`), the anomalous rows one step after the normal ones, and the two periods.
pub fn store_of_case(case: &RcaCase) -> (windows::Store, RankWindow) {
    let mut gaps: Vec<i64> = case
        .normal_ms
        .windows(2)
        .chain(case.anomalous_ms.windows(2))
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    let step = gaps.get(gaps.len() / 2).copied().unwrap_or(1_000).max(1);
    let first = case.normal_ms.first().copied().unwrap_or(0);
    let anomalous_from = case.normal_ms.last().copied().unwrap_or(first) + step;
    let a0 = case.anomalous_ms.first().copied().unwrap_or(0);
    let anomalous_ms: Vec<i64> = case
        .anomalous_ms
        .iter()
        .map(|t| anomalous_from + (t - a0).max(0))
        .collect();
    let to = anomalous_ms.last().copied().unwrap_or(anomalous_from);
    let span = (to - first).max(0);
    let store = windows::Store::new(windows::StoreConfig {
        retention_ms: span + 3_600_000,
        lateness_ms: span + 3_600_000,
        ..windows::StoreConfig::default()
    });
    let mut appender = store.appender();
    for column in &case.columns {
        let metric: String = column
            .metric
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let labels = [
            (model::METRIC_NAME, metric.as_str()),
            ("service", column.service.as_str()),
        ];
        let samples: Vec<model::Sample> = case
            .normal_ms
            .iter()
            .zip(&column.normal)
            .chain(anomalous_ms.iter().zip(&column.anomalous))
            .filter(|(_, v)| v.is_finite())
            .map(|(&timestamp_ms, &value)| model::Sample {
                timestamp_ms,
                value,
            })
            .collect();
        // Duplicate timestamps keep the first value; what the store refuses it counts.
        let _ = model::SeriesVisitor::series(
            &mut appender,
            model::SeriesRef {
                labels: &labels,
                samples: &samples,
                metric_type: model::MetricType::Gauge,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            },
        );
    }
    appender.finish();
    let window = RankWindow {
        normal_from: first - 1,
        anomalous_from,
        to,
    };
    (store, window)
}

/// Ranks one case with the live ranking code (every service with a column is a candidate)
/// and finds the true root cause's rank.
pub fn rank_case(case: &RcaCase) -> CaseResult {
    let (store, window) = store_of_case(case);
    let mut services: Vec<model::Target> = Vec::new();
    for c in &case.columns {
        if !services.iter().any(|s| s.name == c.service) {
            services.push(model::Target::new(
                model::Scope::Service,
                None,
                c.service.clone(),
            ));
        }
    }
    let ranked = rank_window(&store, &services, &window, &case.topology);
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
    let services: std::collections::BTreeSet<String> =
        found.iter().map(|(_, _, s, _)| s.clone()).collect();
    let bar = progress(found.len(), "rca cases");
    let mut results = Vec::with_capacity(found.len());
    for (dir, name, service, fault) in &found {
        let mut case = load_case(dir, name, service, fault, &services)?;
        case.topology = topology_for(dir, data)?;
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
