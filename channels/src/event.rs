//! What the channels tell operators: one event per change worth a person's attention
//! (opened, severity or status changed, approval asked or decided, action result, resolved),
//! and the card a thread shows, folded from every event of its incident so far.
//!
//! An event's `key` is its identity: the outbox keeps one delivery per provider and key, so
//! the same change announced twice (a restart replaying it) is delivered once.

use model::Severity;
use serde::{Deserialize, Serialize};

/// An incident as a channel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentBrief {
    pub id: String,
    /// `crash_loop`, ...
    pub incident_type: String,
    /// `application_services`, ...
    pub domain: String,
    pub severity: Severity,
    /// `observed`, ..., `resolved`.
    pub status: String,
    /// `deployment/shop/payments-api`.
    pub target: String,
    /// The target's own name (`payments-api`), what operators type.
    pub target_name: String,
    pub summary: String,
    /// Origins behind it (`rules`, `alertmanager`, ...).
    #[serde(default)]
    pub sources: Vec<String>,
    /// The running policy's environment (`prod`), when there is a policy.
    #[serde(default)]
    pub environment: Option<String>,
    pub opened_at_ms: i64,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    Withdrawn,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Withdrawn => "withdrawn",
        }
    }
}

/// An approval request as a channel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalBrief {
    pub id: String,
    pub incident_id: String,
    /// `restart_deployment`.
    pub action: String,
    /// `deployment/shop/payments-api`.
    pub target: String,
    /// The policy clause that asked for a person (`actions.restart_deployment`).
    pub clause: String,
    pub requested_ms: i64,
    pub expires_ms: i64,
    pub status: ApprovalStatus,
    /// Who answered, as the audit names them (`alice via Telegram user 4242`).
    #[serde(default)]
    pub answered_by: Option<String>,
    /// The rejection reason, or what the approved action did.
    #[serde(default)]
    pub note: Option<String>,
    /// How to undo the action, from the catalogue: shown before anyone approves.
    #[serde(default)]
    pub undo: String,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new incident (or one reopened).
    Opened,
    /// Severity or status changed.
    Updated,
    ApprovalRequested,
    ApprovalDecided,
    /// An action ran (or failed), or its verification decided.
    ActionResult,
    Resolved,
    /// An approval has waited past half its expiry, or an action did not help.
    Escalation,
    /// `POST /api/v1/channels/{id}/test`.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Updated => "updated",
            EventKind::ApprovalRequested => "approval_requested",
            EventKind::ApprovalDecided => "approval_decided",
            EventKind::ActionResult => "action_result",
            EventKind::Resolved => "resolved",
            EventKind::Escalation => "escalation",
            EventKind::Test => "test",
        }
    }

    /// Whether a thread gets a reply for it (beside editing its card): what a person should
    /// be told of, not only see when they look.
    pub fn replies(self) -> bool {
        matches!(
            self,
            EventKind::ApprovalRequested
                | EventKind::ApprovalDecided
                | EventKind::ActionResult
                | EventKind::Resolved
                | EventKind::Escalation
        )
    }
}

/// One thing to tell operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelEvent {
    /// Identity of the event (`inc-1/opened/0`): delivered once per provider.
    pub key: String,
    pub kind: EventKind,
    #[serde(default)]
    pub incident: Option<IncidentBrief>,
    #[serde(default)]
    pub approval: Option<ApprovalBrief>,
    /// One plain sentence saying what happened.
    pub text: String,
    pub at_ms: i64,
}

impl ChannelEvent {
    /// The thread this event belongs in (its incident), if any.
    pub fn thread(&self) -> Option<&str> {
        self.incident
            .as_ref()
            .map(|i| i.id.as_str())
            .or_else(|| self.approval.as_ref().map(|a| a.incident_id.as_str()))
    }

    /// An approval asked of a person: `approval/<id>/pending`.
    pub fn approval_requested(
        approval: ApprovalBrief,
        incident: Option<IncidentBrief>,
        at_ms: i64,
    ) -> Self {
        let on = incident
            .as_ref()
            .map(|i| format!(" ({} on {})", i.incident_type, i.target_name))
            .unwrap_or_default();
        ChannelEvent {
            key: format!("approval/{}/pending", approval.id),
            kind: EventKind::ApprovalRequested,
            text: format!(
                "Approval needed: {} on {} for incident {}{on}, because policy clause {} asks for a person. Approval {}.",
                approval.action,
                approval.target,
                approval.incident_id,
                approval.clause,
                approval.id
            ),
            incident,
            approval: Some(approval),
            at_ms,
        }
    }

