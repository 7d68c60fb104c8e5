//! Operator commands on incidents: acknowledge, assign, comment, resolve or merge by hand,
//! feedback, and suppression windows (one list for the workspace, chat and policy).
//!
//! Every command is authorized first, lands in the incident's timeline through the incident
//! engine, is audited with the caller's name when an audit log runs, and is announced to live
//! views. A suppression window matches an incident's signature, namespace and type.

use crate::service::{App, AppError, by};
use crate::{Caller, Operation, authorize};
use incident::{
    Change, Feedback, Suppression, SuppressionOrigin, TimelineKind, Verdict, WindowTime,
};
use model::IncidentStatus;
use policy::{AuditKind, AuditRecord};
use std::time::Duration;

/// Longest a suppression window made by hand may last.
pub const MAX_SILENCE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Longest assignee name.
const MAX_NAME: usize = 128;

fn invalid(reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        reason: reason.into(),
    }
}

fn ledger_error(source: incident::Error) -> AppError {
    match source {
        incident::Error::NotFound { id } => AppError::NotFound {
            what: "incident",
            id,
        },
        source @ (incident::Error::InvalidTransition { .. }
        | incident::Error::InvalidMerge { .. }
        | incident::Error::InvalidInput { .. }) => invalid(source.to_string()),
        source => AppError::Ledger { source },
    }
}

/// A person's name as typed: trimmed, 1 to 128 characters, no control characters.
fn person(name: &str) -> Result<&str, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("assignee: give a name"));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "assignee: at most {MAX_NAME} characters, no control characters"
        )));
    }
    Ok(name)
}

fn text<'a>(field: &str, value: &'a str) -> Result<&'a str, AppError> {
    let value = value.trim();
    if value.len() > incident::operator_ledger::MAX_NOTE_BYTES {
        return Err(invalid(format!(
            "{field}: {} bytes is over the limit of {}",
            value.len(),
            incident::operator_ledger::MAX_NOTE_BYTES
        )));
    }
    Ok(value)
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A suppression window of the policy file, as the one list keeps it.
pub fn policy_window(window: &policy::Window, created_at_ms: i64) -> Option<Suppression> {
    if window.kind != policy::WindowKind::Suppression {
        return None;
    }
    let time = match &window.time {
        policy::WindowTime::Once { start_ms, end_ms } => WindowTime::Once {
            start_ms: *start_ms,
            end_ms: *end_ms,
        },
        policy::WindowTime::Weekly {
            days,
            from_min,
            to_min,
        } => WindowTime::Weekly {
            days: days.clone(),
            from_min: *from_min,
            to_min: *to_min,
        },
    };
    Some(Suppression {
        id: format!("policy-{}", window.name),
        origin: SuppressionOrigin::Policy,
        name: window.name.clone(),
        signature: None,
        namespaces: window.namespaces.clone(),
        incident_types: window.incident_types.clone(),
        time,
        reason: "[[windows]] kind = \"suppression\" of the policy file".to_owned(),
        created_by: "policy".to_owned(),
        created_at_ms,
        removed_by: None,
        removed_at_ms: None,
    })
}

impl App {
    fn audit_step(
        &self,
        caller: &Caller,
        kind: AuditKind,
        incident: Option<&str>,
        why: &str,
        detail: String,
    ) -> Result<(), AppError> {
        if let Some(remediation) = &self.remediation {
            remediation
                .record(AuditRecord {
                    at_ms: crate::remediation::now_ms(),
                    who: by(caller),
                    kind,
                    incident_id: incident.map(str::to_owned),
                    action: None,
                    why: why.to_owned(),
                    detail,
                    evidence_ids: Vec::new(),
                    before: None,
                    after: None,
                })
                .map_err(|source| AppError::Remediation { source })?;
        }
        Ok(())
    }

    fn engine(&self) -> &incident::IncidentEngine {
        &self.pipeline.engine
    }

    async fn note(
        &self,
        id: &str,
        kind: TimelineKind,
        detail: String,
        edit: impl FnOnce(&mut incident::Incident),
    ) -> Result<Change, AppError> {
        let change = self
            .engine()
            .annotate(id, kind, crate::remediation::now_ms(), detail, edit)
            .await
            .map_err(ledger_error)?;
        self.pipeline.announce(std::slice::from_ref(&change));
        Ok(change)
    }

