//! The deterministic control plane: which typed action may run, when, and who said so.
//! No model output reaches the executor without a policy decision record.
//!
//! A [`Policy`] is read from a validated TOML file ([`check_file`]); [`decide()`] is a pure
//! function of the incident, the proposed action, the policy, the history and the time. An
//! automatic decision, or an approval answered with a valid token ([`Approvals`]), yields an
//! [`Authorization`]; the cluster crate's executor runs nothing without one and writes every
//! execution and refusal to the hash-chained [`AuditLog`]. [`simulate()`] replays incidents through a policy.

pub mod approval;
pub mod audit;
pub mod decide;
pub mod file;
pub mod playbook;
pub mod simulate;
pub mod state;

pub use approval::{
    ApprovalError, ApprovalKey, ApprovalRecord, ApprovalRequest, ApprovalState, ApprovalStatus,
    Approvals, ApproverIdentity, Authorization, IssuedToken, NotAuthorized,
};
pub use audit::{AuditEntry, AuditError, AuditKey, AuditKind, AuditLog, AuditRecord, verify};
pub use decide::{
    ActionRecord, BlastRadius, Decision, History, IncidentView, LiveObject, Verdict, action_digest,
    blast_radius, decide,
};
pub use file::{
    Approver, Autonomy, BlastRadiusLimits, Cooldowns, DEFAULT_RATE_LIMIT, Environment, IssueKind,
    Mode, Policy, PolicyErrors, PolicyIssue, PolicyRead, RateLimit, Window, WindowKind, WindowTime,
    check_file, read_file,
};
pub use playbook::{Ladder, Playbooks, Step, StepAction, StepMode, StepTarget};
pub use simulate::{SimCase, SimOptions, SimProposal, SimRow, SimulationReport, simulate};
pub use state::{PauseState, StateError, load_pause, save_pause};
