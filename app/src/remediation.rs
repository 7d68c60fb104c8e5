//! Remediation under policy: proposes typed actions for open incidents, lets the policy decide,
//! audits every decision, runs automatic ones through the executor and opens approvals.
//!
//! Only an automatic decision or an approval answered with a valid token reaches the executor;
//! without a Kubernetes API configured, decided actions are recorded as dry runs and nothing is
//! sent. Decisions, approvals, cooldown history, outcomes and the pause switch live in the data
//! dir, so they survive restarts. After a real execution the incident is watched in event time:
//! resolved means the action worked; still active after `verify_within` means escalated.
//! The policy is replaced whole on reload (API or SIGHUP): a bad file is refused with its
//! `FILE:LINE: reason` and the running policy stays; both outcomes are audited with file hashes.

use crate::config::PolicyConfig;
use crate::pipeline::Observed;
use crate::service::App;
use cluster::Executor;
use incident::{Change, Incident};
use model::{
    Action, Confidence, IncidentStatus, IncidentType, ObjectRef, Origin, OwnerIndex,
    ProposedAction, Scope, StatementKind, TargetKind, Workload, WorkloadKind,
};
use policy::playbook::{Playbooks, Step, StepMode};
use policy::{
    ActionRecord, ApprovalError, ApprovalKey, ApprovalRequest, ApprovalState, ApprovalStatus,
    Approvals, ApproverIdentity, AuditKind, AuditLog, AuditRecord, Authorization, Decision,
    History, IncidentView, IssuedToken, LiveObject, PauseState, Policy, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

/// File name the remediation book was kept under in the data dir before it moved into the
/// ledger; found at start, it is moved into the ledger and renamed `*.migrated`.
pub const STATE_FILE: &str = "remediation.json";

/// Name of the remediation book's document in the ledger.
pub const BOOK_DOCUMENT: &str = "remediation";

/// Why remediation could not start or keep its records.
#[derive(Debug, thiserror::Error)]
pub enum RemediationError {
    #[error("policy file {path} is not valid")]
    Policy {
        path: PathBuf,
        #[source]
        source: policy::PolicyErrors,
    },
    #[error("playbook file is not valid")]
    Playbooks {
        #[source]
        source: policy::PolicyErrors,
    },
    #[error("approvers file {path}: {detail}")]
    Approvers {
        path: PathBuf,
        detail: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("remediation state {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remediation state {path} is not valid")]
    StateMalformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("remediation book in the ledger")]
    Ledger {
        #[source]
        source: incident::Error,
    },
    #[error("remediation book in the ledger is not valid")]
    BookMalformed {
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the audit log")]
    Audit {
        #[source]
        source: policy::AuditError,
    },
    #[error("approval key")]
    Key {
        #[source]
        source: ApprovalError,
    },
    #[error("pause state")]
    Pause {
        #[source]
        source: policy::StateError,
    },
    #[error(transparent)]
    Kube {
        #[from]
        source: cluster::ClusterError,
    },
}

impl model::Classify for RemediationError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::Internal
    }
}

/// Why an approval step was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The approval library refused (token, permission, status, or the policy now).
    #[error("{source}")]
    Refused {
        #[source]
        source: ApprovalError,
        /// For cooldown and rate-limit refusals: when a retry could pass.
        retry_after_ms: Option<i64>,
    },
    #[error("recording the answer failed")]
    Storage {
        #[source]
        source: RemediationError,
    },
}

/// One approver credential: a bearer token that acts as `name` with `role`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverCredential {
    pub name: String,
    pub role: String,
    token: String,
    /// The Telegram user this approver is, for the chat channels.
    #[serde(default)]
    pub telegram_user_id: Option<i64>,
    /// The Slack user (`U…`) this approver is, for the chat channels.
    #[serde(default)]
    pub slack_user_id: Option<String>,
}

impl fmt::Debug for ApproverCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproverCredential")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproversFile {
    #[serde(default)]
    approver: Vec<ApproverCredential>,
}

/// The first approver whose role the policy does not name.
fn unnamed_role<'a>(
    approvers: &'a [ApproverCredential],
    policy: &Policy,
) -> Option<&'a ApproverCredential> {
    approvers
        .iter()
        .find(|a| !policy.approvers.iter().any(|p| p.role == a.role))
}

/// Reads approver credentials; the file must not be readable by group or others, every role
/// must be an approver role of the policy and every token at least 16 characters and unique.
pub fn load_approvers(
    path: &Path,
    policy: &Policy,
) -> Result<Vec<ApproverCredential>, RemediationError> {
    let fail = |detail: String, source| RemediationError::Approvers {
        path: path.to_owned(),
        detail,
        source,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail("cannot read".to_owned(), Some(e)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| fail("cannot stat".to_owned(), Some(e)))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(fail(
                "readable by group or others (chmod 600)".to_owned(),
                None,
            ));
        }
    }
    let file: ApproversFile = toml::from_str(&text).map_err(|e| fail(e.to_string(), None))?;
    if let Some(a) = unnamed_role(&file.approver, policy) {
        return Err(fail(
            format!(
                "approver {:?} has role {:?}, which the policy does not name",
                a.name, a.role
            ),
            None,
        ));
    }
    for (i, a) in file.approver.iter().enumerate() {
        if a.token.trim().len() < 16 {
            return Err(fail(
                format!("approver {:?}: token shorter than 16 characters", a.name),
                None,
            ));
        }
        if file.approver[..i].iter().any(|b| b.token == a.token) {
            return Err(fail(
                format!("approver {:?}: token used twice", a.name),
                None,
            ));
        }
    }
    Ok(file.approver)
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Sent to the cluster and done.
    Executed,
    /// Decided to run but only recorded: server-side dry run, or no Kubernetes API configured.
    DryRun,
    /// Waiting for an approver.
    PendingApproval,
    /// The approval request expired unanswered.
    Expired,
    /// The approval request was withdrawn unanswered: the incident resolved first.
    Withdrawn,
    Rejected,
    Denied,
    /// Sent to the cluster; the cluster refused or failed.
    Failed,
}

/// What the executor did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    /// Whether a request reached the cluster.
    pub sent: bool,
    pub dry_run: bool,
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    #[serde(default)]
    pub after: Option<serde_json::Value>,
    #[serde(default)]
    pub audit_seq: Option<u64>,
    pub at_ms: i64,
    /// Event time of the pipeline when it ran, where the verification period starts.
    #[serde(default)]
    pub event_ms: Option<i64>,
}

/// The outcome of watching an incident after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Watching,
    Recovered,
    Escalated,
}

/// Verification of an executed action: the incident before and after, in event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub outcome: Outcome,
    pub status_before: IncidentStatus,
    pub candidates_before: u64,
    #[serde(default)]
    pub status_after: Option<IncidentStatus>,
    #[serde(default)]
    pub candidates_after: Option<u64>,
    pub deadline_event_ms: i64,
    #[serde(default)]
    pub decided_event_ms: Option<i64>,
}

/// One proposed action and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEntry {
    pub id: String,
    pub incident_id: String,
    pub incident_type: IncidentType,
    pub proposed: ProposedAction,
    /// The latest decision (at proposal, or at approval time).
    pub decision: Decision,
    pub status: ActionStatus,
    #[serde(default)]
    pub approval_id: Option<String>,
    #[serde(default)]
    pub answered_by: Option<ApproverIdentity>,
    pub proposed_at_ms: i64,
    pub updated_at_ms: i64,
    #[serde(default)]
    pub execution: Option<ExecutionView>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// How often an action fixed an incident type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCount {
    pub recovered: u64,
    pub escalated: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    approvals: ApprovalState,
    #[serde(default)]
    actions: Vec<ActionEntry>,
    #[serde(default)]
    history: Vec<ActionRecord>,
    /// Incident id → reopen count its actions were proposed at.
    #[serde(default)]
    proposed: BTreeMap<String, u32>,
    /// Incident id → the origins behind it when its actions were last decided.
    #[serde(default)]
    proposed_origins: BTreeMap<String, BTreeSet<Origin>>,
    /// `incident_type/action` → outcomes.
    #[serde(default)]
    outcomes: BTreeMap<String, OutcomeCount>,
    /// Each incident's climb up its ladder.
    #[serde(default)]
    ladders: Vec<LadderRun>,
}

#[derive(Debug)]
struct Book {
    approvals: Approvals,
    actions: Vec<ActionEntry>,
    history: Vec<ActionRecord>,
    proposed: BTreeMap<String, u32>,
    proposed_origins: BTreeMap<String, BTreeSet<Origin>>,
    outcomes: BTreeMap<String, OutcomeCount>,
    ladders: Vec<LadderRun>,
    pause: PauseState,
}

/// How far an incident has climbed its ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderRun {
    pub incident_id: String,
    pub incident_type: IncidentType,
    /// The source whose event time the rungs' `after` counts in.
    pub source: String,
    /// The reopen count the run belongs to: a reopened incident climbs again from the start.
    pub reopen_count: u32,
    /// Index of the next rung to reach; the ladder's length when every rung was reached.
    pub next: usize,
    /// Event time the last rung was reached at (the clock `after` counts from).
    pub last_event_ms: i64,
    /// Set when the run stopped: the incident resolved, or was merged or suppressed.
    #[serde(default)]
    pub ended: Option<String>,
    pub rungs: Vec<RungRecord>,
}

