//! Synthetic series with known anomalies and a seeded noise source, shared by the tests.

/// A small seeded generator (splitmix64) so every run sees the same noise.
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (sum of 12 uniforms).
    pub(crate) fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (24 * 60 * MINUTE);

/// The kinds of anomaly the tests plant, each from sample `at` on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Planted {
    /// One sample `size` noise deviations up.
    Spike { at: usize, size: f64 },
    /// The level moves up by `size` deviations and stays.
    Shift { at: usize, size: f64 },
    /// The level climbs by `per_sample` deviations per sample.
    Drift { at: usize, per_sample: f64 },
    /// A daily cycle (amplitude 10 deviations) that, from `at`, stays at its peak.
    SeasonalBreak { at: usize },
}

impl Planted {
    pub(crate) fn at(self) -> usize {
        match self {
            Planted::Spike { at, .. }
            | Planted::Shift { at, .. }
            | Planted::Drift { at, .. }
            | Planted::SeasonalBreak { at } => at,
        }
    }
}

/// `n` samples one minute apart: level 100, noise deviation 1, and the planted anomaly.
pub(crate) fn series(planted: Planted, n: usize, seed: u64) -> Vec<(i64, f64)> {
    let mut noise = Noise(seed);
    (0..n)
        .map(|i| {
            let ts = START + i as i64 * MINUTE;
            let mut v = 100.0 + noise.normal();
            match planted {
                Planted::Spike { at, size } if i == at => v += size,
                Planted::Shift { at, size } if i >= at => v += size,
                Planted::Drift { at, per_sample } if i >= at => v += per_sample * (i - at) as f64,
                Planted::SeasonalBreak { at } => {
                    let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
                    v += if i >= at { 10.0 } else { 10.0 * phase.sin() };
                }
                _ => {}
            }
            (ts, v)
        })
        .collect()
}
