//! Root-cause service ranking from metrics: each service's series in a normal period against an
//! anomalous period, scored by robust deviation, highest first, naming the driving metric.
//!
//! The score of a series is the largest absolute robust z-score of its anomalous samples, using
//! the normal period's median and inter-quartile range (the BARO/RobustScaler idea); a service
//! scores its strongest series. The same function serves the live draft and offline evaluation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One metric of one service over the two periods. Non-finite samples are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSeries {
    pub service: String,
    pub metric: String,
    pub normal: Vec<f64>,
    pub anomalous: Vec<f64>,
}

/// A ranked candidate root cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedService {
    pub service: String,
    /// Robust deviation of the driving metric (in normal-period IQRs).
    pub score: f64,
    /// The metric with the largest deviation.
    pub metric: String,
}

/// Quantile by linear interpolation of a sorted slice (`q` in `[0, 1]`).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Ranking settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RankConfig {
    /// Smallest scale of a series as a share of its normal median: changes below this share of
    /// the level are treated as noise, so a flat-but-jittery gauge (memory of an idle JVM)
    /// cannot outrank a real shift in another service.
    pub relative_noise_floor: f64,
}

impl Default for RankConfig {
    fn default() -> Self {
        Self {
            relative_noise_floor: 0.01,
        }
    }
}

/// Robust deviation score of one series with the default settings, or `None` when a period
/// has no finite samples.
pub fn series_score(normal: &[f64], anomalous: &[f64]) -> Option<f64> {
    series_score_with(normal, anomalous, &RankConfig::default())
}

/// Robust deviation score of one series: the largest `|x - median| / scale` over the anomalous
/// samples, where `scale` is the normal period's IQR, raised to the relative noise floor; a
/// flat baseline falls back to its standard deviation, then to the floor (at least `1e-9`).
pub fn series_score_with(normal: &[f64], anomalous: &[f64], config: &RankConfig) -> Option<f64> {
    let mut base: Vec<f64> = normal.iter().copied().filter(|v| v.is_finite()).collect();
    if base.is_empty() {
        return None;
    }
    base.sort_by(f64::total_cmp);
    let median = quantile(&base, 0.5);
    let iqr = quantile(&base, 0.75) - quantile(&base, 0.25);
    let floor = (config.relative_noise_floor * median.abs()).max(1e-9);
    let tiny = f64::EPSILON * median.abs().max(1.0);
    let scale = if iqr > tiny {
        iqr.max(floor)
    } else {
        let mean = base.iter().sum::<f64>() / base.len() as f64;
        let var = base.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / base.len() as f64;
        let sd = var.sqrt();
        if sd > tiny { sd.max(floor) } else { floor }
    };
    anomalous
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| ((v - median) / scale).abs())
        .reduce(f64::max)
}

/// Ranks services by their strongest deviating series (default settings).
pub fn rank_services(series: &[ServiceSeries]) -> Vec<RankedService> {
    rank_services_with(series, &RankConfig::default())
}

/// Ranks services by their strongest deviating series; ties keep name order. Every service
/// that has a scorable series is a candidate.
pub fn rank_services_with(series: &[ServiceSeries], config: &RankConfig) -> Vec<RankedService> {
    let mut best: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    for s in series {
        let Some(score) = series_score_with(&s.normal, &s.anomalous, config) else {
            continue;
        };
        let e = best
            .entry(s.service.as_str())
            .or_insert((f64::NEG_INFINITY, s.metric.as_str()));
        if score > e.0 {
            *e = (score, s.metric.as_str());
        }
    }
    let mut out: Vec<RankedService> = best
        .into_iter()
        .map(|(service, (score, metric))| RankedService {
            service: service.to_owned(),
            score,
            metric: metric.to_owned(),
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series(service: &str, metric: &str, normal: Vec<f64>, anomalous: Vec<f64>) -> ServiceSeries {
        ServiceSeries {
            service: service.into(),
            metric: metric.into(),
            normal,
            anomalous,
        }
    }

    #[test]
    fn the_deviating_service_ranks_first_with_its_metric() {
        let calm: Vec<f64> = (0..50).map(|i| 10.0 + (i % 5) as f64).collect();
        let mut hot = calm.clone();
        hot[20] = 80.0;
        let ranked = rank_services(&[
            series("carts", "cpu", calm.clone(), calm.clone()),
            series("orders", "mem", calm.clone(), calm.clone()),
            series("orders", "cpu", calm.clone(), hot),
        ]);
        assert_eq!(ranked[0].service, "orders");
        assert_eq!(ranked[0].metric, "cpu");
        assert!(ranked[0].score > ranked[1].score);
        assert_eq!(ranked.len(), 2);
    }

    #[test]
    fn noise_floor_stops_tiny_relative_jitter_from_winning() {
        // Memory at 300 MB with 4 kB jitter, then +20 MB; cpu at 1% jumping to 90%.
        let mem_n: Vec<f64> = (0..40).map(|i| 3.0e8 + f64::from(i % 2) * 4096.0).collect();
        let mem_a: Vec<f64> = (0..40).map(|_| 3.2e8).collect();
        let cpu_n: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 3) * 0.1).collect();
        let cpu_a: Vec<f64> = (0..40).map(|_| 90.0).collect();
        let series = [
            series("queue", "mem", mem_n.clone(), mem_a.clone()),
            series("carts", "cpu", cpu_n.clone(), cpu_a.clone()),
        ];
        assert_eq!(rank_services(&series)[0].service, "carts");
        let no_floor = RankConfig {
            relative_noise_floor: 0.0,
        };
        assert_eq!(rank_services_with(&series, &no_floor)[0].service, "queue");
    }

    #[test]
    fn flat_baseline_and_empty_periods() {
        assert!(series_score(&[5.0; 10], &[5.0, 5.0]).is_some_and(|s| s == 0.0));
        // Flat at 5: the scale is the 1% floor (0.05), so a step to 6 scores 20.
        assert!(series_score(&[5.0; 10], &[6.0]).is_some_and(|s| (s - 20.0).abs() < 1e-9));
        assert_eq!(series_score(&[], &[1.0]), None);
        assert_eq!(series_score(&[f64::NAN], &[1.0]), None);
        assert_eq!(series_score(&[1.0, 2.0], &[f64::NAN]), None);
    }

    proptest! {
        // Reference: the score is the max over anomalous samples of |x - median| / IQR,
        // computed here by brute force on integer data with a non-zero IQR.
        #[test]
        fn score_matches_reference(normal in proptest::collection::vec(0i32..1000, 8..60),
                                   anomalous in proptest::collection::vec(-500i32..1500, 1..30)) {
            let n: Vec<f64> = normal.iter().map(|v| f64::from(*v)).collect();
            let a: Vec<f64> = anomalous.iter().map(|v| f64::from(*v)).collect();
            let mut s = n.clone();
            s.sort_by(f64::total_cmp);
            let q = |p: f64| {
                let pos = p * (s.len() - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                s[lo] * (1.0 - (pos - lo as f64)) + s[hi] * (pos - lo as f64)
            };
            let iqr = q(0.75) - q(0.25);
            prop_assume!(iqr > 1e-6);
            let expect = a.iter().map(|v| ((v - q(0.5)) / iqr).abs()).fold(0.0, f64::max);
            let no_floor = RankConfig { relative_noise_floor: 0.0 };
            let got = series_score_with(&n, &a, &no_floor).unwrap();
            prop_assert!((got - expect).abs() <= 1e-9 * expect.max(1.0));
        }
    }
}
