//! Rules as data: the TOML rules file, its validation (file, line and reason for every error;
//! no secrets, no commands), per-environment enablement, and the built-in rule pack.

use model::{IncidentType, Scope, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use windows::{Selector, WindowSpan};

/// Deployment environments a rule can be enabled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Demo,
    Staging,
    Prod,
}

impl Environment {
    pub const ALL: [Environment; 3] = [Environment::Demo, Environment::Staging, Environment::Prod];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Demo => "demo",
            Environment::Staging => "staging",
            Environment::Prod => "prod",
        }
    }
}

/// An aggregate of a window, as `/api/v1/windows` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Count,
    Min,
    Max,
    Avg,
    Sum,
    Last,
    Stddev,
    P50,
    P95,
    P99,
    Slope,
    Rate,
    Increase,
}

impl Aggregate {
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
            Aggregate::Last => "last",
            Aggregate::Stddev => "stddev",
            Aggregate::P50 => "p50",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
            Aggregate::Slope => "slope",
            Aggregate::Rate => "rate",
            Aggregate::Increase => "increase",
        }
    }

    pub fn of(self, a: &windows::Aggregates) -> Option<f64> {
        let value = match self {
            Aggregate::Count => Some(a.count as f64),
            Aggregate::Min => a.min,
            Aggregate::Max => a.max,
            Aggregate::Avg => a.avg,
            Aggregate::Sum => a.sum,
            Aggregate::Last => a.last,
            Aggregate::Stddev => a.stddev,
            Aggregate::P50 => a.p50,
            Aggregate::P95 => a.p95,
            Aggregate::P99 => a.p99,
            Aggregate::Slope => a.slope,
            Aggregate::Rate => a.rate,
            Aggregate::Increase => a.increase,
        };
        value.filter(|v| v.is_finite())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "==")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Above => left > right,
            Comparison::AtLeast => left >= right,
            Comparison::Below => left < right,
            Comparison::AtMost => left <= right,
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
        }
    }
}

/// What must hold for a rule to fire, per group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// `aggregate op value`.
    Threshold {
        aggregate: Aggregate,
        op: Comparison,
        value: f64,
    },
    /// Relative change of `aggregate` against the window just before: `(now - before) / |before| > above`.
    RateOfChange { aggregate: Aggregate, above: f64 },
    /// Sustained growth: least-squares slope (per second) above `above` with a fit (R²) of at least `min_fit`.
    Slope { above: f64, min_fit: f64 },
    /// At the current slope the value reaches `toward` within `horizon` (e.g. disk full in < 4h),
    /// the trend fitting the window with an R² of at least `min_fit`.
    PredictToFull {
        toward: f64,
        #[serde(deserialize_with = "span")]
        horizon: WindowSpan,
        #[serde(default)]
        min_fit: f64,
    },
    /// Steady growth judged against the headroom to a limit: over the window the value rises
    /// as a line (the window's medians fit a line with R² >= `min_fit`, at least `min_rising`
    /// of their steps rise, and the growth does not fade), and at that rate it reaches the
    /// limit (the first of the `limit` series found for the group) within `horizon`; where no
    /// limit is known, it grows by at least `min_growth_per_hour` of its level an hour (its
    /// level where the window starts, or the most it held over the span before, if higher).
    /// Series younger than the window are not judged.
    Growth {
        #[serde(default = "default_growth_fit")]
        min_fit: f64,
        #[serde(default = "default_rising")]
        min_rising: f64,
        /// Series holding the limit, tried in order (`kube_pod_container_resource_limits{resource="memory"}`, ...).
        #[serde(default)]
        limit: Vec<String>,
        /// Labels a limit series shares with the group; the rule's `by` when empty.
        #[serde(default)]
        on: Vec<String>,
        #[serde(default = "default_horizon", deserialize_with = "span")]
        horizon: WindowSpan,
        min_growth_per_hour: f64,
        /// When set, the rise over the window must stand this many standard errors above what
        /// the series' own sample-to-sample movement wanders by chance (a queue's random walk
        /// is not growth): rise / (σ of the steps · √steps).
        #[serde(default)]
        min_drift_z: Option<f64>,
    },
    /// `aggregate` of the series is at least `above` (a share) of its limit, the first of the
    /// `limit` series found for the group (memory near its limit, a pool near its capacity).
    NearLimit {
        aggregate: Aggregate,
        limit: Vec<String>,
        #[serde(default)]
        on: Vec<String>,
        above: f64,
    },
    /// `aggregate` now is `above` times its value over `baseline` before the window, and at least `min`.
    BaselineRatio {
        aggregate: Aggregate,
        #[serde(deserialize_with = "span")]
        baseline: WindowSpan,
        above: f64,
        min: f64,
    },
    /// `rate` of `numerator` over `rate` of the rule's series, per group, above `above`.
    /// With `baseline`, the ratio must also be `over_baseline` times the group's own ratio over
    /// that span before the window (a service that always fails 3% is not spiking at 5%).
    Ratio {
        numerator: String,
        above: f64,
        /// Ignore groups whose denominator rate is below this (too little traffic).
        min_denominator: f64,
        #[serde(default, deserialize_with = "optional_span")]
        baseline: Option<WindowSpan>,
        #[serde(default = "default_over_baseline")]
        over_baseline: f64,
    },
    /// `aggregate` of the rule's series `op` the same aggregate of `other`, per group.
    Compare {
        other: String,
        aggregate: Aggregate,
        op: Comparison,
    },
}

