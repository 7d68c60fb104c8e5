//! Multi-metric models, live: a PCA reconstruction-error and a Gaussian-mixture model per
//! workload and per node, over the per-minute means of its metrics, refitted on a schedule.
//!
//! A workload's pods (by the `pod` label, else `deployment`, `service` or `app`) and a node's
//! exporter series (by `node`, else `instance`) are one subject. Each closed minute of event
//! time gives the subject one vector: CPU, memory, restarts, request rate, 5xx rate and
//! latency for a workload; load, CPU idle, memory and disk available for a node (counters as
//! per-second rates, several series of one feature averaged, a missing one carried forward).
//! The features are fixed once the subject has been seen for `warmup` minutes. A minute far off
//! the subspace the subject's recent history spans, or unlike any state of it, raises a
//! candidate naming the feature that moved the bad way; the gate in `app::detection` lets it
//! only corroborate a rule's finding.

use std::collections::{BTreeMap, HashMap};

use model::{
    Evidence, IncidentCandidate, IncidentType, LabelSet, MetricEvidence, MetricType, Sample, Scope,
    Severity, WorkloadKind,
};
use serde::{Deserialize, Serialize};
use windows::{MatchOp, Matcher, Selector, Store};

use crate::config::incident_type_for;
use crate::pca::{principal_components, reconstruct};
use crate::stats::squash;

/// The detector name a PCA reconstruction-error finding carries.
pub const MULTI_DETECTOR: &str = "multi_pca";
/// The detector name a Gaussian-mixture likelihood finding carries.
pub const MIXTURE_DETECTOR: &str = "multi_gmm";

/// Mixture components: two states (busy and quiet, a batch on and off) are common.
const MIXTURE_COMPONENTS: usize = 2;

/// Metric families a subject's vector is made of (a regex on the metric name).
const FEATURE_METRICS: &str = "container_cpu_usage_seconds_total|container_memory_working_set_bytes\
|kube_pod_container_status_restarts_total|.+_requests_total|.+_request_duration_seconds(_sum|_count)?\
|.+_latency_seconds(_sum|_count)?|node_load1|node_memory_MemAvailable_bytes|node_cpu_seconds_total\
|node_filesystem_avail_bytes";

/// Metric names whose feature test is remembered at once.
const MAX_NAMES: usize = 65_536;

/// Status labels whose value tells a failed request (`5xx`).
const STATUS_LABELS: [&str; 4] = ["code", "status", "status_code", "response_code"];

/// The `[anomaly.multi]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiConfig {
    /// Whether the per-workload and per-node models run.
    pub enabled: bool,
    /// Score in `[0, 1)` at or above which a minute raises a candidate.
    pub threshold: f64,
    /// Event time one vector covers, in ms.
    pub step_ms: i64,
    /// Vectors seen before the features are fixed and the model starts learning.
    pub warmup: usize,
    /// Vectors remembered for fitting (the model's history).
    pub history: usize,
    /// Vectors between refits.
    pub retrain: usize,
    /// Residual, in multiples of the 95th percentile of the history's own, scored 0.5.
    pub half: f64,
    /// Surprise (negative log-likelihood under the mixture) beyond the 95th percentile of the
    /// history's own, in nats, scored 0.5.
    pub mixture_half: f64,
    /// Most subjects modelled at once; more are counted and left out.
    pub max_subjects: usize,
    /// Most features per subject.
    pub max_features: usize,
    /// After a rollout (pods of a new template), event time in ms before the new version's
    /// minutes are learned; the model then starts over on them.
    pub settle_ms: i64,
}

impl Default for MultiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 0.8,
            step_ms: 60_000,
            warmup: 20,
            history: 240,
            retrain: 15,
            half: 2.0,
            mixture_half: 8.0,
            max_subjects: 2_000,
            max_features: 12,
            settle_ms: 10 * 60_000,
        }
    }
}

/// Who a vector is about: a node, or a workload whatever label names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Subject {
    node: bool,
    namespace: Option<String>,
    name: String,
}

