//! Root-cause service ranking from metrics: each service's series in a normal period against an
//! anomalous period, scored by robust deviation, then walked over the call graph.
//!
//! A series scores the largest robust z-score of its anomalous samples against the normal
//! period's median and inter-quartile range (the BARO/RobustScaler idea), counted in the
//! direction that hurts (latency, errors, cpu and memory up, availability down; the other
//! direction counts a little). A service scores its strongest series. With a call graph, the
//! scores personalise a random walk (as MicroRank and MonitorRank do): from a service the
//! walker moves to a callee in proportion to that callee's latency/error deviation (a fault
//! there explains the caller's), stays in proportion to its own deviation (more when its own
//! cpu or memory moved), and seldom steps back to a caller. Where the walk settles is the
//! ranking: an anomalous service whose callees are healthy keeps the walk; a caller that only
//! inherits its callee's latency passes it on. Without a graph the walk ranks by deviation.
//! The same function serves the live draft and offline evaluation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::topology::Topology;

/// What a series measures, told from its name (and, for request counters, its status label):
/// it says which direction hurts and whether a callee's fault shows in it upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Latency,
    Errors,
    Availability,
    Load,
    Cpu,
    Memory,
    Other,
}

impl MetricKind {
    /// The kind a metric name suggests, e.g. `lat_90`, `http_request_duration_seconds`,
    /// `errors`, `container_cpu_usage_seconds_total`, `mem`, `lod`, `availability`.
    pub fn of(metric: &str) -> Self {
        let lower = metric.to_ascii_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
        let prefixed = |list: &[&str]| words.iter().any(|w| list.iter().any(|p| w.starts_with(p)));
        if has(&["cpu", "cpus", "throttled", "throttling"]) {
            MetricKind::Cpu
        } else if has(&["mem", "memory", "rss", "heap", "oom"]) || lower.contains("working_set") {
            MetricKind::Memory
        } else if prefixed(&["err", "fail", "fault", "exception", "5xx"]) {
            MetricKind::Errors
        } else if has(&[
            "availability",
            "available",
            "success",
            "up",
            "ready",
            "healthy",
        ]) {
            MetricKind::Availability
        } else if has(&[
            "lat",
            "latency",
            "duration",
            "delay",
            "rt",
            "seconds",
            "ms",
            "milliseconds",
            "p50",
            "p75",
            "p90",
            "p95",
            "p99",
            "response",
            "time",
        ]) {
            MetricKind::Latency
        } else if has(&[
            "lod",
            "load",
            "requests",
            "request",
            "rps",
            "qps",
            "throughput",
            "calls",
            "count",
            "traffic",
            "total",
        ]) {
            MetricKind::Load
        } else {
            MetricKind::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Latency => "latency",
            MetricKind::Errors => "errors",
            MetricKind::Availability => "availability",
            MetricKind::Load => "load",
            MetricKind::Cpu => "cpu",
            MetricKind::Memory => "memory",
            MetricKind::Other => "other",
        }
    }

    /// +1 when a rise hurts, -1 when a fall hurts, 0 when either may.
    fn bad_direction(self) -> f64 {
        match self {
            MetricKind::Latency | MetricKind::Errors | MetricKind::Cpu | MetricKind::Memory => 1.0,
            MetricKind::Availability => -1.0,
            MetricKind::Load | MetricKind::Other => 0.0,
        }
    }

    /// Whether a callee's fault shows in its callers' series of this kind.
    fn propagates(self) -> bool {
        matches!(
            self,
            MetricKind::Latency | MetricKind::Errors | MetricKind::Availability
        )
    }

    /// Whether a move of this kind is the service's own (its resources), not its callees'.
    fn intrinsic(self) -> bool {
        matches!(self, MetricKind::Cpu | MetricKind::Memory)
    }
}

/// One metric of one service over the two periods. Non-finite samples are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSeries {
    pub service: String,
    pub metric: String,
    pub normal: Vec<f64>,
    pub anomalous: Vec<f64>,
    /// What it measures; `None` tells it from `metric`.
    #[serde(default)]
    pub kind: Option<MetricKind>,
}