fn default_growth_fit() -> f64 {
    0.8
}

fn default_rising() -> f64 {
    0.6
}

fn default_horizon() -> WindowSpan {
    WindowSpan { ms: 86_400_000 }
}

fn default_over_baseline() -> f64 {
    3.0
}

/// How a firing group names the object it is about.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub scope: Scope,
    /// The label whose value names the target.
    pub label: String,
    /// The label is a pod name: name its Deployment by dropping the ReplicaSet and pod suffixes.
    #[serde(default)]
    pub from_pod: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Escalate when the measured value passes this.
    pub above: f64,
    pub severity: Severity,
}

/// A period (event time, ms) during which a rule stays silent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    #[serde(rename = "type", deserialize_with = "incident_type")]
    pub incident_type: IncidentType,
    pub severity: Severity,
    /// Series selector, e.g. `container_memory_working_set_bytes{namespace!="kube-system"}`.
    pub select: String,
    /// Group by these labels; the target label must be one of them.
    #[serde(default)]
    pub by: Vec<String>,
    #[serde(deserialize_with = "span")]
    pub window: WindowSpan,
    pub condition: Condition,
    pub target: TargetSpec,
    #[serde(default)]
    pub escalate: Option<Escalation>,
    /// Environments the rule runs in; all when empty.
    #[serde(default)]
    pub environments: Vec<Environment>,
    /// Quiet time after firing for the same target.
    #[serde(default, deserialize_with = "optional_span")]
    pub cooldown: Option<WindowSpan>,
    #[serde(default)]
    pub suppress: Vec<Suppression>,
    /// Routing labels copied onto candidates' evidence (team, channel, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What the series measures, in summaries ("memory", "backlog"); the metric name when absent.
    #[serde(default)]
    pub what: Option<String>,
    /// The finding in an operator's words, with `{placeholders}`: `{target}`, `{value}`,
    /// `{expected}`, `{window}`, any label of `by`, and what the condition measures (see the
    /// README); a sentence of the condition's own when absent.
    #[serde(default)]
    pub say: Option<String>,
    #[serde(skip)]
    pub(crate) selector: Option<Selector>,
    #[serde(skip)]
    pub(crate) other: Option<Selector>,
    #[serde(skip)]
    pub(crate) limits: Vec<Selector>,
}

/// Placeholders every rule's `say` may use, beside the labels of its `by`.
const COMMON_PLACEHOLDERS: &[&str] = &["target", "value", "expected", "window", "what", "metric"];

