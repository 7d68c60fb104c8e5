//! The decision: a pure, deterministic function of incident, proposed action, policy, history,
//! live object and time that answers auto / needs approval / denied and names the deciding clause.
//!
//! Invariants, whatever the policy says: a human-only action is never automatic; while the robot
//! is paused nothing but read-only actions is automatic; cooldowns and rate limits count every
//! dispatched action in the history, so no interleaving of proposals can exceed them.

use crate::file::{Autonomy, Environment, Mode, Policy, WindowKind};
use model::{
    Action, ActionFamily, IncidentType, ObjectRef, Origin, ProposedAction, RiskClass, Severity,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// What the policy needs to know about the incident an action is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: String,
    pub incident_type: IncidentType,
    pub severity: Severity,
    /// Namespace the incident is scoped to, if any.
    #[serde(default)]
    pub namespace: Option<String>,
    /// What the incident is about (service, pod, node), if known.
    #[serde(default)]
    pub target: Option<String>,
    /// What produced the candidates behind the incident; empty when unknown, which
    /// `unless_only` treats as backed only by the origins it lists.
    #[serde(default)]
    pub origins: BTreeSet<Origin>,
}

/// The live state of the target, read just before deciding, for the blast radius.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveObject {
    /// Current replica count of a Deployment.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Pods the action would touch (e.g. pods in the phase to delete).
    #[serde(default)]
    pub pods: Option<u32>,
    /// Nodes in the cluster.
    #[serde(default)]
    pub nodes_total: Option<u32>,
    /// Nodes already unschedulable.
    #[serde(default)]
    pub nodes_unschedulable: Option<u32>,
}

/// How much an action touches, computed from the live object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BlastRadius {
    pub pods_affected: u32,
    pub replicas_changed: u32,
    /// Share of nodes unschedulable after the action.
    pub node_share: f64,
}

/// Blast radius of an action on a live object; `None` when the live figures it needs are
/// missing. Actions on one object only (suspend, job, config) have a radius of zero pods.
pub fn blast_radius(action: &Action, live: Option<&LiveObject>) -> Option<BlastRadius> {
    let none = BlastRadius::default();
    match action {
        Action::ScaleDeployment { replicas } => {
            let current = live?.replicas?;
            Some(BlastRadius {
                pods_affected: current.abs_diff(*replicas),
                replicas_changed: current.abs_diff(*replicas),
                node_share: 0.0,
            })
        }
        Action::ScaleStatefulSet { replicas } => {
            let current = live?.replicas?;
            Some(BlastRadius {
                pods_affected: current.abs_diff(*replicas),
                replicas_changed: current.abs_diff(*replicas),
                node_share: 0.0,
            })
        }
        // Every pod of the workload is replaced (a DaemonSet's live figure is the pods it
        // should run, one per node).
        Action::RestartDeployment
        | Action::RestartStatefulSet
        | Action::RestartDaemonSet
        | Action::RollbackDeployment { .. } => Some(BlastRadius {
            pods_affected: live?.replicas?,
            ..none
        }),
        Action::DeletePods { .. } | Action::DeleteNodePods { .. } => Some(BlastRadius {
            pods_affected: live?.pods?,
            ..none
        }),
        Action::CordonNode | Action::DrainNode => {
            let live = live?;
            let total = live.nodes_total?;
            if total == 0 {
                return None;
            }
            let after = live.nodes_unschedulable.unwrap_or(0).saturating_add(1);
            Some(BlastRadius {
                pods_affected: live.pods.unwrap_or(0),
                replicas_changed: 0,
                node_share: f64::from(after.min(total)) / f64::from(total),
            })
        }
        // A reconcile may upgrade every workload the chart renders: the live figure is the
        // pods running in the release's namespace (see `executor::release_live`); 1 when the
        // release was read but its pods were not. Unread release: unknown, a person judges.
        Action::ReconcileRelease | Action::SyncApplication => Some(BlastRadius {
            pods_affected: live?.pods.unwrap_or(1),
            ..none
        }),
        _ => Some(none),
    }
}