impl ServiceSeries {
    /// A series whose kind is told from its metric name.
    pub fn new(
        service: impl Into<String>,
        metric: impl Into<String>,
        normal: Vec<f64>,
        anomalous: Vec<f64>,
    ) -> Self {
        Self {
            service: service.into(),
            metric: metric.into(),
            normal,
            anomalous,
            kind: None,
        }
    }

    pub fn kind(&self) -> MetricKind {
        self.kind.unwrap_or_else(|| MetricKind::of(&self.metric))
    }
}

/// A ranked candidate root cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedService {
    pub service: String,
    /// Robust deviation of the driving metric (in normal-period IQRs).
    pub score: f64,
    /// The driving metric's move relative to its normal level (0.5: half as much again; for
    /// a ratio such as an error ratio, the move itself).
    #[serde(default)]
    pub change: f64,
    /// The metric with the largest deviation.
    pub metric: String,
    /// What that metric measures.
    #[serde(default = "other_kind")]
    pub kind: MetricKind,
    /// Where the walk over the call graph settles, as a share of all services (sums to 1);
    /// the ranking's order. Without a graph it follows the deviation.
    #[serde(default)]
    pub share: f64,
    /// The callee whose fault this service's deviation most likely inherits, when the walk
    /// passed on through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherits_from: Option<String>,
}

fn other_kind() -> MetricKind {
    MetricKind::Other
}

/// Quantile by linear interpolation of a sorted slice (`q` in `[0, 1]`).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Ranking settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankConfig {
    /// Smallest scale of a series as a share of its normal median: changes below this share of
    /// the level are treated as noise, so a flat-but-jittery gauge (memory of an idle JVM)
    /// cannot outrank a real shift in another service.
    pub relative_noise_floor: f64,
    /// Smallest scale of a ratio in `[0, 1]` (error ratio, availability), in absolute terms:
    /// half a percentage point.
    pub ratio_noise_floor: f64,
    /// Weight of a move in the direction that does not hurt (latency falling, availability
    /// rising), against 1 for the direction that does.
    pub benign_direction: f64,
    /// Weight of load (request rate) deviations: load moves with callers and callees alike,
    /// so it points at a cause less than latency, errors or resources do.
    pub load_weight: f64,
    /// Quantile of the anomalous samples' deviations taken as the move (0.75: the fault shows
    /// in at least a quarter of the anomalous period).
    pub persistence: f64,
    /// Robust z below which a move is noise (scores nothing) ...
    pub noise_z: f64,
    /// ... and from which it counts in full.
    pub significant_z: f64,
    /// Chance per step that the walk restarts at a service drawn by deviation.
    pub restart: f64,
    /// Weight of staying at a service, per unit of its own deviation.
    pub stay: f64,
    /// Weight of stepping back to a caller, per unit of the caller's deviation.
    pub back: f64,
}

impl Default for RankConfig {
    fn default() -> Self {
        Self {
            relative_noise_floor: 0.01,
            ratio_noise_floor: 0.005,
            benign_direction: 0.3,
            load_weight: 0.5,
            persistence: 0.75,
            noise_z: 2.0,
            significant_z: 5.0,
            restart: 0.15,
            stay: 0.5,
            back: 0.1,
        }
    }
}

/// Robust deviation score of one series with the default settings, or `None` when a period
/// has no finite samples.
pub fn series_score(normal: &[f64], anomalous: &[f64]) -> Option<f64> {
    series_score_with(normal, anomalous, &RankConfig::default())
}

/// Robust deviation score of one series, either direction: the largest `|x - median| / scale`
/// over the anomalous samples, where `scale` is the normal period's IQR, raised to the relative
/// noise floor; a flat baseline falls back to its standard deviation, then to the floor (at
/// least `1e-9`).
pub fn series_score_with(normal: &[f64], anomalous: &[f64], config: &RankConfig) -> Option<f64> {
    let baseline = Baseline::of(normal, config.relative_noise_floor, 0.0)?;
    anomalous
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| ((v - baseline.median) / baseline.scale).abs())
        .reduce(f64::max)
}

/// A normal period's centre and robust scale.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    median: f64,
    scale: f64,
}

