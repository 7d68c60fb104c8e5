//! Small constant-memory statistics the detectors share: exponentially weighted moments, a
//! score squashing map into `[0, 1)`, and the normal tail function.

/// Exponentially weighted mean and variance with a warm-up that starts as a plain average.
#[derive(Debug, Clone)]
pub(crate) struct EwStats {
    alpha: f64,
    mean: f64,
    var: f64,
    n: u64,
}

impl EwStats {
    pub(crate) fn new(alpha: f64) -> Self {
        Self {
            alpha,
            mean: 0.0,
            var: 0.0,
            n: 0,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.n
    }

    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    pub(crate) fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// Adds a value; early on the weight is `1/n` so the first samples are not under-weighted.
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        let a = self.alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }

    /// Moves the mean to `x` (after a confirmed change) and keeps the spread.
    pub(crate) fn reset_mean(&mut self, x: f64) {
        self.mean = x;
    }
}

/// A series' slow level, typical step and seen range (which shrinks slowly toward the level),
/// all counted in samples: what the level, step and range views measure a new value against.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    pub(crate) level: EwStats,
    pub(crate) step: EwStats,
    pub(crate) prev: Option<f64>,
    pub(crate) hi: f64,
    pub(crate) lo: f64,
    range_decay: f64,
    pub(crate) seen: u64,
}

impl Baseline {
    pub(crate) fn new(alpha: f64, step_alpha: f64, range_decay: f64) -> Self {
        Self {
            level: EwStats::new(alpha),
            step: EwStats::new(step_alpha),
            prev: None,
            hi: f64::NEG_INFINITY,
            lo: f64::INFINITY,
            range_decay,
            seen: 0,
        }
    }

    /// The smallest spread or step a value is measured in: a thousandth of the level.
    pub(crate) fn floor(&self) -> f64 {
        1e-3 * self.level.mean().abs() + 1e-9
    }

    /// How many spreads `value` lies from the level.
    pub(crate) fn level_spreads(&self, value: f64) -> f64 {
        (value - self.level.mean()).abs() / self.level.std().max(self.floor())
    }

    /// Width of the seen range (0 or less before two distinct values).
    pub(crate) fn range(&self) -> f64 {
        self.hi - self.lo
    }

    /// How far `value` lies outside the seen range (negative inside it).
    pub(crate) fn beyond(&self, value: f64) -> f64 {
        (value - self.hi).max(self.lo - value)
    }

    /// Learns `value`: level, step from the previous value, and the seen range.
    pub(crate) fn learn(&mut self, value: f64) {
        self.level.push(value);
        if let Some(prev) = self.prev {
            self.step.push((value - prev).abs());
        }
        self.prev = Some(value);
        self.hi = self.hi.max(value);
        self.lo = self.lo.min(value);
        let mean = self.level.mean();
        self.hi -= (self.hi - mean) * self.range_decay;
        self.lo += (mean - self.lo) * self.range_decay;
        self.seen += 1;
    }
}

/// The rest after an alarm: for `rest` samples after a score reaches `alarm`, scores are
/// multiplied by `damp`, so one anomaly is reported once and not for every sample.
#[derive(Debug, Clone)]
pub(crate) struct Rest {
    alarm: f64,
    rest: u32,
    damp: f64,
    resting: u32,
}

impl Rest {
    pub(crate) fn new(alarm: f64, rest: u32, damp: f64) -> Self {
        Self {
            alarm,
            rest,
            damp,
            resting: 0,
        }
    }

    /// `score` as reported: damped while resting; an alarm outside a rest starts one.
    pub(crate) fn apply(&mut self, score: f64) -> f64 {
        if self.resting > 0 {
            self.resting -= 1;
            score * self.damp
        } else {
            if score >= self.alarm {
                self.resting = self.rest;
            }
            score
        }
    }
}

/// Which of `slots` equal slots of a `period_ms` cycle `timestamp_ms` falls in.
pub(crate) fn phase_slot(timestamp_ms: i64, period_ms: i64, slots: usize) -> usize {
    let phase = timestamp_ms.rem_euclid(period_ms);
    ((phase as i128 * slots as i128) / period_ms as i128) as usize
}

