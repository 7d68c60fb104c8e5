//! Loghub-2k log parsing evaluation: strip each system's header with its published log format,
//! mine templates with `rca::TemplateMiner` (one configuration for all systems) and score group
//! accuracy against the labelled EventIds, with parsing throughput.
//!
//! Header formats are the Loghub benchmark's dataset descriptions (not tuning); lines whose
//! header does not match are mined whole and counted in `header_misses`.

use std::collections::HashMap;
use std::hash::Hash;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use rca::{LogFormat, MinerConfig, RcaError, TemplateMiner};
use serde::Serialize;

use crate::selection::{best, worst_then_mean};

/// The 16 Loghub-2k systems and their log header formats.
pub const SYSTEMS: [(&str, &str); 16] = [
    (
        "Android",
        "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    ),
    ("Apache", r"\[<Time>\] \[<Level>\] <Content>"),
    (
        "BGL",
        "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    ),
    ("HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"),
    (
        "HPC",
        "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    ),
    (
        "Hadoop",
        r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    ),
    ("HealthApp", r"<Time>\|<Component>\|<Pid>\|<Content>"),
    (
        "Linux",
        r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    ),
    (
        "Mac",
        r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \([\w\.]+\))?: <Content>",
    ),
    (
        "OpenSSH",
        r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    ),
    (
        "OpenStack",
        r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    ),
    ("Proxifier", r"\[<Time>\] <Program> - <Content>"),
    ("Spark", "<Date> <Time> <Level> <Component>: <Content>"),
    (
        "Thunderbird",
        r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
    ),
    (
        "Windows",
        "<Date> <Time>, <Level>                  <Component>    <Content>",
    ),
    (
        "Zookeeper",
        r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    ),
];

/// The header format of a Loghub system.
pub fn log_format(system: &str) -> Option<&'static str> {
    SYSTEMS.iter().find(|(n, _)| *n == system).map(|(_, f)| *f)
}

#[derive(Debug, thiserror::Error)]
pub enum LoghubError {
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
    #[error("{path} has no `{column}` column")]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{system}: {log_lines} log lines but {labelled} labelled rows")]
    LineCount {
        system: String,
        log_lines: usize,
        labelled: usize,
    },
    #[error("unknown Loghub system `{system}`")]
    UnknownSystem { system: String },
    #[error("no Loghub system folders under {path}")]
    NoSystems { path: PathBuf },
    #[error("bad log format for {system}")]
    Format {
        system: String,
        #[source]
        source: RcaError,
    },
    #[error("cannot write plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

impl model::Classify for LoghubError {
    fn class(&self) -> model::ErrorClass {
        match self {
            LoghubError::Io { .. } | LoghubError::Plot { .. } | LoghubError::Format { .. } => {
                model::ErrorClass::Internal
            }
            LoghubError::Csv { .. }
            | LoghubError::MissingColumn { .. }
            | LoghubError::LineCount { .. }
            | LoghubError::UnknownSystem { .. }
            | LoghubError::NoSystems { .. } => model::ErrorClass::InvalidInput,
        }
    }
}

/// Group accuracy: the share of lines whose predicted group is exactly their true group.
pub fn group_accuracy<P: Eq + Hash, T: Eq + Hash>(predicted: &[P], truth: &[T]) -> f64 {
    let n = predicted.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    let mut pred_groups: HashMap<&P, Vec<usize>> = HashMap::new();
    let mut true_groups: HashMap<&T, Vec<usize>> = HashMap::new();
    for i in 0..n {
        pred_groups.entry(&predicted[i]).or_default().push(i);
        true_groups.entry(&truth[i]).or_default().push(i);
    }
    let correct: usize = pred_groups
        .values()
        .filter(|lines| true_groups.get(&truth[lines[0]]) == Some(*lines))
        .map(Vec::len)
        .sum();
    correct as f64 / n as f64
}

/// One system's raw lines and labels.
#[derive(Debug, Clone)]
pub struct SystemData {
    pub name: String,
    pub raw_lines: Vec<String>,
    pub event_ids: Vec<String>,
}

/// Reads `<dir>/<name>/<name>_2k.log` and its `_structured.csv` labels.
pub fn load_system(data: &Path, name: &str) -> Result<SystemData, LoghubError> {
    let log_path = data.join(name).join(format!("{name}_2k.log"));
    let csv_path = data
        .join(name)
        .join(format!("{name}_2k.log_structured.csv"));
    let raw = std::fs::read(&log_path).map_err(|source| LoghubError::Io {
        path: log_path.clone(),
        source,
    })?;
    let raw = String::from_utf8_lossy(&raw);
    let raw_lines: Vec<String> = raw
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let mut reader = csv::Reader::from_path(&csv_path).map_err(|source| LoghubError::Csv {
        path: csv_path.clone(),
        source,
    })?;
    let headers = reader
        .headers()
        .map_err(|source| LoghubError::Csv {
            path: csv_path.clone(),
            source,
        })?
        .clone();
    let event_col =
        headers
            .iter()
            .position(|h| h == "EventId")
            .ok_or_else(|| LoghubError::MissingColumn {
                path: csv_path.clone(),
                column: "EventId",
            })?;
    let mut event_ids = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| LoghubError::Csv {
            path: csv_path.clone(),
            source,
        })?;
        event_ids.push(record.get(event_col).unwrap_or_default().to_owned());
    }
    if event_ids.len() != raw_lines.len() {
        return Err(LoghubError::LineCount {
            system: name.to_owned(),
            log_lines: raw_lines.len(),
            labelled: event_ids.len(),
        });
    }
    Ok(SystemData {
        name: name.to_owned(),
        raw_lines,
        event_ids,
    })
}