    /// An approval answered, expired or withdrawn: `approval/<id>/<status>`.
    pub fn approval_decided(
        approval: ApprovalBrief,
        incident: Option<IncidentBrief>,
        at_ms: i64,
    ) -> Self {
        ChannelEvent {
            key: format!("approval/{}/{}", approval.id, approval.status.as_str()),
            kind: EventKind::ApprovalDecided,
            text: crate::render::approval_line(&approval),
            incident,
            approval: Some(approval),
            at_ms,
        }
    }

    /// The escalation step for an approval waiting past half its expiry:
    /// `approval/<id>/escalated`.
    pub fn approval_escalated(
        approval: ApprovalBrief,
        incident: Option<IncidentBrief>,
        at_ms: i64,
    ) -> Self {
        ChannelEvent {
            key: format!("approval/{}/escalated", approval.id),
            kind: EventKind::Escalation,
            text: format!(
                "Still waiting: {} on {} for incident {} has had no answer for over half its time; it expires {}. Approval {}.",
                approval.action,
                approval.target,
                approval.incident_id,
                crate::render::clock(approval.expires_ms),
                approval.id
            ),
            incident,
            approval: Some(approval),
            at_ms,
        }
    }

    /// A test message for one provider.
    pub fn test(provider: &str, at_ms: i64) -> Self {
        ChannelEvent {
            key: format!("test/{provider}/{at_ms}"),
            kind: EventKind::Test,
            incident: None,
            approval: None,
            text: format!("Test message from SRE Smart Bot to channel {provider}: delivery works."),
            at_ms,
        }
    }
}

/// What a thread's first message shows, kept up to date as events arrive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadCard {
    #[serde(default)]
    pub incident: Option<IncidentBrief>,
    /// Every approval of the incident, latest state of each.
    #[serde(default)]
    pub approvals: Vec<ApprovalBrief>,
    /// The latest events in a sentence each, newest last (at most [`ThreadCard::LINES`]).
    #[serde(default)]
    pub lines: Vec<String>,
}

impl ThreadCard {
    /// Lines of history a card keeps.
    pub const LINES: usize = 6;

    /// Folds one event into the card.
    pub fn apply(&mut self, event: &ChannelEvent) {
        if let Some(incident) = &event.incident {
            self.incident = Some(incident.clone());
        }
        if let Some(approval) = &event.approval {
            match self.approvals.iter_mut().find(|a| a.id == approval.id) {
                // A late "requested" never overwrites an answer.
                Some(slot)
                    if slot.status != ApprovalStatus::Pending
                        && approval.status == ApprovalStatus::Pending => {}
                Some(slot) => *slot = approval.clone(),
                None => self.approvals.push(approval.clone()),
            }
        }
        // The card shows the incident and its approvals; the history holds the rest.
        if !matches!(
            event.kind,
            EventKind::Opened | EventKind::ApprovalRequested | EventKind::ApprovalDecided
        ) {
            self.lines.push(event.text.clone());
            if self.lines.len() > Self::LINES {
                let extra = self.lines.len() - Self::LINES;
                self.lines.drain(..extra);
            }
        }
    }

    /// Approvals still waiting for an answer.
    pub fn pending(&self) -> impl Iterator<Item = &ApprovalBrief> {
        self.approvals
            .iter()
            .filter(|a| a.status == ApprovalStatus::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(status: ApprovalStatus) -> ApprovalBrief {
        ApprovalBrief {
            id: "apr-1".into(),
            incident_id: "inc-1".into(),
            action: "restart_deployment".into(),
            target: "deployment/shop/payments-api".into(),
            clause: "actions.restart_deployment".into(),
            requested_ms: 0,
            expires_ms: 10,
            status,
            answered_by: None,
            note: None,
            undo: String::new(),
        }
    }

    fn event(kind: EventKind, approval_status: Option<ApprovalStatus>) -> ChannelEvent {
        ChannelEvent {
            key: format!("k/{}", kind.as_str()),
            kind,
            incident: None,
            approval: approval_status.map(approval),
            text: kind.as_str().into(),
            at_ms: 0,
        }
    }

    #[test]
    fn an_answer_is_never_undone_by_a_late_request() {
        let mut card = ThreadCard::default();
        card.apply(&event(
            EventKind::ApprovalRequested,
            Some(ApprovalStatus::Pending),
        ));
        assert_eq!(card.pending().count(), 1);
        card.apply(&event(
            EventKind::ApprovalDecided,
            Some(ApprovalStatus::Approved),
        ));
        card.apply(&event(EventKind::Updated, Some(ApprovalStatus::Pending)));
        assert_eq!(card.pending().count(), 0);
        assert_eq!(card.approvals[0].status, ApprovalStatus::Approved);
        assert_eq!(
            card.lines.len(),
            1,
            "approvals show in the card, not the history"
        );
        for _ in 0..10 {
            card.apply(&event(EventKind::Updated, None));
        }
        assert_eq!(card.lines.len(), ThreadCard::LINES);
    }
}