/// One dispatched action (run automatically, or approved), as cooldowns and rate limits see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub at_ms: i64,
    pub incident_id: String,
    pub action: String,
    pub family: ActionFamily,
    pub target: ObjectRef,
}

impl ActionRecord {
    pub fn of(proposed: &ProposedAction, at_ms: i64) -> Self {
        ActionRecord {
            at_ms,
            incident_id: proposed.incident_id.clone(),
            action: proposed.action.name().to_owned(),
            family: proposed.action.family(),
            target: proposed.target.clone(),
        }
    }
}

/// What has happened before: dispatched actions and whether the robot is paused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub paused: bool,
    pub records: Vec<ActionRecord>,
}

impl History {
    /// Records a dispatched action.
    pub fn record(&mut self, proposed: &ProposedAction, at_ms: i64) {
        self.records.push(ActionRecord::of(proposed, at_ms));
    }
}

/// The three answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Auto,
    NeedsApproval,
    Denied,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Auto => "auto",
            Verdict::NeedsApproval => "needs_approval",
            Verdict::Denied => "denied",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision record: verdict, the clause that decided it and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// The rule that decided, e.g. `risk.human_only`, `cooldown.per_target`,
    /// `actions.restart_deployment`, `robot.paused`.
    pub clause: String,
    pub reason: String,
    pub risk: RiskClass,
    /// The action is to run with server-side dry-run.
    pub dry_run: bool,
    /// The blast radius when it could be computed.
    pub blast_radius: Option<BlastRadius>,
    /// For cooldown and rate-limit denials: milliseconds until a retry could pass.
    pub retry_after_ms: Option<i64>,
    pub decided_at_ms: i64,
    /// [`action_digest`] of the proposal decided on: a decision is valid for that action only.
    pub action_digest: String,
}

/// SHA-256 (hex) over the canonical JSON of what a decision binds: incident, action with its
/// parameters, and target. Evidence ids and the proposer do not change it.
pub fn action_digest(proposed: &ProposedAction) -> String {
    use sha2::{Digest, Sha256};
    let bound = serde_json::json!({
        "incident_id": proposed.incident_id,
        "action": proposed.action,
        "target": proposed.target,
    });
    // serde_json maps are ordered by key, so this text is canonical.
    let text = bound.to_string();
    hex::encode(Sha256::digest(text.as_bytes()))
}

struct Draft {
    digest: String,
    risk: RiskClass,
    dry_run: bool,
    blast: Option<BlastRadius>,
    now_ms: i64,
}

impl Draft {
    fn finish(&self, verdict: Verdict, clause: impl Into<String>, reason: String) -> Decision {
        Decision {
            verdict,
            clause: clause.into(),
            reason,
            risk: self.risk,
            dry_run: self.dry_run,
            blast_radius: self.blast,
            retry_after_ms: None,
            decided_at_ms: self.now_ms,
            action_digest: self.digest.clone(),
        }
    }
}

/// Milliseconds for a number of seconds, saturating.
fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn clause_action_name(name: &str) -> String {
    format!("actions.{name}")
}

