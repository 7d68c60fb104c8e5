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
    /// Findings posted by a team's own watchers (`POST /api/v1/findings`).
    SubmitFindings,
    /// OTLP/HTTP metrics (`POST /v1/metrics`).
    OtlpMetrics,
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
    /// `srebot doctor`: every check of what the deployment depends on, channels' test sends
    /// included.
    Doctor,
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
    /// Acknowledges an incident: someone is on it.
    Acknowledge,
    /// Gives an incident to a person.
    Assign,
    /// Adds a note to an incident's timeline.
    Comment,
    /// Resolves an incident by hand.
    ResolveIncident,
    /// Folds one incident into another by hand.
    MergeIncidents,
    /// Records useful / noise / wrong cause on an incident.
    Feedback,
    /// The suppression windows (workspace, chat and policy).
    ListSuppressions,
    /// Removes a suppression window made in the workspace or a chat.
    RemoveSuppression,
    /// The effective rules with their recent findings.
    ListRules,
    /// Saves operator rule overrides (thresholds, severity, environments, cooldowns, ...).
    EditRules,
    /// Changes the policy's allowlisted resources within approved families.
    EditAllowlist,
    /// Rule suggestions learned from what repeats.
    ListSuggestions,
    AcceptSuggestion,
    RejectSuggestion,
    /// Plays a built-in scenario or demo story into this server at the present.
    StartDemo,
    /// The running policy: tiers, allowlists, blast radius, cooldowns, rate limits.
    ViewPolicy,
    /// Runs a policy over the ledger's incidents, as `srebot policy simulate` does.
    SimulatePolicy,
    /// Asks the configured model whether it answers.
    ProbeModel,
    /// Runs one read-only investigation tool (the tools API, the workspace's Run buttons, MCP
    /// at `/mcp`); what the tool reads is authorized again as its own operation.
    RunTool,
    /// The workspace's sign-in page and its form: open to everyone (it asks for a token).
    SignIn,
    /// The workspace's embedded stylesheet, scripts and images: open to everyone.
    WorkspaceAssets,
}

impl Operation {
    pub const ALL: [Operation; 58] = [
        Operation::Health,
        Operation::RemoteWrite,
        Operation::LokiPush,
        Operation::AlertmanagerWebhook,
        Operation::SubmitFindings,
        Operation::OtlpMetrics,
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
        Operation::Doctor,
        Operation::TestChannel,
        Operation::Chat,
        Operation::ChatInbound,
        Operation::Silence,
        Operation::SummaryEmail,
        Operation::ListTools,
        Operation::Acknowledge,
        Operation::Assign,
        Operation::Comment,
        Operation::ResolveIncident,
        Operation::MergeIncidents,
        Operation::Feedback,
        Operation::ListSuppressions,
        Operation::RemoveSuppression,
        Operation::ListRules,
        Operation::EditRules,
        Operation::EditAllowlist,
        Operation::ListSuggestions,
        Operation::AcceptSuggestion,
        Operation::RejectSuggestion,
        Operation::StartDemo,
        Operation::ViewPolicy,
        Operation::SimulatePolicy,
        Operation::ProbeModel,
        Operation::RunTool,
        Operation::SignIn,
        Operation::WorkspaceAssets,
    ];

    /// A short name for messages and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Health => "health probe",
            Operation::RemoteWrite => "remote_write",
            Operation::LokiPush => "Loki push",
            Operation::AlertmanagerWebhook => "Alertmanager webhook",
            Operation::SubmitFindings => "posting findings",
            Operation::OtlpMetrics => "OTLP metrics",
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
            Operation::Doctor => "running the doctor",
            Operation::TestChannel => "sending a test message",
            Operation::Chat => "a chat command",
            Operation::ChatInbound => "a signed chat request",
            Operation::Silence => "silencing an incident",
            Operation::SummaryEmail => "emailing the summary",
            Operation::ListTools => "listing the read-only tools",
            Operation::Acknowledge => "acknowledging an incident",
            Operation::Assign => "assigning an incident",
            Operation::Comment => "commenting on an incident",
            Operation::ResolveIncident => "resolving an incident by hand",
            Operation::MergeIncidents => "merging incidents",
            Operation::Feedback => "giving feedback on an incident",
            Operation::ListSuppressions => "listing suppression windows",
            Operation::RemoveSuppression => "removing a suppression window",
            Operation::ListRules => "reading the rules",
            Operation::EditRules => "editing rule overrides",
            Operation::EditAllowlist => "editing the policy's allowlist",
            Operation::ListSuggestions => "listing rule suggestions",
            Operation::AcceptSuggestion => "accepting a rule suggestion",
            Operation::RejectSuggestion => "rejecting a rule suggestion",
            Operation::StartDemo => "starting a demo scenario",
            Operation::ViewPolicy => "reading the policy",
            Operation::SimulatePolicy => "simulating a policy",
            Operation::ProbeModel => "probing the model",
            Operation::RunTool => "running an investigation tool",
            Operation::SignIn => "signing in",
            Operation::WorkspaceAssets => "workspace assets",
        }
    }

    /// The least role that may run it.
    pub fn least_role(self) -> Role {
        match self {
            Operation::Health
            | Operation::ChatInbound
            | Operation::SignIn
            | Operation::WorkspaceAssets
            | Operation::RemoteWrite
            | Operation::LokiPush
            | Operation::AlertmanagerWebhook
            | Operation::SubmitFindings
            | Operation::OtlpMetrics => Role::Ingest,
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
            | Operation::ListSuppressions
            | Operation::ListRules
            | Operation::ListSuggestions
            | Operation::ViewPolicy
            | Operation::SimulatePolicy
            | Operation::RunTool => Role::Read,
            Operation::RegenerateDraft
            | Operation::ReloadRules
            | Operation::Pause
            | Operation::TestChannel
            | Operation::Silence
            | Operation::SummaryEmail
            | Operation::Acknowledge
            | Operation::Assign
            | Operation::Comment
            | Operation::ResolveIncident
            | Operation::MergeIncidents
            | Operation::Feedback
            | Operation::RemoveSuppression
            | Operation::EditRules
            | Operation::AcceptSuggestion
            | Operation::RejectSuggestion
            | Operation::StartDemo
            | Operation::ProbeModel => Role::Operate,
            Operation::IssueApprovalToken
            | Operation::Approve
            | Operation::Reject
            | Operation::Modify
            | Operation::Resume => Role::Approve,
            Operation::ReloadPolicy | Operation::EditAllowlist | Operation::Doctor => Role::Admin,
        }
    }

    /// Open to callers without a token even where tokens are configured.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            Operation::Health
                | Operation::ChatInbound
                | Operation::SignIn
                | Operation::WorkspaceAssets
        )
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
                | Operation::Acknowledge
                | Operation::Assign
                | Operation::Comment
                | Operation::ResolveIncident
                | Operation::MergeIncidents
                | Operation::Feedback
                | Operation::RemoveSuppression
                | Operation::EditRules
                | Operation::EditAllowlist
                | Operation::AcceptSuggestion
                | Operation::RejectSuggestion
                | Operation::StartDemo
                | Operation::ProbeModel
        )
    }
}
