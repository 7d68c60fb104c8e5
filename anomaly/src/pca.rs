//! PCA reconstruction error over feature vectors: a multi-metric model (the metrics of one pod,
//! service or node) and a single-series variant over a delay embedding of the series.
//!
//! The principal components come from linfa's dense symmetric eigensolver on the covariance of
//! the remembered history (at most 64 features, so the covariance is small); unlike an
//! iterative solver it stays finite on flat or rank-deficient histories.

use linfa_linalg::eigh::Eigh;
use ndarray::Array2;

use crate::StreamingDetector;
use crate::error::AnomalyError;
use crate::params::{ParamReader, Params};
use crate::stats::{EwStats, squash};

/// Which feature drove a multi-metric score, with what was expected of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Index of the feature with the largest reconstruction residual.
    pub feature: usize,
    pub observed: f64,
    /// The model's reconstruction of that feature.
    pub expected: f64,
}

/// A multi-metric score in `[0, 1]` with the feature behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiScore {
    pub score: f64,
    pub attribution: Option<Attribution>,
}

/// PCA reconstruction error over fixed-width feature vectors. History is a ring of the last
/// `history` vectors (constant memory); the model is refitted every `retrain` vectors.
#[derive(Debug, Clone)]
pub struct PcaModel {
    width: usize,
    components: usize,
    history: Vec<f64>,
    history_rows: usize,
    next_row: usize,
    retrain: usize,
    since_fit: usize,
    /// Per-feature standardisation learned online.
    scales: Vec<EwStats>,
    /// Fitted model: mean and orthonormal components (row-major, `components x width`).
    fitted: Option<(Vec<f64>, Vec<f64>)>,
    error: EwStats,
    half: f64,
    scratch: Vec<f64>,
}

impl PcaModel {
    /// `width` features, `components` kept, `history` vectors remembered, refit every `retrain`.
    pub fn new(
        width: usize,
        components: usize,
        history: usize,
        retrain: usize,
        half: f64,
    ) -> Result<Self, AnomalyError> {
        if width > 64 {
            return Err(AnomalyError::InvalidParam {
                detector: "pca",
                param: "width",
                value: width as f64,
                reason: "at most 64 features",
            });
        }
        if components == 0 || components >= width.max(1) {
            return Err(AnomalyError::InvalidParam {
                detector: "pca",
                param: "components",
                value: components as f64,
                reason: "must be at least 1 and fewer than the features",
            });
        }
        Ok(Self {
            width,
            components,
            history: Vec::with_capacity(width * history),
            history_rows: history.max(width + 1),
            next_row: 0,
            retrain: retrain.max(1),
            since_fit: 0,
            scales: vec![EwStats::new(0.01); width],
            fitted: None,
            error: EwStats::new(0.01),
            half,
            scratch: vec![0.0; width],
        })
    }

    /// Scores `features` against the current model, then learns from them.
    pub fn update(&mut self, features: &[f64]) -> Result<MultiScore, AnomalyError> {
        if features.len() != self.width {
            return Err(AnomalyError::FeatureWidth {
                expected: self.width,
                got: features.len(),
            });
        }
        for ((slot, stats), &x) in self.scratch.iter_mut().zip(&self.scales).zip(features) {
            let spread = stats.std().max(1e-3 * stats.mean().abs() + 1e-9);
            *slot = if stats.count() > 1 && x.is_finite() {
                (x - stats.mean()) / spread
            } else {
                0.0
            };
        }
        let mut result = MultiScore {
            score: 0.0,
            attribution: None,
        };
        if let Some((mean, comps)) = &self.fitted {
            let (residual, worst, recon) = reconstruct(&self.scratch, mean, comps, self.width);
            let typical = self.error.mean().max(1e-9) + self.error.std();
            result.score = squash(residual / typical, self.half);
            let stats = &self.scales[worst];
            let spread = stats.std().max(1e-3 * stats.mean().abs() + 1e-9);
            result.attribution = Some(Attribution {
                feature: worst,
                observed: features[worst],
                expected: stats.mean() + recon * spread,
            });
            self.error.push(residual);
        }
        for (stats, &x) in self.scales.iter_mut().zip(features) {
            if x.is_finite() {
                stats.push(x);
            }
        }
        self.remember();
        Ok(result)
    }

