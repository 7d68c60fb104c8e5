//! Every operation an operator, a sender or a robot can ask for, with its least role: the
//! one table the HTTP API, the workspace, the channels and MCP authorize against.

use crate::Role;

/// One operation. Surfaces map their requests onto these and call [`crate::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Liveness and readiness probes: open to everyone, so orchestrators need no secret.
    Health,
    RemoteWrite,
    LokiPush,
    AlertmanagerWebhook,
    Series,
    Windows,
    Sql,
    Status,
    Metrics,
    ListIncidents,
    GetIncident,
    ListCandidates,
    GetDraft,
    IncidentLogs,
    /// Regenerates a draft; may call the model.
    RegenerateDraft,
    ReloadRules,
    ListActions,
    ListApprovals,
    Audit,
    RobotStatus,
    Pause,
    IssueApprovalToken,
    Approve,
    Reject,
    Modify,
    Resume,
    ReloadPolicy,
    /// The channel providers and their health.
    ListChannels,
    /// Sends a test message to one provider.
    TestChannel,
    /// A chat command from a custom gateway (`POST /api/v1/chat`); each command is then
    /// authorized as its own operation.
    Chat,
    /// A chat provider's own inbound request (Telegram webhook, Slack interactions and slash
    /// commands): authenticated by the provider's secret or signature, not a bearer token;
    /// the chat user it names is then authorized per command.
    ChatInbound,
    /// Silences an incident for a while (the workspace's suppression windows).
    Silence,
    /// Sends the executive summary by email now.
    SummaryEmail,
    /// The read-only tool catalogue and its schemas.
    ListTools,
    /// Runs one read-only investigation tool (the workspace's Run buttons, MCP, `/mcp`); what
    /// the tool reads is authorized again as its own operation.
    RunTool,
}

impl Operation {
    pub const ALL: [Operation; 35] = [
        Operation::Health,
        Operation::RemoteWrite,
        Operation::LokiPush,
        Operation::AlertmanagerWebhook,
        Operation::Series,
        Operation::Windows,
        Operation::Sql,
        Operation::Status,
        Operation::Metrics,
        Operation::ListIncidents,
        Operation::GetIncident,
        Operation::ListCandidates,
        Operation::GetDraft,
        Operation::IncidentLogs,
        Operation::RegenerateDraft,
        Operation::ReloadRules,
        Operation::ListActions,
        Operation::ListApprovals,
        Operation::Audit,
        Operation::RobotStatus,
        Operation::Pause,
        Operation::IssueApprovalToken,
        Operation::Approve,
        Operation::Reject,
        Operation::Modify,
        Operation::Resume,
        Operation::ReloadPolicy,
        Operation::ListChannels,
        Operation::TestChannel,
        Operation::Chat,
        Operation::ChatInbound,
        Operation::Silence,
        Operation::SummaryEmail,
        Operation::ListTools,
        Operation::RunTool,
    ];

    /// A short name for messages and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Health => "health probe",
            Operation::RemoteWrite => "remote_write",
            Operation::LokiPush => "Loki push",
            Operation::AlertmanagerWebhook => "Alertmanager webhook",
            Operation::Series => "series lookup",
            Operation::Windows => "windows query",
            Operation::Sql => "SQL query",
            Operation::Status => "status",
            Operation::Metrics => "metrics",
            Operation::ListIncidents => "listing incidents",
            Operation::GetIncident => "reading an incident",
            Operation::ListCandidates => "listing candidates",
            Operation::GetDraft => "reading a draft",
            Operation::IncidentLogs => "reading an incident's logs",
            Operation::RegenerateDraft => "regenerating a draft",
            Operation::ReloadRules => "reloading rules",
            Operation::ListActions => "listing actions",
            Operation::ListApprovals => "listing approvals",
            Operation::Audit => "reading the audit log",
            Operation::RobotStatus => "reading the robot's state",
            Operation::Pause => "pausing the robot",
            Operation::IssueApprovalToken => "issuing an approval token",
            Operation::Approve => "approving an action",
            Operation::Reject => "rejecting an action",
            Operation::Modify => "modifying an action",
            Operation::Resume => "resuming the robot",
            Operation::ReloadPolicy => "reloading policy",
            Operation::ListChannels => "listing channels",
            Operation::TestChannel => "sending a test message",
            Operation::Chat => "a chat command",
            Operation::ChatInbound => "a signed chat request",
            Operation::Silence => "silencing an incident",
            Operation::SummaryEmail => "emailing the summary",
            Operation::ListTools => "listing the read-only tools",
            Operation::RunTool => "running a read-only tool",
        }
    }

    /// The least role that may run it.
    pub fn least_role(self) -> Role {
        match self {
            Operation::Health
            | Operation::ChatInbound
            | Operation::RemoteWrite
            | Operation::LokiPush
            | Operation::AlertmanagerWebhook => Role::Ingest,
            Operation::Series
            | Operation::Windows
            | Operation::Sql
            | Operation::Status
            | Operation::Metrics
            | Operation::ListIncidents
            | Operation::GetIncident
            | Operation::ListCandidates
            | Operation::GetDraft
            | Operation::IncidentLogs
            | Operation::ListActions
            | Operation::ListApprovals
            | Operation::Audit
            | Operation::RobotStatus
            | Operation::ListChannels
            | Operation::Chat
            | Operation::ListTools
            | Operation::RunTool => Role::Read,
            Operation::RegenerateDraft
            | Operation::ReloadRules
            | Operation::Pause
            | Operation::TestChannel
            | Operation::Silence
            | Operation::SummaryEmail => Role::Operate,
            Operation::IssueApprovalToken
            | Operation::Approve
            | Operation::Reject
            | Operation::Modify
            | Operation::Resume => Role::Approve,
            Operation::ReloadPolicy => Role::Admin,
        }
    }

    /// Open to callers without a token even where tokens are configured.
    pub fn is_public(self) -> bool {
        matches!(self, Operation::Health | Operation::ChatInbound)
    }

    /// Answering an approval, and resuming the robot, need a policy role as well (what the
    /// policy's `may_approve` names): an approver's judgement, not only a high enough role.
    pub fn needs_policy_role(self) -> bool {
        matches!(
            self,
            Operation::IssueApprovalToken
                | Operation::Approve
                | Operation::Reject
                | Operation::Modify
                | Operation::Resume
        )
    }

    /// Whether it changes state (and so is audited with the caller's name).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Operation::RegenerateDraft
                | Operation::ReloadRules
                | Operation::Pause
                | Operation::IssueApprovalToken
                | Operation::Approve
                | Operation::Reject
                | Operation::Modify
                | Operation::Resume
                | Operation::ReloadPolicy
                | Operation::TestChannel
                | Operation::Silence
                | Operation::SummaryEmail
        )
    }
}
