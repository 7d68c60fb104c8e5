//! What kind of statement a line is: what the robot saw, what it concludes, what it recommends,
//! what it did, and what it needs a person to approve — every message and view says which.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a statement, as operators read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// Seen in the data: a metric, an event, a log line, a probe.
    Observation,
    /// Concluded from observations: a hypothesis, with its confidence.
    Inference,
    /// Advised; nothing runs unless a person or the policy decides it.
    Recommendation,
    /// Done: an action that ran (or was recorded as a dry run).
    ExecutedAction,
    /// Waiting on a person: an approval that must be answered first.
    RequiredApproval,
}

impl StatementKind {
    pub const ALL: [StatementKind; 5] = [
        StatementKind::Observation,
        StatementKind::Inference,
        StatementKind::Recommendation,
        StatementKind::ExecutedAction,
        StatementKind::RequiredApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Observation => "observation",
            StatementKind::Inference => "inference",
            StatementKind::Recommendation => "recommendation",
            StatementKind::ExecutedAction => "executed_action",
            StatementKind::RequiredApproval => "required_approval",
        }
    }

    /// The label a line starts with in messages and views.
    pub fn label(self) -> &'static str {
        match self {
            StatementKind::Observation => "Observed",
            StatementKind::Inference => "Inferred",
            StatementKind::Recommendation => "Recommended",
            StatementKind::ExecutedAction => "Done",
            StatementKind::RequiredApproval => "Needs approval",
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
