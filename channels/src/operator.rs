//! What the channels need from the application: the queries and commands chat can ask for,
//! each taking the [`Caller`] a chat user maps to, so the application layer checks and audits
//! them exactly as it does for the HTTP API. The server implements it over `app`; tests use an
//! in-memory one.
//!
//! Approvals come only from [`Operator::approve`] called for an explicit button or command.

use crate::config::ProviderKind;
use crate::event::{ApprovalBrief, IncidentBrief};
use app::Caller;
use std::future::Future;
use std::time::Duration;

/// The chat identity an action was taken with, for the audit (`alice via Telegram user 4242`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatUser {
    /// The provider it came through.
    pub provider: String,
    pub kind: ProviderKind,
    /// Telegram's numeric user id, Slack's `U…` id, the gateway's caller name.
    pub user_id: String,
    /// `@alice`, when the provider says.
    pub display: Option<String>,
}

impl ChatUser {
    /// `Telegram user 4242 (@alice)`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ProviderKind::Telegram => "Telegram user",
            ProviderKind::Slack => "Slack user",
            ProviderKind::Custom | ProviderKind::Webhook => "chat gateway user",
            _ => "chat user",
        };
        match &self.display {
            Some(d) => format!("{kind} {} ({d})", self.user_id),
            None => format!("{kind} {}", self.user_id),
        }
    }
}

/// Why the application refused or failed a chat request; the text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    /// Role or policy role too low, or the policy refused (shown as a refusal).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    /// Already answered, expired, withdrawn: nothing happened.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Our side failed; the user may try again.
    #[error("{0}")]
    Failed(String),
}

/// `status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusReport {
    pub paused: bool,
    pub paused_by: Option<String>,
    /// Active incidents, most severe first.
    pub open: Vec<IncidentBrief>,
    pub pending: Vec<ApprovalBrief>,
}

/// `what happened <incident>`: the incident's story in sentences.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub incident: IncidentBrief,
    /// `(at_ms, sentence)`, in order.
    pub timeline: Vec<(i64, String)>,
    /// What was done about it, a sentence each.
    pub actions: Vec<String>,
}

/// `show evidence <incident>`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceReport {
    pub incident: IncidentBrief,
    /// `(evidence id, sentence)`.
    pub items: Vec<(String, String)>,
}

/// `why did you <verb> <target>`: from the decision and audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct WhyReport {
    /// `restart_deployment`.
    pub action: String,
    pub target: String,
    pub incident: IncidentBrief,
    /// The evidence ids the proposal cited, with a sentence each where known.
    pub evidence: Vec<(String, String)>,
    /// The policy clause that decided, and its verdict and reason.
    pub clause: String,
    pub verdict: String,
    pub reason: String,
    /// Who answered an approval, if one was needed.
    pub answered_by: Option<String>,
    /// What came of it: executed, dry run, pending, rejected, recovered, escalated.
    pub outcome: String,
}

/// The executive summary of a period (the digest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub since_ms: i64,
    pub until_ms: i64,
    pub opened: u64,
    pub resolved: u64,
    /// Incidents still active, most severe first.
    pub open: Vec<IncidentBrief>,
    pub actions_executed: u64,
    pub approvals_pending: u64,
    /// Mean time from opened to resolved of those resolved in the period.
    pub mean_time_to_resolve_ms: Option<i64>,
    pub paused: bool,
}

/// The application as the channels see it.
pub trait Operator: Send + Sync + 'static {
    /// `status`.
    fn status(
        &self,
        caller: &Caller,
    ) -> impl Future<Output = Result<StatusReport, OperatorError>> + Send;
    /// `what happened`: the latest incidents, newest first.
    fn recent(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<IncidentBrief>, OperatorError>> + Send;
    /// `what happened <incident>`.
    fn story(
        &self,
        caller: &Caller,
        incident: &str,
    ) -> impl Future<Output = Result<Story, OperatorError>> + Send;
    /// `show evidence <incident>`.
    fn evidence(
        &self,
        caller: &Caller,
        incident: &str,
    ) -> impl Future<Output = Result<EvidenceReport, OperatorError>> + Send;
    /// `why did you <verb> <target>`: the latest action of that verb on that target.
    fn why(
        &self,
        caller: &Caller,
        verb: &str,
        target: &str,
    ) -> impl Future<Output = Result<WhyReport, OperatorError>> + Send;
    /// Approves a waiting action for `caller`, audited with `via`; the approval as it now is.
    fn approve(
        &self,
        caller: &Caller,
        approval: &str,
        via: &ChatUser,
    ) -> impl Future<Output = Result<ApprovalBrief, OperatorError>> + Send;
    /// Rejects a waiting action.
    fn reject(
        &self,
        caller: &Caller,
        approval: &str,
        reason: &str,
        via: &ChatUser,
    ) -> impl Future<Output = Result<ApprovalBrief, OperatorError>> + Send;
    fn pause(
        &self,
        caller: &Caller,
        via: &ChatUser,
    ) -> impl Future<Output = Result<(), OperatorError>> + Send;
    fn resume(
        &self,
        caller: &Caller,
        via: &ChatUser,
    ) -> impl Future<Output = Result<(), OperatorError>> + Send;
    /// Silences an incident for `duration`; a sentence saying until when.
    fn silence(
        &self,
        caller: &Caller,
        incident: &str,
        duration: Duration,
        via: &ChatUser,
    ) -> impl Future<Output = Result<String, OperatorError>> + Send;
    /// One approval as it now stands (rendering, callbacks).
    fn approval(
        &self,
        approval: &str,
    ) -> impl Future<Output = Result<Option<ApprovalBrief>, OperatorError>> + Send;
    /// Approvals waiting (for the escalation step).
    fn pending_approvals(
        &self,
    ) -> impl Future<Output = Result<Vec<ApprovalBrief>, OperatorError>> + Send;
    /// One incident as it now stands.
    fn incident(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<IncidentBrief>, OperatorError>> + Send;
    /// Opens (`failing`) or heals the `channel_delivery_failure` incident of a provider.
    fn delivery_failure(
        &self,
        provider: &str,
        failing: bool,
        detail: &str,
    ) -> impl Future<Output = Result<(), OperatorError>> + Send;
    /// The executive summary since `since_ms`.
    fn summary(&self, since_ms: i64)
    -> impl Future<Output = Result<Summary, OperatorError>> + Send;
    /// Whether free-form questions are answered (a model is configured).
    fn answers_questions(&self) -> bool {
        false
    }
    /// A free-form question, answered by the model from the draft of the incident it is
    /// about, with citations and never an action; `None` without a model.
    fn ask(
        &self,
        _caller: &Caller,
        _question: &str,
    ) -> impl Future<Output = Result<Option<app::ask::Answer>, OperatorError>> + Send {
        async { Ok(None) }
    }
}
