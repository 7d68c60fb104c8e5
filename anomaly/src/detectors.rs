//! The single-series streaming detectors: EWMA and median/MAD baselines, seasonal profiles,
//! CUSUM change points, and NAB's windowed-Gaussian and random reference detectors.

use crate::StreamingDetector;
use crate::error::AnomalyError;
use crate::params::{ParamReader, Params};
use crate::stats::{EwStats, normal_tail, phase_slot, squash};

/// Smallest spread a baseline is allowed, relative to the level, so flat series do not divide by 0.
fn spread_floor(level: f64) -> f64 {
    1e-3 * level.abs() + 1e-9
}

/// Exponentially weighted mean and deviation; score from the z-score of each new value.
#[derive(Debug, Clone)]
pub struct Ewma {
    stats: EwStats,
    half_z: f64,
    warmup: u64,
    expected: Option<f64>,
}

impl Ewma {
    pub const NAME: &'static str = "ewma";

    /// Params: `alpha` (weight of a new sample, 0.02), `half_z` (z-score scored 0.5, 4),
    /// `warmup` (samples scored 0 while learning, 30).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let alpha = r.get("alpha", 0.02, 1e-6, 1.0)?;
        let half_z = r.get("half_z", 4.0, 1e-3, 1e3)?;
        let warmup = r.count("warmup", 30, 0, 1 << 20)? as u64;
        r.finish()?;
        Ok(Self {
            stats: EwStats::new(alpha),
            half_z,
            warmup,
            expected: None,
        })
    }
}

impl StreamingDetector for Ewma {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let score = if self.stats.count() >= self.warmup.max(2) {
            let mean = self.stats.mean();
            self.expected = Some(mean);
            let z = (value - mean).abs() / self.stats.std().max(spread_floor(mean));
            squash(z, self.half_z)
        } else {
            0.0
        };
        self.stats.push(value);
        score
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.expected
    }
}

/// Rolling median and median absolute deviation over the last `window` samples (a ring buffer),
/// refreshed every `refresh` samples; robust to the outliers it is looking for.
#[derive(Debug, Clone)]
pub struct MedianMad {
    ring: Vec<f64>,
    next: usize,
    filled: bool,
    refresh: usize,
    since_refresh: usize,
    scratch: Vec<f64>,
    median: f64,
    mad: f64,
    half_z: f64,
    ready: bool,
}

impl MedianMad {
    pub const NAME: &'static str = "mad";

    /// Params: `window` (samples, 512), `refresh` (samples between recomputations, 32),
    /// `half_z` (robust z-score scored 0.5, 5).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let window = r.count("window", 512, 8, 1 << 16)?;
        let refresh = r.count("refresh", 32, 1, 1 << 16)?;
        let half_z = r.get("half_z", 5.0, 1e-3, 1e3)?;
        r.finish()?;
        Ok(Self {
            ring: Vec::with_capacity(window),
            next: 0,
            filled: false,
            refresh,
            since_refresh: 0,
            scratch: Vec::with_capacity(window),
            median: 0.0,
            mad: 0.0,
            half_z,
            ready: false,
        })
    }

    fn recompute(&mut self) {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.ring);
        let mid = self.scratch.len() / 2;
        let (_, median, _) = self.scratch.select_nth_unstable_by(mid, f64::total_cmp);
        let median = *median;
        for x in &mut self.scratch {
            *x = (*x - median).abs();
        }
        let mean_ad = self.scratch.iter().sum::<f64>() / self.scratch.len() as f64;
        let (_, mad, _) = self.scratch.select_nth_unstable_by(mid, f64::total_cmp);
        self.median = median;
        // Scaled to a normal deviation. Over half the window at the median (flat or quantised
        // series) gives a MAD of 0, which would score every ripple as infinitely far: fall back
        // to the mean absolute deviation then (the modified z-score's rule).
        self.mad = (1.4826 * *mad).max(1.2533 * mean_ad);
        self.ready = true;
    }
}

