//! The default detector: robust level, step and range-novelty evidence fused into one score,
//! with a rest period after an alarm so one anomaly is reported once, not for every sample.

use crate::StreamingDetector;
use crate::error::AnomalyError;
use crate::params::{ParamReader, Params};
use crate::stats::{Baseline, Rest, squash};

/// Fuses three kinds of evidence per sample, all measured in samples so any sampling rate works:
/// the value's distance from a slow baseline (in spreads), the step from the previous value (in
/// typical steps), and how far the value leaves the range seen so far (in ranges). The strongest
/// counts. After a strong score the detector rests for `rest` samples, damping repeats.
#[derive(Debug, Clone)]
pub struct Ensemble {
    base: Baseline,
    warmup: u64,
    level_z: f64,
    step_z: f64,
    novelty: f64,
    half: f64,
    rest: Rest,
    expected: Option<f64>,
}

impl Ensemble {
    pub const NAME: &'static str = "ensemble";

    /// Params (defaults tuned once for all series, never per file): `alpha` (baseline weight,
    /// 0.005), `step_alpha` (0.02), `level_z` (6), `step_z` (8), `novelty` (0.2 ranges),
    /// `range_decay` (per-sample shrink of the seen range, 1e-4), `half` (strength scored 0.5,
    /// 1), `alarm` (score that starts a rest, 0.5), `rest` (samples, 100), `damp` (score factor
    /// while resting, 0.5), `warmup` (samples scored 0, 50).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let alpha = r.get("alpha", 0.005, 1e-6, 1.0)?;
        let step_alpha = r.get("step_alpha", 0.02, 1e-6, 1.0)?;
        let level_z = r.get("level_z", 6.0, 1e-3, 1e3)?;
        let step_z = r.get("step_z", 8.0, 1e-3, 1e3)?;
        let novelty = r.get("novelty", 0.2, 1e-6, 1e3)?;
        let range_decay = r.get("range_decay", 1e-4, 0.0, 1.0)?;
        let half = r.get("half", 1.0, 1e-6, 1e6)?;
        let alarm = r.get("alarm", 0.5, 0.0, 1.0)?;
        let rest = r.count("rest", 100, 0, 1 << 24)? as u32;
        let damp = r.get("damp", 0.5, 0.0, 1.0)?;
        let warmup = r.count("warmup", 50, 0, 1 << 24)? as u64;
        r.finish()?;
        Ok(Self {
            base: Baseline::new(alpha, step_alpha, range_decay),
            warmup,
            level_z,
            step_z,
            novelty,
            half,
            rest: Rest::new(alarm, rest, damp),
            expected: None,
        })
    }

    fn strength(&self, value: f64) -> f64 {
        let b = &self.base;
        let floor = b.floor();
        let level = b.level_spreads(value) / self.level_z;
        let step = match b.prev {
            Some(prev) => {
                (value - prev).abs() / (b.step.mean() + b.step.std()).max(floor) / self.step_z
            }
            None => 0.0,
        };
        let beyond = b.beyond(value).max(0.0) / b.range().max(floor) / self.novelty;
        level.max(step).max(beyond)
    }
}

impl StreamingDetector for Ensemble {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let mut score = 0.0;
        if self.base.seen >= self.warmup.max(2) {
            self.expected = Some(self.base.level.mean());
            score = self.rest.apply(squash(self.strength(value), self.half));
        }
        self.base.learn(value);
        score
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.expected
    }
}