/// Parsing result of one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemResult {
    pub name: String,
    pub group_accuracy: f64,
    pub lines: usize,
    pub templates: usize,
    pub true_templates: usize,
    /// Lines whose header did not match the format (mined whole).
    pub header_misses: usize,
    pub seconds: f64,
}

/// Timed rounds per system: 2,000 lines take milliseconds, so one round is mostly noise.
const ROUNDS: usize = 5;

/// Splits headers and mines one system single-threaded; the timed part is header split +
/// mining (not reading or scoring), over [`ROUNDS`] rounds each with a fresh miner.
pub fn parse_system(data: &SystemData, config: &MinerConfig) -> Result<SystemResult, LoghubError> {
    let format_text = log_format(&data.name).ok_or_else(|| LoghubError::UnknownSystem {
        system: data.name.clone(),
    })?;
    let format = LogFormat::new(format_text).map_err(|source| LoghubError::Format {
        system: data.name.clone(),
        source,
    })?;
    // One round: a fresh miner over every line; returns it with the ids and header misses.
    let mine = || {
        let mut miner = TemplateMiner::new(config.clone());
        let mut header_misses = 0;
        let ids: Vec<_> = data
            .raw_lines
            .iter()
            .map(|line| {
                let content = format.content(line).unwrap_or_else(|| {
                    header_misses += 1;
                    line.as_str()
                });
                miner.add(content)
            })
            .collect();
        (miner, ids, header_misses)
    };
    let start = Instant::now();
    let mut round = mine();
    for _ in 1..ROUNDS {
        round = mine();
    }
    let (miner, ids, header_misses) = round;
    let seconds = start.elapsed().as_secs_f64() / ROUNDS as f64;
    let groups: Vec<u32> = ids.iter().map(|id| miner.group(*id)).collect();
    let mut truth: Vec<&String> = data.event_ids.iter().collect();
    truth.sort();
    truth.dedup();
    Ok(SystemResult {
        name: data.name.clone(),
        group_accuracy: group_accuracy(&groups, &data.event_ids),
        lines: data.raw_lines.len(),
        templates: miner.len(),
        true_templates: truth.len(),
        header_misses,
        seconds,
    })
}

/// Result of a log parsing evaluation run.
#[derive(Debug, Clone, Serialize)]
pub struct LogparseReport {
    pub systems: Vec<SystemResult>,
    pub avg_ga: f64,
    /// All lines over all timed seconds (single thread).
    pub lines_per_sec: f64,
}