impl Condition {
    /// Placeholders this condition fills for `say`.
    pub fn placeholders(&self) -> &'static [&'static str] {
        match self {
            Condition::Growth { .. } => &["rate", "level", "limit", "time", "per_hour", "subject"],
            Condition::PredictToFull { .. } => &["left", "rate", "time", "subject"],
            Condition::NearLimit { .. } => &["level", "limit", "share", "subject"],
            Condition::Ratio { .. } => &["share", "before", "subject"],
            Condition::BaselineRatio { .. } | Condition::RateOfChange { .. } => {
                &["now", "before", "factor", "subject"]
            }
            Condition::Threshold { .. } | Condition::Slope { .. } | Condition::Compare { .. } => {
                &["subject"]
            }
        }
    }
}

/// The `{names}` in a `say` template.
pub(crate) fn placeholders_of(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

impl Rule {
    pub fn enabled_in(&self, environment: Environment) -> bool {
        self.environments.is_empty() || self.environments.contains(&environment)
    }
}

fn span<'de, D: serde::Deserializer<'de>>(d: D) -> Result<WindowSpan, D::Error> {
    let text = String::deserialize(d)?;
    WindowSpan::parse(&text).map_err(serde::de::Error::custom)
}

fn optional_span<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<WindowSpan>, D::Error> {
    span(d).map(Some)
}

fn incident_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IncidentType, D::Error> {
    let name = String::deserialize(d)?;
    IncidentType::from_name(&name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown incident type {name:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// One problem in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub reason: String,
}

/// Why a rules file was refused: every problem, each with its line.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rules file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}:{}: {}", path.display(), p.line, p.reason))
        .collect::<Vec<_>>()
        .join("\n")
}

impl model::Classify for RuleError {
    fn class(&self) -> model::ErrorClass {
        match self {
            RuleError::Read { .. } => model::ErrorClass::Internal,
            RuleError::Invalid { .. } => model::ErrorClass::InvalidInput,
        }
    }
}

/// A validated set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Shannon entropy in bits per character.
fn entropy(text: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in text.bytes() {
        counts[b as usize] += 1;
    }
    let n = text.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Why a string may not appear in a rule, if it may not.
fn forbidden(key: &str, value: &str) -> Option<String> {
    let key_lower = key.to_ascii_lowercase();
    for word in [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
    ] {
        if key_lower.contains(word) {
            return Some(format!(
                "{key:?} looks like a secret; rules may not hold secrets"
            ));
        }
    }
    let trimmed = value.trim_start();
    let command = ["sh ", "bash ", "/bin/", "curl ", "wget ", "kubectl ", "rm "]
        .iter()
        .any(|start| trimmed.starts_with(start))
        || value.contains("$(")
        || value.contains('`');
    if command {
        return Some(format!(
            "{key:?} looks like a shell command; rules may not hold commands"
        ));
    }
    let token_like = value.len() >= 24
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b))
        && entropy(value) > 4.0;
    token_like.then(|| format!("{key:?} holds a high-entropy value that looks like a secret"))
}

impl RuleSet {
    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<Self, RuleError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Validates rules text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RuleError> {
        let invalid = |problems| RuleError::Invalid {
            path: path.to_owned(),
            problems,
        };
        let file: RulesFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            invalid(vec![Problem {
                line,
                reason: e.message().to_owned(),
            }])
        })?;
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        let mut names = std::collections::HashSet::new();
        for mut rule in file.rule {
            let line = text
                .find(&format!("name = \"{}\"", rule.name))
                .map(|o| line_of(text, o))
                .unwrap_or(1);
            let mut problem = |reason: String| problems.push(Problem { line, reason });
            if !names.insert(rule.name.clone()) {
                problem(format!("rule {:?} is defined twice", rule.name));
            }
            match Selector::parse(&rule.select) {
                Ok(s) => rule.selector = Some(s),
                Err(e) => problem(format!("rule {:?}: select: {e}", rule.name)),
            }
            let limits = match &rule.condition {
                Condition::Growth { limit, .. } | Condition::NearLimit { limit, .. } => {
                    limit.clone()
                }
                _ => Vec::new(),
            };
            for text in &limits {
                match Selector::parse(text) {
                    Ok(s) => rule.limits.push(s),
                    Err(e) => problem(format!("rule {:?}: limit selector: {e}", rule.name)),
                }
            }
            if let Condition::NearLimit { limit, .. } = &rule.condition
                && limit.is_empty()
            {
                problem(format!(
                    "rule {:?}: near_limit needs a limit series",
                    rule.name
                ));
            }
            if let Some(say) = &rule.say {
                let known = rule.condition.placeholders();
                for name in placeholders_of(say) {
                    let ok = COMMON_PLACEHOLDERS.contains(&name)
                        || known.contains(&name)
                        || rule.by.iter().any(|b| b == name);
                    if !ok {
                        problem(format!(
                            "rule {:?}: say: unknown placeholder {{{name}}} (use {}, {} or a label of `by`)",
                            rule.name,
                            COMMON_PLACEHOLDERS.join(", "),
                            known.join(", ")
                        ));
                    }
                }
            }
            let other = match &rule.condition {
                Condition::Ratio { numerator, .. } => Some(numerator.clone()),
                Condition::Compare { other, .. } => Some(other.clone()),
                _ => None,
            };
            if let Some(other) = other {
                match Selector::parse(&other) {
                    Ok(s) => rule.other = Some(s),
                    Err(e) => problem(format!("rule {:?}: condition selector: {e}", rule.name)),
                }
            }
            if !rule.by.contains(&rule.target.label) {
                problem(format!(
                    "rule {:?}: target label {:?} must be one of `by` {:?}",
                    rule.name, rule.target.label, rule.by
                ));
            }
            let shares = match &rule.condition {
                Condition::Slope { min_fit, .. } | Condition::PredictToFull { min_fit, .. } => {
                    vec![("min_fit", *min_fit)]
                }
                Condition::Growth {
                    min_fit,
                    min_rising,
                    ..
                } => vec![("min_fit", *min_fit), ("min_rising", *min_rising)],
                _ => Vec::new(),
            };
            for (name, value) in shares {
                if !(0.0..=1.0).contains(&value) {
                    problem(format!("rule {:?}: {name} must be within 0..1", rule.name));
                }
            }
            for (key, value) in &rule.labels {
                if let Some(reason) = forbidden(key, value) {
                    problem(format!("rule {:?}: labels: {reason}", rule.name));
                }
            }
            for (key, value) in [("name", &rule.name), ("select", &rule.select)] {
                if let Some(reason) = forbidden(key, value) {
                    problem(format!("rule {:?}: {reason}", rule.name));
                }
            }
            rules.push(rule);
        }
        if problems.is_empty() {
            Ok(Self { rules })
        } else {
            Err(invalid(problems))
        }
    }
}

