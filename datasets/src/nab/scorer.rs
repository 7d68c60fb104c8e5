//! NAB scoring as the NAB paper and NAB's sweeper define it: scaled-sigmoid weights per row,
//! anomaly windows, probationary period, one threshold optimised over the corpus, normalisation.

/// The application profile weights (NAB `profiles.json` cost matrices).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

/// NAB's three profiles, with the weights of NAB's `profiles.json`.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// `2 * sigmoid(-5x) - 1`, and `-1` from 3 onwards (far behind a window).
pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * relative_position).exp()) - 1.0
    }
}

/// Rows NAB does not score at the start of a file: `min(floor(0.15 n), 0.15 * 5000)`.
pub fn probation_rows(rows: usize) -> usize {
    ((0.15 * rows as f64).floor()).min(750.0) as usize
}

/// One scorable row: its anomaly score, its sweep weight under a profile, and its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    pub score: f64,
    pub weight: f64,
    /// Corpus-unique window id when the row lies in a labelled window.
    pub window: Option<usize>,
}

/// Inclusive row ranges of each window, given as event-time limits, found the way NAB finds
/// them (first row at the limit; the nearest row inside when no row carries it exactly).
pub fn window_rows(timestamps_ms: &[i64], windows_ms: &[(i64, i64)]) -> Vec<(usize, usize)> {
    windows_ms
        .iter()
        .filter_map(|&(start, end)| {
            let left = timestamps_ms
                .iter()
                .position(|&t| t == start)
                .or_else(|| timestamps_ms.iter().position(|&t| t >= start))?;
            let right = timestamps_ms
                .iter()
                .position(|&t| t == end)
                .or_else(|| timestamps_ms.iter().rposition(|&t| t <= end))?;
            (right >= left).then_some((left, right))
        })
        .collect()
}

/// Weights every scorable row of one file under `profile` (NAB's `calcSweepScore`). Scorable
/// windows get ids from `first_window_id` on. Returns the points after the probationary period and how many
/// windows have scorable rows.
pub fn sweep_file(
    scores: &[f64],
    windows: &[(usize, usize)],
    profile: &Profile,
    first_window_id: usize,
) -> (Vec<SweepPoint>, usize) {
    let probation = probation_rows(scores.len());
    let max_tp = scaled_sigmoid(-1.0);
    let mut points = Vec::with_capacity(scores.len().saturating_sub(probation));
    // Windows entirely inside the probationary period are not scored at all; ids go to the rest.
    let skipped = windows.iter().filter(|w| w.1 < probation).count();
    let mut next = 0;
    let mut current: Option<usize> = None;
    let mut previous: Option<(usize, f64)> = None;
    for (i, &score) in scores.iter().enumerate() {
        if current.is_none() && next < windows.len() && windows[next].0 == i {
            current = Some(next);
            next += 1;
        }
        let (weight, window) = match current {
            Some(k) => {
                let (left, right) = windows[k];
                let width = (right - left + 1) as f64;
                let position = -((right as f64 - i as f64 + 1.0) / width);
                (scaled_sigmoid(position) * profile.tp / max_tp, Some(k))
            }
            None => {
                let position = match previous {
                    Some((right, width)) if width > 1.0 => {
                        (i as f64 - right as f64).abs() / (width - 1.0)
                    }
                    _ => 3.0,
                };
                (scaled_sigmoid(position) * profile.fp, None)
            }
        };
        if i >= probation {
            points.push(SweepPoint {
                score,
                weight,
                window: window.map(|k| first_window_id + k - skipped),
            });
        }
        if let Some(k) = current
            && windows[k].1 == i
        {
            previous = Some((i, (windows[k].1 - windows[k].0 + 1) as f64));
            current = None;
        }
    }
    (points, windows.len() - skipped)
}

/// The raw score at one threshold: best weight per detected window, false-positive weights,
/// and `-fn` for every window with no detection.
pub fn score_at(
    points: &[SweepPoint],
    windows: usize,
    first_window_id: usize,
    threshold: f64,
    profile: &Profile,
) -> RawScore {
    let mut best = vec![None::<f64>; windows];
    let mut raw = RawScore::default();
    for p in points.iter().filter(|p| p.score >= threshold) {
        match p.window {
            Some(w) => {
                let slot = &mut best[w - first_window_id];
                *slot = Some(slot.map_or(p.weight, |b: f64| b.max(p.weight)));
                raw.in_window += 1;
            }
            None => {
                raw.score += p.weight;
                raw.false_positives += 1;
            }
        }
    }
    for b in &best {
        match b {
            Some(weight) => {
                raw.score += weight.max(-profile.fn_);
                raw.detected += 1;
            }
            None => raw.score -= profile.fn_,
        }
    }
    raw
}

/// A raw score with the counts behind it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawScore {
    pub score: f64,
    /// Windows with at least one detection.
    pub detected: usize,
    /// Detections inside windows.
    pub in_window: usize,
    /// Detections outside windows (after the probationary period).
    pub false_positives: usize,
}