    /// Someone is on it: the caller acknowledges the incident.
    pub async fn acknowledge(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<incident::IncidentSummary, AppError> {
        authorize(caller, Operation::Acknowledge)?;
        let now = crate::remediation::now_ms();
        let name = caller.name.clone();
        let change = self
            .note(
                id,
                TimelineKind::Acknowledged,
                format!("acknowledged by {}", by(caller)),
                move |i| {
                    i.acknowledged_by = Some(name);
                    i.acknowledged_at_ms = Some(now);
                },
            )
            .await?;
        self.audit_step(
            caller,
            AuditKind::Acknowledged,
            Some(id),
            "incident.ack",
            String::new(),
        )?;
        Ok(change.incident.summary())
    }

    /// Gives the incident to `assignee`.
    pub async fn assign(
        &self,
        caller: &Caller,
        id: &str,
        assignee: &str,
    ) -> Result<incident::IncidentSummary, AppError> {
        authorize(caller, Operation::Assign)?;
        let assignee = person(assignee)?.to_owned();
        let who = assignee.clone();
        let change = self
            .note(
                id,
                TimelineKind::Assigned,
                format!("assigned to {assignee} by {}", by(caller)),
                move |i| i.assignee = Some(who),
            )
            .await?;
        self.audit_step(
            caller,
            AuditKind::Assigned,
            Some(id),
            "incident.assign",
            format!("assigned to {assignee}"),
        )?;
        Ok(change.incident.summary())
    }

    /// Adds the caller's note to the incident's timeline.
    pub async fn comment(
        &self,
        caller: &Caller,
        id: &str,
        note: &str,
    ) -> Result<incident::TimelineEvent, AppError> {
        authorize(caller, Operation::Comment)?;
        let note = text("comment", note)?;
        if note.is_empty() {
            return Err(invalid("comment: write something"));
        }
        let change = self
            .note(
                id,
                TimelineKind::Commented,
                format!("{}: {note}", by(caller)),
                |_| {},
            )
            .await?;
        self.audit_step(
            caller,
            AuditKind::Commented,
            Some(id),
            "incident.comment",
            note.to_owned(),
        )?;
        change
            .timeline
            .into_iter()
            .next()
            .ok_or_else(|| AppError::NotFound {
                what: "incident",
                id: id.to_owned(),
            })
    }

    /// Resolves an open incident by hand, with the caller's reason in the timeline.
    pub async fn resolve(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<incident::IncidentSummary, AppError> {
        authorize(caller, Operation::ResolveIncident)?;
        let reason = text("reason", reason)?;
        let change = self
            .engine()
            .set_status_by(
                id,
                IncidentStatus::Resolved,
                crate::remediation::now_ms(),
                &by(caller),
                reason,
            )
            .await
            .map_err(ledger_error)?;
        self.pipeline.announce(std::slice::from_ref(&change));
        self.audit_step(
            caller,
            AuditKind::ResolvedByHand,
            Some(id),
            "incident.resolve",
            reason.to_owned(),
        )?;
        Ok(change.incident.summary())
    }

    /// Folds incident `other` into `id` by hand: its findings, candidates and origins move,
    /// and it is marked merged into `id`.
    pub async fn merge(
        &self,
        caller: &Caller,
        id: &str,
        other: &str,
    ) -> Result<incident::IncidentSummary, AppError> {
        authorize(caller, Operation::MergeIncidents)?;
        let other = other.trim();
        if other.is_empty() {
            return Err(invalid("merge: name the other incident"));
        }
        let changes = self
            .engine()
            .merge(id, other, crate::remediation::now_ms(), &by(caller))
            .await
            .map_err(ledger_error)?;
        self.pipeline.announce(&changes);
        self.audit_step(
            caller,
            AuditKind::Merged,
            Some(id),
            "incident.merge",
            format!("{other} merged into {id}"),
        )?;
        changes
            .into_iter()
            .find(|c| c.incident.id == id)
            .map(|c| c.incident.summary())
            .ok_or_else(|| AppError::NotFound {
                what: "incident",
                id: id.to_owned(),
            })
    }

    /// Records the caller's verdict on an incident, with a note.
    pub async fn feedback(
        &self,
        caller: &Caller,
        id: &str,
        verdict: Verdict,
        note: &str,
    ) -> Result<Feedback, AppError> {
        authorize(caller, Operation::Feedback)?;
        let note = text("note", note)?;
        let feedback = Feedback {
            id: random_id("fb"),
            incident_id: id.to_owned(),
            verdict,
            note: note.to_owned(),
            author: by(caller),
            at_ms: crate::remediation::now_ms(),
        };
        // The timeline note first: it fails cleanly for an unknown incident.
        let detail = if note.is_empty() {
            format!("{} marked it {}", by(caller), verdict.label())
        } else {
            format!("{} marked it {}: {note}", by(caller), verdict.label())
        };
        self.note(id, TimelineKind::Feedback, detail, |_| {})
            .await?;
        self.ledger_ref()
            .add_feedback(&feedback)
            .await
            .map_err(ledger_error)?;
        self.audit_step(
            caller,
            AuditKind::Feedback,
            Some(id),
            "incident.feedback",
            format!("{}: {note}", verdict.as_str()),
        )?;
        Ok(feedback)
    }

    /// Suppresses incidents similar to `id` (same signature) for `duration`: while it lasts
    /// they open as `suppressed` and notify nobody. `origin` says which surface asked.
    pub async fn silence(
        &self,
        caller: &Caller,
        id: &str,
        duration: Duration,
        origin: SuppressionOrigin,
        reason: &str,
    ) -> Result<Suppression, AppError> {
        authorize(caller, Operation::Silence)?;
        if duration.is_zero() || duration > MAX_SILENCE {
            return Err(invalid(
                "duration: above 0 and at most 7 days (e.g. 30m, 4h, 2d)",
            ));
        }
        let reason = text("reason", reason)?;
        let incident = self
            .ledger_ref()
            .incident(id)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| AppError::NotFound {
                what: "incident",
                id: id.to_owned(),
            })?;
        let now = crate::remediation::now_ms();
        let end = now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        let window = Suppression {
            id: random_id("sup"),
            origin,
            name: format!(
                "{} on {}",
                incident.incident_type.as_str().replace('_', " "),
                incident.target
            ),
            signature: Some(incident.signature.clone()),
            namespaces: Vec::new(),
            incident_types: vec![incident.incident_type],
            time: WindowTime::Once {
                start_ms: now,
                end_ms: end,
            },
            reason: reason.to_owned(),
            created_by: by(caller),
            created_at_ms: now,
            removed_by: None,
            removed_at_ms: None,
        };
        self.ledger_ref()
            .add_suppression(&window)
            .await
            .map_err(ledger_error)?;
        self.refresh_suppressions().await?;
        let until = incident::rfc3339::format(end);
        self.note(
            id,
            TimelineKind::Silenced,
            format!(
                "similar incidents suppressed until {until} by {}",
                by(caller)
            ),
            |_| {},
        )
        .await?;
        self.audit_step(
            caller,
            AuditKind::SuppressionAdded,
            Some(id),
            "suppression.add",
            format!("{} until {until} ({})", window.id, origin.as_str()),
        )?;
        Ok(window)
    }

    /// The suppression windows, newest first (removed ones too when asked).
    pub async fn suppressions(
        &self,
        caller: &Caller,
        with_removed: bool,
    ) -> Result<Vec<Suppression>, AppError> {
        authorize(caller, Operation::ListSuppressions)?;
        self.ledger_ref()
            .suppressions(with_removed)
            .await
            .map_err(ledger_error)
    }

    /// Removes a window made in the workspace or a chat; a policy file's window is edited
    /// in that file.
    pub async fn remove_suppression(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Suppression, AppError> {
        authorize(caller, Operation::RemoveSuppression)?;
        let listed = self
            .ledger_ref()
            .suppressions(false)
            .await
            .map_err(ledger_error)?;
        let Some(window) = listed.iter().find(|w| w.id == id) else {
            return Err(AppError::NotFound {
                what: "suppression window",
                id: id.to_owned(),
            });
        };
        if window.origin == SuppressionOrigin::Policy {
            return Err(invalid(format!(
                "{id} comes from the policy file's [[windows]]: remove it there and reload the policy"
            )));
        }
        let removed = self
            .ledger_ref()
            .remove_suppression(id, &by(caller), crate::remediation::now_ms())
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| AppError::NotFound {
                what: "suppression window",
                id: id.to_owned(),
            })?;
        self.refresh_suppressions().await?;
        self.audit_step(
            caller,
            AuditKind::SuppressionRemoved,
            None,
            "suppression.remove",
            format!("{id} ({})", removed.name),
        )?;
        Ok(removed)
    }

    /// Hands the windows still to come to the correlator.
    pub async fn refresh_suppressions(&self) -> Result<(), AppError> {
        let now = crate::remediation::now_ms();
        let mut list = self
            .ledger_ref()
            .suppressions(false)
            .await
            .map_err(ledger_error)?;
        list.retain(|w| !w.time.is_over(now));
        self.engine().set_suppressions(list).await;
        Ok(())
    }

    /// Copies the running policy's suppression windows into the one list (at start and after
    /// every reload), then refreshes the correlator's.
    pub async fn sync_policy_suppressions(&self) -> Result<(), AppError> {
        if let Some(remediation) = &self.remediation {
            let now = crate::remediation::now_ms();
            let windows: Vec<Suppression> = remediation
                .policy()
                .windows
                .iter()
                .filter_map(|w| policy_window(w, now))
                .collect();
            self.ledger_ref()
                .replace_policy_suppressions(&windows)
                .await
                .map_err(ledger_error)?;
        }
        self.refresh_suppressions().await
    }

    pub(crate) fn ledger_ref(&self) -> &incident::Ledger {
        self.pipeline.engine.ledger()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(person("  bob ").unwrap(), "bob");
        assert!(person("").is_err());
        assert!(person("a\u{7}b").is_err());
        assert!(person(&"x".repeat(200)).is_err());
        assert!(text("note", &"y".repeat(5000)).is_err());
    }
}