/// What one reached rung did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungRecord {
    /// 1-based position in the ladder.
    pub rung: usize,
    /// The action as the ladder names it (`restart`, `delete_node_pods(phase=Failed)`).
    pub action: String,
    pub mode: StepMode,
    /// What kind of statement `text` is.
    pub kind: StatementKind,
    /// What operators read: what was done, proposed, suggested or skipped, and why.
    pub text: String,
    /// The typed actions it decided or suggested.
    #[serde(default)]
    pub proposals: Vec<ProposedAction>,
    /// Entries in the action list it made.
    #[serde(default)]
    pub action_ids: Vec<String>,
    /// How to undo each proposed action, from the catalogue.
    #[serde(default)]
    pub rollback: Vec<String>,
    /// The signals that should return to healthy if it worked (its verification); the
    /// incident resolving is the proof, still active past `verify_within` escalates it.
    #[serde(default)]
    pub verified_by: Vec<String>,
    pub event_ms: i64,
}

impl Book {
    fn history(&self) -> History {
        History {
            paused: self.pause.paused,
            records: self.history.clone(),
        }
    }

    /// The incident's climb still under way.
    fn open_run(&mut self, incident_id: &str) -> Option<&mut LadderRun> {
        self.ladders
            .iter_mut()
            .find(|r| r.incident_id == incident_id && r.ended.is_none())
    }

    fn entry_of_approval(&mut self, approval_id: &str) -> Option<&mut ActionEntry> {
        self.actions
            .iter_mut()
            .find(|a| a.approval_id.as_deref() == Some(approval_id))
    }
}

/// A validated policy and the SHA-256 of the file bytes it was read from.
#[derive(Debug, Clone)]
struct LoadedPolicy {
    policy: Arc<Policy>,
    sha256: String,
}

/// What a policy reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReload {
    pub file: PathBuf,
    pub old_sha256: String,
    pub new_sha256: String,
    /// Whether the file's bytes differ from the running policy's.
    pub changed: bool,
    pub audit_seq: u64,
}

/// Why a policy reload was refused; the running policy stays in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid; displayed as `FILE:LINE: reason` lines.
    #[error("{errors}")]
    Invalid {
        errors: policy::PolicyErrors,
        new_sha256: Option<String>,
    },
    /// The new policy no longer names a role the loaded approvers have.
    #[error("approver {name:?} has role {role:?}, which the new policy does not name")]
    ApproverRole { name: String, role: String },
    #[error("recording the reload failed")]
    Audit {
        #[source]
        source: RemediationError,
    },
}

impl model::Classify for ReloadError {
    fn class(&self) -> model::ErrorClass {
        match self {
            ReloadError::Invalid { errors, .. } => errors.class(),
            ReloadError::ApproverRole { .. } => model::ErrorClass::InvalidInput,
            ReloadError::Audit { .. } => model::ErrorClass::Internal,
        }
    }
}

/// The remediation loop's state: policy, approvers, audit log, executor and the book.
pub struct Remediation {
    /// Where the book (approvals, used nonces, actions, history) is kept.
    ledger: incident::Ledger,
    /// The running policy and the hash of the file it came from; replaced whole on reload.
    policy: std::sync::RwLock<LoadedPolicy>,
    policy_file: PathBuf,
    /// The ladders in force: built in, each replaced by `playbooks_file`'s for its class;
    /// reloaded with the policy.
    playbooks: std::sync::RwLock<Arc<Playbooks>>,
    playbooks_file: Option<PathBuf>,
    data_dir: PathBuf,
    approvers: Vec<ApproverCredential>,
    audit: Arc<std::sync::Mutex<AuditLog>>,
    executor: Option<Executor>,
    client: Option<cluster::Client>,
    verify_within_ms: i64,
    book: tokio::sync::Mutex<Book>,
    /// Who hears of approvals asked and answered, actions run and escalations (the
    /// operator channels); every subscriber gets every announcement.
    announce: parking_lot::Mutex<Vec<tokio::sync::mpsc::UnboundedSender<Announcement>>>,
}

/// What remediation tells operators of, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    /// A person must answer approval `approval_id` (of `incident_id`) before the action runs.
    ApprovalRequested {
        approval_id: String,
        incident_id: String,
    },
    /// An approval was answered (approved or rejected), withdrawn or found expired.
    ApprovalAnswered {
        approval_id: String,
        incident_id: String,
    },
    /// An action ran (or failed, or was only recorded as a dry run).
    ActionDone {
        action_id: String,
        incident_id: String,
    },
    /// A person is needed: the robot's action did not help.
    Escalated { incident_id: String, text: String },
}

impl fmt::Debug for Remediation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remediation")
            .field("data_dir", &self.data_dir)
            .field("approvers", &self.approvers)
            .field("executor", &self.executor.is_some())
            .finish_non_exhaustive()
    }
}

/// Ladder runs kept in the book; the oldest are forgotten past it.
const MAX_LADDER_RUNS: usize = 1_000;

/// What reaching a rung came to.
#[derive(Debug)]
enum Reached {
    Done(RungRecord),
    /// Every action it named was held back by a cooldown or rate limit: try again later.
    Wait,
}

fn step_after_ms(step: &Step) -> i64 {
    duration_ms(step.after)
}

/// The incident's draft with its recent changes (for a rung's `when`) and log context;
/// `None` when it cannot be built.
async fn incident_draft(state: &App, id: &str) -> Option<rca::Draft> {
    let sources = crate::live_rca::Sources {
        logs: Some(&state.logs),
        windows: Some(&state.sources),
        ..crate::live_rca::Sources::default()
    };
    match crate::live_rca::draft_with(state.pipeline.engine.ledger(), sources, id).await {
        Ok(draft) => Some(draft),
        Err(error) => {
            tracing::warn!(incident = %id, %error, "no draft; proposing by type");
            None
        }
    }
}

/// The built-in ladders, each replaced by `file`'s ladder for its class.
pub fn load_playbooks(file: Option<&Path>) -> Result<Playbooks, policy::PolicyErrors> {
    match file {
        Some(path) => Playbooks::builtin_with(path),
        None => Ok(Playbooks::builtin()),
    }
}

/// Wall-clock milliseconds: approvals expire and cooldowns run in real time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The incident as the policy sees it.
pub fn incident_view(incident: &Incident) -> IncidentView {
    IncidentView {
        id: incident.id.clone(),
        incident_type: incident.incident_type,
        severity: incident.severity,
        namespace: incident.target.namespace.clone(),
        target: Some(incident.target.name.clone()),
        origins: incident.origins.clone(),
    }
}

/// The Deployment an incident is about, when its target is one or a pod of one: the pod's
/// recorded owner where `owners` knows it, else the owner its name says.
pub fn deployment_of(incident: &Incident, owners: &OwnerIndex) -> Option<ObjectRef> {
    let t = &incident.target;
    let ns = t.namespace.as_deref()?;
    let name = match t.kind {
        Scope::Deployment => t.name.as_str(),
        Scope::Pod | Scope::Container => match owners.workload_of(Some(ns), &t.name) {
            Workload {
                kind: WorkloadKind::Deployment,
                name,
            } => name,
            _ => return None,
        },
        _ => return None,
    };
    (!name.is_empty()).then(|| ObjectRef::new(TargetKind::Deployment, Some(ns), name))
}