impl LogparseReport {
    fn from_results(systems: Vec<SystemResult>) -> Self {
        let n = systems.len().max(1) as f64;
        let lines: usize = systems.iter().map(|s| s.lines).sum();
        let secs: f64 = systems.iter().map(|s| s.seconds).sum();
        Self {
            avg_ga: systems.iter().map(|s| s.group_accuracy).sum::<f64>() / n,
            lines_per_sec: if secs > 0.0 { lines as f64 / secs } else { 0.0 },
            systems,
        }
    }

    /// Per-system table with the published Drain figure beside ours.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<12} {:>6} {:>7} {:>9} {:>6} {:>7} {:>11}\n",
            "system", "GA", "Drain", "templates", "truth", "misses", "lines/s"
        );
        for r in &self.systems {
            let drain = published_drain(&r.name).map_or("-".to_owned(), |d| format!("{d:.3}"));
            let lps = if r.seconds > 0.0 {
                r.lines as f64 / r.seconds
            } else {
                0.0
            };
            s.push_str(&format!(
                "{:<12} {:>6.3} {:>7} {:>9} {:>6} {:>7} {:>11.0}\n",
                r.name,
                r.group_accuracy,
                drain,
                r.templates,
                r.true_templates,
                r.header_misses,
                lps
            ));
        }
        s.push_str(&format!(
            "{:<12} {:>6.3} {:>7} {:>9} {:>6} {:>7} {:>11.0}\n",
            "average", self.avg_ga, "0.865", "", "", "", self.lines_per_sec
        ));
        s
    }

    /// `{"systems":{NAME:GA,...},"avg_ga":X,"lines_per_sec":X}`.
    pub fn json_line(&self) -> String {
        let systems: serde_json::Map<String, serde_json::Value> = self
            .systems
            .iter()
            .map(|r| (r.name.clone(), serde_json::json!(r.group_accuracy)))
            .collect();
        serde_json::json!({
            "systems": systems,
            "avg_ga": self.avg_ga,
            "lines_per_sec": self.lines_per_sec,
        })
        .to_string()
    }
}

/// Drain's published group accuracy (Loghub-2k, per-system regexes and thresholds).
pub fn published_drain(system: &str) -> Option<f64> {
    const DRAIN: [(&str, f64); 16] = [
        ("HDFS", 0.998),
        ("Hadoop", 0.948),
        ("Spark", 0.920),
        ("Zookeeper", 0.967),
        ("BGL", 0.963),
        ("HPC", 0.887),
        ("Thunderbird", 0.955),
        ("Windows", 0.997),
        ("Linux", 0.690),
        ("Android", 0.911),
        ("HealthApp", 0.780),
        ("Apache", 1.0),
        ("Proxifier", 0.527),
        ("OpenSSH", 0.788),
        ("OpenStack", 0.733),
        ("Mac", 0.787),
    ];
    DRAIN.iter().find(|(n, _)| *n == system).map(|(_, g)| *g)
}