/// A time-of-day profile: the usual value in each slot of the day, with how much better it
/// predicts the series than its slow level does (0 for a series without a daily rhythm).
#[derive(Debug, Clone)]
pub(crate) struct DailyProfile {
    slots: Vec<f32>,
    counts: Vec<u8>,
    alpha: f32,
    min_count: u8,
    /// Mean absolute miss of the profile, and of the slow level over the same samples.
    profile_miss: EwStats,
    level_miss: EwStats,
}

const DAY_MS: i64 = 86_400_000;

impl DailyProfile {
    /// `slots` per day; `alpha` is each slot's weight per day; a slot predicts after
    /// `min_count` days; the misses are averaged over about `1/miss_alpha` samples.
    pub(crate) fn new(slots: usize, alpha: f64, min_count: u8, miss_alpha: f64) -> Self {
        Self {
            slots: vec![0.0; slots.max(1)],
            counts: vec![0; slots.max(1)],
            alpha: alpha as f32,
            min_count: min_count.max(1),
            profile_miss: EwStats::new(miss_alpha),
            level_miss: EwStats::new(miss_alpha),
        }
    }

    fn slot(&self, timestamp_ms: i64) -> usize {
        phase_slot(timestamp_ms, DAY_MS, self.slots.len())
    }

    /// The usual value at this time of day, once its slot has seen enough days.
    pub(crate) fn expected(&self, timestamp_ms: i64) -> Option<f64> {
        let slot = self.slot(timestamp_ms);
        (self.counts[slot] >= self.min_count).then(|| f64::from(self.slots[slot]))
    }

    /// How much of the level's miss the profile explains, in `[0, 1]`.
    pub(crate) fn confidence(&self) -> f64 {
        if self.profile_miss.count() < 2 {
            return 0.0;
        }
        let level = self.level_miss.mean();
        if level <= 0.0 {
            return 0.0;
        }
        (1.0 - self.profile_miss.mean() / level).clamp(0.0, 1.0)
    }

    /// The profile's mean absolute miss.
    pub(crate) fn miss(&self) -> f64 {
        self.profile_miss.mean()
    }

    /// Learns `value` at `timestamp_ms`; `level` is the slow level it is compared with.
    pub(crate) fn learn(&mut self, timestamp_ms: i64, value: f64, level: f64) {
        if !(value as f32).is_finite() {
            return;
        }
        if let Some(expected) = self.expected(timestamp_ms) {
            self.profile_miss.push((value - expected).abs());
            self.level_miss.push((value - level).abs());
        }
        let slot = self.slot(timestamp_ms);
        let count = self.counts[slot];
        let a = self.alpha.max(1.0 / f32::from(count.saturating_add(1)));
        self.slots[slot] += a * (value as f32 - self.slots[slot]);
        self.counts[slot] = count.saturating_add(1);
    }
}

/// Maps a non-negative strength to `[0, 1)`: `s / (s + half)`, so `half` maps to 0.5. Strictly
/// increasing, so it never saturates into ties that a threshold cannot separate.
pub(crate) fn squash(strength: f64, half: f64) -> f64 {
    if !strength.is_finite() {
        return if strength.is_nan() {
            0.0
        } else {
            1.0 - f64::EPSILON
        };
    }
    let s = strength.max(0.0);
    s / (s + half)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Probability that a standard normal variable exceeds `z` (the Q function).
pub(crate) fn normal_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tail_matches_known_values() {
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_tail(1.0) - 0.158_655_25).abs() < 1e-7);
        assert!((normal_tail(3.0) - 0.001_349_898).abs() < 1e-8);
        assert!((normal_tail(-2.0) - 0.977_249_87).abs() < 1e-7);
    }

    proptest! {
        #[test]
        fn ew_stats_match_a_plain_mean_while_warming_up(xs in proptest::collection::vec(-1e3f64..1e3, 1..20)) {
            let mut stats = EwStats::new(1e-6);
            for &x in &xs {
                stats.push(x);
            }
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            prop_assert!((stats.mean() - mean).abs() < 1e-6 * (1.0 + mean.abs()));
            prop_assert!((stats.std().powi(2) - var).abs() < 1e-6 * (1.0 + var));
        }

        #[test]
        fn squash_is_monotone_and_bounded(a in 0f64..1e9, b in 0f64..1e9) {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            prop_assert!(squash(lo, 1.0) <= squash(hi, 1.0));
            prop_assert!((0.0..1.0).contains(&squash(hi, 1.0)));
        }
    }
}
