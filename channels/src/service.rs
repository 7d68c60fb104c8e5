//! The channels over the running application: [`AppOperator`] answers chat through `app::App`
//! (every query and command with the chat user's caller, so roles and the audit are the
//! API's), [`follow`] turns committed incident changes and remediation's announcements into
//! channel events, and [`directory`] maps chat users to identities.
//!
//! A chat approval acts as the mapped caller, named `alice via Telegram user 4242 (@alice)`,
//! so the audit and the approval record say who pressed the button and where.

use crate::event::{ApprovalBrief, ApprovalStatus, ChannelEvent, EventKind, IncidentBrief};
use crate::hub::{Channels, Directory};
use crate::operator::{
    ChatUser, EvidenceReport, Operator, OperatorError, StatusReport, Story, Summary, WhyReport,
};
use app::remediation::{ActionEntry, ActionStatus, Announcement, AnswerError, Outcome};
use app::{App, AppError, Caller, Operation};
use incident::{EvidenceItem, Incident, IncidentFilter, TimelineKind};
use model::{
    Classify, ErrorClass, EventEvidence, IncidentCandidate, IncidentStatus, IncidentType, Origin,
    Scope, Severity, Signal, StatementKind,
};
use std::sync::Arc;
use std::time::Duration;

/// The application as the channels' [`Operator`].
#[derive(Debug, Clone)]
pub struct AppOperator {
    app: Arc<App>,
}

