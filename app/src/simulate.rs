//! What-if over the ledger: the incidents it holds, with the actions remediation would
//! propose for them, replayed through a policy (`srebot policy simulate`, the workspace's
//! simulate console). Live figures come from the decisions the audit log recorded.
//!
//! Nothing here changes state: the ledger is read, the policy is a value.

use crate::remediation::{incident_view, proposals};
use crate::service::{App, AppError};
use crate::{Caller, Operation, authorize};
use incident::{IncidentFilter, Ledger};
use policy::{AuditKind, LiveObject, Policy, SimCase, SimOptions, SimProposal, SimulationReport};
use std::collections::HashMap;
use std::path::Path;

/// Most incidents replayed.
pub const MAX_INCIDENTS: u32 = 100_000;

/// Largest policy text the console takes.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// Live objects the audit log recorded at decision time, by incident, action and target.
pub fn recorded_live(data_dir: &Path) -> HashMap<(String, String, String), LiveObject> {
    let path = data_dir.join(policy::audit::AUDIT_FILE);
    let Ok(entries) = policy::audit::read_entries(&path) else {
        return HashMap::new();
    };
    entries
        .into_iter()
        .filter(|e| e.record.kind == AuditKind::Decision)
        .filter_map(|e| {
            let action = e.record.action?;
            let live: LiveObject = serde_json::from_value(e.record.before?).ok()?;
            Some((
                (
                    action.incident_id,
                    action.action.name().to_owned(),
                    action.target.path(),
                ),
                live,
            ))
        })
        .collect()
}

/// The ledger's incidents as simulation cases: each with the actions remediation would
/// propose, and the live figures recorded for them (or `replicas` for Deployments).
pub async fn cases(
    ledger: &Ledger,
    data_dir: &Path,
    replicas: Option<u32>,
) -> Result<Vec<SimCase>, incident::Error> {
    let incidents = ledger
        .incidents(&IncidentFilter::default(), MAX_INCIDENTS)
        .await?;
    let live = recorded_live(data_dir);
    let mut cases = Vec::with_capacity(incidents.len());
    for incident in &incidents {
        let draft = crate::live_rca::draft(ledger, None, &incident.id)
            .await
            .ok();
        let proposals = proposals(incident, draft.as_ref(), &model::OwnerIndex::default())
            .into_iter()
            .map(|proposed| {
                let key = (
                    proposed.incident_id.clone(),
                    proposed.action.name().to_owned(),
                    proposed.target.path(),
                );
                let live = live.get(&key).copied().or_else(|| {
                    (proposed.target.kind == model::TargetKind::Deployment)
                        .then_some(replicas)
                        .flatten()
                        .map(|replicas| LiveObject {
                            replicas: Some(replicas),
                            ..LiveObject::default()
                        })
                });
                SimProposal { proposed, live }
            })
            .collect();
        cases.push(SimCase {
            incident: incident_view(incident),
            at_ms: incident.opened_at_ms,
            proposals,
        });
    }
    Ok(cases)
}

impl App {
    /// Runs `policy_text` (a policy file's contents; the running policy when `None`) over
    /// the ledger's incidents. An invalid policy is refused with `FILE:LINE: reason` lines.
    pub async fn simulate_policy(
        &self,
        caller: &Caller,
        policy_text: Option<&str>,
        options: SimOptions,
    ) -> Result<SimulationReport, AppError> {
        authorize(caller, Operation::SimulatePolicy)?;
        let policy: std::sync::Arc<Policy> = match policy_text {
            Some(text) => {
                if text.len() > MAX_POLICY_BYTES {
                    return Err(AppError::Invalid {
                        reason: format!(
                            "the policy is {} bytes, over the limit of {MAX_POLICY_BYTES}",
                            text.len()
                        ),
                    });
                }
                std::sync::Arc::new(Policy::from_toml_str(text, "pasted policy").map_err(
                    |errors| AppError::Invalid {
                        reason: errors.to_string(),
                    },
                )?)
            }
            None => self
                .remediation
                .as_ref()
                .map(|r| r.policy())
                .ok_or(AppError::RemediationOff)?,
        };
        let cases = cases(self.ledger_ref(), &self.config.server.data_dir, None)
            .await
            .map_err(|source| AppError::Ledger { source })?;
        Ok(policy::simulate(&policy, &cases, options))
    }
}
