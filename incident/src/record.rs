//! What the engine keeps and the API shows: incidents, findings, evidence and timeline
//! events, with timestamps serialised as RFC 3339 strings (UTC, milliseconds).

use model::Target;
use model::{
    Domain, EventEvidence, IncidentCandidate, IncidentStatus, IncidentType, MetricEvidence, Origin,
    Severity,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The full state of one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    /// Signature of the primary finding (stable; never built from free text).
    pub signature: String,
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    pub domain: Domain,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub target: Target,
    #[serde(rename = "opened_at", with = "rfc3339")]
    pub opened_at_ms: i64,
    #[serde(rename = "updated_at", with = "rfc3339")]
    pub updated_at_ms: i64,
    #[serde(rename = "resolved_at", with = "rfc3339_opt")]
    pub resolved_at_ms: Option<i64>,
    /// One deterministic sentence built from type, target and evidence.
    pub summary: String,
    /// Raw candidates merged into this incident, duplicates included.
    pub candidate_count: u64,
    pub reopen_count: u32,
    /// Reopened often enough recently to be held open instead of re-notified.
    pub flapping: bool,
    /// Set when this incident was absorbed by another one.
    pub merged_into: Option<String>,
    /// What produced the candidates behind it (every sighting, absorbed incidents included),
    /// in name order. Empty for incidents stored before origins were recorded.
    #[serde(default)]
    pub origins: BTreeSet<Origin>,
    /// Where its data came from (tenant, optionally a cluster label's value): incidents of
    /// different sources never merge, and each follows its source's event-time clock.
    #[serde(default = "model::source::default_source")]
    pub source: String,
    /// Who owns it, as an operator set it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Who acknowledged it, and when (wall clock).
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default, rename = "acknowledged_at", with = "rfc3339_opt")]
    pub acknowledged_at_ms: Option<i64>,
}

impl Incident {
    pub fn summary(&self) -> IncidentSummary {
        IncidentSummary {
            id: self.id.clone(),
            incident_type: self.incident_type,
            domain: self.domain,
            severity: self.severity,
            status: self.status,
            target: self.target.clone(),
            opened_at: rfc3339::format(self.opened_at_ms),
            updated_at: rfc3339::format(self.updated_at_ms),
            summary: self.summary.clone(),
            candidate_count: self.candidate_count,
            origins: self.origins.clone(),
            source: self.source.clone(),
            assignee: self.assignee.clone(),
            acknowledged_by: self.acknowledged_by.clone(),
        }
    }
}

/// One element of `GET /api/v1/incidents`' `data` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    pub domain: Domain,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub target: Target,
    /// RFC 3339, UTC.
    pub opened_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    pub summary: String,
    pub candidate_count: u64,
    /// What produced the candidates behind it, in name order.
    #[serde(default)]
    pub origins: BTreeSet<Origin>,
    /// Where its data came from.
    #[serde(default = "model::source::default_source")]
    pub source: String,
    /// Who owns it, as an operator set it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Who acknowledged it.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
}

/// A deduplicated candidate inside an incident: every sighting with the same signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub incident_id: String,
    pub signature: String,
    /// Highest severity among the sightings.
    pub severity: Severity,
    /// Highest confidence among the sightings.
    pub confidence: f64,
    pub occurrences: u64,
    #[serde(rename = "first_seen", with = "rfc3339")]
    pub first_seen_ms: i64,
    #[serde(rename = "last_seen", with = "rfc3339")]
    pub last_seen_ms: i64,
    /// When a healthy signal (a resolved alert) arrived after the last sighting.
    #[serde(rename = "healthy_at", with = "rfc3339_opt")]
    pub healthy_at_ms: Option<i64>,
    /// The earliest sighting, with its evidence.
    pub candidate: IncidentCandidate,
}

