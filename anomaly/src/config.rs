//! Which detector watches which metric family, with what parameters and threshold, and the
//! per-series scorer that turns scores over the threshold into incident candidates.

use model::{Evidence, IncidentCandidate, IncidentType, LabelSet, MetricEvidence, Scope, Severity};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::AnomalyError;
use crate::params::Params;
use crate::{DEFAULT_DETECTOR, StreamingDetector, detector_by_name};

/// A detector name with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    /// Registry name, e.g. `likelihood`, `ensemble`, `ewma`, `mad`, `seasonal`, `cusum`, `pca`.
    #[serde(default = "default_detector")]
    pub detector: String,
    /// Detector parameters by name; missing ones take the detector's defaults.
    #[serde(default)]
    pub params: Params,
    /// Score at or above which a candidate is raised; the section's threshold when absent.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Incident type raised for this family; derived from the metric name when absent (see
    /// [`incident_type_for`]).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub incident_type: Option<IncidentType>,
}

fn default_detector() -> String {
    DEFAULT_DETECTOR.to_owned()
}

impl Default for DetectorSpec {
    fn default() -> Self {
        Self {
            detector: default_detector(),
            params: Params::new(),
            threshold: None,
            incident_type: None,
        }
    }
}

/// One metric family and the detector that watches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRule {
    /// Metric-name glob (`*` any run, `?` one character), or a regex when written `re:...`.
    pub metric: String,
    #[serde(flatten)]
    pub spec: DetectorSpec,
}

/// The `[anomaly]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Whether ML detectors run at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Default score threshold for raising a candidate.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Detector for metrics no family rule matches.
    #[serde(default)]
    pub default: DetectorSpec,
    /// Family rules, first match wins.
    #[serde(default = "default_families")]
    pub families: Vec<FamilyRule>,
    /// Metric-name globs (or `re:` regexes) no detector watches, e.g. histogram buckets.
    #[serde(default = "default_exclude")]
    pub exclude: Vec<String>,
    /// Event time after a candidate during which the same series raises no other, in ms.
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: i64,
    /// Whether metrics no family matches are watched by the default detector.
    #[serde(default = "yes")]
    pub unmatched: bool,
    /// The per-workload and per-node multi-metric models.
    #[serde(default)]
    pub multi: crate::MultiConfig,
}

fn default_exclude() -> Vec<String> {
    vec!["*_bucket".to_owned()]
}

fn default_cooldown_ms() -> i64 {
    300_000
}

fn yes() -> bool {
    true
}

fn default_threshold() -> f64 {
    0.6
}

fn default_families() -> Vec<FamilyRule> {
    let rule = |metric: &str, detector: &str| FamilyRule {
        metric: metric.to_owned(),
        spec: DetectorSpec {
            detector: detector.to_owned(),
            ..DetectorSpec::default()
        },
    };
    vec![
        // Latency and error ratios: sudden departures matter; the default detector.
        rule("*latency*", DEFAULT_DETECTOR),
        rule("*duration*", DEFAULT_DETECTOR),
        rule("*5xx*", DEFAULT_DETECTOR),
        rule("*error*", DEFAULT_DETECTOR),
        // Request rates follow the time of day.
        rule("*_requests_total", "seasonal"),
        rule("*_http_requests*", "seasonal"),
        // Slow-moving gauges: a level change matters more than a blip.
        rule("*memory*", "cusum"),
        rule("*disk*", "cusum"),
    ]
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: default_threshold(),
            default: DetectorSpec::default(),
            families: default_families(),
            exclude: default_exclude(),
            cooldown_ms: default_cooldown_ms(),
            unmatched: true,
            multi: crate::MultiConfig::default(),
        }
    }
}

impl AnomalyConfig {
    /// What runs live when the configuration has no `[anomaly]` section: the default detector
    /// on the golden signals only — request rates (per status code, so a surge of 5xx is one),
    /// latency, and CPU saturation of containers — at a threshold at which none of the healthy
    /// scenario families opens an incident (`srebot eval scenarios`).
    pub fn golden_signals() -> Self {
        let rule = |metric: &str| FamilyRule {
            metric: metric.to_owned(),
            spec: DetectorSpec::default(),
        };
        Self {
            enabled: true,
            threshold: GOLDEN_THRESHOLD,
            default: DetectorSpec::default(),
            families: vec![
                rule("*_requests_total"),
                rule("*_request_duration_seconds"),
                rule("*latency_seconds"),
                rule("container_cpu_usage_seconds_total"),
            ],
            exclude: default_exclude(),
            cooldown_ms: default_cooldown_ms(),
            unmatched: false,
            multi: crate::MultiConfig::default(),
        }
    }
}

/// The golden signals' threshold, chosen on the tuning seeds of `srebot eval scenarios`.
pub(crate) const GOLDEN_THRESHOLD: f64 = 0.8;