impl Baseline {
    /// Median and scale (IQR, else standard deviation) raised to `relative × |median|` and to
    /// `floor`, at least `1e-9`; `None` without finite samples.
    fn of(normal: &[f64], relative: f64, floor: f64) -> Option<Self> {
        let mut base: Vec<f64> = normal.iter().copied().filter(|v| v.is_finite()).collect();
        if base.is_empty() {
            return None;
        }
        base.sort_by(f64::total_cmp);
        let median = quantile(&base, 0.5);
        let iqr = quantile(&base, 0.75) - quantile(&base, 0.25);
        let least = (relative * median.abs()).max(floor).max(1e-9);
        let tiny = f64::EPSILON * median.abs().max(1.0);
        let spread = if iqr > tiny {
            iqr
        } else {
            let mean = base.iter().sum::<f64>() / base.len() as f64;
            let var = base.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / base.len() as f64;
            var.sqrt()
        };
        Some(Self {
            median,
            scale: if spread > tiny {
                spread.max(least)
            } else {
                least
            },
        })
    }

    /// The series' typical size, for peers with a flat zero baseline.
    fn level(&self) -> f64 {
        self.median.abs().max(self.scale)
    }
}

/// How far one series moved: the ranking score, its robust z and its relative change.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moved {
    score: f64,
    z: f64,
    change: f64,
}

/// How far one series moved in the direction that hurts, or `None` without samples.
///
/// The move is the `persistence` quantile of the anomalous samples' deviations from the normal
/// median (a fault lasts; one spike does not), in the direction that hurts (the other counts
/// `benign_direction`). Its size is told two ways: `z`, in units of the normal period's robust
/// scale, says whether it is real; `change`, relative to the series' level (absolute for a ratio
/// in `[0, 1]`), says how large it is. The score is the change, counted in full once `z` passes
/// `significant_z` and not at all below `noise_z`: a caller with smooth metrics shows an
/// inherited shift with a larger z than the noisier service it calls, but never a larger
/// relative change, because its latency is its own work plus its calls'.
fn deviation(
    series: &ServiceSeries,
    kind: MetricKind,
    peer_level: f64,
    config: &RankConfig,
) -> Option<Moved> {
    let finite = || {
        series
            .normal
            .iter()
            .chain(&series.anomalous)
            .filter(|v| v.is_finite())
    };
    let ratio = matches!(kind, MetricKind::Errors | MetricKind::Availability)
        && finite().all(|v| (0.0..=1.0).contains(v));
    let mut floor = config.relative_noise_floor * peer_level;
    if ratio {
        floor = floor.max(config.ratio_noise_floor);
    }
    let baseline = Baseline::of(&series.normal, config.relative_noise_floor, floor)?;
    let bad = kind.bad_direction();
    let mut up: Vec<f64> = Vec::new();
    let mut down: Vec<f64> = Vec::new();
    for v in series.anomalous.iter().filter(|v| v.is_finite()) {
        let d = v - baseline.median;
        up.push(d);
        down.push(-d);
    }
    if up.is_empty() {
        return None;
    }
    up.sort_by(f64::total_cmp);
    down.sort_by(f64::total_cmp);
    let rise = quantile(&up, config.persistence).max(0.0);
    let fall = quantile(&down, config.persistence).max(0.0);
    let moved = if bad > 0.0 {
        rise.max(fall * config.benign_direction)
    } else if bad < 0.0 {
        fall.max(rise * config.benign_direction)
    } else {
        rise.max(fall)
    };
    let z = moved / baseline.scale;
    let level = if ratio {
        1.0
    } else {
        baseline.median.abs().max(baseline.scale)
    };
    let change = moved / level;
    let span = (config.significant_z - config.noise_z).max(1e-9);
    let significance = ((z - config.noise_z) / span).clamp(0.0, 1.0);
    Some(Moved {
        score: significance * change,
        z,
        change,
    })
}

/// Ranks services by their strongest deviating series (default settings, no call graph).
pub fn rank_services(series: &[ServiceSeries]) -> Vec<RankedService> {
    rank_services_with(series, &RankConfig::default())
}

/// Ranks services by their strongest deviating series; ties keep name order. Every service
/// that has a scorable series is a candidate.
pub fn rank_services_with(series: &[ServiceSeries], config: &RankConfig) -> Vec<RankedService> {
    rank_with_topology(series, &Topology::default(), config)
}