/// The text of the built-in rule pack, for tools that show or copy its rules.
pub const BUILTIN_RULES_TOML: &str = include_str!("../rules/builtin.toml");

/// The built-in rule pack (`detect/rules/builtin.toml`), covering the seed incident classes.
pub fn builtin_rules() -> RuleSet {
    // The pack is checked by a unit test; an invalid pack cannot ship.
    RuleSet::parse(BUILTIN_RULES_TOML, Path::new("builtin.toml")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pack_is_valid() {
        let rules = RuleSet::parse(
            include_str!("../rules/builtin.toml"),
            Path::new("builtin.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.rules.len() >= 12);
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let text = r#"
[[rule]]
name = "bad"
type = "memory_leak"
severity = "warning"
select = "up{job=oops}"
by = ["pod"]
window = "5m"
condition = { kind = "slope", above = 1.0, min_fit = 2.0 }
target = { scope = "pod", label = "node" }
labels = { api_token = "x", note = "$(curl evil)" }
"#;
        let error = RuleSet::parse(text, Path::new("rules.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("rules.toml:3:"), "{error}");
        for needle in ["select", "min_fit", "target label", "secret", "command"] {
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn unknown_keys_and_types_are_refused_with_a_line() {
        let text = "[[rule]]\nname = \"x\"\ntype = \"meltdown\"\n";
        let error = RuleSet::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("r.toml:3"), "{error}");
        let text = "[[rule]]\nname = \"x\"\ncommand = \"rm -rf /\"\n";
        let error = RuleSet::parse(text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("command"), "{error}");
    }

    #[test]
    fn high_entropy_values_are_secrets() {
        assert!(forbidden("note", "hQ7vK2pX9mZ4tR8wL3nB6yF1cJ5sD0gA").is_some());
        assert!(forbidden("team", "payments").is_none());
    }
}
