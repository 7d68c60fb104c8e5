//! The likelihood detector: raw surprise per sample (level, step, value-transition novelty and
//! time of day), calibrated by the anomaly-likelihood stage, with range breaks and a rest.

use crate::StreamingDetector;
use crate::error::AnomalyError;
use crate::likelihood::{AnomalyLikelihood, log_scale};
use crate::params::{ParamReader, Params};
use crate::stats::{Baseline, DailyProfile, Rest};

/// Value bins of the transition table.
const BINS: usize = 16;

/// Exponent applied to the log-likelihood score on output, `ln 0.6 / ln 0.5`: a red
/// likelihood (0.99999, log score 0.5) is reported as 0.6, the default candidate threshold.
/// Monotone, so it changes no ranking and no NAB score.
const OUTPUT_GAMMA: f64 = 0.736_965_594_166_206;

/// Raw surprise in `[0, 1]` per sample from three views, all counted in samples: the value's
/// distance from a slow baseline (in spreads), the step from the previous value (in typical
/// steps), and how rarely the transition between the previous and the current value bin has
/// been seen. A fourth view, time of day, weighs in as far as the series has a daily rhythm: a
/// series its daily profile predicts far better than its level is judged against that profile
/// (a missing peak, a flat day), and its ordinary daily swings stop counting as steps.
/// The raw scores go through [`AnomalyLikelihood`], which scores how unusual the
/// recent surprise is for this series, so one threshold serves calm and noisy series alike.
/// A value far outside the range seen so far scores on its own. After an alarm the detector
/// rests for `rest` samples so an anomaly is reported once. A red likelihood scores 0.6.
#[derive(Debug, Clone)]
pub struct Surprise {
    base: Baseline,
    daily: DailyProfile,
    daily_z: f64,
    mute: f64,
    prev_bin: usize,
    transitions: Vec<f32>,
    transition_decay: f32,
    likelihood: AnomalyLikelihood,
    warmup: u64,
    level_z: f64,
    step_z: f64,
    novelty_w: f64,
    tolerance: f64,
    rest: Rest,
    expected: Option<f64>,
}

impl Surprise {
    pub const NAME: &'static str = "likelihood";

    /// Params (tuned once for all series, never per file): `alpha` (baseline weight, 0.003),
    /// `step_alpha` (0.02), `level_z` (level spreads for a raw score of 0.63, 2), `step_z`
    /// (typical steps for 0.63, 5), `novelty` (weight of transition novelty, 0.5),
    /// `short` (raw scores averaged, 10), `history` (samples of the likelihood's distribution,
    /// 2000), `learning` (samples scored 0 while learning, 150), `tolerance` (range fraction
    /// beyond the seen range that scores on its own, 0.08), `range_decay` (per-sample shrink
    /// of the seen range, 1e-4), `transition_decay` (per-sample decay of transition counts,
    /// 1e-3), `alarm` (log-likelihood score that starts a rest, 0.5 = likelihood 0.99999),
    /// `rest` (samples scored at half while resting, 50), `daily_slots` (slots of the day
    /// profile, 96), `daily_alpha` (a slot's weight per visit, 0.3), `daily_min` (visits before
    /// a slot predicts, 2), `daily_z` (typical profile misses for a raw score of 0.63, 4),
    /// `mute` (how steeply the rhythm's strength mutes the other views, 8).
    pub fn from_params(params: &Params) -> Result<Self, AnomalyError> {
        let mut r = ParamReader::new(Self::NAME, params);
        let alpha = r.get("alpha", 0.003, 1e-6, 1.0)?;
        let step_alpha = r.get("step_alpha", 0.02, 1e-6, 1.0)?;
        let level_z = r.get("level_z", 2.0, 1e-3, 1e3)?;
        let step_z = r.get("step_z", 5.0, 1e-3, 1e3)?;
        let novelty_w = r.get("novelty", 0.5, 0.0, 1.0)?;
        let short = r.count("short", 10, 1, 1 << 12)?;
        let history = r.count("history", 2000, 1, 1 << 24)?;
        let learning = r.count("learning", 150, 0, 1 << 24)? as u64;
        let tolerance = r.get("tolerance", 0.08, 0.0, 1e3)?;
        let range_decay = r.get("range_decay", 1e-4, 0.0, 1.0)?;
        let transition_decay = r.get("transition_decay", 1e-3, 0.0, 1.0)? as f32;
        let alarm = r.get("alarm", 0.5, 0.0, 1.0)?;
        let rest = r.count("rest", 50, 0, 1 << 24)? as u32;
        let daily_slots = r.count("daily_slots", 96, 1, 1440)?;
        let daily_alpha = r.get("daily_alpha", 0.3, 1e-6, 1.0)?;
        let daily_min = r.count("daily_min", 2, 1, 255)? as u8;
        let daily_z = r.get("daily_z", 4.0, 1e-3, 1e3)?;
        let mute = r.get("mute", 8.0, 0.0, 1e3)?;
        r.finish()?;
        Ok(Self {
            base: Baseline::new(alpha, step_alpha, range_decay),
            daily: DailyProfile::new(daily_slots, daily_alpha, daily_min, alpha),
            daily_z,
            mute,
            prev_bin: 0,
            transitions: vec![0.0; BINS * BINS],
            transition_decay,
            likelihood: AnomalyLikelihood::new(short, history, learning),
            warmup: learning,
            level_z,
            step_z,
            novelty_w,
            tolerance,
            rest: Rest::new(alarm, rest, 0.5),
            expected: None,
        })
    }