/// Compiled configuration: finds the detector spec for a metric and builds detectors.
#[derive(Debug)]
pub struct DetectorRegistry {
    enabled: bool,
    threshold: f64,
    cooldown_ms: i64,
    unmatched: bool,
    default: DetectorSpec,
    families: Vec<(Regex, DetectorSpec)>,
    exclude: Vec<Regex>,
}

fn compile(pattern: &str) -> Result<Regex, AnomalyError> {
    let regex = match pattern.strip_prefix("re:") {
        Some(re) => re.to_owned(),
        None => glob_to_regex(pattern),
    };
    Regex::new(&regex).map_err(|source| AnomalyError::BadPattern {
        pattern: pattern.to_owned(),
        source,
    })
}

fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0u8; 4]))),
        }
    }
    out.push('$');
    out
}

impl DetectorRegistry {
    /// Compiles the patterns and checks every spec builds.
    pub fn new(config: &AnomalyConfig) -> Result<Self, AnomalyError> {
        detector_by_name(&config.default.detector, &config.default.params)?;
        let mut families = Vec::with_capacity(config.families.len());
        for rule in &config.families {
            let regex = compile(&rule.metric)?;
            detector_by_name(&rule.spec.detector, &rule.spec.params)?;
            families.push((regex, rule.spec.clone()));
        }
        let exclude = config
            .exclude
            .iter()
            .map(|p| compile(p))
            .collect::<Result<Vec<_>, _>>()?;
        if !(0.0..=1.0).contains(&config.threshold) {
            return Err(AnomalyError::InvalidParam {
                detector: "anomaly",
                param: "threshold",
                value: config.threshold,
                reason: "a score threshold lies in [0, 1]",
            });
        }
        Ok(Self {
            enabled: config.enabled,
            threshold: config.threshold,
            cooldown_ms: config.cooldown_ms.max(0),
            unmatched: config.unmatched,
            default: config.default.clone(),
            families,
            exclude,
        })
    }

    /// Whether the configuration turns ML detection on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a metric is watched at all: not excluded, and matched by a family unless
    /// unmatched metrics are watched too.
    pub fn watches(&self, metric: &str) -> bool {
        !self.exclude.iter().any(|re| re.is_match(metric))
            && (self.unmatched || self.families.iter().any(|(re, _)| re.is_match(metric)))
    }

    /// The spec for a metric name: first matching family, else the default.
    pub fn spec_for(&self, metric: &str) -> &DetectorSpec {
        self.families
            .iter()
            .find(|(re, _)| re.is_match(metric))
            .map_or(&self.default, |(_, spec)| spec)
    }

    /// A scorer for one series, with the detector its metric family calls for.
    pub fn scorer_for(&self, series: LabelSet) -> Result<SeriesScorer, AnomalyError> {
        let spec = self.spec_for(series.metric_name());
        let detector = detector_by_name(&spec.detector, &spec.params)?;
        Ok(
            SeriesScorer::new(detector, spec.threshold.unwrap_or(self.threshold), series)
                .with_cooldown(self.cooldown_ms)
                .with_incident_type(spec.incident_type),
        )
    }
}

/// The incident type for an anomaly on `series`: the configured one when given, else from the
/// metric name and the direction of the departure: latency or duration up → `latency_spike`,
/// 5xx or errors up → `error_rate_spike`, memory up → `memory_leak` for a workload (pod,
/// container, deployment) and `memory_pressure` for a node, CPU up → `cpu_saturation`;
/// anything else (including every drop) → `metric_anomaly`.
pub fn incident_type_for(
    configured: Option<IncidentType>,
    series: &LabelSet,
    observed: f64,
    expected: Option<f64>,
) -> IncidentType {
    if let Some(kind) = configured {
        return kind;
    }
    let up = expected.is_none_or(|e| observed > e);
    if !up {
        return IncidentType::MetricAnomaly;
    }
    let name = series.metric_name().to_ascii_lowercase();
    let workload = ["pod", "container", "deployment"]
        .iter()
        .any(|k| series.get(k).is_some());
    if name.contains("latency") || name.contains("duration") {
        IncidentType::LatencySpike
    } else if name.contains("5xx") || name.contains("error") {
        IncidentType::ErrorRateSpike
    } else if name.contains("memory") {
        if workload {
            IncidentType::MemoryLeak
        } else {
            IncidentType::MemoryPressure
        }
    } else if name.contains("cpu") {
        IncidentType::CpuSaturation
    } else {
        IncidentType::MetricAnomaly
    }
}