/// One fed series: where its samples go.
#[derive(Debug)]
struct Fed {
    subject: Subject,
    /// How the series names its subject (a Deployment's pods, a service, a node).
    scope: Scope,
    /// The pod template hash of a Deployment's pod: a new one is a new version.
    version: Option<String>,
    feature: String,
    counter: bool,
    last: Option<Sample>,
}

/// One subject's model and its open minutes.
#[derive(Debug, Default)]
struct Modelled {
    /// Minute → feature → (sum, count) of the values seen in it.
    open: BTreeMap<i64, BTreeMap<String, (f64, u32)>>,
    /// Closed vectors kept until the features are fixed.
    warm: Vec<BTreeMap<String, f64>>,
    /// The fixed features, once chosen, with a series showing each (for evidence).
    features: Vec<String>,
    shown_by: BTreeMap<String, LabelSet>,
    /// Last value of each feature, carried into a minute that lacks it.
    carried: Vec<Option<f64>>,
    model: Option<SubjectModel>,
    last_seen_ms: i64,
    /// How the subject is named in findings: the first of its series' scopes.
    scope: Option<Scope>,
    /// Pod template hashes seen.
    versions: Vec<String>,
    /// Minutes ending before this are not learned (a rollout is settling).
    quiet_until_ms: i64,
}

/// The per-subject models over the window store.
#[derive(Debug)]
pub struct LiveMulti {
    config: MultiConfig,
    selector: Selector,
    /// Whether a metric name is one of the features' (the selector's answer, kept per name so
    /// a shared read costs one short lookup per series); cleared when it grows past a bound.
    names: HashMap<String, bool, ahash::RandomState>,
    series: HashMap<LabelSet, Fed, ahash::RandomState>,
    /// Series of feature metrics that feed no model (no subject, or past `max_subjects`), so
    /// they cost one lookup a tick, until they fall out of the retention.
    ignored: HashMap<LabelSet, i64, ahash::RandomState>,
    subjects: HashMap<Subject, Modelled, ahash::RandomState>,
    fed_to_ms: Option<i64>,
    vectors: u64,
    raised: u64,
    left_out: u64,
}

impl LiveMulti {
    pub fn new(config: MultiConfig) -> Self {
        Self {
            config,
            selector: Selector::from_matchers(vec![Matcher::new(
                "__name__",
                MatchOp::Regex,
                FEATURE_METRICS,
            )]),
            names: HashMap::default(),
            series: HashMap::default(),
            ignored: HashMap::default(),
            subjects: HashMap::default(),
            fed_to_ms: None,
            vectors: 0,
            raised: 0,
            left_out: 0,
        }
    }

    /// Subjects with a fitted model.
    pub fn models(&self) -> usize {
        self.subjects
            .values()
            .filter(|m| m.model.as_ref().is_some_and(SubjectModel::fitted))
            .count()
    }

    /// Series left out because `max_subjects` subjects were modelled.
    pub fn left_out(&self) -> u64 {
        self.left_out
    }

    /// Candidates raised since start.
    pub fn raised(&self) -> u64 {
        self.raised
    }

    /// Vectors scored by a model since start.
    pub fn vectors_scored(&self) -> u64 {
        self.vectors
    }

    /// Feeds the feature series' samples in `(previous tick, at_ms]`, closes every minute that
    /// ends by `at_ms`, and returns the candidates the closed minutes raise.
    pub fn tick(&mut self, store: &Store, at_ms: i64) -> Vec<IncidentCandidate> {
        let Some(start) = self.feeds_from(store, at_ms) else {
            return Vec::new();
        };
        let read = store.samples(&self.selector, start, at_ms);
        self.tick_read(store, at_ms, &read)
    }

    /// Whether the series is of a feature metric, by its name.
    fn feeds_a_model(&mut self, labels: &LabelSet) -> bool {
        let name = labels.metric_name();
        if let Some(&feeds) = self.names.get(name) {
            return feeds;
        }
        if self.names.len() >= MAX_NAMES {
            self.names.clear();
        }
        let feeds = self.selector.matches(labels);
        self.names.insert(name.to_owned(), feeds);
        feeds
    }

