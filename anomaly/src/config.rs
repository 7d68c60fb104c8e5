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
    /// Registry name, e.g. `ensemble`, `ewma`, `mad`, `seasonal`, `cusum`, `pca`.
    #[serde(default = "default_detector")]
    pub detector: String,
    /// Detector parameters by name; missing ones take the detector's defaults.
    #[serde(default)]
    pub params: Params,
    /// Score at or above which a candidate is raised; the section's threshold when absent.
    #[serde(default)]
    pub threshold: Option<f64>,
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
        }
    }
}

/// Compiled configuration: finds the detector spec for a metric and builds detectors.
#[derive(Debug)]
pub struct DetectorRegistry {
    threshold: f64,
    default: DetectorSpec,
    families: Vec<(Regex, DetectorSpec)>,
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
            let pattern = match rule.metric.strip_prefix("re:") {
                Some(re) => re.to_owned(),
                None => glob_to_regex(&rule.metric),
            };
            let regex = Regex::new(&pattern).map_err(|source| AnomalyError::BadPattern {
                pattern: rule.metric.clone(),
                source,
            })?;
            detector_by_name(&rule.spec.detector, &rule.spec.params)?;
            families.push((regex, rule.spec.clone()));
        }
        Ok(Self {
            threshold: config.threshold,
            default: config.default.clone(),
            families,
        })
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
        Ok(SeriesScorer {
            detector,
            threshold: spec.threshold.unwrap_or(self.threshold),
            series,
            window: String::new(),
        })
    }
}

/// One series' detector with its threshold: feeds samples and raises candidates.
#[derive(Debug)]
pub struct SeriesScorer {
    detector: Box<dyn StreamingDetector>,
    threshold: f64,
    series: LabelSet,
    window: String,
}

impl SeriesScorer {
    /// Wraps an already built detector.
    pub fn new(detector: Box<dyn StreamingDetector>, threshold: f64, series: LabelSet) -> Self {
        Self {
            detector,
            threshold,
            series,
            window: String::new(),
        }
    }

    /// Names the window the samples come from (e.g. `1m`) in the evidence.
    pub fn with_window(mut self, window: impl Into<String>) -> Self {
        self.window = window.into();
        self
    }

    /// Feeds one sample; returns its score and, at or over the threshold, a candidate.
    pub fn observe(&mut self, timestamp_ms: i64, value: f64) -> (f64, Option<IncidentCandidate>) {
        let score = self.detector.update(timestamp_ms, value);
        if score < self.threshold {
            return (score, None);
        }
        let name = self.detector.name().to_owned();
        let target = ["deployment", "pod", "service", "instance", "job"]
            .iter()
            .find_map(|key| self.series.get(key))
            .unwrap_or_else(|| self.series.metric_name())
            .to_owned();
        let evidence = MetricEvidence {
            id: "m1".to_owned(),
            series: self.series.clone(),
            window: self.window.clone(),
            aggregate: "score".to_owned(),
            observed: value,
            expected: self.detector.expected(),
            rule: name.clone(),
            at_ms: timestamp_ms,
        };
        let candidate = IncidentCandidate {
            incident_type: IncidentType::MetricAnomaly,
            scope: Scope::Series,
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
            detected_at_ms: timestamp_ms,
            evidence: Evidence {
                metrics: vec![evidence],
                events: Vec::new(),
            },
        };
        (score, Some(candidate))
    }
}
