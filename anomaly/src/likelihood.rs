//! Anomaly likelihood: turns a stream of noisy raw scores into a sparse, calibrated score by
//! asking how unusual the recent raw scores are against their own long-run distribution.
//!
//! This is the post-processing stage of HTM's `AnomalyLikelihood`, in constant memory: the mean
//! of the last `short` raw scores is compared with a Gaussian fitted (exponentially weighted,
//! over about `history` samples) to those short means; the likelihood is the normal
//! probability that the short mean is not that high, reported on a log scale so that
//! `1 - 1e-5` maps to 0.5. A run of red alarms reports only its first sample as red.

use crate::stats::{EwStats, normal_tail};

/// Likelihood at which an alarm is "red": the first sample of a red run keeps its score.
const RED: f64 = 0.999_99;
/// What later samples of a red run are lowered to.
const YELLOW: f64 = 0.999;
/// Lower bounds of the fitted distribution (HTM's), so a perfectly quiet history still leaves
/// room for a modest raw score to stand out without every ripple becoming certain.
const MIN_MEAN: f64 = 0.03;
const MIN_VARIANCE: f64 = 0.0003;

/// The streaming anomaly-likelihood stage, all state counted in samples.
#[derive(Debug, Clone)]
pub struct AnomalyLikelihood {
    ring: Vec<f64>,
    next: usize,
    sum: f64,
    dist: EwStats,
    learning: u64,
    seen: u64,
    was_red: bool,
}

impl AnomalyLikelihood {
    /// `short`: raw scores averaged (HTM: 10); `history`: samples the distribution spans
    /// (its weight is `1/history`); `learning`: samples before any likelihood is reported.
    pub fn new(short: usize, history: usize, learning: u64) -> Self {
        let short = short.max(1);
        Self {
            ring: vec![0.0; short],
            next: 0,
            sum: 0.0,
            dist: EwStats::new(1.0 / history.max(1) as f64),
            learning,
            seen: 0,
            was_red: false,
        }
    }

    /// Adds a raw score in `[0, 1]` and returns the likelihood in `[0, 1]` that the recent raw
    /// scores are anomalous (0.5 while learning).
    pub fn likelihood(&mut self, raw: f64) -> f64 {
        let raw = if raw.is_finite() {
            raw.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.sum += raw - self.ring[self.next];
        self.ring[self.next] = raw;
        self.next = (self.next + 1) % self.ring.len();
        self.seen += 1;
        let window = self.seen.min(self.ring.len() as u64) as f64;
        let short_mean = (self.sum / window).max(0.0);
        let likelihood = if self.seen > self.learning && self.dist.count() >= 2 {
            let mean = self.dist.mean().max(MIN_MEAN);
            let std = self.dist.std().max(MIN_VARIANCE.sqrt());
            1.0 - normal_tail((short_mean - mean) / std)
        } else {
            0.5
        };
        self.dist.push(short_mean);
        // Only the first sample of a red run stays red.
        let red = likelihood >= RED;
        let filtered = if red && self.was_red {
            YELLOW
        } else {
            likelihood
        };
        self.was_red = red;
        filtered
    }

    /// [`Self::likelihood`] on HTM's log scale: `ln(1 - L) / ln(1e-10)`, so 0.99999 maps to 0.5.
    pub fn log_score(&mut self, raw: f64) -> f64 {
        log_scale(self.likelihood(raw))
    }
}

/// HTM's log scaling of a likelihood into `[0, 1]`.
pub fn log_scale(likelihood: f64) -> f64 {
    let l = likelihood.clamp(0.0, 1.0);
    ((1.000_000_000_1 - l).ln() / (1e-10f64).ln()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(i: u64) -> f64 {
        // Deterministic noise in [0, 0.2).
        ((i.wrapping_mul(2_654_435_761) % 1000) as f64) / 5000.0
    }

    #[test]
    fn learning_period_reports_one_half() {
        let mut l = AnomalyLikelihood::new(10, 1000, 50);
        for i in 0..50 {
            assert_eq!(l.likelihood(noisy(i)), 0.5);
        }
        assert_ne!(l.likelihood(noisy(50)), 0.5);
    }

    #[test]
    fn sustained_high_raw_scores_are_likely_anomalous_and_noise_is_not() {
        let mut l = AnomalyLikelihood::new(10, 1000, 100);
        let mut quiet_max = 0.0f64;
        for i in 0..2000 {
            let s = l.log_score(noisy(i));
            if i > 200 {
                quiet_max = quiet_max.max(s);
            }
        }
        assert!(quiet_max < 0.3, "noise scored {quiet_max}");
        let burst: f64 = (0..5).map(|_| l.log_score(1.0)).fold(0.0, f64::max);
        assert!(burst >= 0.5, "burst scored {burst}");
    }

    #[test]
    fn a_red_run_reports_its_first_sample_only() {
        let mut l = AnomalyLikelihood::new(1, 1000, 10);
        for i in 0..500 {
            l.likelihood(noisy(i));
        }
        let first = l.likelihood(1.0);
        let second = l.likelihood(1.0);
        assert!(first >= RED, "{first}");
        assert_eq!(second, YELLOW);
        assert!(log_scale(first) >= 0.5 && log_scale(second) < 0.5);
    }

    #[test]
    fn log_scale_maps_red_to_one_half_and_stays_in_range() {
        assert!((log_scale(RED) - 0.5).abs() < 1e-3);
        assert!(log_scale(0.5) < 0.05);
        assert!(log_scale(1.0) > 0.999_999);
        assert_eq!(log_scale(0.0), 0.0);
        assert!(log_scale(0.99) < log_scale(0.999));
    }

    #[test]
    fn hostile_raw_scores_stay_in_range() {
        let mut l = AnomalyLikelihood::new(10, 100, 5);
        for v in [f64::NAN, f64::INFINITY, -1.0, 2.0, 0.0, 1.0]
            .iter()
            .cycle()
            .take(500)
        {
            let s = l.log_score(*v);
            assert!((0.0..=1.0).contains(&s));
        }
    }
}
