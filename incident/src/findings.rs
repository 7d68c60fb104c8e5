//! The findings contract of `POST /api/v1/findings` (version 1): what a team's own watchers
//! report (dependency checks, provider readiness, tenant-asset drift, release compliance)
//! becomes candidates of origin `findings`, joining the same correlation as srebot's own.

use crate::Error;
use crate::record::rfc3339;
use model::{
    EventEvidence, Evidence, IncidentCandidate, IncidentType, LabelSet, Origin, Scope, Severity,
    Signal,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The contract's version; a body naming another is refused.
pub const FINDINGS_VERSION: u32 = 1;
/// Most findings in one body.
pub const MAX_FINDINGS: usize = 500;
/// Most evidence items of one finding.
pub const MAX_EVIDENCE: usize = 20;
/// Longest text field (summary, message) in characters.
pub const MAX_TEXT: usize = 2_000;
/// Longest name (type, target, reporter, reason, label) in characters.
pub const MAX_NAME: usize = 253;
/// Most labels of one evidence item.
pub const MAX_LABELS: usize = 30;

/// A posted body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub version: u32,
    pub findings: Vec<PostedFinding>,
}

/// One finding as a watcher posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostedFinding {
    /// A taxonomy type (`dependency_unavailable`, `config_drift`, ...).
    #[serde(rename = "type")]
    pub incident_type: String,
    pub target: PostedTarget,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// `firing`, or `healthy` when the watcher sees the problem over.
    pub status: String,
    /// Who reported it (`redis-watcher`); the candidate's detector is `findings:<reporter>`.
    pub reporter: String,
    /// 0 to 1; 1 when absent.
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub summary: String,
    /// RFC 3339; the time it was received when absent.
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub evidence: Vec<PostedEvidence>,
}

/// What a finding is about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostedTarget {
    /// A scope: `service`, `deployment`, `pod`, `node`, `namespace`, `release`, `ingress`, ...
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
}

/// One piece of evidence of a finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostedEvidence {
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn invalid(at: String, reason: impl Into<String>) -> Error {
    Error::InvalidFinding {
        at,
        reason: reason.into(),
    }
}

/// Parses a findings body into candidates (of the default source; the caller sets it).
/// `now_ms` stands for absent times. Any bad finding refuses the whole body, naming it.
pub fn candidates_from_findings(json: &[u8], now_ms: i64) -> Result<Vec<IncidentCandidate>, Error> {
    let batch: Batch = serde_json::from_slice(json)
        .map_err(|e| invalid("body".to_owned(), format!("not a findings body: {e}")))?;
    if batch.version != FINDINGS_VERSION {
        return Err(invalid(
            "version".to_owned(),
            format!(
                "version {} is not supported (this server reads version {FINDINGS_VERSION})",
                batch.version
            ),
        ));
    }
    if batch.findings.len() > MAX_FINDINGS {
        return Err(invalid(
            "findings".to_owned(),
            format!(
                "{} findings in one body; at most {MAX_FINDINGS}",
                batch.findings.len()
            ),
        ));
    }
    batch
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| candidate_of(f, i, now_ms))
        .collect()
}

fn name(at: &str, field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(invalid(format!("{at}.{field}"), "must not be empty"));
    }
    if value.chars().count() > MAX_NAME {
        return Err(invalid(
            format!("{at}.{field}"),
            format!("longer than {MAX_NAME} characters"),
        ));
    }
    Ok(())
}

