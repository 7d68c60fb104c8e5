//! Policy simulation: replays recorded incidents and their proposed actions through
//! [`decide()`] and reports what would have run automatically, asked, or been denied.
//!
//! Cases are replayed in time order with one shared history, so cooldowns and rate limits act
//! as they would have live: automatic actions are recorded, asked ones only if the options say
//! approvers would have said yes. The robot is never paused in a simulation.

use crate::decide::{History, IncidentView, LiveObject, Verdict, decide};
use crate::file::Policy;
use model::ProposedAction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One proposal with the live object it would have met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimProposal {
    pub proposed: ProposedAction,
    #[serde(default)]
    pub live: Option<LiveObject>,
}

/// One recorded incident: when its actions were proposed and what they were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCase {
    pub incident: IncidentView,
    pub at_ms: i64,
    pub proposals: Vec<SimProposal>,
}

/// How to replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOptions {
    /// Count asked actions as approved (so they start cooldowns and use rate limits).
    pub assume_approved: bool,
}

/// One decided proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimRow {
    pub incident_id: String,
    pub incident_type: String,
    pub at_ms: i64,
    pub action: String,
    pub target: String,
    pub verdict: Verdict,
    pub clause: String,
    pub reason: String,
}

/// Counts and rows of a simulation; `Display` prints the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub auto: usize,
    pub ask: usize,
    pub denied: usize,
    /// How many decisions each clause made.
    pub by_clause: BTreeMap<String, usize>,
    pub rows: Vec<SimRow>,
}

/// Replays the cases (sorted by time, stable) through the policy.
pub fn simulate(policy: &Policy, cases: &[SimCase], options: SimOptions) -> SimulationReport {
    let mut order: Vec<&SimCase> = cases.iter().collect();
    order.sort_by_key(|c| c.at_ms);
    let mut history = History::default();
    let mut report = SimulationReport::default();
    for case in order {
        for p in &case.proposals {
            let d = decide(
                &case.incident,
                &p.proposed,
                policy,
                &history,
                p.live.as_ref(),
                case.at_ms,
            );
            let dispatched = match d.verdict {
                Verdict::Auto => {
                    report.auto += 1;
                    true
                }
                Verdict::NeedsApproval => {
                    report.ask += 1;
                    options.assume_approved
                }
                Verdict::Denied => {
                    report.denied += 1;
                    false
                }
            };
            if dispatched {
                history.record(&p.proposed, case.at_ms);
            }
            *report.by_clause.entry(d.clause.clone()).or_default() += 1;
            report.rows.push(SimRow {
                incident_id: case.incident.id.clone(),
                incident_type: case.incident.incident_type.to_string(),
                at_ms: case.at_ms,
                action: p.proposed.action.to_string(),
                target: p.proposed.target.path(),
                verdict: d.verdict,
                clause: d.clause,
                reason: d.reason,
            });
        }
    }
    report
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = ["INCIDENT", "TYPE", "ACTION", "TARGET", "VERDICT", "CLAUSE"];
        let cells: Vec<[&str; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.incident_id.as_str(),
                    r.incident_type.as_str(),
                    r.action.as_str(),
                    r.target.as_str(),
                    match r.verdict {
                        Verdict::Auto => "auto",
                        Verdict::NeedsApproval => "ask",
                        Verdict::Denied => "denied",
                    },
                    r.clause.as_str(),
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, row: &[&str; 6]| -> fmt::Result {
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    writeln!(f, "{cell}")?;
                } else {
                    write!(f, "{cell:<w$}  ")?;
                }
            }
            Ok(())
        };
        line(f, &headers)?;
        for row in &cells {
            line(f, row)?;
        }
        write!(
            f,
            "auto {}  ask {}  denied {}  (of {})",
            self.auto,
            self.ask,
            self.denied,
            self.rows.len()
        )
    }
}