/// One service's deviations: its driving series, and the strongest of the kinds that travel
/// upstream and of its own resources.
#[derive(Debug, Clone)]
struct Deviations {
    total: f64,
    metric: String,
    kind: MetricKind,
    z: f64,
    change: f64,
    propagating: f64,
    intrinsic: f64,
}

/// Ranks services by where a deviation-weighted walk over `topology` settles (see the module
/// doc); services without a scorable series are not ranked. Ties keep name order.
pub fn rank_with_topology(
    series: &[ServiceSeries],
    topology: &Topology,
    config: &RankConfig,
) -> Vec<RankedService> {
    // Typical size of each metric across services: the floor for a flat zero baseline.
    let mut levels: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in series {
        if let Some(b) = Baseline::of(&s.normal, config.relative_noise_floor, 0.0) {
            let level = b.level();
            if level > 1e-9 {
                levels.entry(s.metric.as_str()).or_default().push(level);
            }
        }
    }
    let peer_level = |metric: &str| {
        levels.get(metric).map_or(0.0, |l| {
            let mut l = l.clone();
            l.sort_by(f64::total_cmp);
            quantile(&l, 0.5)
        })
    };
    let mut by_service: BTreeMap<&str, Deviations> = BTreeMap::new();
    for s in series {
        let kind = s.kind();
        let Some(moved) = deviation(s, kind, peer_level(&s.metric), config) else {
            continue;
        };
        let weighted = if kind == MetricKind::Load {
            moved.score * config.load_weight
        } else {
            moved.score
        };
        let e = by_service.entry(s.service.as_str()).or_insert(Deviations {
            total: f64::NEG_INFINITY,
            metric: s.metric.clone(),
            kind,
            z: moved.z,
            change: moved.change,
            propagating: 0.0,
            intrinsic: 0.0,
        });
        // The driving series: the highest score, else (nothing significant) the largest z.
        let better = weighted > e.total || (weighted == e.total && moved.z > e.z);
        if better {
            e.total = weighted;
            e.metric.clone_from(&s.metric);
            e.kind = kind;
            e.z = moved.z;
            e.change = moved.change;
        }
        if kind.propagates() {
            e.propagating = e.propagating.max(weighted);
        }
        if kind.intrinsic() {
            e.intrinsic = e.intrinsic.max(weighted);
        }
    }
    let names: Vec<&str> = by_service.keys().copied().collect();
    let devs: Vec<&Deviations> = by_service.values().collect();
    let shares = walk(&names, &devs, topology, config);
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut out: Vec<RankedService> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            // The callee the walk passed this service's share on to, if any took more.
            let inherits_from = topology
                .callees(name)
                .filter_map(|c| index.get(c).map(|&j| (c, j)))
                .filter(|&(_, j)| shares[j] > shares[i] && devs[j].propagating > 0.0)
                .max_by(|a, b| shares[a.1].total_cmp(&shares[b.1]))
                .map(|(c, _)| c.to_owned());
            RankedService {
                service: (*name).to_owned(),
                score: devs[i].z,
                change: devs[i].change,
                metric: devs[i].metric.clone(),
                kind: devs[i].kind,
                share: shares[i],
                inherits_from,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then(b.change.total_cmp(&a.change))
            .then(b.score.total_cmp(&a.score))
    });
    out
}

