//! Streaming anomaly detectors that run per series beside the rule detectors and feed the same
//! incident correlation.
//!
//! Every detector implements [`StreamingDetector`]: one call per sample, in arrival order,
//! returning a score in `[0, 1]`. The live engine and the offline replay (NAB evaluation in the
//! `datasets` crate) construct detectors through the same registry, [`detector_by_name`], and
//! drive them the same way, so a score measured offline is the score served live.
//!
//! Invariants:
//! - memory per series is constant: ring buffers and exponentially weighted moments only; the
//!   linfa models refit on a schedule from a bounded history;
//! - state is counted in samples (not only in time), so detectors work at any sampling rate and
//!   tolerate repeated or out-of-order timestamps;
//! - a detector never panics on input: non-finite values score 0 and are not learned.

mod config;
mod detectors;
mod ensemble;
mod error;
mod likelihood;
mod live;
mod multi;
mod params;
mod pca;
mod stats;
mod surprise;

pub use config::{
    AnomalyConfig, DetectorRegistry, DetectorSpec, FamilyRule, SeriesScorer, incident_type_for,
};
pub use detectors::{Cusum, Ewma, MedianMad, RandomScores, Seasonal, WindowedGaussian};
pub use ensemble::Ensemble;
pub use error::AnomalyError;
pub use likelihood::{AnomalyLikelihood, log_scale};
pub use live::LiveAnomaly;
pub use multi::{LiveMulti, MIXTURE_DETECTOR, MULTI_DETECTOR, MultiConfig};
pub use params::Params;
pub use pca::{Attribution, MultiScore, PcaEmbedding, PcaModel};
pub use surprise::Surprise;

use std::fmt::Debug;

/// One series' online detector.
pub trait StreamingDetector: Send + Debug {
    /// Scores `value` observed at `timestamp_ms` (event time), then learns from it. Returns a
    /// score in `[0, 1]`; higher is more anomalous.
    fn update(&mut self, timestamp_ms: i64, value: f64) -> f64;

    /// Registry name of the detector.
    fn name(&self) -> &str;

    /// What the detector expected the last scored value to be, for evidence.
    fn expected(&self) -> Option<f64> {
        None
    }
}

/// The detector used when the configuration names none: the best on NAB among ours.
pub const DEFAULT_DETECTOR: &str = Surprise::NAME;

/// Every name [`detector_by_name`] accepts.
pub const DETECTOR_NAMES: &[&str] = &[
    Surprise::NAME,
    Ensemble::NAME,
    Ewma::NAME,
    MedianMad::NAME,
    Seasonal::NAME,
    Cusum::NAME,
    PcaEmbedding::NAME,
    WindowedGaussian::NAME,
    RandomScores::NAME,
];

/// Builds a fresh detector by registry name with `params` (missing ones take their defaults).
pub fn detector_by_name(
    name: &str,
    params: &Params,
) -> Result<Box<dyn StreamingDetector>, AnomalyError> {
    Ok(match name {
        Ensemble::NAME => Box::new(Ensemble::from_params(params)?),
        Surprise::NAME => Box::new(Surprise::from_params(params)?),
        Ewma::NAME => Box::new(Ewma::from_params(params)?),
        MedianMad::NAME => Box::new(MedianMad::from_params(params)?),
        Seasonal::NAME => Box::new(Seasonal::from_params(params)?),
        Cusum::NAME => Box::new(Cusum::from_params(params)?),
        PcaEmbedding::NAME => Box::new(PcaEmbedding::from_params(params)?),
        WindowedGaussian::NAME => Box::new(WindowedGaussian::from_params(params)?),
        RandomScores::NAME => Box::new(RandomScores::from_params(params)?),
        _ => {
            return Err(AnomalyError::UnknownDetector {
                name: name.to_owned(),
                known: "likelihood, ensemble, ewma, mad, seasonal, cusum, pca, windowed_gaussian, random",
            });
        }
    })
}
