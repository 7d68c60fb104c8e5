//! What operators add to the ledger: feedback on incidents, the one list of suppression
//! windows, rule suggestions learned from what repeats, and paged incident queries.
//!
//! A suppression window never reads free text: it matches an incident's signature, its
//! namespace and its type, at a time; the correlator opens matching incidents as suppressed.

use crate::record::rfc3339_opt;
use model::{Domain, IncidentStatus, IncidentType, Severity};
use serde::{Deserialize, Serialize};

/// An operator's verdict on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It was a real problem worth the page.
    Useful,
    /// It was not worth anyone's attention.
    Noise,
    /// Real, but the draft named the wrong cause.
    WrongCause,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Useful, Verdict::Noise, Verdict::WrongCause];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Useful => "useful",
            Verdict::Noise => "noise",
            Verdict::WrongCause => "wrong_cause",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// How a person says it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Useful => "useful",
            Verdict::Noise => "noise",
            Verdict::WrongCause => "wrong cause",
        }
    }
}

/// One verdict with its note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub id: String,
    pub incident_id: String,
    pub verdict: Verdict,
    pub note: String,
    /// Who gave it (`name (role)`).
    pub author: String,
    #[serde(rename = "at", with = "crate::record::rfc3339")]
    pub at_ms: i64,
}

/// Where a suppression window came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionOrigin {
    /// "Suppress similar for N hours" in the workspace.
    Workspace,
    /// The chat `silence` command.
    Chat,
    /// A `[[windows]] kind = "suppression"` of the policy file (edited there, not here).
    Policy,
}

impl SuppressionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionOrigin::Workspace => "workspace",
            SuppressionOrigin::Chat => "chat",
            SuppressionOrigin::Policy => "policy",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            SuppressionOrigin::Workspace,
            SuppressionOrigin::Chat,
            SuppressionOrigin::Policy,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }
}

/// When a window is active, in UTC (the same two shapes as the policy's windows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowTime {
    /// From `start_ms` (inclusive) to `end_ms` (exclusive), Unix milliseconds.
    Once { start_ms: i64, end_ms: i64 },
    /// Every listed weekday (0 = Monday) from `from_min` to `to_min` minutes after midnight;
    /// `to_min <= from_min` wraps past midnight.
    Weekly {
        days: Vec<u8>,
        from_min: u32,
        to_min: u32,
    },
}

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

impl WindowTime {
    /// Whether the window is active at `at_ms`.
    pub fn active_at(&self, at_ms: i64) -> bool {
        match self {
            WindowTime::Once { start_ms, end_ms } => *start_ms <= at_ms && at_ms < *end_ms,
            WindowTime::Weekly {
                days,
                from_min,
                to_min,
            } => {
                let day_index = at_ms.div_euclid(DAY_MS);
                // 1970-01-01 was a Thursday (3 days after Monday).
                let weekday = (day_index + 3).rem_euclid(7) as u8;
                let minute = (at_ms.rem_euclid(DAY_MS) / MINUTE_MS) as u32;
                let previous = (weekday + 6) % 7;
                if from_min < to_min {
                    days.contains(&weekday) && *from_min <= minute && minute < *to_min
                } else {
                    (days.contains(&weekday) && minute >= *from_min)
                        || (days.contains(&previous) && minute < *to_min)
                }
            }
        }
    }

    /// Whether it can never be active again after `at_ms` (a one-off window that ended).
    pub fn is_over(&self, at_ms: i64) -> bool {
        matches!(self, WindowTime::Once { end_ms, .. } if *end_ms <= at_ms)
    }
}

/// One suppression window: while active, matching incidents open as `suppressed` and notify
/// nobody, and policy runs no changing action for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub id: String,
    pub origin: SuppressionOrigin,
    pub name: String,
    /// Only incidents with this signature; any when `None`.
    pub signature: Option<String>,
    /// Namespaces it applies to (`*` wildcards); all when empty.
    pub namespaces: Vec<String>,
    /// Incident types it applies to; all when empty.
    pub incident_types: Vec<IncidentType>,
    pub time: WindowTime,
    pub reason: String,
    pub created_by: String,
    #[serde(rename = "created_at", with = "crate::record::rfc3339")]
    pub created_at_ms: i64,
    #[serde(default)]
    pub removed_by: Option<String>,
    #[serde(default, rename = "removed_at", with = "rfc3339_opt")]
    pub removed_at_ms: Option<i64>,
}