    /// Where this tick's read starts (see [`LiveMulti::tick`]); `None` when nothing is read.
    pub(crate) fn feeds_from(&self, store: &Store, at_ms: i64) -> Option<i64> {
        if !self.config.enabled {
            return None;
        }
        crate::live::feed_from(self.fed_to_ms, store, at_ms)
    }

    /// [`LiveMulti::tick`] over samples the caller read for the same span, from
    /// [`LiveMulti::feeds_from`] to `at_ms`, with a selector at least as wide as this one's
    /// (the per-series detectors' read, shared). Series that feed no model are skipped.
    pub(crate) fn tick_read(
        &mut self,
        store: &Store,
        at_ms: i64,
        read: &[(LabelSet, Vec<Sample>)],
    ) -> Vec<IncidentCandidate> {
        let mut out = Vec::new();
        let step = self.config.step_ms.max(1_000);
        for (labels, samples) in read {
            if !self.feeds_a_model(labels) {
                continue;
            }
            if let Some(fed) = self.series.get_mut(labels) {
                feed_subject(&mut self.subjects, fed, labels, samples, step);
                continue;
            }
            // First sight of the series.
            let last = samples.last().map_or(at_ms, |s| s.timestamp_ms);
            if let Some(seen) = self.ignored.get_mut(labels) {
                *seen = last;
                continue;
            }
            let Some(fed) = fed_series(store, labels) else {
                self.ignored.insert(labels.clone(), last);
                continue;
            };
            if !self.subjects.contains_key(&fed.subject) {
                if self.subjects.len() >= self.config.max_subjects {
                    self.left_out += 1;
                    self.ignored.insert(labels.clone(), last);
                    continue;
                }
                self.subjects.insert(
                    fed.subject.clone(),
                    Modelled {
                        scope: Some(fed.scope),
                        ..Modelled::default()
                    },
                );
            }
            if let (Some(version), Some(subject)) =
                (&fed.version, self.subjects.get_mut(&fed.subject))
                && !subject.versions.contains(version)
            {
                let first = subject.versions.is_empty();
                subject.versions.push(version.clone());
                if !first {
                    let from = samples.first().map_or(at_ms, |s| s.timestamp_ms);
                    subject.start_over(from.saturating_add(self.config.settle_ms));
                }
            }
            let fed = self.series.entry(labels.clone()).or_insert(fed);
            feed_subject(&mut self.subjects, fed, labels, samples, step);
        }
        self.fed_to_ms = Some(at_ms);
        let config = &self.config;
        let mut scored = 0u64;
        for (who, subject) in &mut self.subjects {
            while let Some(entry) = subject.open.first_entry() {
                let end = (entry.key() + 1).saturating_mul(step);
                if end > at_ms {
                    break;
                }
                let sums = entry.remove();
                let vector = means(&sums);
                if let Some(candidate) = subject.close(config, who, vector, end) {
                    out.push(candidate);
                }
                if subject.model.as_ref().is_some_and(SubjectModel::fitted) {
                    scored += 1;
                }
            }
        }
        self.vectors += scored;
        self.raised += out.len() as u64;
        let floor = at_ms.saturating_sub(store.config().retention_ms);
        self.series
            .retain(|_, f| f.last.is_none_or(|s| s.timestamp_ms >= floor));
        self.ignored.retain(|_, last| *last >= floor);
        self.subjects.retain(|_, s| s.last_seen_ms >= floor);
        out
    }
}

impl Modelled {
    /// A new version rolled out: forget the old one's model and learn again from `from_ms`.
    fn start_over(&mut self, from_ms: i64) {
        self.model = None;
        self.features.clear();
        self.carried.clear();
        self.warm.clear();
        self.versions.drain(..self.versions.len().saturating_sub(1));
        self.quiet_until_ms = from_ms;
    }