/// The threshold that maximises the summed raw score over all points (NAB's sweep: every
/// distinct score is a candidate, starting above 1 where nothing is detected).
pub fn optimise_threshold(points: &[SweepPoint], windows: usize, profile: &Profile) -> (f64, f64) {
    let mut order: Vec<&SweepPoint> = points.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut best_window = vec![-profile.fn_; windows];
    let mut fp_sum = 0.0;
    let mut window_sum = -profile.fn_ * windows as f64;
    let mut best = (1.1, window_sum);
    let mut i = 0;
    while i < order.len() {
        let threshold = order[i].score;
        while i < order.len() && order[i].score == threshold {
            let p = order[i];
            match p.window {
                Some(w) if w < windows => {
                    if p.weight > best_window[w] {
                        window_sum += p.weight - best_window[w];
                        best_window[w] = p.weight;
                    }
                }
                _ => fp_sum += p.weight,
            }
            i += 1;
        }
        let total = fp_sum + window_sum;
        if total > best.1 {
            best = (threshold, total);
        }
    }
    best
}

/// `100 * (raw - null) / (perfect - null)`, with the null detector scoring `-fn` per window and
/// the perfect one `tp` per window.
pub fn normalise(raw: f64, windows: usize, profile: &Profile) -> f64 {
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    if perfect == null {
        0.0
    } else {
        100.0 * (raw - null) / (perfect - null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Profile = PROFILES[0];

    /// 1000 rows, probation 150; one window over rows 500..=599.
    fn one_window_file(detections: &[usize]) -> Vec<f64> {
        let mut scores = vec![0.0; 1000];
        for &d in detections {
            scores[d] = 1.0;
        }
        scores
    }

    fn raw(detections: &[usize], profile: &Profile) -> RawScore {
        let scores = one_window_file(detections);
        let windows = [(500, 599)];
        let (points, n) = sweep_file(&scores, &windows, profile, 0);
        assert_eq!(n, 1);
        score_at(&points, 1, 0, 0.5, profile)
    }

    #[test]
    fn detection_at_window_start_scores_full_tp() {
        let r = raw(&[500], &STANDARD);
        assert!((r.score - 1.0).abs() < 1e-12, "{r:?}");
        assert_eq!(normalise(r.score, 1, &STANDARD), 100.0);
    }

    #[test]
    fn later_detections_score_less_and_the_right_edge_near_zero() {
        let early = raw(&[510], &STANDARD).score;
        let middle = raw(&[550], &STANDARD).score;
        let edge = raw(&[599], &STANDARD).score;
        assert!(early > middle && middle > edge && edge > 0.0);
        assert!(edge < 0.06, "{edge}");
        assert!((middle - scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0)).abs() < 0.03);
    }

    #[test]
    fn only_the_best_detection_in_a_window_counts() {
        assert_eq!(
            raw(&[500, 520, 580], &STANDARD).score,
            raw(&[500], &STANDARD).score
        );
    }

    #[test]
    fn missed_window_costs_fn_and_null_normalises_to_zero() {
        let r = raw(&[], &STANDARD);
        assert_eq!(r.score, -1.0);
        assert_eq!(normalise(r.score, 1, &STANDARD), 0.0);
        let low_fn = PROFILES[2];
        assert_eq!(raw(&[], &low_fn).score, -2.0);
    }

    #[test]
    fn false_positive_far_from_windows_costs_the_profile_weight() {
        // Before any window: full cost. Far after a window: full cost. Just after: little cost.
        let before = raw(&[500, 300], &STANDARD).score - 1.0;
        assert!((before + 0.11).abs() < 1e-12, "{before}");
        let low_fp = raw(&[500, 300], &PROFILES[1]).score - 1.0;
        assert!((low_fp + 0.22).abs() < 1e-12);
        let far_after = raw(&[500, 950], &STANDARD).score - 1.0;
        assert!((far_after + 0.11).abs() < 1e-12, "{far_after}");
        let just_after = raw(&[500, 601], &STANDARD).score - 1.0;
        assert!(just_after < 0.0 && just_after > -0.01, "{just_after}");
    }

    #[test]
    fn probationary_rows_are_not_scored() {
        assert_eq!(raw(&[10, 100], &STANDARD).score, -1.0);
        assert_eq!(probation_rows(1000), 150);
        assert_eq!(probation_rows(10_000), 750);
    }

    #[test]
    fn optimiser_finds_the_threshold_that_separates() {
        let mut scores = vec![0.1; 1000];
        scores[520] = 0.9; // in the window
        scores[300] = 0.7; // a false positive below the true detection
        let (points, _) = sweep_file(&scores, &[(500, 599)], &STANDARD, 0);
        let (threshold, best) = optimise_threshold(&points, 1, &STANDARD);
        assert_eq!(threshold, 0.9);
        assert_eq!(best, score_at(&points, 1, 0, 0.9, &STANDARD).score);
        assert!(best > 0.9);
    }

    #[test]
    fn window_rows_follow_nab_matching() {
        let ts = [0, 5, 10, 10, 5, 20, 25];
        assert_eq!(window_rows(&ts, &[(5, 20)]), vec![(1, 5)]);
        assert_eq!(window_rows(&ts, &[(6, 22)]), vec![(2, 5)]);
    }
}