impl Suppression {
    /// Whether it applies to an incident of this signature, namespace and type at `at_ms`.
    pub fn covers(
        &self,
        signature: &str,
        namespace: Option<&str>,
        incident_type: IncidentType,
        at_ms: i64,
    ) -> bool {
        self.removed_at_ms.is_none()
            && self.time.active_at(at_ms)
            && self.signature.as_deref().is_none_or(|s| s == signature)
            && (self.namespaces.is_empty()
                || namespace.is_some_and(|ns| self.namespaces.iter().any(|p| glob(p, ns))))
            && (self.incident_types.is_empty() || self.incident_types.contains(&incident_type))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// Where a rule suggestion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionStatus {
    Pending,
    Accepted,
    Rejected,
}

impl SuggestionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionStatus::Pending => "pending",
            SuggestionStatus::Accepted => "accepted",
            SuggestionStatus::Rejected => "rejected",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            SuggestionStatus::Pending,
            SuggestionStatus::Accepted,
            SuggestionStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A detector rule the engine proposes from what repeats, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSuggestion {
    pub id: String,
    /// Same fingerprint, same suggestion: it is never proposed twice.
    pub fingerprint: String,
    /// `log_template`, `alert_name` or `noisy_threshold`.
    pub kind: String,
    pub status: SuggestionStatus,
    /// One plain sentence: what it would do and why.
    pub title: String,
    /// The `[[rule]]` table it would add to the operator rules file.
    pub rule_toml: String,
    /// What led to it: incident ids, counts, the template or alert name.
    pub evidence: serde_json::Value,
    #[serde(rename = "created_at", with = "crate::record::rfc3339")]
    pub created_at_ms: i64,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default, rename = "decided_at", with = "rfc3339_opt")]
    pub decided_at_ms: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A page of the incident list: filters, free text, and which page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentQuery {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub domain: Option<Domain>,
    pub incident_type: Option<IncidentType>,
    /// Only incidents of this source (tenant, optionally a cluster label's value).
    pub source: Option<String>,
    /// Case-insensitive text in the id, target or summary.
    pub text: Option<String>,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

/// One page of incidents, newest opened first, with counts to browse by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentPage {
    pub rows: Vec<crate::IncidentSummary>,
    /// Incidents matching every filter.
    pub total: u64,
    /// Incidents matching every filter but the domain, per domain.
    pub domains: Vec<(Domain, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_windows_wrap_past_midnight() {
        // 2026-01-05 is a Monday.
        let monday = 1_767_571_200_000;
        let window = WindowTime::Weekly {
            days: vec![0],
            from_min: 23 * 60,
            to_min: 60,
        };
        assert!(window.active_at(monday + 23 * 3_600_000 + 1));
        assert!(window.active_at(monday + 24 * 3_600_000 + 30 * 60_000));
        assert!(!window.active_at(monday + 12 * 3_600_000));
    }

    #[test]
    fn suppressions_match_signature_namespace_and_type() {
        let s = Suppression {
            id: "sup-1".into(),
            origin: SuppressionOrigin::Workspace,
            name: "quiet".into(),
            signature: Some("abc".into()),
            namespaces: vec!["shop-*".into()],
            incident_types: vec![IncidentType::CrashLoop],
            time: WindowTime::Once {
                start_ms: 10,
                end_ms: 20,
            },
            reason: String::new(),
            created_by: "alice".into(),
            created_at_ms: 0,
            removed_by: None,
            removed_at_ms: None,
        };
        assert!(s.covers("abc", Some("shop-eu"), IncidentType::CrashLoop, 15));
        assert!(!s.covers("abd", Some("shop-eu"), IncidentType::CrashLoop, 15));
        assert!(!s.covers("abc", Some("billing"), IncidentType::CrashLoop, 15));
        assert!(!s.covers("abc", Some("shop-eu"), IncidentType::OomKilled, 15));
        assert!(!s.covers("abc", Some("shop-eu"), IncidentType::CrashLoop, 20));
        assert!(s.time.is_over(20));
        assert!(glob("*", "x") && glob("a*c", "abbc") && !glob("a*c", "abd"));
    }
}