/// Evaluates the named systems (known Loghub names) under `data`.
pub fn evaluate_systems(
    data: &Path,
    names: &[&str],
    config: &MinerConfig,
) -> Result<LogparseReport, LoghubError> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(names.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut results = Vec::with_capacity(names.len());
    for name in names {
        bar.set_message((*name).to_owned());
        let system = load_system(data, name)?;
        results.push(parse_system(&system, config)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(LogparseReport::from_results(results))
}

/// Group accuracy of one system under `config` (one untimed round).
pub fn system_ga(data: &SystemData, config: &MinerConfig) -> Result<f64, LoghubError> {
    let format_text = log_format(&data.name).ok_or_else(|| LoghubError::UnknownSystem {
        system: data.name.clone(),
    })?;
    let format = LogFormat::new(format_text).map_err(|source| LoghubError::Format {
        system: data.name.clone(),
        source,
    })?;
    let mut miner = TemplateMiner::new(config.clone());
    let ids: Vec<u32> = data
        .raw_lines
        .iter()
        .map(|line| miner.add(format.content(line).unwrap_or(line)))
        .collect();
    let groups: Vec<u32> = ids.iter().map(|id| miner.group(*id)).collect();
    Ok(group_accuracy(&groups, &data.event_ids))
}

/// The miner settings leave-one-system-out chooses among: similarity and how many distinct
/// values a position may show before it is a parameter (the default is among them).
pub fn config_grid() -> Vec<MinerConfig> {
    let mut out = Vec::new();
    for similarity in [0.6, 0.65, 0.7, 0.75, 0.8] {
        for max_variant_values in [0, 2, 3, 4, 5] {
            out.push(MinerConfig {
                similarity,
                max_variant_values,
                ..MinerConfig::default()
            });
        }
    }
    out
}

/// One system scored with settings chosen on the others.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub name: String,
    /// GA with the default settings (the live miner's).
    pub default_ga: f64,
    /// GA with the settings chosen on the other systems (`crate::selection`: the best worst
    /// system, then the best mean).
    pub held_out_ga: f64,
    pub similarity: f64,
    pub max_variant_values: usize,
}

/// Leave-one-system-out: for each system, the grid setting chosen on the other systems (the
/// best lowest GA among them, then the best mean), and the left-out system's GA under it.
#[derive(Debug, Clone, Serialize)]
pub struct LosoReport {
    pub systems: Vec<HeldOut>,
    pub mean_default: f64,
    pub mean_held_out: f64,
    pub min_held_out: f64,
}

impl LosoReport {
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<12} {:>8} {:>9}  {}\n",
            "system", "default", "held-out", "chosen on the other 15 (similarity, values)"
        );
        for h in &self.systems {
            s.push_str(&format!(
                "{:<12} {:>8.3} {:>9.3}  {:.2}, {}\n",
                h.name, h.default_ga, h.held_out_ga, h.similarity, h.max_variant_values
            ));
        }
        s.push_str(&format!(
            "{:<12} {:>8.3} {:>9.3}  (lowest held-out {:.3})\n",
            "average", self.mean_default, self.mean_held_out, self.min_held_out
        ));
        s
    }
}

/// Runs [`config_grid`] over every system under `data` and scores each left out.
pub fn leave_one_system_out(data: &Path) -> Result<LosoReport, LoghubError> {
    let names: Vec<&str> = SYSTEMS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| data.join(n).is_dir())
        .collect();
    if names.len() < 2 {
        return Err(LoghubError::NoSystems {
            path: data.to_owned(),
        });
    }
    let grid = config_grid();
    let systems: Vec<SystemData> = names
        .iter()
        .map(|n| load_system(data, n))
        .collect::<Result<_, _>>()?;
    // ga[c][s]
    let mut ga = Vec::with_capacity(grid.len());
    for config in &grid {
        let row: Vec<f64> = systems
            .iter()
            .map(|s| system_ga(s, config))
            .collect::<Result<_, _>>()?;
        ga.push(row);
    }
    let default = MinerConfig::default();
    let mut out = Vec::new();
    for (i, system) in systems.iter().enumerate() {
        let others = |row: &Vec<f64>| -> Vec<f64> {
            row.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, g)| *g)
                .collect()
        };
        let chosen = best(ga.iter().map(|row| worst_then_mean(&others(row)))).unwrap_or(0);
        out.push(HeldOut {
            name: system.name.clone(),
            default_ga: system_ga(system, &default)?,
            held_out_ga: ga[chosen][i],
            similarity: grid[chosen].similarity,
            max_variant_values: grid[chosen].max_variant_values,
        });
    }
    let n = out.len() as f64;
    Ok(LosoReport {
        mean_default: out.iter().map(|h| h.default_ga).sum::<f64>() / n,
        mean_held_out: out.iter().map(|h| h.held_out_ga).sum::<f64>() / n,
        min_held_out: out.iter().map(|h| h.held_out_ga).fold(1.0, f64::min),
        systems: out,
    })
}