/// The object a series is about: the most specific workload label it carries.
/// The finding in an operator's words: `http_request_duration_seconds of payments-api is
/// 950 ms where about 120 ms was usual (anomaly score 0.97)`.
fn say(
    series: &LabelSet,
    aggregate: &str,
    target: &str,
    observed: f64,
    expected: Option<f64>,
    score: f64,
) -> String {
    let metric = series.metric_name();
    let (shown, per) = if aggregate == "rate" {
        (metric.trim_end_matches("_total"), " a second")
    } else {
        (metric, "")
    };
    let unit = |v: f64| model::human::in_unit_of(shown, v);
    let usual = expected
        .map(|e| format!(" where about {}{per} was usual", unit(e)))
        .unwrap_or_default();
    format!(
        "{shown} of {target} is {}{per}{usual} (anomaly score {:.2})",
        unit(observed),
        score
    )
}

fn scope_of(series: &LabelSet) -> (Scope, String) {
    const KEYS: [(&str, Scope); 6] = [
        ("deployment", Scope::Deployment),
        ("pod", Scope::Pod),
        ("service", Scope::Service),
        ("job_name", Scope::Job),
        ("node", Scope::Node),
        ("instance", Scope::Series),
    ];
    KEYS.iter()
        .find_map(|(key, scope)| series.get(key).map(|v| (*scope, v.to_owned())))
        .unwrap_or_else(|| (Scope::Series, series.metric_name().to_owned()))
}

/// One series' detector with its threshold: feeds samples and raises candidates.
#[derive(Debug)]
pub struct SeriesScorer {
    detector: Box<dyn StreamingDetector>,
    threshold: f64,
    series: LabelSet,
    window: String,
    aggregate: &'static str,
    incident_type: Option<IncidentType>,
    cooldown_ms: i64,
    last_raised_ms: Option<i64>,
}

impl SeriesScorer {
    /// Wraps an already built detector.
    pub fn new(detector: Box<dyn StreamingDetector>, threshold: f64, series: LabelSet) -> Self {
        Self {
            detector,
            threshold,
            series,
            window: String::new(),
            aggregate: "value",
            incident_type: None,
            cooldown_ms: 0,
            last_raised_ms: None,
        }
    }

    /// Event time after a candidate during which this series raises no other.
    pub fn with_cooldown(mut self, cooldown_ms: i64) -> Self {
        self.cooldown_ms = cooldown_ms.max(0);
        self
    }

    /// The incident type to raise; derived from the metric name when `None`.
    pub fn with_incident_type(mut self, incident_type: Option<IncidentType>) -> Self {
        self.incident_type = incident_type;
        self
    }

    /// Names what the fed values are in the evidence (`value`, or `rate` for counters).
    pub fn with_aggregate(mut self, aggregate: &'static str) -> Self {
        self.aggregate = aggregate;
        self
    }

    /// The series this scorer watches.
    pub fn series(&self) -> &LabelSet {
        &self.series
    }

    /// Registry name of the detector.
    pub fn detector_name(&self) -> &str {
        self.detector.name()
    }

    /// Names the window the samples come from (e.g. `1m`) in the evidence.
    pub fn with_window(mut self, window: impl Into<String>) -> Self {
        self.window = window.into();
        self
    }

    /// Feeds one sample; returns its score and, at or over the threshold and outside the
    /// cooldown after the previous one, a candidate.
    pub fn observe(&mut self, timestamp_ms: i64, value: f64) -> (f64, Option<IncidentCandidate>) {
        let score = self.detector.update(timestamp_ms, value).clamp(0.0, 1.0);
        if score < self.threshold
            || self
                .last_raised_ms
                .is_some_and(|last| timestamp_ms.saturating_sub(last) < self.cooldown_ms)
        {
            return (score, None);
        }
        self.last_raised_ms = Some(timestamp_ms);
        let name = self.detector.name().to_owned();
        let expected = self.detector.expected();
        let (scope, target) = scope_of(&self.series);
        let evidence = MetricEvidence {
            id: "m1".to_owned(),
            series: self.series.clone(),
            window: self.window.clone(),
            aggregate: self.aggregate.to_owned(),
            observed: value,
            expected,
            rule: name.clone(),
            at_ms: timestamp_ms,
            summary: Some(say(
                &self.series,
                self.aggregate,
                &target,
                value,
                expected,
                score,
            )),
        };
        let candidate = IncidentCandidate {
            incident_type: incident_type_for(self.incident_type, &self.series, value, expected),
            scope,
            target,
            namespace: self.series.get("namespace").map(str::to_owned),
            node: self.series.get("node").map(str::to_owned),
            confidence: score,
            severity: if score >= 0.9 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            detector: name,
            origin: model::Origin::Anomaly,
            detected_at_ms: timestamp_ms,
            signal: model::Signal::Firing,
            source: model::DEFAULT_SOURCE.to_owned(),
            affects: Vec::new(),
            evidence: Evidence {
                metrics: vec![evidence],
                events: Vec::new(),
            },
        };
        (score, Some(candidate))
    }
}