    fn remember(&mut self) {
        let start = self.next_row * self.width;
        if self.history.len() < self.history_rows * self.width {
            self.history.extend_from_slice(&self.scratch);
        } else {
            self.history[start..start + self.width].copy_from_slice(&self.scratch);
        }
        self.next_row = (self.next_row + 1) % self.history_rows;
        self.since_fit += 1;
        let rows = self.history.len() / self.width;
        if self.since_fit >= self.retrain && rows > self.width {
            self.since_fit = 0;
            self.fit(rows);
        }
    }

    fn fit(&mut self, rows: usize) {
        if let Some(fitted) = principal_components(
            &self.history[..rows * self.width],
            self.width,
            self.components,
        ) {
            self.fitted = Some(fitted);
        }
    }
}

/// The mean and the `components` leading principal components (row-major, `components x
/// width`) of `history`'s rows; `None` for too few or non-finite rows or a failed
/// decomposition.
pub(crate) fn principal_components(
    history: &[f64],
    width: usize,
    components: usize,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let rows = history.len() / width.max(1);
    if rows < 2 || history.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut mean = vec![0.0; width];
    for row in history.chunks_exact(width) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut cov = Array2::<f64>::zeros((width, width));
    for row in history.chunks_exact(width) {
        for i in 0..width {
            let di = row[i] - mean[i];
            for j in i..width {
                cov[[i, j]] += di * (row[j] - mean[j]);
            }
        }
    }
    for i in 0..width {
        for j in i..width {
            let c = cov[[i, j]] / (rows - 1) as f64;
            cov[[i, j]] = c;
            cov[[j, i]] = c;
        }
    }
    let (values, vectors) = cov.eigh().ok()?;
    let mut order: Vec<usize> = (0..width).filter(|&k| values[k].is_finite()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut comps = Vec::with_capacity(components * width);
    for &k in order.iter().take(components) {
        comps.extend(vectors.column(k).iter().copied());
    }
    (comps.len() == components * width && comps.iter().all(|x| x.is_finite()))
        .then_some((mean, comps))
}

/// Squared residual of `x` off the component subspace, the feature with the largest residual
/// and that feature's reconstruction.
pub(crate) fn reconstruct(
    x: &[f64],
    mean: &[f64],
    comps: &[f64],
    width: usize,
) -> (f64, usize, f64) {
    let mut recon: [f64; 64] = [0.0; 64];
    let recon = &mut recon[..width.min(64)];
    recon.copy_from_slice(&mean[..recon.len()]);
    for comp in comps.chunks_exact(width) {
        let proj: f64 = comp
            .iter()
            .zip(x.iter().zip(mean))
            .map(|(c, (xi, m))| c * (xi - m))
            .sum();
        for (r, c) in recon.iter_mut().zip(comp) {
            *r += proj * c;
        }
    }
    let mut residual = 0.0;
    let mut worst = (0, -1.0, 0.0);
    for (i, (xi, ri)) in x.iter().zip(recon.iter()).enumerate() {
        let d = (xi - ri).powi(2);
        residual += d;
        if d > worst.1 {
            worst = (i, d, *ri);
        }
    }
    (residual, worst.0, worst.2)
}

/// PCA over a delay embedding of one series: the last `dim` values (standardised) as a vector,
/// so a change in the series' shape shows as reconstruction error.
#[derive(Debug, Clone)]
pub struct PcaEmbedding {
    model: PcaModel,
    lags: Vec<f64>,
    warm: usize,
}

impl PcaEmbedding {
    pub const NAME: &'static str = "pca";

    /// Params: `dim` (embedding width, 8, at most 64), `components` (2), `history` (512),
    /// `retrain` (256), `half` (residual ratio scored 0.5, 6).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let dim = r.count("dim", 8, 2, 64)?;
        let components = r.count("components", 2, 1, 63)?;
        let history = r.count("history", 512, 16, 1 << 16)?;
        let retrain = r.count("retrain", 256, 1, 1 << 20)?;
        let half = r.get("half", 6.0, 1e-3, 1e6)?;
        r.finish()?;
        Ok(Self {
            model: PcaModel::new(dim, components, history, retrain, half)?,
            lags: vec![0.0; dim],
            warm: 0,
        })
    }
}

impl StreamingDetector for PcaEmbedding {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        self.lags.rotate_left(1);
        if let Some(last) = self.lags.last_mut() {
            *last = value;
        }
        self.warm += 1;
        if self.warm < self.lags.len() {
            return 0.0;
        }
        self.model
            .update(&self.lags)
            .map(|s| s.score)
            .unwrap_or(0.0)
    }

    fn name(&self) -> &str {
        Self::NAME
    }
}
