//! When a failed delivery is tried again: exponential backoff with jitter, never sooner than
//! the provider asked (`Retry-After`, Telegram's `retry_after`), and how to read those asks.

use std::time::Duration;

/// Backoff settings (`channels.retry_initial`, `channels.retry_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The pause after the `attempt`-th failure (1-based): `initial · 2^(attempt-1)` capped at
    /// `max`, of which a random half is taken away ("equal jitter", so many retries spread out
    /// but none comes back at once), and at least the provider's `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.max)
            .as_secs_f64();
        let jittered = base / 2.0 + base / 2.0 * unit.clamp(0.0, 1.0);
        let delay = Duration::from_secs_f64(jittered);
        match retry_after {
            Some(asked) => delay.max(asked),
            None => delay,
        }
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP date (relative to `now_ms`).
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(24 * 3600)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = at.timestamp_millis() - now_ms;
    Some(Duration::from_millis(u64::try_from(ms.max(0)).unwrap_or(0)))
}

/// The `Retry-After` of an HTTP answer.
pub fn retry_after_of(headers: &reqwest::header::HeaderMap, now_ms: i64) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_jitters_and_honours_the_ask() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay(1, None, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(4, None, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(40, None, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(40, None, 0.0), Duration::from_secs(30));
        // The provider's ask wins when longer.
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(7)), 0.3),
            Duration::from_secs(7)
        );
        assert_eq!(
            b.delay(8, Some(Duration::from_secs(2)), 1.0),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("3", 0), Some(Duration::from_secs(3)));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
