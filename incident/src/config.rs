//! Correlation and lifecycle settings: how close in time findings must be to merge, and how
//! long signals must stay healthy before an incident resolves, reopens or counts as flapping.

use serde::{Deserialize, Serialize};

/// Settings of the [`Correlator`](crate::Correlator); all durations are event-time ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrelatorConfig {
    /// Two findings that share topology join one incident when at most this far apart.
    pub correlation_window_ms: i64,
    /// A finding not seen again for this long counts as healthy (no explicit signal needed).
    pub stale_after_ms: i64,
    /// An incident resolves once all its signals have been healthy for this long.
    pub resolve_after_healthy_ms: i64,
    /// A resolved incident reopens (instead of a new one opening) on recurrence within this.
    pub reopen_window_ms: i64,
    /// This many reopens within `flap_window_ms` make an incident flapping.
    pub flap_threshold: u32,
    /// Window over which reopens are counted.
    pub flap_window_ms: i64,
    /// A flapping incident resolves only after being healthy this long.
    pub flap_hold_ms: i64,
    /// An incident touching at least this many distinct targets is critical.
    pub escalate_targets: usize,
}

impl Default for CorrelatorConfig {
    fn default() -> Self {
        const MINUTE: i64 = 60_000;
        Self {
            correlation_window_ms: 5 * MINUTE,
            stale_after_ms: 5 * MINUTE,
            resolve_after_healthy_ms: 10 * MINUTE,
            reopen_window_ms: 30 * MINUTE,
            flap_threshold: 3,
            flap_window_ms: 60 * MINUTE,
            flap_hold_ms: 30 * MINUTE,
            escalate_targets: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_json_takes_defaults_and_unknown_keys_are_refused() {
        let config: CorrelatorConfig =
            serde_json::from_str(r#"{"correlation_window_ms": 1000}"#).unwrap();
        assert_eq!(config.correlation_window_ms, 1000);
        assert_eq!(
            config.flap_threshold,
            CorrelatorConfig::default().flap_threshold
        );
        assert!(serde_json::from_str::<CorrelatorConfig>(r#"{"window": 1}"#).is_err());
    }
}