/// Evaluates every known system that has a folder under `data` with the default miner
/// configuration; writes `logparse_ga.svg` into `out_dir` if given.
pub fn evaluate(data: &Path, out_dir: Option<&Path>) -> Result<LogparseReport, LoghubError> {
    let names: Vec<&str> = SYSTEMS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| data.join(n).is_dir())
        .collect();
    if names.is_empty() {
        return Err(LoghubError::NoSystems {
            path: data.to_owned(),
        });
    }
    let report = evaluate_systems(data, &names, &MinerConfig::default())?;
    if let Some(out) = out_dir {
        std::fs::create_dir_all(out).map_err(|source| LoghubError::Io {
            path: out.to_owned(),
            source,
        })?;
        let path = out.join("logparse_ga.svg");
        let categories: Vec<String> = report.systems.iter().map(|s| s.name.clone()).collect();
        let ours: Vec<f64> = report.systems.iter().map(|s| s.group_accuracy).collect();
        let drain: Vec<f64> = report
            .systems
            .iter()
            .map(|s| published_drain(&s.name).unwrap_or(0.0))
            .collect();
        write_bar_svg(
            &path,
            "Group accuracy per system",
            &categories,
            &[
                ("srebot".to_owned(), ours),
                ("Drain (published)".to_owned(), drain),
            ],
        )
        .map_err(|message| LoghubError::Plot { path, message })?;
    }
    Ok(report)
}

/// Writes a grouped bar chart (values in `[0, 1]`) as SVG.
pub(crate) fn write_bar_svg(
    path: &Path,
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<(), String> {
    let width = (120 + 60 * categories.len() as u32).max(640);
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let n = categories.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n, 0.0..1.05)
        .map_err(|e| e.to_string())?;
    let cats = categories.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(categories.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            cats.get(i).cloned().unwrap_or_default()
        })
        .y_desc("score")
        .draw()
        .map_err(|e| e.to_string())?;
    let groups = series.len().max(1) as f64;
    let bar_w = 0.8 / groups;
    for (si, (name, values)) in series.iter().enumerate() {
        let color = Palette99::pick(si).to_rgba();
        chart
            .draw_series(values.iter().enumerate().map(|(ci, v)| {
                let x0 = ci as f64 + 0.1 + si as f64 * bar_w;
                Rectangle::new([(x0, 0.0), (x0 + bar_w, *v)], color.filled())
            }))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_counts_only_exactly_matching_groups() {
        // Truth: {0,1,2} A, {3,4} B, {5} C.
        let truth = ["A", "A", "A", "B", "B", "C"];
        assert_eq!(group_accuracy(&[1, 1, 1, 2, 2, 3], &truth), 1.0);
        // Predicted group {3,4,5} mixes B and C: only the A lines are right.
        assert_eq!(group_accuracy(&[1, 1, 1, 2, 2, 2], &truth), 0.5);
        // Splitting A into {0,1} and {2}: A lines are all wrong.
        let ga = group_accuracy(&[1, 1, 9, 2, 2, 3], &truth);
        assert!((ga - 0.5).abs() < 1e-12, "{ga}");
        assert_eq!(group_accuracy::<u8, &str>(&[], &[]), 0.0);
    }

    #[test]
    fn every_system_has_a_format_and_published_figure() {
        for (name, format) in SYSTEMS {
            assert!(LogFormat::new(format).is_ok(), "{name}");
            assert!(published_drain(name).is_some(), "{name}");
        }
        assert_eq!(log_format("Nope"), None);
    }

    #[test]
    fn header_split_equals_the_format_regex_on_every_system() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub");
        for (name, format_text) in SYSTEMS {
            let format = LogFormat::new(format_text).unwrap();
            let system = load_system(&data, name).unwrap();
            for line in &system.raw_lines {
                let by_regex = format
                    .regex()
                    .captures(line)
                    .and_then(|c| c.name("Content"))
                    .map(|m| m.as_str());
                assert_eq!(format.content(line), by_regex, "{name}: {line}");
            }
        }
    }
}