/// The stationary distribution of the deviation-weighted walk (power iteration).
fn walk(
    names: &[&str],
    devs: &[&Deviations],
    topology: &Topology,
    config: &RankConfig,
) -> Vec<f64> {
    let n = names.len();
    if n == 0 {
        return Vec::new();
    }
    let top = devs
        .iter()
        .map(|d| d.total)
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let norm = |v: f64| (v / top).clamp(0.0, 1.0);
    let total: Vec<f64> = devs.iter().map(|d| norm(d.total)).collect();
    let propagating: Vec<f64> = devs.iter().map(|d| norm(d.propagating)).collect();
    let intrinsic: Vec<f64> = devs.iter().map(|d| norm(d.intrinsic)).collect();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    // Outgoing weights per service: (to, weight).
    let mut moves: Vec<Vec<(usize, f64)>> = Vec::with_capacity(n);
    for (i, name) in names.iter().enumerate() {
        let mut out = vec![(i, config.stay * total[i] + intrinsic[i])];
        for callee in topology.callees(name) {
            if let Some(&j) = index.get(callee) {
                out.push((j, propagating[j]));
            }
        }
        for caller in topology.callers(name) {
            if let Some(&j) = index.get(caller) {
                out.push((j, config.back * total[j]));
            }
        }
        let sum: f64 = out.iter().map(|m| m.1).sum();
        if sum > 0.0 {
            for m in &mut out {
                m.1 /= sum;
            }
        } else {
            out = vec![(i, 1.0)];
        }
        moves.push(out);
    }
    let sum: f64 = total.iter().sum();
    let restart: Vec<f64> = if sum > 0.0 {
        total.iter().map(|t| t / sum).collect()
    } else {
        vec![1.0 / n as f64; n]
    };
    let mut p = restart.clone();
    for _ in 0..200 {
        let mut next: Vec<f64> = restart.iter().map(|r| config.restart * r).collect();
        for (i, out) in moves.iter().enumerate() {
            for &(j, w) in out {
                next[j] += (1.0 - config.restart) * p[i] * w;
            }
        }
        let change: f64 = next.iter().zip(&p).map(|(a, b)| (a - b).abs()).sum();
        p = next;
        if change < 1e-12 {
            break;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series(service: &str, metric: &str, normal: Vec<f64>, anomalous: Vec<f64>) -> ServiceSeries {
        ServiceSeries::new(service, metric, normal, anomalous)
    }

    #[test]
    fn kinds_from_names() {
        for (name, kind) in [
            ("lat_90", MetricKind::Latency),
            ("http_request_duration_seconds", MetricKind::Latency),
            ("container_cpu_usage_seconds_total", MetricKind::Cpu),
            ("mem", MetricKind::Memory),
            ("container_memory_working_set_bytes", MetricKind::Memory),
            ("lod", MetricKind::Load),
            ("requests", MetricKind::Load),
            ("error_ratio", MetricKind::Errors),
            ("requests_failed", MetricKind::Errors),
            ("availability", MetricKind::Availability),
            ("queue_depth", MetricKind::Other),
        ] {
            assert_eq!(MetricKind::of(name), kind, "{name}");
        }
    }

    /// frontend → orders → payment; payment's latency rises by 200 ms, and orders, calling it
    /// three times a request, shows 600 ms more on a smaller level: a larger move than its
    /// callee's own, which only the graph explains.
    #[test]
    fn the_walk_passes_inherited_latency_to_the_callee() {
        let wobble = |base: f64, amp: f64| -> Vec<f64> {
            (0..40).map(|i| base + amp * f64::from(i % 5)).collect()
        };
        let shifted = |v: &[f64], by: f64| -> Vec<f64> { v.iter().map(|x| x + by).collect() };
        let pay = wobble(50.0, 4.0);
        let ord = wobble(100.0, 2.0);
        let front = wobble(700.0, 2.5);
        let all = [
            series("payment", "latency", pay.clone(), shifted(&pay, 200.0)),
            series("orders", "latency", ord.clone(), shifted(&ord, 600.0)),
            series("frontend", "latency", front.clone(), shifted(&front, 600.0)),
            series("catalogue", "latency", pay.clone(), pay.clone()),
        ];
        // Without a graph the amplified caller wins.
        assert_eq!(rank_services(&all)[0].service, "orders");
        let mut graph = Topology::default();
        graph.add("frontend", "orders");
        graph.add("orders", "payment");
        graph.add("frontend", "catalogue");
        let ranked = rank_with_topology(&all, &graph, &RankConfig::default());
        assert_eq!(ranked[0].service, "payment", "{ranked:?}");
        let orders = ranked.iter().find(|r| r.service == "orders").unwrap();
        assert_eq!(orders.inherits_from.as_deref(), Some("payment"));
        let total: f64 = ranked.iter().map(|r| r.share).sum();
        assert!((total - 1.0).abs() < 1e-6);
        // A caller whose own cpu moved keeps the walk even with a slow callee.
        let mut hot = all.to_vec();
        hot[0] = series("payment", "latency", pay.clone(), pay.clone());
        hot.push(series(
            "orders",
            "cpu",
            wobble(0.2, 0.01),
            wobble(0.9, 0.01),
        ));
        let ranked = rank_with_topology(&hot, &graph, &RankConfig::default());
        assert_eq!(ranked[0].service, "orders", "{ranked:?}");
    }

    #[test]
    fn the_deviating_service_ranks_first_with_its_metric() {
        let calm: Vec<f64> = (0..50).map(|i| 10.0 + (i % 5) as f64).collect();
        let mut hot = calm.clone();
        for v in &mut hot[20..] {
            *v += 70.0;
        }
        // One spike is not a fault: the move is what lasts.
        let mut spiky = calm.clone();
        spiky[10] = 500.0;
        let ranked = rank_services(&[
            series("carts", "cpu", calm.clone(), spiky),
            series("orders", "mem", calm.clone(), calm.clone()),
            series("orders", "cpu", calm.clone(), hot),
        ]);
        assert_eq!(ranked[0].service, "orders");
        assert_eq!(ranked[0].metric, "cpu");
        assert!(ranked[0].score > ranked[1].score);
        assert_eq!(ranked.len(), 2);
    }

    #[test]
    fn noise_floor_stops_tiny_relative_jitter_from_winning() {
        // Memory at 300 MB with 4 kB jitter, then +20 MB; cpu at 1% jumping to 90%.
        let mem_n: Vec<f64> = (0..40).map(|i| 3.0e8 + f64::from(i % 2) * 4096.0).collect();
        let mem_a: Vec<f64> = (0..40).map(|_| 3.2e8).collect();
        let cpu_n: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 3) * 0.1).collect();
        let cpu_a: Vec<f64> = (0..40).map(|_| 90.0).collect();
        let series = [
            series("queue", "mem", mem_n.clone(), mem_a.clone()),
            series("carts", "cpu", cpu_n.clone(), cpu_a.clone()),
        ];
        let ranked = rank_services(&series);
        assert_eq!(ranked[0].service, "carts");
        // The floor (1% of 300 MB) bounds the memory's z at 20 MB / 3 MB ...
        assert!(ranked[1].score < 7.0, "{ranked:?}");
        // ... without it the 4 kB jitter makes 20 MB look like thousands of IQRs.
        let no_floor = RankConfig {
            relative_noise_floor: 0.0,
            ..RankConfig::default()
        };
        let bare = rank_services_with(&series, &no_floor);
        assert!(
            bare.iter()
                .any(|r| r.service == "queue" && r.score > 1000.0),
            "{bare:?}"
        );
    }

    #[test]
    fn flat_baseline_and_empty_periods() {
        assert!(series_score(&[5.0; 10], &[5.0, 5.0]).is_some_and(|s| s == 0.0));
        // Flat at 5: the scale is the 1% floor (0.05), so a step to 6 scores 20.
        assert!(series_score(&[5.0; 10], &[6.0]).is_some_and(|s| (s - 20.0).abs() < 1e-9));
        assert_eq!(series_score(&[], &[1.0]), None);
        assert_eq!(series_score(&[f64::NAN], &[1.0]), None);
        assert_eq!(series_score(&[1.0, 2.0], &[f64::NAN]), None);
    }

    proptest! {
        // Reference: the score is the max over anomalous samples of |x - median| / IQR,
        // computed here by brute force on integer data with a non-zero IQR.
        #[test]
        fn score_matches_reference(normal in proptest::collection::vec(0i32..1000, 8..60),
                                   anomalous in proptest::collection::vec(-500i32..1500, 1..30)) {
            let n: Vec<f64> = normal.iter().map(|v| f64::from(*v)).collect();
            let a: Vec<f64> = anomalous.iter().map(|v| f64::from(*v)).collect();
            let mut s = n.clone();
            s.sort_by(f64::total_cmp);
            let q = |p: f64| {
                let pos = p * (s.len() - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                s[lo] * (1.0 - (pos - lo as f64)) + s[hi] * (pos - lo as f64)
            };
            let iqr = q(0.75) - q(0.25);
            prop_assume!(iqr > 1e-6);
            let expect = a.iter().map(|v| ((v - q(0.5)) / iqr).abs()).fold(0.0, f64::max);
            let no_floor = RankConfig { relative_noise_floor: 0.0, ..RankConfig::default() };
            let got = series_score_with(&n, &a, &no_floor).unwrap();
            prop_assert!((got - expect).abs() <= 1e-9 * expect.max(1.0));
        }
    }
}