/// One piece of evidence of a finding, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// `<finding id>/<evidence id>`, unique in the ledger.
    pub id: String,
    pub finding_id: String,
    pub evidence: EvidenceItem,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceItem {
    Metric(MetricEvidence),
    Event(EventEvidence),
}

impl EvidenceRecord {
    /// The records a finding's representative candidate carries.
    pub fn of_finding(finding: &Finding) -> Vec<EvidenceRecord> {
        let evidence = &finding.candidate.evidence;
        let metrics = evidence.metrics.iter().map(|m| EvidenceRecord {
            id: format!("{}/{}", finding.id, m.id),
            finding_id: finding.id.clone(),
            evidence: EvidenceItem::Metric(m.clone()),
        });
        let events = evidence.events.iter().map(|e| EvidenceRecord {
            id: format!("{}/{}", finding.id, e.id),
            finding_id: finding.id.clone(),
            evidence: EvidenceItem::Event(e.clone()),
        });
        metrics.chain(events).collect()
    }
}

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    FindingAdded,
    SeverityChanged,
    SignalHealthy,
    StatusChanged,
    Reopened,
    Merged,
    Absorbed,
    /// An operator acknowledged it.
    Acknowledged,
    /// An operator gave it to someone.
    Assigned,
    /// An operator's note.
    Commented,
    /// An operator's verdict (useful, noise, wrong cause).
    Feedback,
    /// Similar incidents are suppressed for a while (a suppression window on its signature).
    Silenced,
}

impl TimelineKind {
    /// Every kind, in declaration order.
    pub const ALL: [TimelineKind; 13] = [
        TimelineKind::Opened,
        TimelineKind::FindingAdded,
        TimelineKind::SeverityChanged,
        TimelineKind::SignalHealthy,
        TimelineKind::StatusChanged,
        TimelineKind::Reopened,
        TimelineKind::Merged,
        TimelineKind::Absorbed,
        TimelineKind::Acknowledged,
        TimelineKind::Assigned,
        TimelineKind::Commented,
        TimelineKind::Feedback,
        TimelineKind::Silenced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Opened => "opened",
            TimelineKind::FindingAdded => "finding_added",
            TimelineKind::SeverityChanged => "severity_changed",
            TimelineKind::SignalHealthy => "signal_healthy",
            TimelineKind::StatusChanged => "status_changed",
            TimelineKind::Reopened => "reopened",
            TimelineKind::Merged => "merged",
            TimelineKind::Absorbed => "absorbed",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Assigned => "assigned",
            TimelineKind::Commented => "commented",
            TimelineKind::Feedback => "feedback",
            TimelineKind::Silenced => "silenced",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        TimelineKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Whether a person (not the correlator) wrote it.
    pub fn is_operator(self) -> bool {
        matches!(
            self,
            TimelineKind::Acknowledged
                | TimelineKind::Assigned
                | TimelineKind::Commented
                | TimelineKind::Feedback
                | TimelineKind::Silenced
        )
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub incident_id: String,
    /// Position in the incident's timeline, from 0.
    pub seq: u64,
    #[serde(rename = "at", with = "rfc3339")]
    pub at_ms: i64,
    pub kind: TimelineKind,
    /// Status after the event.
    pub status: IncidentStatus,
    pub finding_id: Option<String>,
    /// A deterministic sentence.
    pub detail: String,
    /// Whether operators are told about it (opened, reopened, severity raised, resolved).
    pub notify: bool,
}

/// `GET /api/v1/incidents/{id}`: the summary fields plus everything behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub summary: IncidentSummary,
    pub signature: String,
    /// RFC 3339, UTC, when resolved.
    pub resolved_at: Option<String>,
    pub reopen_count: u32,
    pub flapping: bool,
    pub merged_into: Option<String>,
    pub findings: Vec<Finding>,
    pub evidence: Vec<EvidenceRecord>,
    pub timeline: Vec<TimelineEvent>,
    /// When an operator acknowledged it (RFC 3339).
    #[serde(default)]
    pub acknowledged_at: Option<String>,
    /// Operators' verdicts on it, oldest first.
    #[serde(default)]
    pub feedback: Vec<crate::workspace::Feedback>,
}

/// Filters of `GET /api/v1/incidents`; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub domain: Option<Domain>,
    /// Only incidents of this source.
    pub source: Option<String>,
}

