//! Rule-based detection on the rolling windows: each rule asks the window store for an
//! aggregate per group (pod, deployment, node, ...), tests a condition, and emits an
//! [`model::IncidentCandidate`] whose evidence names the series, window, values and rule.
//!
//! Invariants: evaluation is a pure function of the store's contents and the event time it is
//! asked about, so live traffic and a replayed recording give the same candidates; rules are
//! data (a TOML file validated on load), never code, secrets or commands.

mod engine;
mod rules;

pub use engine::{Detector, Evaluation, Steadiness, steadiness};
pub use rules::{
    Aggregate, BUILTIN_RULES_TOML, Comparison, Condition, Environment, Rule, RuleError, RuleSet,
    TargetSpec, builtin_rules,
};