impl AppOperator {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

fn now_ms() -> i64 {
    crate::providers::now_ms()
}

fn environment(app: &App) -> String {
    format!("{:?}", app.config.detect.environment).to_lowercase()
}

/// An incident as the channels show it.
pub fn brief(incident: &Incident, environment: Option<String>) -> IncidentBrief {
    let t = &incident.target;
    IncidentBrief {
        id: incident.id.clone(),
        incident_type: incident.incident_type.as_str().to_owned(),
        domain: incident.domain.as_str().to_owned(),
        severity: incident.severity,
        status: incident.status.as_str().to_owned(),
        target: match &t.namespace {
            Some(ns) => format!("{}/{ns}/{}", t.kind.as_str(), t.name),
            None => format!("{}/{}", t.kind.as_str(), t.name),
        },
        target_name: t.name.clone(),
        summary: incident.summary.clone(),
        sources: incident
            .origins
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
        environment,
        opened_at_ms: incident.opened_at_ms,
    }
}

fn approval_brief(r: &policy::ApprovalRequest) -> ApprovalBrief {
    ApprovalBrief {
        id: r.id.clone(),
        incident_id: r.incident.id.clone(),
        action: r.proposed.action.name().to_owned(),
        target: r.proposed.target.path(),
        clause: r.decision.clause.clone(),
        requested_ms: r.created_ms,
        expires_ms: r.expires_ms,
        status: match r.status {
            policy::ApprovalStatus::Pending if now_ms() >= r.expires_ms => ApprovalStatus::Expired,
            policy::ApprovalStatus::Pending => ApprovalStatus::Pending,
            policy::ApprovalStatus::Approved => ApprovalStatus::Approved,
            policy::ApprovalStatus::Rejected => ApprovalStatus::Rejected,
            policy::ApprovalStatus::Expired => ApprovalStatus::Expired,
            policy::ApprovalStatus::Withdrawn => ApprovalStatus::Withdrawn,
        },
        answered_by: r.answered_by.as_ref().map(|a| a.name.clone()),
        note: r.note.clone(),
        undo: r.proposed.action.rollback_instructions().to_owned(),
    }
}

/// An application error as the chat user reads it.
fn op_error(error: AppError) -> OperatorError {
    let text = model::error::chain(&error);
    match &error {
        AppError::Auth(_) => OperatorError::Refused(text),
        AppError::NotFound { .. } | AppError::RemediationOff => OperatorError::NotFound(text),
        AppError::Answer(AnswerError::Refused { source, .. }) => match source {
            policy::ApprovalError::NotFound { .. } => OperatorError::NotFound(text),
            policy::ApprovalError::AlreadyDecided { .. }
            | policy::ApprovalError::Expired { .. }
            | policy::ApprovalError::Reused { .. } => OperatorError::Conflict(text),
            _ => OperatorError::Refused(text),
        },
        _ => match error.class() {
            ErrorClass::InvalidInput => OperatorError::Invalid(text),
            ErrorClass::Forbidden | ErrorClass::Unauthenticated => OperatorError::Refused(text),
            _ => OperatorError::Failed(text),
        },
    }
}

/// The caller a chat action runs as: the mapped identity, named with where it came from.
fn acting(caller: &Caller, via: &ChatUser) -> Caller {
    Caller {
        name: format!("{} via {}", caller.name, via.describe()),
        ..caller.clone()
    }
}

/// What kind of statement an action's line is: done, waiting on a person, or only recorded.
fn action_kind(a: &ActionEntry) -> StatementKind {
    match a.status {
        ActionStatus::Executed | ActionStatus::DryRun => StatementKind::ExecutedAction,
        ActionStatus::PendingApproval => StatementKind::RequiredApproval,
        _ => StatementKind::Observation,
    }
}

/// An action in a sentence, starting with its kind of statement (`Done: …`).
fn action_line(a: &ActionEntry) -> String {
    let status = match a.status {
        ActionStatus::Executed => "executed",
        ActionStatus::DryRun => "recorded as a dry run",
        ActionStatus::PendingApproval => "waiting for approval",
        ActionStatus::Expired => "expired unanswered",
        ActionStatus::Withdrawn => "withdrawn (the incident resolved first)",
        ActionStatus::Rejected => "rejected",
        ActionStatus::Denied => "denied by policy",
        ActionStatus::Failed => "failed",
    };
    let by = a
        .answered_by
        .as_ref()
        .map(|w| format!(", answered by {}", w.name))
        .unwrap_or_default();
    let outcome = match a.verification.as_ref().map(|v| v.outcome) {
        Some(Outcome::Recovered) => "; the incident recovered",
        Some(Outcome::Escalated) => "; it did not help and the incident was escalated",
        Some(Outcome::Watching) => "; watching whether it helps",
        None => "",
    };
    format!(
        "{}: {} on {}: {status} (policy clause {}){by}{outcome}",
        action_kind(a).label(),
        a.proposed.action.name(),
        a.proposed.target.path(),
        a.decision.clause
    )
}

fn evidence_line(item: &EvidenceItem) -> String {
    match item {
        EvidenceItem::Metric(m) => {
            let name = m.series.get("__name__").unwrap_or("series");
            match m.expected {
                Some(e) => format!(
                    "{}: {} of {name} over {} was {:.3} (expected {e:.3})",
                    m.rule, m.aggregate, m.window, m.observed
                ),
                None => format!(
                    "{}: {} of {name} over {} was {:.3}",
                    m.rule, m.aggregate, m.window, m.observed
                ),
            }
        }
        EvidenceItem::Event(e) => format!("{} ({}): {}", e.reason, e.origin, e.message),
    }
}

fn timeline_line(kind: TimelineKind, status: IncidentStatus, detail: &str) -> String {
    let what = match kind {
        TimelineKind::Opened => "opened",
        TimelineKind::FindingAdded => "finding added",
        TimelineKind::SeverityChanged => "severity changed",
        TimelineKind::SignalHealthy => "signal healthy again",
        TimelineKind::StatusChanged => "status changed",
        TimelineKind::Reopened => "reopened",
        TimelineKind::Merged => "merged",
        TimelineKind::Absorbed => "absorbed another incident",
        TimelineKind::Acknowledged => "acknowledged",
        TimelineKind::Assigned => "assigned",
        TimelineKind::Commented => "comment",
        TimelineKind::Feedback => "feedback",
        TimelineKind::Silenced => "silenced",
    };
    format!("{what} ({}): {detail}", status.as_str())
}

/// `restart` → `restart_deployment`; `cordon` → `cordon_node`.
fn verb_matches(verb: &str, action: &str) -> bool {
    let verb = verb.trim_end_matches("ed").trim_end_matches('e');
    !verb.is_empty() && action.starts_with(verb)
}

impl Operator for AppOperator {
    fn answers_questions(&self) -> bool {
        self.app.config.rca.llm.is_some()
    }

