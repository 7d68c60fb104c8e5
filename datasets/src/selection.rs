//! How a held-out evaluation picks settings on its training side: by the worst training
//! group (system or category), the average breaking ties.
//!
//! The group left out is a kind none of the training ones is. A setting that holds on every
//! kind seen carries over to it; one that buys an average with one kind's gain and another's
//! loss does not.

/// The sort key of a setting scored `scores` on the training groups: (worst, mean).
pub fn worst_then_mean(scores: &[f64]) -> (f64, f64) {
    let worst = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    (worst, mean)
}

/// The index of the best key (the first of equals).
pub fn best(keys: impl IntoIterator<Item = (f64, f64)>) -> Option<usize> {
    let mut best: Option<(usize, (f64, f64))> = None;
    for (i, key) in keys.into_iter().enumerate() {
        if best.is_none_or(|(_, b)| key.0 > b.0 || (key.0 == b.0 && key.1 > b.1)) {
            best = Some((i, key));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_group_decides_and_the_mean_breaks_ties() {
        // The second setting has the best mean only through one group's gain.
        let keys = [
            worst_then_mean(&[0.9, 0.8, 0.85]),
            worst_then_mean(&[1.0, 0.5, 1.0]),
            worst_then_mean(&[0.95, 0.8, 0.9]),
        ];
        assert_eq!(best(keys), Some(2));
        assert_eq!(best([]), None);
    }
}