    fn bin(&self, value: f64) -> usize {
        let range = self.base.range();
        if range.is_nan() || range <= 0.0 {
            return 0;
        }
        (((value - self.base.lo) / range * BINS as f64).floor()).clamp(0.0, (BINS - 1) as f64)
            as usize
    }

    /// Raw surprise of `value` before learning it.
    fn raw(&self, timestamp_ms: i64, value: f64, bin: usize) -> f64 {
        let b = &self.base;
        // How far the value is from its time of day, and how much of the series' swing the
        // day profile explains (0: no daily rhythm; near 1: the day profile is the baseline).
        let (daily, rhythm) = match self.daily.expected(timestamp_ms) {
            Some(usual) => {
                let c = self.daily.confidence();
                let far = (value - usual).abs() / self.daily.miss().max(b.floor()) / self.daily_z;
                (far.powi(2) * c.powi(2), c.powf(self.mute))
            }
            None => (0.0, 0.0),
        };
        let level = b.level_spreads(value) / self.level_z;
        let step = match b.prev {
            Some(prev) => (value - prev).abs() / b.step.mean().max(b.floor()) / self.step_z,
            None => 0.0,
        };
        let strength = level.max(step);
        let value_surprise = 1.0 - (-strength).exp();
        let row = &self.transitions[self.prev_bin * BINS..(self.prev_bin + 1) * BINS];
        let total: f32 = row.iter().sum();
        let novelty = if total > 0.0 {
            1.0 - f64::from(row[bin] / total)
        } else {
            0.0
        };
        let mixed = (1.0 - self.novelty_w) * value_surprise
            + self.novelty_w * novelty * value_surprise.sqrt();
        (mixed * (1.0 - rhythm)).max(1.0 - (-daily).exp())
    }

    fn learn(&mut self, timestamp_ms: i64, value: f64, bin: usize) {
        self.daily
            .learn(timestamp_ms, value, self.base.level.mean());
        if self.base.prev.is_some() {
            let keep = 1.0 - self.transition_decay;
            let row = &mut self.transitions[self.prev_bin * BINS..(self.prev_bin + 1) * BINS];
            for c in row.iter_mut() {
                *c *= keep;
            }
            row[bin] += 1.0;
        }
        self.prev_bin = bin;
        self.base.learn(value);
    }
}

impl StreamingDetector for Surprise {
    fn update(&mut self, timestamp_ms: i64, value: f64) -> f64 {
        if !value.is_finite() {
            return 0.0;
        }
        let bin = self.bin(value);
        let raw = if self.base.seen >= 2 {
            self.raw(timestamp_ms, value, bin)
        } else {
            0.0
        };
        let mut score = self.likelihood.log_score(raw);
        if self.base.seen >= self.warmup.max(2) {
            // The day profile is the expectation once it explains most of the swing.
            self.expected = Some(
                self.daily
                    .expected(timestamp_ms)
                    .filter(|_| self.daily.confidence() >= 0.5)
                    .unwrap_or(self.base.level.mean()),
            );
            let range = self.base.range();
            let beyond = self.base.beyond(value);
            if range > 0.0 && beyond > self.tolerance * range {
                // Out of the range seen so far: as strong as the evidence gets, graded by how far.
                score = score.max(log_scale(1.0 - 1e-5 * (-beyond / range).exp()));
            }
            score = self.rest.apply(score);
        } else {
            score = 0.0;
        }
        self.learn(timestamp_ms, value, bin);
        score.clamp(0.0, 1.0).powf(OUTPUT_GAMMA)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn expected(&self) -> Option<f64> {
        self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded noise, roughly standard normal (sum of 12 splitmix64 uniforms).
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut uniform = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| (0..12).map(|_| uniform()).sum::<f64>() - 6.0)
            .collect()
    }

