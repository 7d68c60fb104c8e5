//! Incident lifecycle states: where an incident stands between being observed and resolved.
//! Names are stable `snake_case` strings used by the API, the ledger and filters.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Lifecycle of an incident: Observed → Triaged → Contained / Escalated → Recovering →
/// Resolved, or Suppressed by an operator (or merged into another incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Observed,
    Triaged,
    Contained,
    Escalated,
    Recovering,
    Resolved,
    Suppressed,
}

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: &'static [IncidentStatus] = &[
        IncidentStatus::Observed,
        IncidentStatus::Triaged,
        IncidentStatus::Contained,
        IncidentStatus::Escalated,
        IncidentStatus::Recovering,
        IncidentStatus::Resolved,
        IncidentStatus::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Observed => "observed",
            IncidentStatus::Triaged => "triaged",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Escalated => "escalated",
            IncidentStatus::Recovering => "recovering",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Suppressed => "suppressed",
        }
    }

    /// Parses the `snake_case` name.
    pub fn from_name(name: &str) -> Option<Self> {
        IncidentStatus::ALL
            .iter()
            .copied()
            .find(|status| status.as_str() == name)
    }

    /// Whether someone still has to act: observed, triaged, contained or escalated.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            IncidentStatus::Observed
                | IncidentStatus::Triaged
                | IncidentStatus::Contained
                | IncidentStatus::Escalated
        )
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &status in IncidentStatus::ALL {
            assert_eq!(IncidentStatus::from_name(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(IncidentStatus::from_name("open"), None);
    }
}