    /// Takes one closed minute: learns the features while warming up, then scores and learns.
    fn close(
        &mut self,
        config: &MultiConfig,
        who: &Subject,
        minute: BTreeMap<String, f64>,
        at_ms: i64,
    ) -> Option<IncidentCandidate> {
        if at_ms <= self.quiet_until_ms {
            return None;
        }
        if self.features.is_empty() {
            self.warm.push(minute);
            if self.warm.len() < config.warmup.max(2) {
                return None;
            }
            self.choose_features(config);
            if self.features.is_empty() {
                // Too few features to model: start over.
                self.warm.clear();
                return None;
            }
            let warm = std::mem::take(&mut self.warm);
            for vector in warm {
                if let (Some(row), Some(model)) = (self.row(&vector), self.model.as_mut()) {
                    model.remember(&row);
                }
            }
            return None;
        }
        let row = self.row(&minute)?;
        let model = self.model.as_mut()?;
        let scored = model.score(&row, config);
        model.remember(&row);
        let Scored {
            detector,
            score,
            feature,
            observed,
            expected,
        } = scored?;
        if score < config.threshold {
            return None;
        }
        let scope = self.scope.unwrap_or(Scope::Service);
        let name = self.features.get(feature)?;
        // Only a move the bad way is a finding: fewer restarts or more free memory than the
        // other metrics suggest is no problem.
        if (observed > expected) == lower_is_worse(name) {
            return None;
        }
        let labels = self.shown_by.get(name)?;
        Some(candidate(
            detector,
            who,
            scope,
            name,
            labels,
            observed,
            expected,
            score,
            self.features.len(),
            at_ms,
        ))
    }

    /// Keeps the features present in at least half the warm-up minutes, at most `max_features`.
    fn choose_features(&mut self, config: &MultiConfig) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for minute in &self.warm {
            for feature in minute.keys() {
                *seen.entry(feature).or_default() += 1;
            }
        }
        let half = self.warm.len().div_ceil(2);
        let features: Vec<String> = seen
            .into_iter()
            .filter(|(_, n)| *n >= half)
            .map(|(f, _)| f.to_owned())
            .take(config.max_features.clamp(2, 64))
            .collect();
        if features.len() < 2 {
            return;
        }
        let width = features.len();
        self.model = Some(SubjectModel::new(width, config));
        self.carried = vec![None; width];
        self.features = features;
    }

    /// A minute as the model's row: each feature's mean, a missing one carried forward; `None`
    /// until every feature has been seen once.
    fn row(&mut self, minute: &BTreeMap<String, f64>) -> Option<Vec<f64>> {
        for (feature, carried) in self.features.iter().zip(self.carried.iter_mut()) {
            if let Some(v) = minute.get(feature) {
                *carried = Some(*v);
            }
        }
        self.carried.iter().copied().collect()
    }
}

/// One subject's models: its last `history` rows, standardised and fitted every `retrain` rows.
/// A row is scored by its squared distance off the principal subspace against the 95th
/// percentile of the history's own, and by its surprise under a Gaussian mixture (linfa's) fitted
/// to the same rows against the history's own; the higher score speaks.
#[derive(Debug)]
struct SubjectModel {
    width: usize,
    components: usize,
    rows: Vec<f64>,
    capacity: usize,
    next: usize,
    retrain: usize,
    since_fit: usize,
    fit: Option<Fit>,
}

#[derive(Debug)]
struct Fit {
    /// Per-feature centre and scale of the history (scale 0: constant, left out).
    center: Vec<f64>,
    scale: Vec<f64>,
    mean: Vec<f64>,
    components: Vec<f64>,
    /// 95th percentile of the history's residuals.
    typical: f64,
    mixture: Option<Mixture>,
}

/// A fitted Gaussian mixture, kept as what scoring needs.
#[derive(Debug)]
struct Mixture {
    means: Vec<Vec<f64>>,
    /// Each component's precision matrix, row-major.
    precisions: Vec<Vec<f64>>,
    /// `ln w + ½ ln det P − d/2 ln 2π` per component.
    log_norms: Vec<f64>,
    /// 95th percentile of the history's surprise.
    typical: f64,
}