impl IncidentFilter {
    /// Builds a filter from the query-string values, refusing unknown names.
    pub fn parse(
        status: Option<&str>,
        severity: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Self, crate::Error> {
        let invalid = |field: &'static str, value: &str| crate::Error::InvalidFilter {
            field,
            value: value.to_owned(),
        };
        let status = status
            .map(|s| IncidentStatus::from_name(s).ok_or_else(|| invalid("status", s)))
            .transpose()?;
        let severity = severity
            .map(|s| severity_from_name(s).ok_or_else(|| invalid("severity", s)))
            .transpose()?;
        let domain = domain
            .map(|s| domain_from_name(s).ok_or_else(|| invalid("domain", s)))
            .transpose()?;
        Ok(Self {
            status,
            severity,
            domain,
            source: None,
        })
    }

    /// Narrows the filter to one source (refusing a malformed name).
    pub fn with_source(mut self, source: Option<&str>) -> Result<Self, crate::Error> {
        if let Some(name) = source {
            model::check_source(name).map_err(|_| crate::Error::InvalidFilter {
                field: "source",
                value: name.to_owned(),
            })?;
            self.source = Some(name.to_owned());
        }
        Ok(self)
    }

    pub fn matches(&self, incident: &Incident) -> bool {
        self.status.is_none_or(|s| s == incident.status)
            && self.severity.is_none_or(|s| s == incident.severity)
            && self.domain.is_none_or(|d| d == incident.domain)
            && self.source.as_ref().is_none_or(|s| *s == incident.source)
    }
}

pub fn severity_from_name(name: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|s| s.as_str() == name)
}

pub fn domain_from_name(name: &str) -> Option<Domain> {
    [
        Domain::Infrastructure,
        Domain::RuntimeServices,
        Domain::ApplicationServices,
        Domain::NetworkIngress,
        Domain::IdentitySecurity,
        Domain::ReleaseConfiguration,
        Domain::OperatorChannels,
    ]
    .into_iter()
    .find(|d| d.as_str() == name)
}

/// Unix milliseconds as RFC 3339 strings (UTC, millisecond precision).
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(ms: i64) -> String {
        match chrono::DateTime::from_timestamp_millis(ms) {
            Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            None => ms.to_string(),
        }
    }

    pub fn parse(text: &str) -> Result<i64, chrono::ParseError> {
        chrono::DateTime::parse_from_rfc3339(text).map(|at| at.timestamp_millis())
    }

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => serializer.serialize_some(&super::rfc3339::format(*ms)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::rfc3339::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_as_rfc3339() {
        let ms = 1_767_571_200_123;
        let text = rfc3339::format(ms);
        assert_eq!(text, "2026-01-05T00:00:00.123Z");
        assert_eq!(rfc3339::parse(&text).unwrap(), ms);
        assert_eq!(rfc3339::parse("2026-01-05T02:00:00.123+02:00").unwrap(), ms);
    }

    #[test]
    fn filters_refuse_unknown_names() {
        let filter = IncidentFilter::parse(Some("observed"), Some("critical"), None).unwrap();
        assert_eq!(filter.status, Some(IncidentStatus::Observed));
        assert_eq!(filter.severity, Some(Severity::Critical));
        assert!(IncidentFilter::parse(Some("open"), None, None).is_err());
        assert!(IncidentFilter::parse(None, None, Some("infra")).is_err());
        assert_eq!(
            IncidentFilter::parse(None, None, Some("infrastructure"))
                .unwrap()
                .domain,
            Some(Domain::Infrastructure)
        );
    }
}