    async fn ask(
        &self,
        caller: &Caller,
        question: &str,
    ) -> Result<Option<app::ask::Answer>, OperatorError> {
        self.app.ask(caller, question, None).await.map_err(op_error)
    }

    async fn status(&self, caller: &Caller) -> Result<StatusReport, OperatorError> {
        app::authorize(caller, Operation::Status)
            .map_err(|e| OperatorError::Refused(e.to_string()))?;
        let list = self
            .app
            .incidents(caller, &IncidentFilter::default(), 200)
            .await
            .map_err(op_error)?;
        let ledger = self.app.pipeline.engine.ledger();
        let mut open = Vec::new();
        for s in list.iter().filter(|s| s.status.is_active()) {
            if let Ok(Some(i)) = ledger.incident(&s.id).await {
                open.push(brief(&i, Some(environment(&self.app))));
            }
        }
        open.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.opened_at_ms.cmp(&a.opened_at_ms))
        });
        let pending = self
            .app
            .approvals(caller, Some(policy::ApprovalStatus::Pending))
            .await
            .map_err(op_error)?
            .iter()
            .map(approval_brief)
            .filter(|a| a.status == ApprovalStatus::Pending)
            .collect();
        let (paused, paused_by) = match self.app.robot(caller).await {
            Ok(r) => (r.paused, r.changed_by),
            Err(AppError::RemediationOff) => (false, None),
            Err(e) => return Err(op_error(e)),
        };
        Ok(StatusReport {
            paused,
            paused_by: paused.then_some(paused_by).flatten(),
            open,
            pending,
        })
    }

    async fn recent(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<IncidentBrief>, OperatorError> {
        let list = self
            .app
            .incidents(
                caller,
                &IncidentFilter::default(),
                u32::try_from(limit).unwrap_or(20),
            )
            .await
            .map_err(op_error)?;
        let ledger = self.app.pipeline.engine.ledger();
        let mut out = Vec::new();
        for s in list {
            if let Ok(Some(i)) = ledger.incident(&s.id).await {
                out.push(brief(&i, Some(environment(&self.app))));
            }
        }
        Ok(out)
    }

    async fn story(&self, caller: &Caller, id: &str) -> Result<Story, OperatorError> {
        let detail = self.app.incident(caller, id).await.map_err(op_error)?;
        let incident = self
            .incident(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no incident {id:?}")))?;
        let actions = self.app.actions(caller, Some(id)).await.map_err(op_error)?;
        Ok(Story {
            incident,
            timeline: detail
                .timeline
                .iter()
                .map(|t| (t.at_ms, timeline_line(t.kind, t.status, &t.detail)))
                .collect(),
            actions: actions.iter().map(action_line).collect(),
        })
    }

    async fn evidence(&self, caller: &Caller, id: &str) -> Result<EvidenceReport, OperatorError> {
        let detail = self.app.incident(caller, id).await.map_err(op_error)?;
        let incident = self
            .incident(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no incident {id:?}")))?;
        let mut items: Vec<(String, String)> = Vec::new();
        for record in &detail.evidence {
            let line = evidence_line(&record.evidence);
            // The same evidence seen by several findings is listed once.
            if !items.iter().any(|(_, l)| *l == line) {
                items.push((
                    record
                        .id
                        .rsplit('/')
                        .next()
                        .unwrap_or(&record.id)
                        .to_owned(),
                    line,
                ));
            }
        }
        Ok(EvidenceReport { incident, items })
    }

    async fn why(
        &self,
        caller: &Caller,
        verb: &str,
        target: &str,
    ) -> Result<WhyReport, OperatorError> {
        let actions = self.app.actions(caller, None).await.map_err(op_error)?;
        let entry = actions
            .iter()
            .rev()
            .find(|a| {
                verb_matches(verb, a.proposed.action.name())
                    && (a.proposed.target.name == target || a.proposed.target.path() == target)
            })
            .ok_or_else(|| {
                OperatorError::NotFound(format!(
                    "I have no record of a {verb} of {target}; \"status\" lists what is going on"
                ))
            })?;
        let detail = self
            .app
            .incident(caller, &entry.incident_id)
            .await
            .map_err(op_error)?;
        let incident = self.incident(&entry.incident_id).await?.ok_or_else(|| {
            OperatorError::NotFound(format!("no incident {:?}", entry.incident_id))
        })?;
        let evidence = entry
            .proposed
            .evidence_ids
            .iter()
            .map(|eid| {
                let line = detail
                    .evidence
                    .iter()
                    .find(|r| r.id == *eid || r.id.ends_with(&format!("/{eid}")))
                    .map(|r| evidence_line(&r.evidence))
                    .unwrap_or_default();
                (eid.clone(), line)
            })
            .collect();
        let outcome = action_line(entry);
        Ok(WhyReport {
            action: entry.proposed.action.name().to_owned(),
            target: entry.proposed.target.path(),
            incident,
            evidence,
            clause: entry.decision.clause.clone(),
            verdict: entry.decision.verdict.to_string(),
            reason: entry.decision.reason.clone(),
            answered_by: entry.answered_by.as_ref().map(|a| a.name.clone()),
            outcome: outcome
                .split_once(": ")
                .map_or(outcome.clone(), |(_, rest)| rest.to_owned()),
        })
    }

    async fn approve(
        &self,
        caller: &Caller,
        id: &str,
        via: &ChatUser,
    ) -> Result<ApprovalBrief, OperatorError> {
        let who = acting(caller, via);
        let token = self.app.issue_token(&who, id).await.map_err(op_error)?;
        self.app
            .approve(&who, id, &token.token, None)
            .await
            .map_err(op_error)?;
        self.approval(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no approval {id:?}")))
    }

    async fn reject(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
        via: &ChatUser,
    ) -> Result<ApprovalBrief, OperatorError> {
        let who = acting(caller, via);
        let token = self.app.issue_token(&who, id).await.map_err(op_error)?;
        self.app
            .reject(&who, id, &token.token, reason)
            .await
            .map_err(op_error)?;
        self.approval(id)
            .await?
            .ok_or_else(|| OperatorError::NotFound(format!("no approval {id:?}")))
    }

    async fn pause(&self, caller: &Caller, via: &ChatUser) -> Result<(), OperatorError> {
        let who = acting(caller, via);
        self.app
            .set_paused(&who, true, Some(format!("from chat ({})", via.describe())))
            .await
            .map(|_| ())
            .map_err(op_error)
    }

    async fn resume(&self, caller: &Caller, via: &ChatUser) -> Result<(), OperatorError> {
        let who = acting(caller, via);
        self.app
            .set_paused(&who, false, Some(format!("from chat ({})", via.describe())))
            .await
            .map(|_| ())
            .map_err(op_error)
    }

    async fn silence(
        &self,
        caller: &Caller,
        id: &str,
        duration: Duration,
        via: &ChatUser,
    ) -> Result<String, OperatorError> {
        // One list of suppression windows: the chat command adds to it as the workspace does
        // (in the ledger and the audit), and the channels hold this incident's notices too.
        let who = acting(caller, via);
        let window = self
            .app
            .silence(
                &who,
                id,
                duration,
                incident::SuppressionOrigin::Chat,
                &format!("silenced from chat ({})", via.describe()),
            )
            .await
            .map_err(op_error)?;
        let until = now_ms() + i64::try_from(duration.as_millis()).unwrap_or(0);
        tracing::info!(incident = %id, by = %who.name, until_ms = until, suppression = %window.id, "incident silenced in the channels");
        Ok(format!(
            "Silenced {id} until {}: its channel notices wait until then, and incidents like it open suppressed.",
            crate::render::clock(until)
        ))
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalBrief>, OperatorError> {
        let Some(r) = &self.app.remediation else {
            return Ok(None);
        };
        Ok(r.approvals(None)
            .await
            .iter()
            .find(|a| a.id == id)
            .map(approval_brief))
    }

    async fn pending_approvals(&self) -> Result<Vec<ApprovalBrief>, OperatorError> {
        let Some(r) = &self.app.remediation else {
            return Ok(Vec::new());
        };
        Ok(r.approvals(Some(policy::ApprovalStatus::Pending))
            .await
            .iter()
            .map(approval_brief)
            .filter(|a| a.status == ApprovalStatus::Pending)
            .collect())
    }

    async fn incident(&self, id: &str) -> Result<Option<IncidentBrief>, OperatorError> {
        self.app
            .pipeline
            .engine
            .ledger()
            .incident(id)
            .await
            .map(|i| i.map(|i| brief(&i, Some(environment(&self.app)))))
            .map_err(|e| OperatorError::Failed(model::error::chain(&e)))
    }

    async fn delivery_failure(
        &self,
        provider: &str,
        failing: bool,
        detail: &str,
    ) -> Result<(), OperatorError> {
        let now = now_ms();
        let candidate = IncidentCandidate {
            incident_type: IncidentType::ChannelDeliveryFailure,
            scope: Scope::Service,
            target: provider.to_owned(),
            namespace: None,
            node: None,
            confidence: 1.0,
            severity: Severity::Warning,
            detector: "channels.delivery".to_owned(),
            origin: Origin::Channels,
            detected_at_ms: now,
            evidence: model::Evidence {
                metrics: Vec::new(),
                events: vec![EventEvidence {
                    id: format!("delivery-{now}"),
                    origin: Origin::Channels,
                    reason: if failing {
                        "DeliveryFailing"
                    } else {
                        "DeliveringAgain"
                    }
                    .to_owned(),
                    message: detail.to_owned(),
                    at_ms: now,
                    labels: model::LabelSet::default(),
                }],
            },
            signal: if failing {
                Signal::Firing
            } else {
                Signal::Healthy
            },
            source: model::source::default_source(),
            affects: Vec::new(),
        };
        self.app
            .pipeline
            .submit(vec![candidate])
            .await
            .map(|_| ())
            .map_err(|e| OperatorError::Failed(model::error::chain(&e)))
    }

    async fn summary(&self, since_ms: i64) -> Result<Summary, OperatorError> {
        let ledger = self.app.pipeline.engine.ledger();
        let all = ledger
            .incidents(&IncidentFilter::default(), 10_000)
            .await
            .map_err(|e| OperatorError::Failed(model::error::chain(&e)))?;
        let opened = all.iter().filter(|i| i.opened_at_ms >= since_ms).count() as u64;
        let resolved: Vec<&Incident> = all
            .iter()
            .filter(|i| i.resolved_at_ms.is_some_and(|r| r >= since_ms))
            .collect();
        let mttr = (!resolved.is_empty()).then(|| {
            resolved
                .iter()
                .map(|i| i.resolved_at_ms.unwrap_or(i.opened_at_ms) - i.opened_at_ms)
                .sum::<i64>()
                / resolved.len() as i64
        });
        let mut open: Vec<IncidentBrief> = all
            .iter()
            .filter(|i| i.status.is_active())
            .map(|i| brief(i, Some(environment(&self.app))))
            .collect();
        open.sort_by_key(|i| std::cmp::Reverse(i.severity));
        let (executed, pending, paused) = match &self.app.remediation {
            Some(r) => (
                r.actions()
                    .await
                    .iter()
                    .filter(|a| a.status == ActionStatus::Executed && a.updated_at_ms >= since_ms)
                    .count() as u64,
                self.pending_approvals().await?.len() as u64,
                r.pause_state().await.paused,
            ),
            None => (0, 0, false),
        };
        Ok(Summary {
            since_ms,
            until_ms: now_ms(),
            opened,
            resolved: resolved.len() as u64,
            open,
            actions_executed: executed,
            approvals_pending: pending,
            mean_time_to_resolve_ms: mttr,
            paused,
        })
    }
}

/// Chat users of the identities and approvers that name a Telegram or Slack user.
pub fn directory(app: &App) -> Directory {
    let mut d = Directory::default();
    let mut all = app.identities.chat_identities();
    if let Some(r) = &app.remediation {
        all.extend(r.chat_approvers());
    }
    for id in all {
        if let Some(t) = id.telegram_user_id {
            d.add_telegram(t, id.caller.clone());
        }
        if let Some(s) = &id.slack_user_id {
            d.add_slack(s, id.caller.clone());
        }
    }
    d
}

fn incident_event(
    incident: &Incident,
    kind: TimelineKind,
    seq: u64,
    detail: &str,
    env: &str,
) -> ChannelEvent {
    let (event_kind, text) = match kind {
        TimelineKind::Opened => (EventKind::Opened, format!("Opened: {}.", incident.summary)),
        TimelineKind::Reopened => (EventKind::Opened, format!("Reopened: {detail}")),
        TimelineKind::SeverityChanged => (
            EventKind::Updated,
            format!("Severity is now {}: {detail}", incident.severity.as_str()),
        ),
        TimelineKind::StatusChanged if incident.status == IncidentStatus::Resolved => {
            (EventKind::Resolved, format!("Resolved: {detail}"))
        }
        _ => (
            EventKind::Updated,
            format!("Now {}: {detail}", incident.status.as_str()),
        ),
    };
    ChannelEvent {
        key: format!("incident/{}/timeline/{seq}", incident.id),
        kind: event_kind,
        incident: Some(brief(incident, Some(env.to_owned()))),
        approval: None,
        text,
        at_ms: now_ms(),
    }
}

/// Follows the application: every notified incident change and every remediation
/// announcement becomes a channel event.
pub fn follow(channels: &Channels<AppOperator>, app: &Arc<App>) {
    if let Some(mut changes) = app.pipeline.observe() {
        let channels = channels.clone();
        let env = environment(app);
        tokio::spawn(async move {
            while let Some(observed) = changes.recv().await {
                for change in &observed.changes {
                    let incident = &change.incident;
                    if incident.merged_into.is_some() {
                        continue;
                    }
                    for t in change.timeline.iter().filter(|t| t.notify) {
                        let event = incident_event(incident, t.kind, t.seq, &t.detail, &env);
                        if let Err(error) = channels.publish(&event).await {
                            tracing::error!(%error, "cannot queue an incident change for the channels");
                        }
                    }
                }
            }
        });
    }
    let Some(remediation) = &app.remediation else {
        return;
    };
    let mut announcements = remediation.announcements();
    let channels = channels.clone();
    tokio::spawn(async move {
        while let Some(a) = announcements.recv().await {
            let op = channels.operator().clone();
            let event = match a {
                Announcement::ApprovalRequested {
                    approval_id,
                    incident_id,
                } => {
                    let (Ok(Some(approval)), incident) = (
                        op.approval(&approval_id).await,
                        op.incident(&incident_id).await.ok().flatten(),
                    ) else {
                        continue;
                    };
                    ChannelEvent::approval_requested(approval, incident, now_ms())
                }
                Announcement::ApprovalAnswered {
                    approval_id,
                    incident_id,
                } => {
                    let (Ok(Some(approval)), incident) = (
                        op.approval(&approval_id).await,
                        op.incident(&incident_id).await.ok().flatten(),
                    ) else {
                        continue;
                    };
                    ChannelEvent::approval_decided(approval, incident, now_ms())
                }
                Announcement::ActionDone {
                    action_id,
                    incident_id,
                } => {
                    let Some(r) = &op.app.remediation else {
                        continue;
                    };
                    let actions = r.actions().await;
                    let Some(entry) = actions.iter().find(|e| e.id == action_id) else {
                        continue;
                    };
                    ChannelEvent {
                        key: format!("action/{action_id}/{:?}", entry.status).to_lowercase(),
                        kind: EventKind::ActionResult,
                        incident: op.incident(&incident_id).await.ok().flatten(),
                        approval: None,
                        text: format!("{}.", action_line(entry)),
                        at_ms: now_ms(),
                    }
                }
                Announcement::Escalated { incident_id, text } => {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    text.hash(&mut h);
                    ChannelEvent {
                        key: format!("incident/{incident_id}/escalated/{:016x}", h.finish()),
                        kind: EventKind::Escalation,
                        incident: op.incident(&incident_id).await.ok().flatten(),
                        approval: None,
                        text,
                        at_ms: now_ms(),
                    }
                }
            };
            if let Err(error) = channels.publish(&event).await {
                tracing::error!(%error, "cannot queue an announcement for the channels");
            }
        }
    });
}