    fn scores(values: &[f64]) -> Vec<f64> {
        let mut det = Surprise::from_params(&Params::new()).expect("defaults");
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| det.update(i as i64 * 300_000, v))
            .collect()
    }

    #[test]
    fn a_spike_in_noise_scores_over_the_default_threshold_and_noise_does_not() {
        let mut values: Vec<f64> = noise(2000, 3).iter().map(|x| 50.0 + x).collect();
        values[1500] += 12.0;
        let s = scores(&values);
        // At most one alarm in 1300 samples of noise (a rare 4-sigma value may raise one).
        let alarms = s[200..1500].iter().filter(|&&x| x >= 0.6).count();
        assert!(alarms <= 1, "{alarms} alarms in noise");
        assert!(s[1500] >= 0.6, "spike scored {}", s[1500]);
        assert!(s.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn scores_do_not_depend_on_the_series_unit_or_offset() {
        let base: Vec<f64> = noise(1500, 9).iter().map(|x| 10.0 + x).collect();
        let mut spiky = base.clone();
        spiky[1000] += 9.0;
        let scaled: Vec<f64> = spiky.iter().map(|x| 1e6 * x + 3e7).collect();
        let (a, b) = (scores(&spiky), scores(&scaled));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        assert!(a[1000] >= 0.6);
    }

    #[test]
    fn rests_after_an_alarm_then_alarms_again() {
        let mut values: Vec<f64> = noise(3000, 5).iter().map(|x| 100.0 + x).collect();
        // Each spike leaves the range seen before it, so each alone would be an alarm.
        values[1500] += 15.0;
        values[1520] += 30.0; // within the rest: damped
        values[2500] += 45.0; // long after: reported again
        let s = scores(&values);
        assert!(s[1500] >= 0.6, "{}", s[1500]);
        assert!(s[1520] < 0.6, "{}", s[1520]);
        assert!(s[2500] >= 0.6, "{}", s[2500]);
    }

    #[test]
    fn leaving_the_seen_range_scores_even_in_a_wild_series() {
        // Heavy, bursty noise keeps the likelihood calm about big swings; a value far beyond
        // anything seen still scores as an alarm.
        let mut values: Vec<f64> = noise(2000, 11)
            .iter()
            .map(|x| 100.0 + 20.0 * x * x.abs())
            .collect();
        let top = values.iter().copied().fold(f64::MIN, f64::max);
        values[1800] = top + 200.0;
        let s = scores(&values);
        assert!(s[1800] >= 0.6, "{}", s[1800]);
    }

    #[test]
    fn a_day_without_its_usual_peak_scores_and_ordinary_days_do_not() {
        // Two weeks at 5 minutes: low at night, high from 09:00 to 18:00, except on day 10.
        let day = 288;
        let values: Vec<f64> = noise(14 * day, 21)
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let slot = i % day;
                let peak = (108..216).contains(&slot) && i / day != 10;
                let level = if peak { 80.0 } else { 20.0 };
                level + 2.0 * x
            })
            .collect();
        let s = scores(&values);
        let missing = &s[10 * day + 108..10 * day + 216];
        assert!(
            missing.iter().any(|&x| x >= 0.6),
            "missing peak scored at most {}",
            missing.iter().copied().fold(0.0, f64::max)
        );
        let ordinary = s[3 * day..10 * day].iter().filter(|&&x| x >= 0.6).count();
        assert!(ordinary <= 1, "{ordinary} alarms on ordinary days");
    }

    #[test]
    fn learning_period_scores_zero_and_bad_params_are_refused() {
        let s = scores(&noise(150, 1));
        assert!(s.iter().all(|&x| x == 0.0));
        let mut params = Params::new();
        params.insert("rest".into(), -1.0);
        assert!(Surprise::from_params(&params).is_err());
        params.clear();
        params.insert("nope".into(), 1.0);
        assert!(Surprise::from_params(&params).is_err());
    }
}