/// What a row scored, by the model that scored it highest.
#[derive(Debug)]
struct Scored {
    detector: &'static str,
    score: f64,
    feature: usize,
    observed: f64,
    expected: f64,
}

impl SubjectModel {
    fn new(width: usize, config: &MultiConfig) -> Self {
        let capacity = config.history.max(width + 2);
        Self {
            width,
            components: (width / 3).clamp(1, width.saturating_sub(1).max(1)),
            rows: Vec::with_capacity(capacity * width),
            capacity,
            next: 0,
            retrain: config.retrain.max(1),
            since_fit: 0,
            fit: None,
        }
    }

    fn fitted(&self) -> bool {
        self.fit.is_some()
    }

    /// The row's score in `[0, 1)`, the feature furthest off, its value and what the model
    /// expected of it.
    fn score(&self, row: &[f64], config: &MultiConfig) -> Option<Scored> {
        let fit = self.fit.as_ref()?;
        let z = standardise(row, &fit.center, &fit.scale);
        let (residual, worst, recon) = reconstruct(&z, &fit.mean, &fit.components, self.width);
        let pca = Scored {
            detector: MULTI_DETECTOR,
            score: squash(residual / fit.typical, config.half),
            feature: worst,
            observed: row[worst],
            expected: fit.center[worst] + recon * fit.scale[worst],
        };
        let Some(mixture) = &fit.mixture else {
            return Some(pca);
        };
        let (surprise, nearest) = mixture.surprise(&z);
        let score = squash((surprise - mixture.typical).max(0.0), config.mixture_half);
        if score <= pca.score {
            return Some(pca);
        }
        // The feature furthest from the nearest state, in that state's spread.
        let (mean, precision) = (&mixture.means[nearest], &mixture.precisions[nearest]);
        let feature = (0..self.width)
            .max_by(|&a, &b| {
                let off = |i: usize| (z[i] - mean[i]).abs() * precision[i * self.width + i].sqrt();
                off(a).total_cmp(&off(b))
            })
            .unwrap_or(worst);
        Some(Scored {
            detector: MIXTURE_DETECTOR,
            score,
            feature,
            observed: row[feature],
            expected: fit.center[feature] + mean[feature] * fit.scale[feature],
        })
    }

    fn remember(&mut self, row: &[f64]) {
        if row.len() != self.width || row.iter().any(|x| !x.is_finite()) {
            return;
        }
        if self.rows.len() < self.capacity * self.width {
            self.rows.extend_from_slice(row);
        } else {
            let start = self.next * self.width;
            self.rows[start..start + self.width].copy_from_slice(row);
        }
        self.next = (self.next + 1) % self.capacity;
        self.since_fit += 1;
        if self.since_fit >= self.retrain && self.rows.len() / self.width > self.width + 1 {
            self.since_fit = 0;
            self.refit();
        }
    }

    fn refit(&mut self) {
        let width = self.width;
        let n = (self.rows.len() / width) as f64;
        let mut center = vec![0.0; width];
        for row in self.rows.chunks_exact(width) {
            center.iter_mut().zip(row).for_each(|(c, x)| *c += x / n);
        }
        let mut scale = vec![0.0; width];
        for row in self.rows.chunks_exact(width) {
            for ((s, x), c) in scale.iter_mut().zip(row).zip(&center) {
                *s += (x - c).powi(2) / n;
            }
        }
        // A spread below 2% of the level is measurement noise, not behaviour.
        for (s, c) in scale.iter_mut().zip(&center) {
            *s = s.sqrt().max(0.02 * c.abs());
        }
        let z: Vec<f64> = self
            .rows
            .chunks_exact(width)
            .flat_map(|row| standardise(row, &center, &scale))
            .collect();
        let Some((mean, components)) = principal_components(&z, width, self.components) else {
            return;
        };
        let mut residuals: Vec<f64> = z
            .chunks_exact(width)
            .map(|row| reconstruct(row, &mean, &components, width).0)
            .collect();
        residuals.sort_by(f64::total_cmp);
        let p95 = residuals
            .get(residuals.len() * 95 / 100)
            .copied()
            .unwrap_or(0.0);
        let mixture = Mixture::fit(&z, width);
        self.fit = Some(Fit {
            center,
            scale,
            mean,
            components,
            // Never below one standard deviation squared: a near-perfect fit is no licence to
            // flag noise.
            typical: p95.max(1.0),
            mixture,
        });
    }
}