/// Decides whether a proposed action runs automatically, asks, or is refused.
pub fn decide(
    incident: &IncidentView,
    proposed: &ProposedAction,
    policy: &Policy,
    history: &History,
    live: Option<&LiveObject>,
    now_ms: i64,
) -> Decision {
    let action = &proposed.action;
    let name = action.name();
    let risk = action.risk();
    let blast = blast_radius(action, live);
    let d = Draft {
        digest: action_digest(proposed),
        risk,
        dry_run: policy.dry_run,
        blast,
        now_ms,
    };
    let target = &proposed.target;

    // 1. Human-only actions are done by hand, never by the robot.
    if risk == RiskClass::HumanOnly {
        return d.finish(
            Verdict::Denied,
            "risk.human_only",
            format!("{action} is human only: follow the runbook by hand"),
        );
    }
    // 2. The target must be what the action acts on.
    if !proposed.target_fits() {
        return d.finish(
            Verdict::Denied,
            "catalogue.target",
            format!(
                "{name} acts on a {}, not on {}",
                action.target_kind(),
                target.path()
            ),
        );
    }
    if proposed.incident_id != incident.id {
        return d.finish(
            Verdict::Denied,
            "catalogue.incident",
            format!(
                "the proposal is for incident {}, not {}",
                proposed.incident_id, incident.id
            ),
        );
    }
    // 3. The action must be allowed at all.
    let mut mode = policy.mode(name);
    // An `auto` tier withheld by provenance is decided as `approval`.
    let withheld = if mode == Mode::Auto {
        policy.withheld_by(name, &incident.origins)
    } else {
        None
    };
    if withheld.is_some() {
        mode = Mode::Approval;
    }
    // So is one whose proposal is less sure than the tier's `min_confidence`.
    let proposal_confidence = proposed.confidence.map(model::Confidence::value);
    let unsure = if mode == Mode::Auto {
        policy.short_of_confidence(name, proposal_confidence)
    } else {
        None
    };
    if unsure.is_some() {
        mode = Mode::Approval;
    }
    if mode == Mode::Deny {
        return d.finish(
            Verdict::Denied,
            format!("actions.{name}"),
            format!("{name} is not allowed by the policy"),
        );
    }
    let read_only = risk == RiskClass::ReadOnly;
    if !read_only {
        // 4. Allowlists.
        if let Some(ns) = target.effective_namespace()
            && !policy.namespace_allowed(ns)
        {
            return d.finish(
                Verdict::Denied,
                "allow.namespaces",
                format!("namespace {ns} is not in the allowlist"),
            );
        }
        if !policy.resource_allowed(&target.path()) {
            return d.finish(
                Verdict::Denied,
                "allow.resources",
                format!("{} is not in the resource allowlist", target.path()),
            );
        }
        // 5. Suppression windows.
        let scope_ns = target
            .effective_namespace()
            .or(incident.namespace.as_deref());
        if let Some(w) = policy.windows.iter().find(|w| {
            w.kind == WindowKind::Suppression
                && w.active_at(now_ms)
                && w.covers(scope_ns, incident.incident_type)
        }) {
            return d.finish(
                Verdict::Denied,
                format!("windows.{}", w.name),
                format!("suppression window {} is active", w.name),
            );
        }
        // 6. Blast radius.
        if let Some(b) = blast {
            let limits = &policy.blast_radius;
            if b.replicas_changed > limits.max_replicas_changed {
                return d.finish(
                    Verdict::Denied,
                    "blast_radius.max_replicas_changed",
                    format!(
                        "changes {} replicas, over the limit of {}",
                        b.replicas_changed, limits.max_replicas_changed
                    ),
                );
            }
            if b.pods_affected > limits.max_pods_affected {
                return d.finish(
                    Verdict::Denied,
                    "blast_radius.max_pods_affected",
                    format!(
                        "touches {} pods, over the limit of {}",
                        b.pods_affected, limits.max_pods_affected
                    ),
                );
            }
            if b.node_share > limits.max_node_share {
                return d.finish(
                    Verdict::Denied,
                    "blast_radius.max_node_share",
                    format!(
                        "would leave {:.0}% of nodes unschedulable, over the limit of {:.0}%",
                        b.node_share * 100.0,
                        limits.max_node_share * 100.0
                    ),
                );
            }
        }
        // 7. Cooldowns.
        let cd = &policy.cooldowns;
        let incident_ms = secs_ms(cd.per_incident_secs);
        let target_ms = secs_ms(cd.per_target_secs);
        let recent = |r: &&crate::decide::ActionRecord, window_ms: i64| {
            now_ms.saturating_sub(r.at_ms) < window_ms
        };
        let mut denial: Option<(&'static str, i64, String)> = None;
        for r in history
            .records
            .iter()
            .filter(|r| r.family != ActionFamily::Inform)
        {
            if r.incident_id == proposed.incident_id && recent(&r, incident_ms) {
                let wait = r.at_ms.saturating_add(incident_ms).saturating_sub(now_ms);
                if denial.as_ref().is_none_or(|(_, w, _)| wait > *w) {
                    denial = Some((
                        "cooldown.per_incident",
                        wait,
                        format!(
                            "incident {} had {} {}s ago; cooldown is {}s",
                            r.incident_id,
                            r.action,
                            now_ms.saturating_sub(r.at_ms) / 1000,
                            cd.per_incident_secs
                        ),
                    ));
                }
            }
        }
        if denial.is_none() {
            for r in history
                .records
                .iter()
                .filter(|r| r.family != ActionFamily::Inform)
            {
                if r.target == *target && recent(&r, target_ms) {
                    let wait = r.at_ms.saturating_add(target_ms).saturating_sub(now_ms);
                    if denial.as_ref().is_none_or(|(_, w, _)| wait > *w) {
                        denial = Some((
                            "cooldown.per_target",
                            wait,
                            format!(
                                "{} had {} {}s ago; cooldown is {}s",
                                target.path(),
                                r.action,
                                now_ms.saturating_sub(r.at_ms) / 1000,
                                cd.per_target_secs
                            ),
                        ));
                    }
                }
            }
        }
        if let Some((clause, wait, reason)) = denial {
            let mut decision = d.finish(Verdict::Denied, clause, reason);
            decision.retry_after_ms = Some(wait.max(1));
            return decision;
        }
        // 8. Rate limit of the family.
        let family = action.family();
        let limit = policy.rate_limit(family);
        let per_ms = secs_ms(limit.per_secs);
        let mut in_window: Vec<i64> = history
            .records
            .iter()
            .filter(|r| r.family == family && now_ms.saturating_sub(r.at_ms) < per_ms)
            .map(|r| r.at_ms)
            .collect();
        if in_window.len() >= limit.max as usize {
            in_window.sort_unstable();
            // The oldest records must leave the window before one more fits.
            let leave = in_window.len() + 1 - limit.max as usize;
            let wait = in_window
                .get(leave - 1)
                .map_or(per_ms, |t| t.saturating_add(per_ms).saturating_sub(now_ms));
            let mut decision = d.finish(
                Verdict::Denied,
                format!("rate_limits.{family}"),
                format!(
                    "{} {family} actions in the last {}s; the limit is {}",
                    in_window.len(),
                    limit.per_secs,
                    limit.max
                ),
            );
            decision.retry_after_ms = Some(wait.max(1));
            return decision;
        }
    }

    // 9. The base answer from risk class, mode, autonomy and environment.
    let clause_action = format!("actions.{name}");
    let mut verdict;
    let mut clause;
    let mut reason;
    match risk {
        RiskClass::ReadOnly => {
            verdict = if mode == Mode::Auto {
                Verdict::Auto
            } else {
                Verdict::NeedsApproval
            };
            clause = clause_action;
            reason = format!("{name} is read-only; policy mode {mode:?}");
        }
        RiskClass::Auto => {
            if mode != Mode::Auto {
                verdict = Verdict::NeedsApproval;
                clause = clause_action;
                reason = format!("policy asks for approval of {name}");
            } else if policy.autonomy == Autonomy::Observe {
                verdict = Verdict::NeedsApproval;
                clause = "autonomy".to_owned();
                reason = "autonomy is observe: only read-only actions run on their own".into();
            } else {
                verdict = Verdict::Auto;
                clause = clause_action;
                reason = format!("{name} is auto-eligible and allowed automatically");
            }
        }
        RiskClass::Approval => {
            let env_allows = match policy.environment {
                Environment::Demo => true,
                Environment::Staging => !action.disruptive(),
                Environment::Prod => false,
            };
            if mode != Mode::Auto {
                verdict = Verdict::NeedsApproval;
                clause = clause_action;
                reason = format!("{name} needs approval");
            } else if !env_allows {
                verdict = Verdict::NeedsApproval;
                clause = format!("environment.{}", policy.environment.as_str());
                reason = format!(
                    "{name} always needs approval in {}",
                    policy.environment.as_str()
                );
            } else if policy.autonomy != Autonomy::Extended {
                verdict = Verdict::NeedsApproval;
                clause = "autonomy".to_owned();
                reason = format!("{name} needs autonomy extended to run on its own");
            } else {
                verdict = Verdict::Auto;
                clause = clause_action;
                reason = format!(
                    "{name} allowed automatically in {}",
                    policy.environment.as_str()
                );
            }
        }
        RiskClass::HumanOnly => {
            return d.finish(
                Verdict::Denied,
                "risk.human_only",
                format!("{action} is human only"),
            );
        }
    }

    if let Some(least) = unsure
        && verdict == Verdict::NeedsApproval
        && clause == clause_action_name(name)
    {
        clause = format!("actions.{name}.min_confidence");
        reason = format!(
            "{name} runs on its own only when its proposal is at least {least:.2} sure; this \
             one is {}: asking instead",
            proposal_confidence.map_or("of unknown confidence".to_owned(), |c| format!("{c:.2}"))
        );
    }
    if let Some(only) = withheld
        && verdict == Verdict::NeedsApproval
        && clause == clause_action_name(name)
    {
        let names = |set: &BTreeSet<Origin>| {
            set.iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        clause = format!("actions.{name}.unless_only");
        let backed = if incident.origins.is_empty() {
            "no recorded origin".to_owned()
        } else {
            format!("only {}", names(&incident.origins))
        };
        reason = format!(
            "{name} runs on its own unless only {} back the incident; {} is backed by {backed}: \
             asking instead",
            names(only),
            incident.id
        );
    }

    if verdict == Verdict::Auto && !read_only {
        // 10. Maintenance windows: people are at work, so ask.
        let scope_ns = target
            .effective_namespace()
            .or(incident.namespace.as_deref());
        if let Some(w) = policy.windows.iter().find(|w| {
            w.kind == WindowKind::Maintenance
                && w.active_at(now_ms)
                && w.covers(scope_ns, incident.incident_type)
        }) {
            verdict = Verdict::NeedsApproval;
            clause = format!("windows.{}", w.name);
            reason = format!("maintenance window {} is active: asking instead", w.name);
        } else if blast.is_none() {
            // 11. Without live figures the radius is unknown: a person judges it.
            verdict = Verdict::NeedsApproval;
            clause = "blast_radius.unknown".to_owned();
            reason = "the live object is unknown, so the blast radius cannot be checked".into();
        } else if history.paused {
            // 12. Paused: nothing changes the cluster on its own.
            verdict = Verdict::NeedsApproval;
            clause = "robot.paused".to_owned();
            reason = "the robot is paused: automatic actions wait for approval".into();
        }
    }
    d.finish(verdict, clause, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{PodPhase, TargetKind};

    #[test]
    fn blast_radius_from_live_objects() {
        let live = LiveObject {
            replicas: Some(5),
            pods: Some(7),
            nodes_total: Some(10),
            nodes_unschedulable: Some(1),
        };
        let scale = blast_radius(&Action::ScaleDeployment { replicas: 2 }, Some(&live)).unwrap();
        assert_eq!(scale.replicas_changed, 3);
        let restart = blast_radius(&Action::RestartDeployment, Some(&live)).unwrap();
        assert_eq!(restart.pods_affected, 5);
        let delete = blast_radius(
            &Action::DeletePods {
                phase: PodPhase::Failed,
            },
            Some(&live),
        )
        .unwrap();
        assert_eq!(delete.pods_affected, 7);
        let drain = blast_radius(&Action::DrainNode, Some(&live)).unwrap();
        assert!((drain.node_share - 0.2).abs() < 1e-9);
        assert!(blast_radius(&Action::RestartDeployment, None).is_none());
        assert_eq!(
            blast_radius(&Action::SuspendCronJob, None),
            Some(BlastRadius::default())
        );
        let release = blast_radius(&Action::ReconcileRelease, Some(&live)).unwrap();
        assert_eq!(release.pods_affected, 7);
        let unread_pods = LiveObject::default();
        let release = blast_radius(&Action::ReconcileRelease, Some(&unread_pods)).unwrap();
        assert_eq!(release.pods_affected, 1);
        assert!(blast_radius(&Action::ReconcileRelease, None).is_none());
        let _ = TargetKind::Deployment;
    }
}