/// The typed actions to propose for an incident: the draft's recommendations that need no
/// guessed parameter, then the incident type's standard remedy; informational ones are left
/// to channels. Deterministic: the same incident and draft give the same proposals.
pub fn proposals(
    incident: &Incident,
    draft: Option<&rca::Draft>,
    owners: &OwnerIndex,
) -> Vec<ProposedAction> {
    let deployment = deployment_of(incident, owners);
    let node_target = |text: &str| {
        text.strip_prefix("node/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(|n| ObjectRef::new(TargetKind::Node, None, n))
    };
    let all_evidence: Vec<String> = draft
        .map(|d| d.evidence.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default();
    let mut out: Vec<ProposedAction> = Vec::new();
    // A type's standard remedy is as sure as the draft's leading hypothesis.
    let leading = draft.and_then(|d| d.root_causes.first().map(|h| Confidence::new(h.confidence)));
    let mut add = |action: Action,
                   target: ObjectRef,
                   evidence: Vec<String>,
                   by: String,
                   confidence: Option<Confidence>| {
        if out.iter().any(|p| p.action == action && p.target == target) {
            return;
        }
        out.push(ProposedAction {
            action,
            target,
            incident_id: incident.id.clone(),
            evidence_ids: evidence,
            proposed_by: by,
            confidence,
        });
    };
    if let Some(draft) = draft {
        for rec in &draft.recommended_actions {
            let typed = match rec.action.as_str() {
                "restart_deployment" => deployment.clone().map(|t| (Action::RestartDeployment, t)),
                "cordon_node" => node_target(&rec.target).map(|t| (Action::CordonNode, t)),
                "drain_node" => node_target(&rec.target).map(|t| (Action::DrainNode, t)),
                _ => None,
            };
            let Some((action, target)) = typed else {
                continue;
            };
            let hypothesis = draft.root_causes.iter().find(|h| h.id == rec.source);
            let evidence = hypothesis.map_or_else(|| all_evidence.clone(), |h| h.evidence.clone());
            add(
                action,
                target,
                evidence,
                format!("rca:{}", rec.source),
                hypothesis
                    .map(|h| Confidence::new(h.confidence))
                    .or(leading),
            );
        }
    }
    let by_type = format!("rule:{}", incident.incident_type);
    match incident.incident_type {
        IncidentType::CrashLoop | IncidentType::MemoryLeak | IncidentType::DeploymentDegraded => {
            if let Some(target) = deployment {
                add(
                    Action::RestartDeployment,
                    target,
                    all_evidence,
                    by_type,
                    leading,
                );
            }
        }
        IncidentType::NodeNotReady | IncidentType::NodeDiskPressure
            if incident.target.kind == Scope::Node =>
        {
            let target = ObjectRef::new(TargetKind::Node, None, &incident.target.name);
            add(Action::CordonNode, target, all_evidence, by_type, leading);
        }
        _ => {}
    }
    out
}

/// The pending actions of an incident that only its origins held back
/// (`unless_only`), with their entry ids.
fn held_back_by_origins(book: &Book, incident_id: &str) -> Vec<(String, ProposedAction)> {
    book.actions
        .iter()
        .filter(|a| {
            a.incident_id == incident_id
                && a.status == ActionStatus::PendingApproval
                && a.decision.clause.ends_with(".unless_only")
        })
        .map(|a| (a.id.clone(), a.proposed.clone()))
        .collect()
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// The audit's `who` of an approver.
fn who(approver: &ApproverIdentity) -> String {
    format!("{} ({})", approver.name, approver.role)
}

fn effective(mut request: ApprovalRequest, now: i64) -> ApprovalRequest {
    if request.status == ApprovalStatus::Pending && now >= request.expires_ms {
        request.status = ApprovalStatus::Expired;
    }
    request
}

impl Remediation {
    /// Loads the policy, approvers, audit log, pause state and saved book; builds the
    /// Kubernetes client when one is configured.
    pub async fn open(
        config: &PolicyConfig,
        data_dir: &Path,
        ledger: incident::Ledger,
    ) -> Result<Option<Self>, RemediationError> {
        let Some(path) = &config.file else {
            return Ok(None);
        };
        let read = policy::read_file(path);
        let policy = read.policy.map_err(|source| RemediationError::Policy {
            path: path.clone(),
            source,
        })?;
        let sha256 = read.sha256.unwrap_or_default();
        let playbooks = load_playbooks(config.playbooks_file.as_deref())
            .map_err(|source| RemediationError::Playbooks { source })?;
        let approvers = match &config.approvers_file {
            Some(file) => load_approvers(file, &policy)?,
            None => Vec::new(),
        };
        let audit = crate::audit_key::open_log(config, data_dir)
            .map_err(|source| RemediationError::Audit { source })?;
        let audit = Arc::new(std::sync::Mutex::new(audit));
        let key = ApprovalKey::load_or_create(data_dir)
            .map_err(|source| RemediationError::Key { source })?;
        let pause =
            policy::load_pause(data_dir).map_err(|source| RemediationError::Pause { source })?;
        let saved = load_saved(&ledger, data_dir).await?;
        let client = config.kube.as_ref().map(cluster::client).transpose()?;
        let executor = client
            .as_ref()
            .map(|c| Executor::new(c.clone(), Arc::clone(&audit)));
        let ttl = duration_ms(config.approval_ttl);
        Ok(Some(Self {
            ledger,
            announce: parking_lot::Mutex::new(Vec::new()),
            policy: std::sync::RwLock::new(LoadedPolicy {
                policy: Arc::new(policy),
                sha256,
            }),
            policy_file: path.clone(),
            playbooks: std::sync::RwLock::new(Arc::new(playbooks)),
            playbooks_file: config.playbooks_file.clone(),
            data_dir: data_dir.to_owned(),
            approvers,
            audit,
            executor,
            client,
            verify_within_ms: duration_ms(config.verify_within),
            book: tokio::sync::Mutex::new(Book {
                approvals: Approvals::with_state(key, ttl, saved.approvals),
                actions: saved.actions,
                history: saved.history,
                proposed: saved.proposed,
                proposed_origins: saved.proposed_origins,
                outcomes: saved.outcomes,
                ladders: saved.ladders,
                pause,
            }),
        }))
    }

    /// Follows the pipeline's committed changes until it stops or the server is gone.
    pub fn spawn(self: &Arc<Self>, state: &Arc<App>) {
        let Some(mut changes) = state.pipeline.observe() else {
            tracing::warn!("the pipeline is already observed; remediation does not follow it");
            return;
        };
        let me = Arc::clone(self);
        let state: Weak<App> = Arc::downgrade(state);
        tokio::spawn(async move {
            while let Some(observed) = changes.recv().await {
                let Some(state) = state.upgrade() else {
                    return;
                };
                if let Err(error) = me.handle(&state, observed).await {
                    tracing::error!(error = %model::error::chain(&error), "remediation step failed");
                }
            }
        });
    }

    /// Verifies the audit chain and reads its entries with no append under way (an entry
    /// and the head are written one after the other). Blocking: call it off the async workers.
    pub fn audit_snapshot(
        &self,
    ) -> (
        Result<usize, policy::AuditError>,
        Result<Vec<policy::AuditEntry>, policy::AuditError>,
    ) {
        let log = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        (log.verify(), policy::audit::read_entries(log.path()))
    }

    /// The running policy (a snapshot: a reload replaces it, never changes it in place).
    pub fn policy(&self) -> Arc<Policy> {
        let loaded = self.policy.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&loaded.policy)
    }

    /// Reads `policy.file` again and, when it is valid and still names every loaded
    /// approver's role, makes it the running policy. Refused or done, the attempt is audited
    /// with `who` and the old and new file hashes. Blocking (file I/O and an audit append):
    /// call it off the async workers.
    pub fn reload_policy(&self, who: &str) -> Result<PolicyReload, ReloadError> {
        let mut loaded = self.policy.write().unwrap_or_else(|p| p.into_inner());
        let read = policy::read_file(&self.policy_file);
        let old_sha256 = loaded.sha256.clone();
        let now = now_ms();
        let file = self.policy_file.display().to_string();
        let new = read.policy.map_err(|errors| ReloadError::Invalid {
            errors,
            new_sha256: read.sha256.clone(),
        });
        let books = load_playbooks(self.playbooks_file.as_deref());
        let new = new.and_then(|p| match books {
            Ok(books) => Ok((p, books)),
            Err(errors) => Err(ReloadError::Invalid {
                errors,
                new_sha256: read.sha256.clone(),
            }),
        });
        let new = new.and_then(|(p, books)| match unnamed_role(&self.approvers, &p) {
            Some(a) => Err(ReloadError::ApproverRole {
                name: a.name.clone(),
                role: a.role.clone(),
            }),
            None => Ok((p, books)),
        });
        let summary = |p: &Policy, sha: &str| json!({"file": file, "sha256": sha, "environment": p.environment, "dry_run": p.dry_run});
        let before = summary(&loaded.policy, &old_sha256);
        match new {
            Err(error) => {
                let reason = match &error {
                    ReloadError::Invalid { errors, .. } => errors
                        .issues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                self.audit(AuditRecord {
                    at_ms: now,
                    who: who.to_owned(),
                    kind: AuditKind::PolicyReloadRefused,
                    incident_id: None,
                    action: None,
                    why: "policy.reload".into(),
                    detail: format!("kept the running policy: {reason}"),
                    evidence_ids: Vec::new(),
                    before: Some(before),
                    after: Some(json!({"file": file, "sha256": read.sha256})),
                })
                .map_err(|source| ReloadError::Audit { source })?;
                Err(error)
            }
            Ok((policy, books)) => {
                *self.playbooks.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(books);
                let new_sha256 = read.sha256.unwrap_or_default();
                let changed = new_sha256 != old_sha256;
                let audit_seq = self
                    .audit(AuditRecord {
                        at_ms: now,
                        who: who.to_owned(),
                        kind: AuditKind::PolicyReloaded,
                        incident_id: None,
                        action: None,
                        why: "policy.reload".into(),
                        detail: if changed {
                            format!("{file}: sha256 {old_sha256} -> {new_sha256}")
                        } else {
                            format!("{file}: unchanged (sha256 {new_sha256})")
                        },
                        evidence_ids: Vec::new(),
                        before: Some(before),
                        after: Some(summary(&policy, &new_sha256)),
                    })
                    .map_err(|source| ReloadError::Audit { source })?;
                *loaded = LoadedPolicy {
                    policy: Arc::new(policy),
                    sha256: new_sha256.clone(),
                };
                Ok(PolicyReload {
                    file: self.policy_file.clone(),
                    old_sha256,
                    new_sha256,
                    changed,
                    audit_seq,
                })
            }
        }
    }

    /// [`Remediation::reload_policy`] on a blocking thread, with the outcome logged (SIGHUP).
    pub async fn reload_policy_logged(self: &Arc<Self>, who: &str) {
        let me = Arc::clone(self);
        let by = who.to_owned();
        match tokio::task::spawn_blocking(move || me.reload_policy(&by)).await {
            Ok(Ok(done)) => tracing::info!(
                file = %done.file.display(),
                sha256 = %done.new_sha256,
                changed = done.changed,
                "policy reloaded"
            ),
            Ok(Err(error)) => {
                tracing::error!(error = %model::error::chain(&error), "policy not reloaded; the running policy stays");
            }
            Err(error) => tracing::error!(%error, "policy reload task failed"),
        }
    }

    /// The approver a bearer token belongs to (constant-time comparison).
    pub fn approver(&self, bearer: &str) -> Option<ApproverIdentity> {
        self.approvers
            .iter()
            .find(|a| crate::auth::same_secret(a.token.as_bytes(), bearer.as_bytes()))
            .map(|a| ApproverIdentity {
                name: a.name.clone(),
                role: a.role.clone(),
            })
    }

    /// Approvers as chat users: the caller each acts as, with its Telegram and Slack ids.
    pub fn chat_approvers(&self) -> Vec<crate::auth::ChatIdentity> {
        self.approvers
            .iter()
            .filter(|a| a.telegram_user_id.is_some() || a.slack_user_id.is_some())
            .map(|a| crate::auth::ChatIdentity {
                caller: crate::Caller {
                    name: a.name.clone(),
                    role: crate::Role::Approve,
                    policy_role: Some(a.role.clone()),
                },
                telegram_user_id: a.telegram_user_id,
                slack_user_id: a.slack_user_id.clone(),
            })
            .collect()
    }

    /// Appends an operator's step (acknowledged, merged, rules saved, ...) to the audit log.
    pub fn record(&self, record: AuditRecord) -> Result<u64, RemediationError> {
        self.audit(record)
    }

    /// The policy file the running policy was read from.
    pub fn policy_file(&self) -> &Path {
        &self.policy_file
    }

    fn audit(&self, record: AuditRecord) -> Result<u64, RemediationError> {
        let mut log = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        log.append(record)
            .map(|e| e.seq)
            .map_err(|source| RemediationError::Audit { source })
    }

    /// Writes the book to the ledger (after forgetting the nonces of expired tokens), whole.
    async fn save(&self, book: &mut Book) -> Result<(), RemediationError> {
        let now = now_ms();
        book.approvals.prune(now);
        let saved = SavedRef {
            approvals: book.approvals.state(),
            actions: &book.actions,
            history: &book.history,
            proposed: &book.proposed,
            proposed_origins: &book.proposed_origins,
            outcomes: &book.outcomes,
            ladders: &book.ladders,
        };
        let body = serde_json::to_string(&saved)
            .map_err(|source| RemediationError::BookMalformed { source })?;
        self.ledger
            .save_document(BOOK_DOCUMENT, &body, now)
            .await
            .map_err(|source| RemediationError::Ledger { source })
    }

    /// One batch of committed changes: verification first, then proposals for incidents
    /// opened or reopened (and, when new origins back an incident, the actions its origins
    /// held back decided again), then escalation of actions whose incident did not recover
    /// in time.
    pub async fn handle(&self, state: &App, observed: Observed) -> Result<(), RemediationError> {
        for change in &observed.changes {
            self.follow_up(change, observed.tick_ms).await?;
            let incident = &change.incident;
            if incident.merged_into.is_some() || !incident.status.is_active() {
                continue;
            }
            let held_back = {
                let mut book = self.book.lock().await;
                let grew = book
                    .proposed_origins
                    .get(&incident.id)
                    .is_none_or(|seen| !incident.origins.is_subset(seen));
                if grew {
                    book.proposed_origins
                        .insert(incident.id.clone(), incident.origins.clone());
                }
                if book.proposed.get(&incident.id) == Some(&incident.reopen_count) {
                    if !grew {
                        continue;
                    }
                    Some(held_back_by_origins(&book, &incident.id))
                } else {
                    book.proposed
                        .insert(incident.id.clone(), incident.reopen_count);
                    None
                }
            };
            if let Some(held_back) = held_back {
                let event_ms = observed
                    .tick_ms
                    .or_else(|| state.pipeline.evaluated_through_of(&incident.source));
                for (entry_id, proposed) in held_back {
                    self.decide_again(incident, &entry_id, proposed, event_ms)
                        .await?;
                }
                continue;
            }
            let draft = incident_draft(state, &incident.id).await;
            let event_ms = observed
                .tick_ms
                .or_else(|| state.pipeline.evaluated_through_of(&incident.source));
            if self
                .start_ladder(state, incident, draft.as_ref(), event_ms)
                .await?
            {
                continue;
            }
            let owners = state
                .sources
                .get(&incident.source)
                .map(|store| store.owners())
                .unwrap_or_default();
            for proposed in proposals(incident, draft.as_ref(), &owners) {
                self.decide_and_act(incident, proposed, event_ms, StepMode::Policy, None)
                    .await?;
            }
        }
        if let (Some(tick), Some(source)) = (observed.tick_ms, observed.source.as_deref()) {
            self.climb_due(state, source, tick).await?;
            self.escalate_overdue(state, source, tick).await?;
        }
        Ok(())
    }

    /// The ladders in force.
    pub fn playbooks(&self) -> Arc<Playbooks> {
        Arc::clone(&self.playbooks.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every incident's climb, newest first; a rung whose approval was answered since it
    /// was reached says what became of it.
    pub async fn ladder_runs(&self) -> Vec<LadderRun> {
        let book = self.book.lock().await;
        let mut runs: Vec<LadderRun> = book.ladders.iter().rev().cloned().collect();
        for rung in runs.iter_mut().flat_map(|r| r.rungs.iter_mut()) {
            if rung.kind != StatementKind::RequiredApproval {
                continue;
            }
            let statuses: Vec<ActionStatus> = rung
                .action_ids
                .iter()
                .filter_map(|id| book.actions.iter().find(|a| a.id == *id))
                .map(|a| a.status)
                .collect();
            if statuses.contains(&ActionStatus::PendingApproval) {
                continue;
            }
            let now = if statuses
                .iter()
                .any(|s| matches!(s, ActionStatus::Executed | ActionStatus::DryRun))
            {
                rung.kind = StatementKind::ExecutedAction;
                "approved and done"
            } else if statuses.contains(&ActionStatus::Withdrawn) {
                rung.kind = StatementKind::Observation;
                "withdrawn: the incident resolved first"
            } else {
                rung.kind = StatementKind::Observation;
                "not taken: rejected, expired or failed"
            };
            rung.text = format!("{} Now: {now}.", rung.text);
        }
        runs
    }

    /// Starts the incident's ladder (from its first rung) when its class has one; `false`
    /// when it has none.
    async fn start_ladder(
        &self,
        state: &App,
        incident: &Incident,
        draft: Option<&rca::Draft>,
        event_ms: Option<i64>,
    ) -> Result<bool, RemediationError> {
        if self.playbooks().ladder(incident.incident_type).is_none() {
            return Ok(false);
        }
        let start = event_ms.unwrap_or(incident.updated_at_ms);
        {
            let mut book = self.book.lock().await;
            book.ladders.retain(|r| r.incident_id != incident.id);
            book.ladders.push(LadderRun {
                incident_id: incident.id.clone(),
                incident_type: incident.incident_type,
                source: incident.source.clone(),
                reopen_count: incident.reopen_count,
                next: 0,
                last_event_ms: start,
                ended: None,
                rungs: Vec::new(),
            });
            while book.ladders.len() > MAX_LADDER_RUNS {
                book.ladders.remove(0);
            }
        }
        self.climb(state, incident, draft, start).await?;
        Ok(true)
    }

    /// Climbs the ladders of `source`'s active incidents whose next rung is due at `tick`.
    async fn climb_due(
        &self,
        state: &App,
        source: &str,
        tick: i64,
    ) -> Result<(), RemediationError> {
        let books = self.playbooks();
        let due: Vec<String> = {
            let book = self.book.lock().await;
            book.ladders
                .iter()
                .filter(|r| r.ended.is_none() && r.source == source)
                .filter(|r| {
                    books
                        .ladder(r.incident_type)
                        .and_then(|l| l.steps.get(r.next))
                        .is_some_and(|step| {
                            tick.saturating_sub(r.last_event_ms) >= step_after_ms(step)
                        })
                })
                .map(|r| r.incident_id.clone())
                .collect()
        };
        for id in due {
            let incident = match state.pipeline.engine.ledger().incident(&id).await {
                Ok(Some(incident)) => incident,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, incident = %id, "cannot read incident for its ladder");
                    continue;
                }
            };
            if incident.merged_into.is_some() || !incident.status.is_active() {
                let mut book = self.book.lock().await;
                if let Some(run) = book.ladders.iter_mut().find(|r| r.incident_id == id) {
                    run.ended = Some(format!("incident {}", incident.status.as_str()));
                }
                self.save(&mut book).await?;
                continue;
            }
            let draft = incident_draft(state, &id).await;
            self.climb(state, &incident, draft.as_ref(), tick).await?;
        }
        Ok(())
    }

    /// Reaches every rung of the incident's ladder that is due at event time `now_event`:
    /// the next one once `after` has passed since the last, and the ones after it that wait
    /// for nothing.
    async fn climb(
        &self,
        state: &App,
        incident: &Incident,
        draft: Option<&rca::Draft>,
        now_event: i64,
    ) -> Result<(), RemediationError> {
        let books = self.playbooks();
        let Some(ladder) = books.ladder(incident.incident_type) else {
            return Ok(());
        };
        loop {
            let (index, step) = {
                let mut book = self.book.lock().await;
                let Some(run) = book.open_run(&incident.id) else {
                    return Ok(());
                };
                // Past the last rung the run stays open until the incident ends.
                let Some(step) = ladder.steps.get(run.next) else {
                    return Ok(());
                };
                if now_event.saturating_sub(run.last_event_ms) < step_after_ms(step) {
                    return Ok(());
                }
                (run.next, step.clone())
            };
            let record = self
                .reach(state, incident, draft, index, &step, now_event)
                .await?;
            let mut book = self.book.lock().await;
            let Some(run) = book.open_run(&incident.id) else {
                return Ok(());
            };
            match record {
                Reached::Done(record) => {
                    run.next = index + 1;
                    run.last_event_ms = now_event;
                    run.rungs.push(record);
                    self.save(&mut book).await?;
                }
                Reached::Wait => {
                    // Held back by a cooldown or rate limit: tried again at a later tick.
                    return Ok(());
                }
            }
        }
    }

    /// Reaches one rung: checks its condition, resolves its targets and decides (or records,
    /// or suggests) what it names.
    async fn reach(
        &self,
        state: &App,
        incident: &Incident,
        draft: Option<&rca::Draft>,
        index: usize,
        step: &Step,
        event_ms: i64,
    ) -> Result<Reached, RemediationError> {
        let rung = index + 1;
        let named = step.action.to_string();
        let record = |kind: StatementKind, text: String| RungRecord {
            rung,
            action: named.clone(),
            mode: step.mode,
            kind,
            text,
            proposals: Vec::new(),
            action_ids: Vec::new(),
            rollback: Vec::new(),
            verified_by: Vec::new(),
            event_ms,
        };
        let rolled_back = {
            let book = self.book.lock().await;
            book.ladders
                .iter()
                .find(|r| r.incident_id == incident.id && r.ended.is_none())
                .is_some_and(|r| {
                    r.rungs.iter().any(|g| {
                        g.proposals
                            .iter()
                            .any(|p| matches!(p.action, Action::RollbackDeployment { .. }))
                    })
                })
        };
        if !crate::ladder::condition_holds(step.when, draft, rolled_back) {
            let why = match step.when {
                Some(policy::playbook::Condition::ChangePreceded) => {
                    "no deploy, image or config change preceded the incident"
                }
                Some(policy::playbook::Condition::NotRolledBack) => {
                    "an earlier rung rolled the workload back"
                }
                _ => "a change preceded the incident (the rollback rung applies)",
            };
            return Ok(Reached::Done(record(
                StatementKind::Inference,
                format!("Rung {rung} ({named}) skipped: {why}."),
            )));
        }
        let owners = state
            .sources
            .get(&incident.source)
            .map(|store| store.owners())
            .unwrap_or_default();
        let resolution = {
            let watch = state
                .signals
                .watches
                .iter()
                .find(|w| w.source() == incident.source)
                .map(|w| w.state());
            let guard = watch.as_ref().map(|s| s.read());
            crate::ladder::resolve(step, incident, draft, guard.as_deref(), &owners)
        };
        let targets = match resolution {
            crate::ladder::Resolution::Nothing(why) => {
                return Ok(Reached::Done(record(
                    StatementKind::Observation,
                    format!("Rung {rung} ({named}) skipped: {why}."),
                )));
            }
            crate::ladder::Resolution::Act(targets) => targets,
        };
        let evidence: Vec<String> = draft
            .map(|d| d.evidence.iter().map(|e| e.id.clone()).collect())
            .unwrap_or_default();
        let confidence =
            draft.and_then(|d| d.root_causes.first().map(|h| Confidence::new(h.confidence)));
        let by = format!("playbook:{}#{rung}", incident.incident_type);
        let proposals: Vec<ProposedAction> = targets
            .into_iter()
            .map(|(action, target)| ProposedAction {
                action,
                target,
                incident_id: incident.id.clone(),
                evidence_ids: evidence.clone(),
                proposed_by: by.clone(),
                confidence,
            })
            .collect();
        let say = step.say.clone().unwrap_or_default();
        let mut out = record(StatementKind::Observation, String::new());
        out.rollback = proposals
            .iter()
            .map(|p| p.action.rollback_instructions().to_owned())
            .collect();
        let mut signals: Vec<String> = proposals
            .iter()
            .flat_map(|p| p.action.recovery_signals().iter().map(|s| (*s).to_owned()))
            .collect();
        signals.dedup();
        out.verified_by = signals;
        let listed = proposals
            .iter()
            .map(|p| format!("{} on {}", p.action, p.target))
            .collect::<Vec<_>>()
            .join(", ");
        out.proposals = proposals.clone();
        if step.mode == StepMode::Suggest {
            out.kind = StatementKind::Recommendation;
            let fix = crate::ladder::suggested_fix(incident, draft);
            out.text = [say, fix.unwrap_or_default()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if out.text.is_empty() {
                out.text = format!("Recommended: {listed}.");
            }
            return Ok(Reached::Done(out));
        }
        if proposals
            .iter()
            .all(|p| p.action.risk() == model::RiskClass::ReadOnly)
        {
            // Read-only rungs: the draft gathered the evidence; a notify rung reached at the
            // incident's opening is its opening message, a later one tells the channels now.
            // Nothing is sent to the cluster.
            out.kind = StatementKind::Observation;
            out.rollback.clear();
            out.verified_by.clear();
            out.text = match proposals.first().map(|p| &p.action) {
                Some(Action::CollectEvidence) => format!(
                    "Gathered {} pieces of evidence into the draft. {say}",
                    evidence.len()
                ),
                _ if index == 0 => format!("The operator channels were told. {say}"),
                _ => {
                    let text = format!(
                        "{} on {} is still active: {}",
                        incident.incident_type.as_str().replace('_', " "),
                        incident.target.name,
                        if say.is_empty() {
                            "a person is needed."
                        } else {
                            say.as_str()
                        }
                    );
                    self.announce(Announcement::Escalated {
                        incident_id: incident.id.clone(),
                        text: text.clone(),
                    });
                    format!("Told the operator channels: {text}")
                }
            }
            .trim()
            .to_owned();
            return Ok(Reached::Done(out));
        }
        let clause = format!("playbook.{}.rung{rung}", incident.incident_type);
        let mut statuses = Vec::new();
        let mut all_waiting = true;
        for proposed in proposals {
            let (id, status, decision) = self
                .decide_and_act(incident, proposed, Some(event_ms), step.mode, Some(&clause))
                .await?;
            let waits = status == ActionStatus::Denied && decision.retry_after_ms.is_some();
            all_waiting &= waits;
            out.action_ids.push(id);
            statuses.push((status, decision));
        }
        if all_waiting && !statuses.is_empty() {
            return Ok(Reached::Wait);
        }
        out.kind = if statuses
            .iter()
            .any(|(s, _)| matches!(s, ActionStatus::Executed | ActionStatus::DryRun))
        {
            StatementKind::ExecutedAction
        } else if statuses
            .iter()
            .any(|(s, _)| *s == ActionStatus::PendingApproval)
        {
            StatementKind::RequiredApproval
        } else {
            StatementKind::Observation
        };
        let outcome = statuses
            .iter()
            .map(|(s, d)| match s {
                ActionStatus::Executed => "done".to_owned(),
                ActionStatus::DryRun => "recorded as a dry run".to_owned(),
                ActionStatus::PendingApproval => "waiting for approval".to_owned(),
                ActionStatus::Failed => "failed".to_owned(),
                _ => format!("not taken: {}", d.reason),
            })
            .collect::<Vec<_>>()
            .join("; ");
        out.text = format!("Rung {rung}: {listed} — {outcome}. {say}")
            .trim()
            .to_owned();
        Ok(Reached::Done(out))
    }

    /// The live figures the blast radius needs, read from the cluster; `None` without a
    /// cluster or when it cannot be read (the policy then asks a person).
    async fn live(&self, proposed: &ProposedAction) -> Option<LiveObject> {
        let client = self.client.as_ref()?;
        let live = cluster::live_object(client, proposed).await;
        if live.is_none() {
            tracing::warn!(target = %proposed.target, "live object not readable; blast radius unknown");
        }
        live
    }

    /// Decides a held-back action again now that more origins back its incident: if it
    /// runs on its own now, its approval request is withdrawn and it runs; otherwise the
    /// request stands and nothing is recorded.
    async fn decide_again(
        &self,
        incident: &Incident,
        entry_id: &str,
        proposed: ProposedAction,
        event_ms: Option<i64>,
    ) -> Result<(), RemediationError> {
        let live = self.live(&proposed).await;
        let view = incident_view(incident);
        let running = self.policy();
        let mut book = self.book.lock().await;
        let now = now_ms();
        let decision = policy::decide(
            &view,
            &proposed,
            &running,
            &book.history(),
            live.as_ref(),
            now,
        );
        if decision.verdict != Verdict::Auto {
            return Ok(());
        }
        let Some(index) = book
            .actions
            .iter()
            .position(|a| a.id == entry_id && a.status == ActionStatus::PendingApproval)
        else {
            return Ok(());
        };
        let mut entry = book.actions[index].clone();
        let origins: Vec<&str> = incident.origins.iter().map(|o| o.as_str()).collect();
        let note = format!(
            "decided again once {} backed the incident: {}",
            origins.join(", "),
            decision.reason
        );
        if let Some(approval) = &entry.approval_id
            && let Err(error) = book.approvals.withdraw(approval, note.clone(), now)
        {
            // Answered or expired meanwhile: that answer stands.
            tracing::info!(%error, approval = %approval, "held-back action not decided again");
            return Ok(());
        }
        if let Some(approval) = &entry.approval_id {
            self.announce(Announcement::ApprovalAnswered {
                approval_id: approval.clone(),
                incident_id: incident.id.clone(),
            });
        }
        self.audit(AuditRecord {
            at_ms: now,
            who: "robot".into(),
            kind: AuditKind::Decision,
            incident_id: Some(incident.id.clone()),
            action: Some(proposed.clone()),
            why: decision.clause.clone(),
            detail: format!(
                "{}: {note}; approval {} withdrawn",
                decision.verdict,
                entry.approval_id.as_deref().unwrap_or("-")
            ),
            evidence_ids: proposed.evidence_ids.clone(),
            before: live.map(|l| json!(l)),
            after: None,
        })?;
        book.history.push(ActionRecord::of(&proposed, now));
        entry.decision = decision.clone();
        match Authorization::automatic(proposed, decision) {
            Ok(auth) => self.run(&mut entry, &auth, incident, now, event_ms).await?,
            Err(error) => entry.error = Some(error.to_string()),
        }
        book.actions[index] = entry;
        self.save(&mut book).await
    }

    /// Decides one proposal and acts on the decision; a ladder rung in `approval` mode asks
    /// even where the policy alone would run it. Returns the action entry's id, its status
    /// and the decision.
    async fn decide_and_act(
        &self,
        incident: &Incident,
        proposed: ProposedAction,
        event_ms: Option<i64>,
        mode: StepMode,
        rung: Option<&str>,
    ) -> Result<(String, ActionStatus, Decision), RemediationError> {
        let live = self.live(&proposed).await;
        let view = incident_view(incident);
        // One policy for the whole decision, even if a reload lands meanwhile.
        let running = self.policy();
        let mut book = self.book.lock().await;
        let now = now_ms();
        let mut decision = policy::decide(
            &view,
            &proposed,
            &running,
            &book.history(),
            live.as_ref(),
            now,
        );
        if mode == StepMode::Approval
            && decision.verdict == Verdict::Auto
            && proposed.action.risk() > model::RiskClass::ReadOnly
        {
            decision.verdict = Verdict::NeedsApproval;
            decision.reason = format!(
                "the ladder asks a person for this rung (the policy alone would run it: {})",
                decision.reason
            );
            decision.clause = format!("{}.approval", rung.unwrap_or("playbook"));
        }
        self.audit(AuditRecord {
            at_ms: now,
            who: "robot".into(),
            kind: AuditKind::Decision,
            incident_id: Some(incident.id.clone()),
            action: Some(proposed.clone()),
            why: decision.clause.clone(),
            detail: format!(
                "{}: {}{}; to undo: {}",
                decision.verdict,
                decision.reason,
                rung.map(|r| format!(" ({r})")).unwrap_or_default(),
                proposed.action.rollback_instructions()
            ),
            evidence_ids: proposed.evidence_ids.clone(),
            before: live.map(|l| json!(l)),
            after: None,
        })?;
        let mut entry = ActionEntry {
            id: random_id("act"),
            incident_id: incident.id.clone(),
            incident_type: incident.incident_type,
            proposed: proposed.clone(),
            decision: decision.clone(),
            status: ActionStatus::Denied,
            approval_id: None,
            answered_by: None,
            proposed_at_ms: now,
            updated_at_ms: now,
            execution: None,
            error: None,
            verification: None,
        };
        match decision.verdict {
            Verdict::Auto => {
                book.history.push(ActionRecord::of(&proposed, now));
                match Authorization::automatic(proposed, decision) {
                    Ok(auth) => self.run(&mut entry, &auth, incident, now, event_ms).await?,
                    Err(error) => entry.error = Some(error.to_string()),
                }
                self.announce(Announcement::ActionDone {
                    action_id: entry.id.clone(),
                    incident_id: incident.id.clone(),
                });
            }
            Verdict::NeedsApproval => {
                match book.approvals.request(
                    view,
                    proposed.clone(),
                    decision.clone(),
                    &running,
                    now,
                ) {
                    Ok((request, tokens)) => {
                        entry.status = ActionStatus::PendingApproval;
                        entry.approval_id = Some(request.id.clone());
                        let roles: Vec<&str> = tokens.iter().map(|t| t.role.as_str()).collect();
                        self.audit(AuditRecord {
                            at_ms: now,
                            who: "robot".into(),
                            kind: AuditKind::ApprovalRequested,
                            incident_id: Some(incident.id.clone()),
                            action: Some(proposed.clone()),
                            why: decision.clause.clone(),
                            detail: format!(
                                "approval {} asked of {}; expires at {}",
                                request.id,
                                roles.join(", "),
                                request.expires_ms
                            ),
                            evidence_ids: proposed.evidence_ids.clone(),
                            before: None,
                            after: None,
                        })?;
                        self.announce(Announcement::ApprovalRequested {
                            approval_id: request.id.clone(),
                            incident_id: incident.id.clone(),
                        });
                    }
                    Err(error) => {
                        entry.error = Some(error.to_string());
                    }
                }
            }
            Verdict::Denied => {}
        }
        let done = (entry.id.clone(), entry.status, entry.decision.clone());
        book.actions.push(entry);
        self.save(&mut book).await?;
        Ok(done)
    }

    /// Runs an authorized action (or records it as a dry run without a cluster) and starts
    /// watching its incident.
    async fn run(
        &self,
        entry: &mut ActionEntry,
        auth: &Authorization,
        incident: &Incident,
        now: i64,
        event_ms: Option<i64>,
    ) -> Result<(), RemediationError> {
        entry.updated_at_ms = now;
        let Some(executor) = &self.executor else {
            entry.status = ActionStatus::DryRun;
            entry.execution = Some(ExecutionView {
                sent: false,
                dry_run: true,
                before: None,
                after: None,
                audit_seq: None,
                at_ms: now,
                event_ms,
            });
            return Ok(());
        };
        match executor.execute(auth.proposed(), Some(auth), now).await {
            Ok(done) => {
                entry.status = if done.dry_run {
                    ActionStatus::DryRun
                } else {
                    ActionStatus::Executed
                };
                if !done.dry_run
                    && let Some(start) = event_ms
                {
                    entry.verification = Some(Verification {
                        outcome: Outcome::Watching,
                        status_before: incident.status,
                        candidates_before: incident.candidate_count,
                        status_after: None,
                        candidates_after: None,
                        deadline_event_ms: start.saturating_add(self.verify_within_ms),
                        decided_event_ms: None,
                    });
                }
                entry.execution = Some(ExecutionView {
                    sent: true,
                    dry_run: done.dry_run,
                    before: Some(done.before),
                    after: Some(done.after),
                    audit_seq: Some(done.audit_seq),
                    at_ms: now,
                    event_ms,
                });
            }
            Err(cluster::ExecError::Audit { source }) => {
                return Err(RemediationError::Audit { source });
            }
            Err(error) => {
                entry.status = ActionStatus::Failed;
                entry.error = Some(model::error::chain(&error));
            }
        }
        Ok(())
    }

    /// Marks watched actions of a recovered incident as having worked.
    async fn follow_up(
        &self,
        change: &Change,
        tick_ms: Option<i64>,
    ) -> Result<(), RemediationError> {
        let incident = &change.incident;
        if incident.status != IncidentStatus::Resolved {
            return Ok(());
        }
        let mut book = self.book.lock().await;
        if let Some(run) = book.open_run(&incident.id) {
            run.ended = Some("incident resolved: no further rung".into());
        }
        // Nobody should approve a fix for an incident that is over.
        let now = now_ms();
        let waiting: Vec<(usize, String)> = book
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.incident_id == incident.id && a.status == ActionStatus::PendingApproval
            })
            .filter_map(|(i, a)| Some((i, a.approval_id.clone()?)))
            .collect();
        for (index, approval) in waiting {
            let note = "the incident resolved before anyone answered".to_owned();
            if book
                .approvals
                .withdraw(&approval, note.clone(), now)
                .is_err()
            {
                // Answered or expired meanwhile: that answer stands.
                continue;
            }
            let entry = &mut book.actions[index];
            entry.status = ActionStatus::Withdrawn;
            entry.updated_at_ms = now;
            let proposed = entry.proposed.clone();
            self.audit(AuditRecord {
                at_ms: now,
                who: "robot".into(),
                kind: AuditKind::Verified,
                incident_id: Some(incident.id.clone()),
                action: Some(proposed.clone()),
                why: "verification.resolved".into(),
                detail: format!("approval {approval} withdrawn: {note}"),
                evidence_ids: proposed.evidence_ids.clone(),
                before: None,
                after: None,
            })?;
            self.announce(Announcement::ApprovalAnswered {
                approval_id: approval,
                incident_id: incident.id.clone(),
            });
        }
        let mut records = Vec::new();
        for entry in book
            .actions
            .iter_mut()
            .filter(|a| a.incident_id == incident.id)
        {
            let Some(v) = entry.verification.as_mut() else {
                continue;
            };
            if v.outcome != Outcome::Watching {
                continue;
            }
            v.outcome = Outcome::Recovered;
            v.status_after = Some(incident.status);
            v.candidates_after = Some(incident.candidate_count);
            v.decided_event_ms = tick_ms.or(incident.resolved_at_ms);
            records.push((entry.proposed.clone(), v.clone(), entry.incident_type));
        }
        if records.is_empty() {
            return self.save(&mut book).await;
        }
        for (proposed, v, incident_type) in records {
            book.outcomes
                .entry(format!("{incident_type}/{}", proposed.action.name()))
                .or_default()
                .recovered += 1;
            self.audit(AuditRecord {
                at_ms: now_ms(),
                who: "robot".into(),
                kind: AuditKind::Verified,
                incident_id: Some(incident.id.clone()),
                action: Some(proposed.clone()),
                why: "verification.recovered".into(),
                detail: format!("incident resolved after {}", proposed.action),
                evidence_ids: proposed.evidence_ids.clone(),
                before: Some(json!({"status": v.status_before, "candidates": v.candidates_before})),
                after: Some(json!({"status": v.status_after, "candidates": v.candidates_after})),
            })?;
        }
        self.save(&mut book).await
    }

    /// Receives every announcement from now on (each subscriber gets all of them).
    pub fn announcements(&self) -> tokio::sync::mpsc::UnboundedReceiver<Announcement> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.announce.lock().push(tx);
        rx
    }

    /// Tells every subscriber; one that went away is dropped.
    fn announce(&self, announcement: Announcement) {
        self.announce
            .lock()
            .retain(|tx| tx.send(announcement.clone()).is_ok());
    }

    /// Escalates incidents of `source` still active past their verification deadline, at
    /// that source's event time `tick`.
    async fn escalate_overdue(
        &self,
        state: &App,
        source: &str,
        tick: i64,
    ) -> Result<(), RemediationError> {
        let overdue: Vec<(String, String)> = {
            let book = self.book.lock().await;
            book.actions
                .iter()
                .filter_map(|a| {
                    let v = a.verification.as_ref()?;
                    (v.outcome == Outcome::Watching && tick >= v.deadline_event_ms)
                        .then(|| (a.id.clone(), a.incident_id.clone()))
                })
                .collect()
        };
        for (action_id, incident_id) in overdue {
            let current = match state.pipeline.engine.ledger().incident(&incident_id).await {
                Ok(Some(current)) => current,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "cannot read incident for verification");
                    continue;
                }
            };
            if current.source != source || !current.status.is_active() {
                // Another source's clock, or recovering or resolved: the resolution decides.
                continue;
            }
            if current.status != IncidentStatus::Escalated
                && let Err(error) = state
                    .pipeline
                    .engine
                    .set_status(&incident_id, IncidentStatus::Escalated, tick)
                    .await
            {
                tracing::warn!(%error, incident = %incident_id, "cannot escalate");
            }
            tracing::warn!(incident = %incident_id, "action did not help: incident escalated");
            self.announce(Announcement::Escalated {
                incident_id: incident_id.clone(),
                text: format!(
                    "Escalated: incident {incident_id} ({} on {}) is still failing {} s after the \
                     robot's action; a person is needed.",
                    current.incident_type.as_str(),
                    current.target.name,
                    self.verify_within_ms / 1000
                ),
            });
            let mut book = self.book.lock().await;
            let Some(entry) = book.actions.iter_mut().find(|a| a.id == action_id) else {
                continue;
            };
            let Some(v) = entry.verification.as_mut() else {
                continue;
            };
            v.outcome = Outcome::Escalated;
            v.status_after = Some(IncidentStatus::Escalated);
            v.candidates_after = Some(current.candidate_count);
            v.decided_event_ms = Some(tick);
            let v = v.clone();
            let proposed = entry.proposed.clone();
            let key = format!("{}/{}", entry.incident_type, proposed.action.name());
            book.outcomes.entry(key).or_default().escalated += 1;
            self.audit(AuditRecord {
                at_ms: now_ms(),
                who: "robot".into(),
                kind: AuditKind::Verified,
                incident_id: Some(incident_id.clone()),
                action: Some(proposed.clone()),
                why: "verification.not_recovered".into(),
                detail: format!(
                    "signals not healthy {}s after {}: escalated",
                    self.verify_within_ms / 1000,
                    proposed.action
                ),
                evidence_ids: proposed.evidence_ids.clone(),
                before: Some(json!({"status": v.status_before, "candidates": v.candidates_before})),
                after: Some(json!({"status": v.status_after, "candidates": v.candidates_after})),
            })?;
            self.save(&mut book).await?;
        }
        Ok(())
    }

    /// Every action, newest last; unanswered approvals past expiry show as expired.
    pub async fn actions(&self) -> Vec<ActionEntry> {
        let book = self.book.lock().await;
        let now = now_ms();
        book.actions
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if a.status == ActionStatus::PendingApproval
                    && let Some(id) = &a.approval_id
                    && book.approvals.get(id).is_some_and(|r| {
                        effective(r.clone(), now).status == ApprovalStatus::Expired
                    })
                {
                    a.status = ActionStatus::Expired;
                }
                a
            })
            .collect()
    }

    /// Outcomes per `incident_type/action`.
    pub async fn outcomes(&self) -> BTreeMap<String, OutcomeCount> {
        self.book.lock().await.outcomes.clone()
    }

    /// Approval requests, optionally of one status.
    pub async fn approvals(&self, status: Option<ApprovalStatus>) -> Vec<ApprovalRequest> {
        let book = self.book.lock().await;
        let now = now_ms();
        book.approvals
            .list(status, now)
            .into_iter()
            .map(|r| effective(r.clone(), now))
            .collect()
    }

    /// A fresh token for a pending request, for the approver's role.
    pub async fn issue_token(
        &self,
        id: &str,
        approver: &ApproverIdentity,
    ) -> Result<IssuedToken, ApprovalError> {
        let book = self.book.lock().await;
        book.approvals
            .issue_token(id, &approver.role, &self.policy(), now_ms())
    }

    fn audit_refusal(
        &self,
        id: &str,
        approver: &ApproverIdentity,
        request: Option<&ApprovalRequest>,
        error: &ApprovalError,
        now: i64,
    ) -> Result<(), RemediationError> {
        let why = match error {
            ApprovalError::NotFound { .. } => "approval.not_found",
            ApprovalError::Expired { .. } => "approval.expired",
            ApprovalError::Reused { .. } => "approval.reused",
            ApprovalError::Tampered { .. } => "approval.tampered",
            ApprovalError::WrongPermission { .. } => "approval.permission",
            ApprovalError::AlreadyDecided { .. } => "approval.already_decided",
            ApprovalError::Refused { .. } => "approval.policy",
            _ => "approval.invalid",
        };
        self.audit(AuditRecord {
            at_ms: now,
            who: who(approver),
            kind: AuditKind::Refused,
            incident_id: request.map(|r| r.incident.id.clone()),
            action: request.map(|r| r.proposed.clone()),
            why: why.into(),
            detail: format!("approval {id}: {error}"),
            evidence_ids: Vec::new(),
            before: None,
            after: None,
        })
        .map(|_| ())
    }

    /// Approves (or, with `modified`, approves changed parameters of) a request: checks the
    /// token and the approver, decides again with live figures, then runs the action.
    pub async fn approve(
        &self,
        state: &App,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        modified: Option<Action>,
    ) -> Result<ActionEntry, AnswerError> {
        let storage = |source| AnswerError::Storage { source };
        let request = self.book.lock().await.approvals.get(id).cloned();
        let mut probe = request.as_ref().map(|r| r.proposed.clone());
        if let (Some(p), Some(a)) = (probe.as_mut(), &modified) {
            p.action = a.clone();
        }
        let live = match &probe {
            Some(p) => self.live(p).await,
            None => None,
        };
        // One policy for the answer and its retry hint, even if a reload lands meanwhile.
        let running = self.policy();
        let mut book = self.book.lock().await;
        let now = now_ms();
        let history = book.history();
        let result = match &modified {
            None => {
                book.approvals
                    .approve(id, token, approver, &running, &history, live.as_ref(), now)
            }
            Some(action) => book.approvals.modify(
                id,
                token,
                approver,
                action.clone(),
                &running,
                &history,
                live.as_ref(),
                now,
            ),
        };
        let auth = match result {
            Ok(auth) => auth,
            Err(error) => {
                self.audit_refusal(id, approver, request.as_ref(), &error, now)
                    .map_err(storage)?;
                self.save(&mut book).await.map_err(storage)?;
                let retry_after_ms = match (&error, &request, &probe) {
                    (ApprovalError::Refused { .. }, Some(r), Some(p)) => {
                        policy::decide(&r.incident, p, &running, &history, live.as_ref(), now)
                            .retry_after_ms
                    }
                    _ => None,
                };
                return Err(AnswerError::Refused {
                    source: error,
                    retry_after_ms,
                });
            }
        };
        let proposed = auth.proposed().clone();
        let decision = auth.decision().clone();
        self.audit(AuditRecord {
            at_ms: now,
            who: who(approver),
            kind: if modified.is_some() {
                AuditKind::Modified
            } else {
                AuditKind::Approved
            },
            incident_id: Some(proposed.incident_id.clone()),
            action: Some(proposed.clone()),
            why: decision.clause.clone(),
            detail: format!("approval {id}: {}: {}", decision.verdict, decision.reason),
            evidence_ids: proposed.evidence_ids.clone(),
            before: live.map(|l| json!(l)),
            after: None,
        })
        .map_err(storage)?;
        book.history.push(ActionRecord::of(&proposed, now));
        let incident = state
            .pipeline
            .engine
            .ledger()
            .incident(&proposed.incident_id)
            .await
            .ok()
            .flatten();
        let event_ms = incident
            .as_ref()
            .and_then(|i| state.pipeline.evaluated_through_of(&i.source));
        let mut entry = match book.entry_of_approval(id) {
            Some(entry) => entry.clone(),
            None => ActionEntry {
                id: random_id("act"),
                incident_id: proposed.incident_id.clone(),
                incident_type: request
                    .as_ref()
                    .map_or(IncidentType::MetricAnomaly, |r| r.incident.incident_type),
                proposed: proposed.clone(),
                decision: decision.clone(),
                status: ActionStatus::PendingApproval,
                approval_id: Some(id.to_owned()),
                answered_by: None,
                proposed_at_ms: now,
                updated_at_ms: now,
                execution: None,
                error: None,
                verification: None,
            },
        };
        entry.proposed = proposed;
        entry.decision = decision;
        entry.answered_by = Some(approver.clone());
        match &incident {
            Some(incident) => self
                .run(&mut entry, &auth, incident, now, event_ms)
                .await
                .map_err(storage)?,
            None => {
                entry.status = ActionStatus::Failed;
                entry.error = Some(format!("incident {} is gone", entry.incident_id));
            }
        }
        match book.entry_of_approval(id) {
            Some(slot) => *slot = entry.clone(),
            None => book.actions.push(entry.clone()),
        }
        self.save(&mut book).await.map_err(storage)?;
        self.announce(Announcement::ApprovalAnswered {
            approval_id: id.to_owned(),
            incident_id: entry.incident_id.clone(),
        });
        self.announce(Announcement::ActionDone {
            action_id: entry.id.clone(),
            incident_id: entry.incident_id.clone(),
        });
        Ok(entry)
    }

    /// Rejects a request with a reason.
    pub async fn reject(
        &self,
        id: &str,
        token: &str,
        approver: &ApproverIdentity,
        reason: &str,
    ) -> Result<ActionEntry, AnswerError> {
        let storage = |source| AnswerError::Storage { source };
        let mut book = self.book.lock().await;
        let now = now_ms();
        let request = book.approvals.get(id).cloned();
        if let Err(error) = book
            .approvals
            .reject(id, token, approver, reason, &self.policy(), now)
        {
            self.audit_refusal(id, approver, request.as_ref(), &error, now)
                .map_err(storage)?;
            return Err(AnswerError::Refused {
                source: error,
                retry_after_ms: None,
            });
        }
        self.audit(AuditRecord {
            at_ms: now,
            who: who(approver),
            kind: AuditKind::Rejected,
            incident_id: request.as_ref().map(|r| r.incident.id.clone()),
            action: request.as_ref().map(|r| r.proposed.clone()),
            why: "approval.rejected".into(),
            detail: format!("approval {id}: {reason}"),
            evidence_ids: Vec::new(),
            before: None,
            after: None,
        })
        .map_err(storage)?;
        let entry = book.entry_of_approval(id).map(|entry| {
            entry.status = ActionStatus::Rejected;
            entry.answered_by = Some(approver.clone());
            entry.updated_at_ms = now;
            entry.error = Some(reason.to_owned());
            entry.clone()
        });
        self.save(&mut book).await.map_err(storage)?;
        if let Some(entry) = &entry {
            self.announce(Announcement::ApprovalAnswered {
                approval_id: id.to_owned(),
                incident_id: entry.incident_id.clone(),
            });
        }
        entry.ok_or_else(|| AnswerError::Refused {
            source: ApprovalError::NotFound { id: id.to_owned() },
            retry_after_ms: None,
        })
    }

    pub async fn pause_state(&self) -> PauseState {
        self.book.lock().await.pause.clone()
    }

    /// Pauses or resumes every automatic action; persisted and audited.
    pub async fn set_paused(
        &self,
        paused: bool,
        by: &str,
        reason: Option<String>,
    ) -> Result<PauseState, RemediationError> {
        let mut book = self.book.lock().await;
        let now = now_ms();
        let next = PauseState {
            paused,
            changed_by: Some(by.to_owned()),
            changed_at_ms: Some(now),
            reason: reason.clone(),
        };
        policy::save_pause(&self.data_dir, &next)
            .map_err(|source| RemediationError::Pause { source })?;
        self.audit(AuditRecord {
            at_ms: now,
            who: by.to_owned(),
            kind: if paused {
                AuditKind::Paused
            } else {
                AuditKind::Resumed
            },
            incident_id: None,
            action: None,
            why: if paused {
                "robot.pause"
            } else {
                "robot.resume"
            }
            .into(),
            detail: reason.unwrap_or_default(),
            evidence_ids: Vec::new(),
            before: Some(json!({"paused": book.pause.paused})),
            after: Some(json!({"paused": paused})),
        })?;
        book.pause = next.clone();
        Ok(next)
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    approvals: &'a ApprovalState,
    actions: &'a [ActionEntry],
    history: &'a [ActionRecord],
    proposed: &'a BTreeMap<String, u32>,
    proposed_origins: &'a BTreeMap<String, BTreeSet<Origin>>,
    outcomes: &'a BTreeMap<String, OutcomeCount>,
    ladders: &'a [LadderRun],
}