impl Mixture {
    /// Fits linfa's Gaussian mixture (full covariances) to standardised rows; `None` when the
    /// rows are too few or the fit fails.
    fn fit(z: &[f64], width: usize) -> Option<Self> {
        use linfa::traits::Fit as _;
        use linfa_linalg::cholesky::Cholesky;
        let rows = z.len() / width;
        if rows < 10 * MIXTURE_COMPONENTS * width.min(4) {
            return None;
        }
        let records = ndarray::Array2::from_shape_vec((rows, width), z.to_vec()).ok()?;
        let model = linfa_clustering::GaussianMixtureModel::params(MIXTURE_COMPONENTS)
            // A hundredth of a standard deviation squared keeps a near-constant feature from
            // making its every wobble a surprise.
            .reg_covariance(1e-2)
            .max_n_iterations(100)
            .fit(&linfa::DatasetBase::from(records))
            .ok()?;
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let mut mixture = Mixture {
            means: Vec::new(),
            precisions: Vec::new(),
            log_norms: Vec::new(),
            typical: 0.0,
        };
        for k in 0..model.weights().len() {
            let precision = model
                .precisions()
                .index_axis(ndarray::Axis(0), k)
                .to_owned();
            let chol = precision.cholesky().ok()?;
            let half_log_det: f64 = chol.diag().iter().map(|d| d.ln()).sum();
            let weight = model.weights()[k];
            if weight <= 0.0 || !half_log_det.is_finite() {
                continue;
            }
            mixture
                .log_norms
                .push(weight.ln() + half_log_det - width as f64 * half_log_2pi);
            mixture
                .means
                .push(model.means().row(k).iter().copied().collect());
            mixture.precisions.push(precision.iter().copied().collect());
        }
        if mixture.means.is_empty() {
            return None;
        }
        let mut surprises: Vec<f64> = z
            .chunks_exact(width)
            .map(|row| mixture.surprise(row).0)
            .collect();
        if surprises.iter().any(|s| !s.is_finite()) {
            return None;
        }
        surprises.sort_by(f64::total_cmp);
        mixture.typical = surprises.get(rows * 95 / 100).copied().unwrap_or(0.0);
        Some(mixture)
    }

    /// The row's negative log-likelihood and its most likely component.
    fn surprise(&self, z: &[f64]) -> (f64, usize) {
        let width = z.len();
        let logs: Vec<f64> = self
            .means
            .iter()
            .zip(&self.precisions)
            .zip(&self.log_norms)
            .map(|((mean, precision), norm)| {
                let d: Vec<f64> = z.iter().zip(mean).map(|(x, m)| x - m).collect();
                let mut quad = 0.0;
                for i in 0..width {
                    for j in 0..width {
                        quad += d[i] * precision[i * width + j] * d[j];
                    }
                }
                norm - 0.5 * quad
            })
            .collect();
        let (nearest, top) = logs
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::NEG_INFINITY));
        let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        (-(top + sum.ln()), nearest)
    }
}

/// A row in units of the history's spread; a constant feature (scale 0) is 0.
fn standardise(row: &[f64], center: &[f64], scale: &[f64]) -> Vec<f64> {
    row.iter()
        .zip(center.iter().zip(scale))
        .map(|(x, (c, s))| if *s > 0.0 { (x - c) / s } else { 0.0 })
        .collect()
}

