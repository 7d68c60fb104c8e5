//! Each detector on synthetic series with a known anomaly: quiet before it, a high score at it
//! (or soon after, for drifts and seasonal breaks).

use anomaly::{DEFAULT_DETECTOR, DETECTOR_NAMES, Params, detector_by_name};

use crate::support::{Planted, series};

/// Highest score before the anomaly (after a warm-up) and within `after` samples from it.
fn scores_around(detector: &str, planted: Planted, n: usize, after: usize) -> (f64, f64) {
    let mut det = detector_by_name(detector, &Params::new()).unwrap();
    let at = planted.at();
    let (mut before, mut during) = (0.0f64, 0.0f64);
    for (i, (ts, v)) in series(planted, n, 7).into_iter().enumerate() {
        let s = det.update(ts, v);
        assert!((0.0..=1.0).contains(&s), "{detector} scored {s}");
        if (200..at).contains(&i) {
            before = before.max(s);
        } else if i >= at && i <= at + after {
            during = during.max(s);
        }
    }
    (before, during)
}

#[test]
fn the_default_detector_finds_every_planted_kind() {
    let cases = [
        (
            Planted::Spike {
                at: 600,
                size: 15.0,
            },
            0,
        ),
        (
            Planted::Shift {
                at: 600,
                size: 12.0,
            },
            0,
        ),
        (
            Planted::Drift {
                at: 600,
                per_sample: 0.2,
            },
            120,
        ),
    ];
    for detector in [DEFAULT_DETECTOR, "ensemble"] {
        for (planted, after) in cases {
            let (before, during) = scores_around(detector, planted, 900, after);
            assert!(
                during >= 0.5,
                "{detector} {planted:?}: missed, best {during}"
            );
            assert!(
                during > before,
                "{detector} {planted:?}: before {before}, during {during}"
            );
        }
    }
}

#[test]
fn baselines_find_spikes_and_shifts() {
    for detector in ["ewma", "mad", "cusum", "seasonal"] {
        for planted in [
            Planted::Spike {
                at: 600,
                size: 20.0,
            },
            Planted::Shift {
                at: 600,
                size: 20.0,
            },
        ] {
            let (before, during) = scores_around(detector, planted, 900, 0);
            assert!(
                during > before + 0.2,
                "{detector} {planted:?}: before {before}, during {during}"
            );
        }
    }
}

#[test]
fn cusum_finds_a_slow_drift_before_it_is_large() {
    // 0.05 deviations per sample: after 60 samples the level is only 3 deviations up.
    let planted = Planted::Drift {
        at: 600,
        per_sample: 0.05,
    };
    let (before, during) = scores_around("cusum", planted, 900, 60);
    // Over the default candidate threshold (0.6) within 60 samples, and never before.
    assert!(before < 0.6, "false alarm {before}");
    assert!(during >= 0.6, "drift missed, best {during}");
}

#[test]
fn seasonal_profile_flags_a_break_in_the_daily_cycle() {
    // Three days of a daily cycle, then the series stays at its peak through the trough.
    let day = 1440;
    let at = 3 * day + day / 2 + 60;
    let planted = Planted::SeasonalBreak { at };
    let (before, during) = scores_around("seasonal", planted, at + 300, 240);
    assert!(during > 0.6, "break missed, best {during}");
    assert!(during > before, "before {before}, during {during}");
}

#[test]
fn every_detector_survives_hostile_input() {
    let hostile = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e308,
        -1e308,
        f64::MIN_POSITIVE,
    ];
    for name in DETECTOR_NAMES {
        let mut det = detector_by_name(name, &Params::new()).unwrap();
        for (i, v) in hostile.iter().cycle().take(2000).enumerate() {
            // Repeated and backwards timestamps too.
            let ts = 1_000_000 - (i as i64 % 7) * 1000;
            let s = det.update(ts, *v);
            assert!((0.0..=1.0).contains(&s), "{name}: {s} for {v}");
        }
    }
}