impl StreamingDetector for MedianMad {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let score = if self.ready {
            let scale = self.mad.max(spread_floor(self.median));
            squash((value - self.median).abs() / scale, self.half_z)
        } else {
            0.0
        };
        let capacity = self.ring.capacity();
        if self.filled {
            self.ring[self.next] = value;
        } else {
            self.ring.push(value);
            self.filled = self.ring.len() == capacity;
        }
        self.next = (self.next + 1) % capacity;
        self.since_refresh += 1;
        if self.since_refresh >= self.refresh && self.ring.len() >= 8 {
            self.since_refresh = 0;
            self.recompute();
        }
        score
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.ready.then_some(self.median)
    }
}

/// Time-of-day (or day-of-week) profile learned online: one EWMA level and deviation per bin of
/// the period, falling back to the global baseline until a bin has seen `min_count` samples.
#[derive(Debug, Clone)]
pub struct Seasonal {
    period_ms: i64,
    bins: Vec<EwStats>,
    global: EwStats,
    min_count: u64,
    half_z: f64,
    expected: Option<f64>,
}

impl Seasonal {
    pub const NAME: &'static str = "seasonal";

    /// Params: `period_hours` (24 for time of day, 168 for day of week), `bins` (48),
    /// `alpha` (per-bin weight, 0.1), `min_count` (samples a bin needs, 3), `half_z` (4).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let period_hours = r.get("period_hours", 24.0, 1.0 / 60.0, 24.0 * 366.0)?;
        let bins = r.count("bins", 48, 1, 10_080)?;
        let alpha = r.get("alpha", 0.1, 1e-6, 1.0)?;
        let min_count = r.count("min_count", 3, 1, 1 << 20)? as u64;
        let half_z = r.get("half_z", 4.0, 1e-3, 1e3)?;
        r.finish()?;
        Ok(Self {
            period_ms: ((period_hours * 3_600_000.0) as i64).max(1),
            bins: vec![EwStats::new(alpha); bins],
            global: EwStats::new(0.01),
            min_count,
            half_z,
            expected: None,
        })
    }

    fn bin(&self, timestamp_ms: i64) -> usize {
        phase_slot(timestamp_ms, self.period_ms, self.bins.len())
    }
}

impl StreamingDetector for Seasonal {
    fn update(&mut self, timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let b = self.bin(timestamp_ms);
        let bin = &self.bins[b];
        let (mean, spread) = if bin.count() >= self.min_count {
            (bin.mean(), bin.std().max(0.25 * self.global.std()))
        } else {
            (self.global.mean(), self.global.std())
        };
        let score = if self.global.count() >= 2 {
            self.expected = Some(mean);
            squash(
                (value - mean).abs() / spread.max(spread_floor(mean)),
                self.half_z,
            )
        } else {
            0.0
        };
        self.bins[b].push(value);
        self.global.push(value);
        score
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.expected
    }
}

/// Two-sided CUSUM of standardised residuals against a slow EWMA baseline; after an alarm the
/// sums restart and the baseline jumps to the new level.
#[derive(Debug, Clone)]
pub struct Cusum {
    baseline: EwStats,
    k: f64,
    h: f64,
    pos: f64,
    neg: f64,
    warmup: u64,
    expected: Option<f64>,
}

impl Cusum {
    pub const NAME: &'static str = "cusum";

    /// Params: `alpha` (baseline weight, 0.01), `k` (slack in sigmas, 0.5), `h` (decision
    /// interval in sigmas, scored 2/3, 8), `warmup` (30).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let alpha = r.get("alpha", 0.01, 1e-6, 1.0)?;
        let k = r.get("k", 0.5, 0.0, 100.0)?;
        let h = r.get("h", 8.0, 1e-3, 1e4)?;
        let warmup = r.count("warmup", 30, 0, 1 << 20)? as u64;
        r.finish()?;
        Ok(Self {
            baseline: EwStats::new(alpha),
            k,
            h,
            pos: 0.0,
            neg: 0.0,
            warmup,
            expected: None,
        })
    }
}