/// What a series feeds: its subject and feature, or `None` for one that names no workload or
/// node.
fn fed_series(store: &Store, labels: &LabelSet) -> Option<Fed> {
    let metric = labels.metric_name();
    let counter = store.is_counter(metric, MetricType::Unknown);
    let namespace = labels.get("namespace").map(str::to_owned);
    let mut version = None;
    let (scope, subject) = if metric.starts_with("node_") {
        let name = labels.get("node").or_else(|| labels.get("instance"))?;
        let subject = Subject {
            node: true,
            namespace: None,
            name: name.to_owned(),
        };
        (Scope::Node, subject)
    } else if let Some(pod) = labels.get("pod").filter(|p| !p.is_empty()) {
        let workload = model::workload_of(pod);
        if workload.kind == WorkloadKind::Deployment {
            version = pod
                .get(workload.name.len() + 1..)
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(hash, _)| hash.to_owned());
        }
        let scope = match workload.kind {
            WorkloadKind::Deployment => Scope::Deployment,
            _ => Scope::Service,
        };
        let subject = Subject {
            node: false,
            namespace,
            name: workload.name.to_owned(),
        };
        (scope, subject)
    } else {
        let name = ["deployment", "service", "app"]
            .iter()
            .find_map(|k| labels.get(k))?;
        let subject = Subject {
            node: false,
            namespace,
            name: name.to_owned(),
        };
        (Scope::Service, subject)
    };
    let feature = if metric == "node_cpu_seconds_total" {
        // Idle time alone says how busy the node is.
        if labels.get("mode") != Some("idle") {
            return None;
        }
        metric.to_owned()
    } else if metric.starts_with("container_")
        && labels
            .get("container")
            .is_none_or(|c| c.is_empty() || c == "POD")
    {
        // The pod-level cgroup and the pause container repeat or add nothing.
        return None;
    } else if STATUS_LABELS
        .iter()
        .find_map(|l| labels.get(l))
        .is_some_and(|code| code.starts_with('5'))
    {
        format!("{metric} 5xx")
    } else {
        metric.to_owned()
    };
    Some(Fed {
        subject,
        scope,
        version,
        feature,
        counter,
        last: None,
    })
}

/// Whether a feature is worse when it falls (free memory, free disk, idle CPU).
fn lower_is_worse(feature: &str) -> bool {
    feature.contains("avail") || feature.contains("Avail") || feature == "node_cpu_seconds_total"
}

/// The incident type a finding on `feature` calls for.
fn incident_type_of(
    feature: &str,
    labels: &LabelSet,
    observed: f64,
    expected: f64,
) -> IncidentType {
    match feature {
        "node_memory_MemAvailable_bytes" => IncidentType::MemoryPressure,
        "node_filesystem_avail_bytes" => IncidentType::NodeDiskPressure,
        "node_cpu_seconds_total" => IncidentType::CpuSaturation,
        _ => incident_type_for(None, labels, observed, Some(expected)),
    }
}

/// Adds a fed series' new samples to its subject's open minutes.
fn feed_subject(
    subjects: &mut HashMap<Subject, Modelled, ahash::RandomState>,
    fed: &mut Fed,
    labels: &LabelSet,
    samples: &[Sample],
    step: i64,
) {
    let Some(subject) = subjects.get_mut(&fed.subject) else {
        return;
    };
    // The series that first showed a feature stands for it in evidence; looked up, not
    // cloned, on every later tick.
    if !subject.shown_by.contains_key(&fed.feature) {
        subject.shown_by.insert(fed.feature.clone(), labels.clone());
    }
    for &sample in samples {
        let Some(value) = value_of(fed, sample) else {
            continue;
        };
        let minute = sample.timestamp_ms.div_euclid(step);
        let open = subject.open.entry(minute).or_default();
        // The feature's name is cloned once a minute, not once a sample.
        match open.get_mut(&fed.feature) {
            Some(slot) => {
                slot.0 += value;
                slot.1 += 1;
            }
            None => {
                open.insert(fed.feature.clone(), (value, 1));
            }
        }
        subject.last_seen_ms = subject.last_seen_ms.max(sample.timestamp_ms);
    }
}