fn text(at: &str, field: &str, value: &str) -> Result<(), Error> {
    if value.chars().count() > MAX_TEXT {
        return Err(invalid(
            format!("{at}.{field}"),
            format!("longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

fn time(at: &str, field: &str, value: Option<&str>, now_ms: i64) -> Result<i64, Error> {
    match value {
        None | Some("") => Ok(now_ms),
        Some(t) => rfc3339::parse(t).map_err(|e| {
            invalid(
                format!("{at}.{field}"),
                format!("{t:?} is not RFC 3339: {e}"),
            )
        }),
    }
}

fn candidate_of(f: &PostedFinding, index: usize, now_ms: i64) -> Result<IncidentCandidate, Error> {
    let at = format!("findings[{index}]");
    let incident_type = IncidentType::from_name(&f.incident_type).ok_or_else(|| {
        invalid(
            format!("{at}.type"),
            format!(
                "unknown incident type {:?} (one of: {})",
                f.incident_type,
                IncidentType::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let scope = Scope::from_name(&f.target.kind).ok_or_else(|| {
        invalid(
            format!("{at}.target.kind"),
            format!(
                "unknown kind {:?} (one of: {})",
                f.target.kind,
                Scope::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    name(&at, "target.name", &f.target.name)?;
    if let Some(ns) = &f.target.namespace {
        name(&at, "target.namespace", ns)?;
    }
    name(&at, "reporter", &f.reporter)?;
    text(&at, "summary", &f.summary)?;
    let severity = match f.severity.as_str() {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        other => {
            return Err(invalid(
                format!("{at}.severity"),
                format!("{other:?} is not critical, warning or info"),
            ));
        }
    };
    let signal = match f.status.as_str() {
        "firing" => Signal::Firing,
        "healthy" => Signal::Healthy,
        other => {
            return Err(invalid(
                format!("{at}.status"),
                format!("{other:?} is not firing or healthy"),
            ));
        }
    };
    let confidence = match f.confidence {
        None => 1.0,
        Some(c) if (0.0..=1.0).contains(&c) => c,
        Some(c) => {
            return Err(invalid(
                format!("{at}.confidence"),
                format!("{c} is not between 0 and 1"),
            ));
        }
    };
    let detected_at_ms = time(&at, "at", f.at.as_deref(), now_ms)?;
    if f.evidence.len() > MAX_EVIDENCE {
        return Err(invalid(
            format!("{at}.evidence"),
            format!("{} items; at most {MAX_EVIDENCE}", f.evidence.len()),
        ));
    }
    let mut events = Vec::with_capacity(f.evidence.len() + 1);
    if !f.summary.is_empty() || f.evidence.is_empty() {
        events.push(EventEvidence {
            id: format!("w{}", index + 1),
            origin: Origin::Findings,
            reason: f.status.clone(),
            message: if f.summary.is_empty() {
                format!("{} reports {}", f.reporter, f.incident_type)
            } else {
                format!("{}: {}", f.reporter, f.summary)
            },
            at_ms: detected_at_ms,
            labels: LabelSet::default(),
        });
    }
    for (j, e) in f.evidence.iter().enumerate() {
        let here = format!("{at}.evidence[{j}]");
        name(&here, "reason", &e.reason)?;
        text(&here, "message", &e.message)?;
        if e.labels.len() > MAX_LABELS {
            return Err(invalid(
                format!("{here}.labels"),
                format!("{} labels; at most {MAX_LABELS}", e.labels.len()),
            ));
        }
        for (k, v) in &e.labels {
            name(&here, "labels", k)?;
            text(&here, "labels", v)?;
        }
        let labels = LabelSet::from_pairs(e.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|err| invalid(format!("{here}.labels"), err.to_string()))?;
        events.push(EventEvidence {
            id: format!("w{}-{}", index + 1, j + 1),
            origin: Origin::Findings,
            reason: e.reason.clone(),
            message: e.message.clone(),
            at_ms: time(&here, "at", e.at.as_deref(), detected_at_ms)?,
            labels,
        });
    }
    let namespace = f.target.namespace.clone().filter(|_| scope != Scope::Node);
    Ok(IncidentCandidate {
        incident_type,
        scope,
        target: f.target.name.clone(),
        namespace,
        node: None,
        confidence: if signal == Signal::Healthy {
            0.0
        } else {
            confidence
        },
        severity,
        detector: format!("findings:{}", f.reporter),
        origin: Origin::Findings,
        detected_at_ms,
        evidence: Evidence {
            metrics: Vec::new(),
            events,
        },
        signal,
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn body(finding: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"version": 1, "findings": [finding]})
            .to_string()
            .into_bytes()
    }

    fn redis_down() -> serde_json::Value {
        serde_json::json!({
            "type": "dependency_unavailable",
            "target": {"kind": "service", "namespace": "shop", "name": "redis"},
            "severity": "critical", "status": "firing", "reporter": "redis-watcher",
            "summary": "PING timed out three times",
            "at": "2027-01-15T08:00:00Z",
            "evidence": [{"reason": "ProbeFailed", "message": "dial tcp 10.0.3.7:6379: i/o timeout",
                          "labels": {"endpoint": "10.0.3.7:6379"}}]
        })
    }

    #[test]
    fn a_watcher_finding_becomes_a_candidate_of_origin_findings() {
        let c = candidates_from_findings(&body(redis_down()), NOW).unwrap();
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!(c.incident_type, IncidentType::DependencyUnavailable);
        assert_eq!((c.scope, c.target.as_str()), (Scope::Service, "redis"));
        assert_eq!(c.namespace.as_deref(), Some("shop"));
        assert_eq!(c.origin, Origin::Findings);
        assert_eq!(c.detector, "findings:redis-watcher");
        assert_eq!(c.severity, Severity::Critical);
        assert_eq!(c.signal, Signal::Firing);
        assert_eq!(
            c.detected_at_ms,
            rfc3339::parse("2027-01-15T08:00:00Z").unwrap()
        );
        assert_eq!(c.evidence.events.len(), 2);
        assert_eq!(c.evidence.events[1].reason, "ProbeFailed");
        assert_eq!(
            c.evidence.events[1].at_ms, c.detected_at_ms,
            "inherits the finding's time"
        );
        let mut healthy = redis_down();
        healthy["status"] = "healthy".into();
        healthy["at"] = serde_json::Value::Null;
        let c = candidates_from_findings(&body(healthy), NOW).unwrap();
        assert_eq!((c[0].signal, c[0].confidence), (Signal::Healthy, 0.0));
        assert_eq!(c[0].detected_at_ms, NOW);
    }

    #[test]
    fn bad_findings_are_refused_naming_the_field() {
        let cases: [(&str, serde_json::Value, &str); 8] = [
            (
                "type",
                "dependency_down".into(),
                "findings[0].type: unknown incident type",
            ),
            ("severity", "dire".into(), "findings[0].severity"),
            ("status", "resolved".into(), "findings[0].status"),
            ("confidence", 1.5.into(), "findings[0].confidence"),
            ("at", "yesterday".into(), "findings[0].at"),
            (
                "reporter",
                "".into(),
                "findings[0].reporter: must not be empty",
            ),
            (
                "summary",
                "x".repeat(MAX_TEXT + 1).into(),
                "findings[0].summary",
            ),
            ("colour", "blue".into(), "unknown field `colour`"),
        ];
        for (field, value, want) in cases {
            let mut f = redis_down();
            f[field] = value;
            let err = candidates_from_findings(&body(f), NOW)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{field}: {err}");
            assert_eq!(
                model::Classify::class(&Error::InvalidFinding {
                    at: String::new(),
                    reason: String::new()
                }),
                model::ErrorClass::InvalidInput
            );
        }
        let mut f = redis_down();
        f["target"]["kind"] = "spaceship".into();
        let err = candidates_from_findings(&body(f), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("findings[0].target.kind"), "{err}");
        let old = serde_json::json!({"version": 2, "findings": []}).to_string();
        let err = candidates_from_findings(old.as_bytes(), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2 is not supported"), "{err}");
        let many =
            serde_json::json!({"version": 1, "findings": vec![redis_down(); MAX_FINDINGS + 1]});
        let err = candidates_from_findings(many.to_string().as_bytes(), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 500"), "{err}");
        assert!(candidates_from_findings(b"{\"version\": 1", NOW).is_err());
    }
}