impl StreamingDetector for Cusum {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let mut score = 0.0;
        if self.baseline.count() >= self.warmup.max(2) {
            let mean = self.baseline.mean();
            self.expected = Some(mean);
            let z =
                ((value - mean) / self.baseline.std().max(spread_floor(mean))).clamp(-50.0, 50.0);
            self.pos = (self.pos + z - self.k).max(0.0);
            self.neg = (self.neg - z - self.k).max(0.0);
            let stat = self.pos.max(self.neg);
            // The decision interval scores 2/3, so a change that crosses it (and restarts the
            // sums) clears the usual thresholds.
            score = squash(stat, 0.5 * self.h);
            if stat > self.h {
                self.pos = 0.0;
                self.neg = 0.0;
                self.baseline.reset_mean(value);
            }
        }
        self.baseline.push(value);
        score
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.expected
    }
}

/// NAB's windowed Gaussian reference detector, as its published results were produced: the
/// two-sided normal tail `1 - Q(|z|)` of each value under the mean and population deviation
/// of a window that grows to `window` samples one at a time, then slides by `step` samples.
#[derive(Debug, Clone)]
pub struct WindowedGaussian {
    window: std::collections::VecDeque<f64>,
    capacity: usize,
    step: usize,
    pending: Vec<f64>,
    mean: f64,
    std: f64,
}

impl WindowedGaussian {
    pub const NAME: &'static str = "windowed_gaussian";

    /// Params: `window` (samples, 6400) and `step` (samples per slide, 100), NAB's values.
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let capacity = r.count("window", 6400, 1, 1 << 20)?;
        let step = r.count("step", 100, 1, 1 << 20)?.min(capacity);
        r.finish()?;
        Ok(Self {
            window: std::collections::VecDeque::with_capacity(capacity),
            capacity,
            step,
            pending: Vec::with_capacity(step),
            mean: 0.0,
            std: 1.0,
        })
    }

    /// Mean and population deviation of the window, two-pass as NumPy computes them.
    fn refresh(&mut self) {
        let n = self.window.len() as f64;
        self.mean = self.window.iter().sum::<f64>() / n;
        let var = self
            .window
            .iter()
            .map(|x| (x - self.mean).powi(2))
            .sum::<f64>()
            / n;
        self.std = if var > 0.0 { var.sqrt() } else { 1e-6 };
    }
}

impl StreamingDetector for WindowedGaussian {
    fn update(&mut self, _timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let score = if self.window.is_empty() {
            0.0
        } else {
            1.0 - normal_tail(((value - self.mean) / self.std).abs())
        };
        if self.window.len() < self.capacity {
            self.window.push_back(value);
            self.refresh();
        } else {
            self.pending.push(value);
            if self.pending.len() >= self.step {
                self.window.drain(..self.pending.len());
                self.window.extend(self.pending.drain(..));
                self.refresh();
            }
        }
        if score.is_finite() { score } else { 0.0 }
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        Some(self.mean)
    }
}

/// Uniform random scores from a seeded generator (splitmix64): the chance-level reference.
#[derive(Debug, Clone)]
pub struct RandomScores {
    state: u64,
}

impl RandomScores {
    pub const NAME: &'static str = "random";

    /// Params: `seed` (42, as NAB seeds its random detector).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let seed = r.count("seed", 42, 0, u32::MAX as usize)? as u64;
        r.finish()?;
        Ok(Self { state: seed })
    }
}

impl StreamingDetector for RandomScores {
    fn update(&mut self, _timestamp_ms: i64, _value: f64) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn name(&self) -> &str {
        Self::NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mad_keeps_a_scale_on_quantised_series() {
        // Most samples sit on the median, so the MAD is 0; the regular dips must not look
        // infinitely far while a real spike still stands out.
        let mut det = MedianMad::from_params(&Params::new()).expect("defaults");
        let cycle = [0.1, 0.1, 0.102, 0.1, 0.068];
        let mut ripple = 0.0f64;
        for i in 0..2000 {
            let s = det.update(i, cycle[i as usize % cycle.len()]);
            if i > 600 {
                ripple = ripple.max(s);
            }
        }
        let spike = det.update(2000, 1.0);
        assert!(ripple < 0.6, "ripple scored {ripple}");
        assert!(spike > 0.9, "spike scored {spike}");
    }
}