/// A sample as the feature's value (a per-second rate for counters, resets counting from 0).
fn value_of(fed: &mut Fed, sample: Sample) -> Option<f64> {
    let previous = fed.last;
    if previous.is_some_and(|p| sample.timestamp_ms <= p.timestamp_ms) || !sample.value.is_finite()
    {
        return None;
    }
    fed.last = Some(sample);
    if !fed.counter {
        return Some(sample.value);
    }
    Some(crate::live::rate(previous?, sample))
}

/// A minute's means per feature; a `_sum` and `_count` pair becomes the mean latency.
fn means(sums: &BTreeMap<String, (f64, u32)>) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = sums
        .iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(f, (sum, n))| (f.clone(), sum / f64::from(*n)))
        .collect();
    let pairs: Vec<(String, String)> = out
        .keys()
        .filter_map(|f| {
            let family = f.strip_suffix("_sum")?;
            let count = format!("{family}_count");
            out.contains_key(&count).then(|| (f.clone(), count))
        })
        .collect();
    for (sum, count) in pairs {
        let (Some(s), Some(c)) = (out.remove(&sum), out.get(&count).copied()) else {
            continue;
        };
        if c > 0.0 {
            let family = sum.trim_end_matches("_sum");
            out.insert(format!("{family} mean"), s / c);
        }
    }
    out
}

/// The candidate a subject's anomalous minute raises, in an operator's words.
#[allow(clippy::too_many_arguments)]
fn candidate(
    detector: &'static str,
    who: &Subject,
    scope: Scope,
    feature: &str,
    labels: &LabelSet,
    observed: f64,
    expected: f64,
    score: f64,
    width: usize,
    at_ms: i64,
) -> IncidentCandidate {
    let metric = feature.split(' ').next().unwrap_or(feature);
    let (shown, per) = match metric.strip_suffix("_total") {
        Some(base) => (base, " a second"),
        None => (metric.trim_end_matches("_sum"), ""),
    };
    let unit = |v: f64| model::human::in_unit_of(shown, v);
    let what = if feature.ends_with(" 5xx") {
        format!("{shown} answered 5xx")
    } else {
        shown.to_owned()
    };
    let summary = if detector == MIXTURE_DETECTOR {
        format!(
            "{} is in a state unlike any of its recent ones across its {width} metrics: {what} \
             is {}{per} where about {}{per} was usual (mixture likelihood score {score:.2})",
            who.name,
            unit(observed),
            unit(expected),
        )
    } else {
        format!(
            "{} moved unlike its other {} metrics: {what} is {}{per} where the others put it \
             at about {}{per} (multi-metric score {score:.2})",
            who.name,
            width - 1,
            unit(observed),
            unit(expected),
        )
    };
    let evidence = MetricEvidence {
        id: "m1".to_owned(),
        series: labels.clone(),
        window: "1m".to_owned(),
        aggregate: if per.is_empty() { "mean" } else { "rate" }.to_owned(),
        observed,
        expected: Some(expected),
        rule: detector.to_owned(),
        at_ms,
        summary: Some(summary),
    };
    IncidentCandidate {
        incident_type: incident_type_of(feature, labels, observed, expected),
        scope,
        target: who.name.clone(),
        namespace: who.namespace.clone(),
        node: who.node.then(|| who.name.clone()),
        confidence: score,
        severity: Severity::Warning,
        detector: detector.to_owned(),
        origin: model::Origin::Anomaly,
        detected_at_ms: at_ms,
        signal: model::Signal::Firing,
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
        evidence: Evidence {
            metrics: vec![evidence],
            events: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::AnomalyConfig;

    #[test]
    fn the_section_reads_with_defaults_and_refuses_unknown_keys() {
        let config: AnomalyConfig =
            toml::from_str("[multi]\nthreshold = 0.9\nretrain = 30\n").expect("a valid section");
        assert_eq!(config.multi.threshold, 0.9);
        assert_eq!(config.multi.retrain, 30);
        assert!(config.multi.enabled);
        assert_eq!(config.multi.history, 240);
        let typo = toml::from_str::<AnomalyConfig>("[multi]\nthreshhold = 0.9\n");
        assert!(typo.is_err_and(|e| e.to_string().contains("threshhold")));
    }
}