/// The book from the ledger; on first start after the move, from `remediation.json` in the
/// data dir, which is then written to the ledger and renamed `remediation.json.migrated`.
async fn load_saved(ledger: &incident::Ledger, data_dir: &Path) -> Result<Saved, RemediationError> {
    if let Some(body) = ledger
        .document(BOOK_DOCUMENT)
        .await
        .map_err(|source| RemediationError::Ledger { source })?
    {
        return serde_json::from_str(&body)
            .map_err(|source| RemediationError::BookMalformed { source });
    }
    let path = data_dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(source) => return Err(RemediationError::State { path, source }),
    };
    let saved: Saved =
        serde_json::from_slice(&bytes).map_err(|source| RemediationError::StateMalformed {
            path: path.clone(),
            source,
        })?;
    let body = String::from_utf8_lossy(&bytes);
    ledger
        .save_document(BOOK_DOCUMENT, &body, now_ms())
        .await
        .map_err(|source| RemediationError::Ledger { source })?;
    let moved = path.with_extension("json.migrated");
    std::fs::rename(&path, &moved).map_err(|source| RemediationError::State { path, source })?;
    tracing::info!(file = %moved.display(), "remediation book moved into the ledger");
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Domain, Severity};

    fn incident(kind: Scope, name: &str, incident_type: IncidentType) -> Incident {
        Incident {
            id: "inc-1".into(),
            signature: "sig".into(),
            incident_type,
            domain: Domain::ApplicationServices,
            severity: Severity::Critical,
            status: IncidentStatus::Observed,
            target: incident::Target {
                kind,
                namespace: (kind != Scope::Node).then(|| "shop".to_owned()),
                name: name.into(),
            },
            opened_at_ms: 0,
            updated_at_ms: 0,
            resolved_at_ms: None,
            summary: String::new(),
            candidate_count: 1,
            reopen_count: 0,
            flapping: false,
            merged_into: None,
            origins: Default::default(),
            source: model::DEFAULT_SOURCE.to_owned(),
            assignee: None,
            acknowledged_by: None,
            acknowledged_at_ms: None,
        }
    }

    #[test]
    fn a_crash_looping_pod_gets_a_restart_of_its_deployment() {
        let inc = incident(Scope::Pod, "cart-7d4b9c6f5-x2x9q", IncidentType::CrashLoop);
        let p = proposals(&inc, None, &OwnerIndex::default());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].action, Action::RestartDeployment);
        assert_eq!(p[0].target.path(), "deployment/shop/cart");
        assert_eq!(p[0].proposed_by, "rule:crash_loop");
        assert!(p[0].target_fits());
    }

    #[test]
    fn the_restart_target_is_the_pods_own_deployment() {
        let none = OwnerIndex::default();
        let inc = incident(
            Scope::Pod,
            "auth-api-proxy-6c9f7d8b5-x2x1k",
            IncidentType::CrashLoop,
        );
        let p = proposals(&inc, None, &none);
        assert_eq!(p[0].target.path(), "deployment/shop/auth-api-proxy");
        // A pod whose name is not a Deployment's (a bare pod, a StatefulSet's) restarts nothing.
        for pod in ["auth-api-proxy", "redis-0"] {
            let inc = incident(Scope::Pod, pod, IncidentType::CrashLoop);
            assert!(proposals(&inc, None, &none).is_empty(), "{pod}");
        }
        // The cluster's own owner records win over the name.
        let mut owners = OwnerIndex::default();
        let labels = |pairs: &[(&str, &str)]| {
            model::LabelSet::from_pairs(pairs.iter().map(|(k, v)| (*k, *v))).expect("labels")
        };
        owners.observe(&labels(&[
            ("__name__", model::POD_OWNER_METRIC),
            ("namespace", "shop"),
            ("pod", "auth-api-proxy-6c9f7d8b5-x2x1k"),
            ("owner_kind", "ReplicaSet"),
            ("owner_name", "auth-6c9f7d8b5"),
        ]));
        owners.observe(&labels(&[
            ("__name__", model::REPLICASET_OWNER_METRIC),
            ("namespace", "shop"),
            ("replicaset", "auth-6c9f7d8b5"),
            ("owner_kind", "Deployment"),
            ("owner_name", "auth"),
        ]));
        let inc = incident(
            Scope::Pod,
            "auth-api-proxy-6c9f7d8b5-x2x1k",
            IncidentType::CrashLoop,
        );
        assert_eq!(
            proposals(&inc, None, &owners)[0].target.path(),
            "deployment/shop/auth"
        );
    }

    #[test]
    fn node_incidents_get_a_cordon_and_others_nothing() {
        let inc = incident(Scope::Node, "node-b", IncidentType::NodeNotReady);
        let p = proposals(&inc, None, &OwnerIndex::default());
        assert_eq!(p[0].action, Action::CordonNode);
        assert_eq!(p[0].target.path(), "node/node-b");
        let inc = incident(Scope::Service, "db", IncidentType::DependencyUnavailable);
        assert!(proposals(&inc, None, &OwnerIndex::default()).is_empty());
    }
}
