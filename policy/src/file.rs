//! The policy file: what the robot may do in one deployment, as TOML, validated with every
//! error reported as `FILE:LINE: reason` before anything runs.
//!
//! Validation enforces the product's boundaries whatever the file says: no human-only action
//! made automatic, approval not bypassed for disruptive actions outside demo, no shell commands
//! and no raw secrets anywhere in the file (key names and high-entropy values are refused).

use chrono::{DateTime, NaiveTime, Timelike};
use model::{Action, ActionFamily, IncidentType, Origin, RiskClass, TargetKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// Deployment environment; it bounds how autonomous the robot may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Demo,
    Staging,
    Prod,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Demo => "demo",
            Environment::Staging => "staging",
            Environment::Prod => "prod",
        }
    }
}

/// How much the robot does on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autonomy {
    /// Only read-only actions run automatically; everything else asks.
    Observe,
    /// Auto-class actions the policy marks `auto` run automatically.
    Safe,
    /// As `safe`, and approval-class actions marked `auto` run automatically where the
    /// environment allows it (disruptive ones in demo only, others in demo and staging).
    Extended,
}

/// What the policy says about one action type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Auto,
    Approval,
    Deny,
}

impl Mode {
    fn from_name(name: &str) -> Option<Mode> {
        match name {
            "auto" => Some(Mode::Auto),
            "approval" => Some(Mode::Approval),
            "deny" => Some(Mode::Deny),
            _ => None,
        }
    }
}

/// Blast-radius limits; an action over any of them is denied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlastRadiusLimits {
    /// Largest change of a Deployment's replica count one action may make.
    pub max_replicas_changed: u32,
    /// Most pods one action may restart or delete.
    pub max_pods_affected: u32,
    /// Largest share of the cluster's nodes that may be unschedulable after a cordon/drain.
    pub max_node_share: f64,
}

impl Default for BlastRadiusLimits {
    fn default() -> Self {
        BlastRadiusLimits {
            max_replicas_changed: 2,
            max_pods_affected: 10,
            max_node_share: 0.2,
        }
    }
}

/// Cooldowns between actions; read-only actions are exempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cooldowns {
    /// Seconds after an action before another action for the same incident.
    pub per_incident_secs: u64,
    /// Seconds after an action before another action on the same target.
    pub per_target_secs: u64,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns {
            per_incident_secs: 600,
            per_target_secs: 1800,
        }
    }
}

/// At most `max` actions of a family per `per_secs` seconds; read-only actions are exempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub max: u32,
    pub per_secs: u64,
}

/// Limit for families a policy does not list.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    max: 6,
    per_secs: 3600,
};

/// What an active window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// People are working on the platform: automatic actions ask instead.
    Maintenance,
    /// Matching incidents get no actions (read-only ones still run).
    Suppression,
}

/// When a window is active, in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowTime {
    /// From `start_ms` (inclusive) to `end_ms` (exclusive), Unix milliseconds.
    Once { start_ms: i64, end_ms: i64 },
    /// Every listed weekday (0 = Monday) from `from_min` to `to_min` minutes after midnight;
    /// `to_min <= from_min` wraps past midnight.
    Weekly {
        days: Vec<u8>,
        from_min: u32,
        to_min: u32,
    },
}

/// A maintenance or suppression window, optionally scoped to namespaces and incident types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub name: String,
    pub kind: WindowKind,
    pub time: WindowTime,
    /// Namespaces it applies to; empty means all.
    pub namespaces: Vec<String>,
    /// Incident types it applies to; empty means all.
    pub incident_types: Vec<IncidentType>,
}

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

impl Window {
    /// Whether the window is active at `now_ms`.
    pub fn active_at(&self, now_ms: i64) -> bool {
        match &self.time {
            WindowTime::Once { start_ms, end_ms } => *start_ms <= now_ms && now_ms < *end_ms,
            WindowTime::Weekly {
                days,
                from_min,
                to_min,
            } => {
                let day_index = now_ms.div_euclid(DAY_MS);
                // 1970-01-01 was a Thursday (3 days after Monday).
                let weekday = (day_index + 3).rem_euclid(7) as u8;
                let minute = (now_ms.rem_euclid(DAY_MS) / MINUTE_MS) as u32;
                let previous = (weekday + 6) % 7;
                if from_min < to_min {
                    days.contains(&weekday) && *from_min <= minute && minute < *to_min
                } else {
                    (days.contains(&weekday) && minute >= *from_min)
                        || (days.contains(&previous) && minute < *to_min)
                }
            }
        }
    }

    /// Whether the window's scope covers this namespace and incident type.
    pub fn covers(&self, namespace: Option<&str>, incident_type: IncidentType) -> bool {
        let ns_ok = self.namespaces.is_empty()
            || namespace.is_some_and(|ns| self.namespaces.iter().any(|p| glob_match(p, ns)));
        let type_ok =
            self.incident_types.is_empty() || self.incident_types.contains(&incident_type);
        ns_ok && type_ok
    }
}

/// Who may approve which risk classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    /// Role name carried by an approver's credential.
    pub role: String,
    /// Risk classes this role may approve (`auto`, `approval`).
    pub may_approve: Vec<RiskClass>,
}

/// A validated policy. Fields are public so callers can inspect it; [`crate::decide()`]
/// enforces the boundaries again on every decision, so a hand-built policy cannot make a
/// human-only action automatic either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub environment: Environment,
    pub autonomy: Autonomy,
    /// Every execution uses server-side dry-run.
    pub dry_run: bool,
    /// Namespace patterns (exact names, or a prefix followed by `*`).
    pub namespaces: Vec<String>,
    /// Resource patterns `kind/namespace/name` or `kind/name`; any segment may be `*` or end
    /// with `*`.
    pub resources: Vec<String>,
    /// Mode per action name; an action not listed is denied.
    pub actions: BTreeMap<String, Mode>,
    /// Per `auto` action, the origins that cannot make it run on their own
    /// (`{ tier = "auto", unless_only = [...] }`): when every origin behind the incident is in
    /// the set, the action is decided as if its tier were `approval`.
    #[serde(default)]
    pub unless_only: BTreeMap<String, BTreeSet<Origin>>,
    /// Per `auto` action, the least confidence of the proposal for it to run on its own
    /// (`{ tier = "auto", min_confidence = 0.8 }`); below it (or unknown), it asks.
    #[serde(default)]
    pub min_confidence: BTreeMap<String, f64>,
    pub blast_radius: BlastRadiusLimits,
    pub cooldowns: Cooldowns,
    /// Rate limit per family; families not listed get [`DEFAULT_RATE_LIMIT`].
    pub rate_limits: BTreeMap<ActionFamily, RateLimit>,
    pub windows: Vec<Window>,
    pub approvers: Vec<Approver>,
}

impl Policy {
    /// Mode for an action name (`Deny` when the policy does not list it).
    pub fn mode(&self, action_name: &str) -> Mode {
        self.actions.get(action_name).copied().unwrap_or(Mode::Deny)
    }

    /// Whether the `auto` tier of `action_name` is withheld for an incident backed by these
    /// origins: its `unless_only` lists every one of them (an incident with no recorded
    /// origin counts as backed only by listed ones). `None` when the tier stands, else the
    /// list that withheld it.
    pub fn withheld_by(
        &self,
        action_name: &str,
        origins: &BTreeSet<Origin>,
    ) -> Option<&BTreeSet<Origin>> {
        self.unless_only
            .get(action_name)
            .filter(|only| origins.iter().all(|o| only.contains(o)))
    }

    /// The `min_confidence` that withholds the `auto` tier of `action_name` from a proposal
    /// this sure (`None` when the tier stands). A proposal of unknown confidence is below it.
    pub fn short_of_confidence(&self, action_name: &str, confidence: Option<f64>) -> Option<f64> {
        self.min_confidence
            .get(action_name)
            .copied()
            .filter(|&least| confidence.is_none_or(|c| c < least))
    }

    pub fn rate_limit(&self, family: ActionFamily) -> RateLimit {
        self.rate_limits
            .get(&family)
            .copied()
            .unwrap_or(DEFAULT_RATE_LIMIT)
    }

    /// Whether the role may approve an action of this class.
    pub fn may_approve(&self, role: &str, class: RiskClass) -> bool {
        class != RiskClass::HumanOnly
            && self
                .approvers
                .iter()
                .any(|a| a.role == role && a.may_approve.contains(&class))
    }

    /// Whether the namespace is allowlisted.
    pub fn namespace_allowed(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|p| glob_match(p, namespace))
    }

    /// Whether the target path (`kind/ns/name` or `kind/name`) is allowlisted.
    pub fn resource_allowed(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        self.resources.iter().any(|pattern| {
            let pats: Vec<&str> = pattern.split('/').collect();
            pats.len() == parts.len() && pats.iter().zip(&parts).all(|(p, s)| glob_match(p, s))
        })
    }

    /// Parses and validates policy text; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Policy, PolicyErrors> {
        validate(text, file)
    }
}

/// Whether `pattern` (exact, `*`, or `prefix*`) matches `value`.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// What kind of problem a policy file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The file cannot be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// Valid TOML but not the policy schema (unknown key, wrong type).
    Schema,
    /// A shell command, or a key that would hold one.
    ShellCommand,
    /// A raw secret, or a key that would hold one.
    Secret,
    /// A human-only action enabled in any mode.
    HumanOnly,
    /// Approval bypassed for a class that needs it.
    ApprovalBypass,
    /// Any other invalid value.
    Invalid,
}

/// One problem, with its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyIssue {
    pub file: String,
    /// 1-based line; 0 when the problem is not in the text (I/O).
    pub line: usize,
    pub kind: IssueKind,
    pub reason: String,
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// Every problem found in a policy file, in line order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors {
    pub issues: Vec<PolicyIssue>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl model::Classify for PolicyErrors {
    fn class(&self) -> model::ErrorClass {
        if self.issues.iter().any(|i| i.kind == IssueKind::Io) {
            model::ErrorClass::Internal
        } else {
            model::ErrorClass::InvalidInput
        }
    }
}

/// Reads and validates a policy file.
pub fn check_file(path: &Path) -> Result<Policy, PolicyErrors> {
    read_file(path).policy
}

/// A policy file read once: the SHA-256 of the bytes that were validated, and the result.
#[derive(Debug, Clone)]
pub struct PolicyRead {
    /// Hex SHA-256 of the file's bytes; `None` when it could not be read.
    pub sha256: Option<String>,
    pub policy: Result<Policy, PolicyErrors>,
}

/// Reads a policy file once, hashes it and validates it (for reloads that record which file
/// replaced which).
pub fn read_file(path: &Path) -> PolicyRead {
    use sha2::{Digest, Sha256};
    let file = path.display().to_string();
    let io = |reason: String| PolicyErrors {
        issues: vec![PolicyIssue {
            file: file.clone(),
            line: 0,
            kind: IssueKind::Io,
            reason,
        }],
    };
    match std::fs::read(path) {
        Ok(bytes) => PolicyRead {
            sha256: Some(hex::encode(Sha256::digest(&bytes))),
            policy: match String::from_utf8(bytes) {
                Ok(text) => validate(&text, &file),
                Err(_) => Err(io("the policy file is not UTF-8 text".to_owned())),
            },
        },
        Err(err) => PolicyRead {
            sha256: None,
            policy: Err(io(format!("cannot read the policy file: {err}"))),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The file's schema, as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    environment: Environment,
    #[serde(default)]
    autonomy: Option<Autonomy>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    allow: AllowFile,
    /// `name = "auto"` or `name = { tier = "auto", unless_only = ["alertmanager"] }`.
    #[serde(default)]
    actions: BTreeMap<String, toml::Value>,
    #[serde(default)]
    blast_radius: BlastRadiusLimits,
    #[serde(default)]
    cooldowns: Cooldowns,
    #[serde(default)]
    rate_limits: BTreeMap<String, RateLimit>,
    #[serde(default)]
    windows: Vec<WindowFile>,
    #[serde(default)]
    approvers: Vec<ApproverFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    name: String,
    kind: WindowKind,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    days: Vec<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    incident_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverFile {
    role: String,
    may_approve: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// A step in a path through the TOML document, to find the line of a semantic error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

pub(crate) struct Collector<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
    pub(crate) root: Option<&'a DeTable<'a>>,
    pub(crate) issues: Vec<PolicyIssue>,
}

impl<'a> Collector<'a> {
    pub(crate) fn at_offset(&mut self, offset: usize, kind: IssueKind, reason: String) {
        let line = line_of(self.text, offset);
        self.issues.push(PolicyIssue {
            file: self.file.to_owned(),
            line,
            kind,
            reason,
        });
    }

    pub(crate) fn at_path(&mut self, path: &[Seg<'_>], kind: IssueKind, reason: String) {
        let offset = self
            .root
            .and_then(|root| span_of(root, path))
            .map_or(0, |span| span.start);
        self.at_offset(offset, kind, reason);
    }
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Span of the value at `path`, or of the deepest part of it that exists.
pub(crate) fn span_of(root: &DeTable<'_>, path: &[Seg<'_>]) -> Option<Range<usize>> {
    let mut best = None;
    let mut table = Some(root);
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    for seg in path {
        let next = match (seg, table, value) {
            (Seg::Key(key), Some(t), _) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == *key)
                .map(|(k, v)| {
                    best = Some(k.span());
                    v
                }),
            (Seg::Index(i), _, Some(v)) => v.get_ref().as_array().and_then(|a| a.get(*i)),
            _ => None,
        };
        match next {
            Some(v) => {
                if matches!(seg, Seg::Index(_)) {
                    best = Some(v.span());
                }
                table = v.get_ref().as_table();
                value = Some(v);
            }
            None => break,
        }
    }
    best
}

/// Keys that would hold a command line.
const SHELL_KEYS: &[&str] = &[
    "command",
    "commands",
    "cmd",
    "exec",
    "shell",
    "script",
    "entrypoint",
    "args",
    "argv",
    "hook",
    "hooks",
];

/// Words in a key name that would hold a credential.
const SECRET_KEY_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "bearer",
    "access_key",
];

/// Whether a string value is a shell command line.
fn looks_like_shell(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    let shells = [
        "sh",
        "bash",
        "zsh",
        "ksh",
        "dash",
        "ash",
        "pwsh",
        "powershell",
        "cmd",
    ];
    let words: Vec<&str> = v.split_whitespace().collect();
    let shell_dash_c = words.windows(2).any(|w| {
        let exe = w[0].rsplit('/').next().unwrap_or(w[0]);
        shells.contains(&exe) && matches!(w[1], "-c" | "-lc" | "/c" | "-command")
    });
    let markers = [
        "$(", "`", "/bin/", "&&", "||", "; ", "| sh", "|sh", "| bash", "rm -", "curl ", "wget ",
        "kubectl ", "helm ", "eval ", "exec ", "sudo ", "nc -", "chmod ", "> /", ">/",
    ];
    shell_dash_c || markers.iter().any(|m| v.contains(m))
}

fn shannon_entropy(value: &str) -> f64 {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    let mut n = 0usize;
    for c in value.chars() {
        *counts.entry(c).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Whether a string value looks like a credential: a known token prefix, a PEM block, a long
/// hex string, or a long high-entropy string without spaces mixing letters and digits.
pub fn looks_like_secret(value: &str) -> bool {
    let prefixes = [
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "xapp-",
        "sk-",
        "akia",
        "asia",
        "glpat-",
        "eyj",
        "-----begin",
    ];
    let lower = value.to_ascii_lowercase();
    if value.len() >= 16 && prefixes.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    if lower.contains("-----begin") {
        return true;
    }
    if value.chars().any(char::is_whitespace) {
        return false;
    }
    if value.len() >= 32 && value.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    let has_digit = value.chars().any(|c| c.is_ascii_digit());
    let has_alpha = value.chars().any(|c| c.is_ascii_alphabetic());
    let has_upper = value.chars().any(|c| c.is_ascii_uppercase());
    let has_lower = value.chars().any(|c| c.is_ascii_lowercase());
    value.len() >= 20
        && has_digit
        && has_alpha
        && has_upper
        && has_lower
        && shannon_entropy(value) >= 3.5
}

fn walk_raw(c: &mut Collector<'_>, key_path: &mut Vec<String>, value: &toml::Spanned<DeValue<'_>>) {
    match value.get_ref() {
        DeValue::String(s) => {
            let at = key_path.join(".");
            if looks_like_shell(s) {
                c.at_offset(
                    value.span().start,
                    IssueKind::ShellCommand,
                    format!("`{at}`: shell commands are not allowed in a policy"),
                );
            } else if looks_like_secret(s) {
                c.at_offset(
                    value.span().start,
                    IssueKind::Secret,
                    format!(
                        "`{at}`: value looks like a raw secret (high entropy); reference \
                         secrets by name outside the policy"
                    ),
                );
            }
        }
        DeValue::Array(items) => {
            for item in items.iter() {
                walk_raw(c, key_path, item);
            }
        }
        DeValue::Table(table) => walk_table(c, key_path, table),
        _ => {}
    }
}

fn walk_table(c: &mut Collector<'_>, key_path: &mut Vec<String>, table: &DeTable<'_>) {
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let lower = name.to_ascii_lowercase().replace('-', "_");
        key_path.push(name.to_owned());
        let at = key_path.join(".");
        if SHELL_KEYS.contains(&lower.as_str()) {
            c.at_offset(
                key.span().start,
                IssueKind::ShellCommand,
                format!("`{at}`: shell commands are not allowed in a policy"),
            );
        } else if SECRET_KEY_WORDS.iter().any(|w| lower.contains(w))
            && Action::class_of_name(name).is_none()
        {
            c.at_offset(
                key.span().start,
                IssueKind::Secret,
                format!("`{at}`: raw secrets are not allowed in a policy (key name `{name}`)"),
            );
        } else {
            walk_raw(c, key_path, value);
        }
        key_path.pop();
    }
}

fn parse_clock(value: &str) -> Option<u32> {
    let t = NaiveTime::parse_from_str(value, "%H:%M").ok()?;
    Some(t.hour() * 60 + t.minute())
}

fn parse_day(value: &str) -> Option<u8> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let lower = value.to_ascii_lowercase();
    days.iter()
        .position(|d| lower.starts_with(d) && lower.len() >= 3)
        .and_then(|i| u8::try_from(i).ok())
}

fn parse_rfc3339_ms(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Checks a resource pattern's shape: a known kind and the right number of segments.
fn check_resource_pattern(pattern: &str) -> Result<(), String> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let Some(kind) = parts.first().and_then(|k| TargetKind::from_name(k)) else {
        let kinds: Vec<&str> = TargetKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(format!(
            "resource pattern {pattern:?} must start with a kind ({})",
            kinds.join(", ")
        ));
    };
    let want = if kind.cluster_scoped() { 2 } else { 3 };
    if parts.len() != want {
        return Err(format!(
            "resource pattern {pattern:?}: {kind} needs {}",
            if want == 2 {
                "`kind/name`"
            } else {
                "`kind/namespace/name`"
            }
        ));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || p.strip_suffix('*').unwrap_or(p).contains('*'))
    {
        return Err(format!(
            "resource pattern {pattern:?}: segments must be non-empty and `*` may only end one"
        ));
    }
    Ok(())
}

/// Names of every origin, for messages.
fn origin_names() -> String {
    Origin::ALL
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `[actions]` entry as written.
struct ActionEntry {
    tier: String,
    unless_only: Option<BTreeSet<Origin>>,
    min_confidence: Option<f64>,
}

/// One `[actions]` entry: its tier text and, for the table form, its `unless_only` origins
/// (unknown names reported) and `min_confidence`. `None` when the entry is unusable
/// (reported).
fn action_entry(c: &mut Collector<'_>, name: &str, value: &toml::Value) -> Option<ActionEntry> {
    let at = [Seg::Key("actions"), Seg::Key(name)];
    let table = match value {
        toml::Value::String(text) => {
            return Some(ActionEntry {
                tier: text.clone(),
                unless_only: None,
                min_confidence: None,
            });
        }
        toml::Value::Table(table) => table,
        _ => {
            c.at_path(
                &at,
                IssueKind::Schema,
                format!(
                    "action `{name}`: expected a tier (\"auto\", \"approval\", \"deny\") or a \
                     table {{ tier = \"auto\", unless_only = [...] }}"
                ),
            );
            return None;
        }
    };
    let mut usable = true;
    for key in table.keys() {
        if key != "tier" && key != "unless_only" && key != "min_confidence" {
            c.at_path(
                &[Seg::Key("actions"), Seg::Key(name), Seg::Key(key)],
                IssueKind::Schema,
                format!(
                    "`actions.{name}.{key}`: unknown key (expected tier, unless_only, min_confidence)"
                ),
            );
            usable = false;
        }
    }
    let tier = match table.get("tier") {
        Some(toml::Value::String(text)) => Some(text.clone()),
        Some(_) => {
            c.at_path(
                &[Seg::Key("actions"), Seg::Key(name), Seg::Key("tier")],
                IssueKind::Schema,
                format!("`actions.{name}.tier` must be \"auto\", \"approval\" or \"deny\""),
            );
            None
        }
        None => {
            c.at_path(
                &at,
                IssueKind::Schema,
                format!("`actions.{name}` needs a tier (\"auto\", \"approval\" or \"deny\")"),
            );
            None
        }
    };
    let key = format!("actions.{name}.unless_only");
    let place = [Seg::Key("actions"), Seg::Key(name), Seg::Key("unless_only")];
    let only = match table.get("unless_only") {
        None => None,
        Some(toml::Value::Array(items)) => {
            let mut origins = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let spot = [
                    Seg::Key("actions"),
                    Seg::Key(name),
                    Seg::Key("unless_only"),
                    Seg::Index(i),
                ];
                match item.as_str().map(|text| (text, Origin::from_name(text))) {
                    Some((_, Some(origin))) => {
                        origins.insert(origin);
                    }
                    Some((text, None)) => {
                        c.at_path(
                            &spot,
                            IssueKind::Invalid,
                            format!(
                                "`{key}`: unknown origin {text:?}; origins: {}",
                                origin_names()
                            ),
                        );
                        usable = false;
                    }
                    None => {
                        c.at_path(
                            &spot,
                            IssueKind::Schema,
                            format!("`{key}` must list origin names as strings"),
                        );
                        usable = false;
                    }
                }
            }
            Some(origins)
        }
        Some(_) => {
            c.at_path(
                &place,
                IssueKind::Schema,
                format!("`{key}` must be a list of origins ({})", origin_names()),
            );
            usable = false;
            None
        }
    };
    let min_confidence = match table.get("min_confidence") {
        None => None,
        Some(v) => match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
            Some(least) if (0.0..=1.0).contains(&least) => Some(least),
            _ => {
                c.at_path(
                    &[
                        Seg::Key("actions"),
                        Seg::Key(name),
                        Seg::Key("min_confidence"),
                    ],
                    IssueKind::Invalid,
                    format!("`actions.{name}.min_confidence` must be a number from 0 to 1"),
                );
                usable = false;
                None
            }
        },
    };
    match tier {
        Some(tier) if usable => Some(ActionEntry {
            tier,
            unless_only: only,
            min_confidence,
        }),
        _ => None,
    }
}

fn validate(text: &str, file: &str) -> Result<Policy, PolicyErrors> {
    checked(text, file, check_semantics)
}

/// Parses `text` as TOML of schema `T` and hands it to `check`: syntax errors, shell commands
/// and raw secrets anywhere, and schema errors are reported with their lines first; the
/// result stands only when nothing at all was reported.
pub(crate) fn checked<T: serde::de::DeserializeOwned, R>(
    text: &str,
    file: &str,
    check: impl FnOnce(&mut Collector<'_>, T) -> R,
) -> Result<R, PolicyErrors> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    let mut c = Collector {
        file,
        text,
        root: None,
        issues: Vec::new(),
    };
    for err in &syntax {
        let offset = err.span().map_or(0, |s| s.start);
        c.at_offset(
            offset,
            IssueKind::Syntax,
            format!("invalid TOML: {}", err.message().trim()),
        );
    }
    if !syntax.is_empty() {
        return Err(PolicyErrors { issues: c.issues });
    }
    c.root = Some(root.get_ref());
    walk_table(&mut c, &mut Vec::new(), root.get_ref());

    let parsed: T = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(err) => {
            let offset = err.span().map_or(0, |s| s.start);
            // Shell and secret findings already explain unknown keys such as `command`.
            let explained = c.issues.iter().any(|i| i.line == line_of(text, offset));
            if !explained {
                c.at_offset(
                    offset,
                    IssueKind::Schema,
                    err.message().trim().replace('\n', " "),
                );
            }
            return Err(sorted(c.issues));
        }
    };
    let out = check(&mut c, parsed);
    if c.issues.is_empty() {
        Ok(out)
    } else {
        Err(sorted(c.issues))
    }
}

fn sorted(mut issues: Vec<PolicyIssue>) -> PolicyErrors {
    issues.sort_by_key(|i| i.line);
    PolicyErrors { issues }
}

fn check_semantics(c: &mut Collector<'_>, file: PolicyFile) -> Policy {
    let environment = file.environment;
    let autonomy = file.autonomy.unwrap_or(Autonomy::Safe);
    if autonomy == Autonomy::Extended && environment == Environment::Prod {
        c.at_path(
            &[Seg::Key("autonomy")],
            IssueKind::ApprovalBypass,
            "autonomy `extended` is not allowed in prod: approval-class actions always ask there"
                .into(),
        );
    }

    for (i, ns) in file.allow.namespaces.iter().enumerate() {
        let ok = !ns.is_empty()
            && !ns.strip_suffix('*').unwrap_or(ns).contains('*')
            && ns
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '*');
        if !ok {
            c.at_path(
                &[Seg::Key("allow"), Seg::Key("namespaces"), Seg::Index(i)],
                IssueKind::Invalid,
                format!("namespace pattern {ns:?} must be a DNS label, optionally ending in `*`"),
            );
        }
    }
    for (i, res) in file.allow.resources.iter().enumerate() {
        if let Err(reason) = check_resource_pattern(res) {
            c.at_path(
                &[Seg::Key("allow"), Seg::Key("resources"), Seg::Index(i)],
                IssueKind::Invalid,
                reason,
            );
        }
    }

    let mut actions = BTreeMap::new();
    let mut unless_only = BTreeMap::new();
    let mut min_confidence = BTreeMap::new();
    for (name, value) in &file.actions {
        let at = [Seg::Key("actions"), Seg::Key(name)];
        let Some(entry) = action_entry(c, name, value) else {
            continue;
        };
        let only = entry.unless_only;
        let least = entry.min_confidence;
        let mode_text = entry.tier.as_str();
        let Some(class) = Action::class_of_name(name) else {
            c.at_path(
                &at,
                IssueKind::Invalid,
                format!(
                    "unknown action {name:?}; known actions: {}",
                    Action::NAMES.join(", ")
                ),
            );
            continue;
        };
        let Some(mode) = Mode::from_name(mode_text) else {
            c.at_path(
                &at,
                IssueKind::Invalid,
                format!("action `{name}`: mode must be auto, approval or deny, not {mode_text:?}"),
            );
            continue;
        };
        if class == RiskClass::HumanOnly && mode != Mode::Deny {
            let reason = if mode == Mode::Auto {
                format!("action `{name}` is human only and can never be made automatic")
            } else {
                format!(
                    "action `{name}` is human only: a person does it by hand, the robot cannot \
                     run it even with approval (use deny)"
                )
            };
            c.at_path(&at, IssueKind::HumanOnly, reason);
            continue;
        }
        if class == RiskClass::Approval && mode == Mode::Auto {
            let disruptive = name != "run_job";
            let env_ok = match environment {
                Environment::Demo => true,
                Environment::Staging => !disruptive,
                Environment::Prod => false,
            };
            if !env_ok {
                c.at_path(
                    &at,
                    IssueKind::ApprovalBypass,
                    format!(
                        "action `{name}` needs approval in {}: approval cannot be bypassed for \
                         disruptive actions outside demo",
                        environment.as_str()
                    ),
                );
                continue;
            }
            if autonomy != Autonomy::Extended {
                c.at_path(
                    &at,
                    IssueKind::ApprovalBypass,
                    format!(
                        "action `{name}` is approval class: `auto` needs autonomy = \"extended\""
                    ),
                );
                continue;
            }
        }
        if let Some(only) = only {
            let place = [Seg::Key("actions"), Seg::Key(name), Seg::Key("unless_only")];
            let key = format!("actions.{name}.unless_only");
            if mode != Mode::Auto {
                c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!("`{key}` conditions the auto tier: it needs tier = \"auto\""),
                );
            } else if class == RiskClass::ReadOnly {
                c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!(
                        "`{key}`: {name} is read-only and changes nothing; unless_only is for \
                         actions that change the cluster"
                    ),
                );
            } else if only.is_empty() {
                c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!("`{key}` must name at least one origin"),
                );
            } else {
                unless_only.insert(name.clone(), only);
            }
        }
        if let Some(least) = least {
            let place = [
                Seg::Key("actions"),
                Seg::Key(name),
                Seg::Key("min_confidence"),
            ];
            let key = format!("actions.{name}.min_confidence");
            if mode != Mode::Auto {
                c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!("`{key}` conditions the auto tier: it needs tier = \"auto\""),
                );
            } else if class == RiskClass::ReadOnly {
                c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!(
                        "`{key}`: {name} is read-only and changes nothing; min_confidence is for \
                         actions that change the cluster"
                    ),
                );
            } else {
                min_confidence.insert(name.clone(), least);
            }
        }
        actions.insert(name.clone(), mode);
    }

    let br = file.blast_radius;
    if !(br.max_node_share > 0.0 && br.max_node_share <= 1.0) {
        c.at_path(
            &[Seg::Key("blast_radius"), Seg::Key("max_node_share")],
            IssueKind::Invalid,
            format!(
                "max_node_share must be in (0, 1], not {}",
                br.max_node_share
            ),
        );
    }

    let mut rate_limits = BTreeMap::new();
    for (name, limit) in &file.rate_limits {
        let at = [Seg::Key("rate_limits"), Seg::Key(name)];
        let Some(family) = ActionFamily::from_name(name) else {
            let families: Vec<&str> = ActionFamily::ALL.iter().map(|f| f.as_str()).collect();
            c.at_path(
                &at,
                IssueKind::Invalid,
                format!(
                    "unknown action family {name:?}; families: {}",
                    families.join(", ")
                ),
            );
            continue;
        };
        if limit.max == 0 || limit.per_secs == 0 {
            c.at_path(
                &at,
                IssueKind::Invalid,
                format!(
                    "rate limit `{name}`: max and per_secs must be at least 1 (use deny to forbid)"
                ),
            );
            continue;
        }
        rate_limits.insert(family, *limit);
    }

    let mut windows = Vec::new();
    let mut window_names = BTreeSet::new();
    for (i, w) in file.windows.iter().enumerate() {
        let at = |key: &'static str| [Seg::Key("windows"), Seg::Index(i), Seg::Key(key)];
        if w.name.is_empty() || !window_names.insert(w.name.clone()) {
            c.at_path(
                &at("name"),
                IssueKind::Invalid,
                format!("window name {:?} must be non-empty and unique", w.name),
            );
        }
        let once = w.start.is_some() || w.end.is_some();
        let weekly = !w.days.is_empty() || w.from.is_some() || w.to.is_some();
        let time = match (once, weekly) {
            (true, true) | (false, false) => {
                c.at_path(
                    &[Seg::Key("windows"), Seg::Index(i)],
                    IssueKind::Invalid,
                    format!(
                        "window {:?} needs either start and end (RFC 3339) or days, from and to \
                         (HH:MM, UTC)",
                        w.name
                    ),
                );
                None
            }
            (true, false) => {
                let start = w.start.as_deref().and_then(parse_rfc3339_ms);
                let end = w.end.as_deref().and_then(parse_rfc3339_ms);
                if start.is_none() {
                    c.at_path(
                        &at("start"),
                        IssueKind::Invalid,
                        format!("window {:?}: start must be an RFC 3339 time", w.name),
                    );
                }
                if end.is_none() {
                    c.at_path(
                        &at("end"),
                        IssueKind::Invalid,
                        format!("window {:?}: end must be an RFC 3339 time", w.name),
                    );
                }
                match (start, end) {
                    (Some(s), Some(e)) if s < e => Some(WindowTime::Once {
                        start_ms: s,
                        end_ms: e,
                    }),
                    (Some(_), Some(_)) => {
                        c.at_path(
                            &at("end"),
                            IssueKind::Invalid,
                            format!("window {:?}: end must be after start", w.name),
                        );
                        None
                    }
                    _ => None,
                }
            }
            (false, true) => {
                let mut days = Vec::new();
                for (d, day) in w.days.iter().enumerate() {
                    match parse_day(day) {
                        Some(n) => days.push(n),
                        None => c.at_path(
                            &[
                                Seg::Key("windows"),
                                Seg::Index(i),
                                Seg::Key("days"),
                                Seg::Index(d),
                            ],
                            IssueKind::Invalid,
                            format!("window {:?}: unknown day {day:?} (mon … sun)", w.name),
                        ),
                    }
                }
                if w.days.is_empty() {
                    c.at_path(
                        &at("days"),
                        IssueKind::Invalid,
                        format!("window {:?}: days must list at least one day", w.name),
                    );
                }
                let from = w.from.as_deref().and_then(parse_clock);
                let to = w.to.as_deref().and_then(parse_clock);
                if from.is_none() {
                    c.at_path(
                        &at("from"),
                        IssueKind::Invalid,
                        format!("window {:?}: from must be HH:MM (UTC)", w.name),
                    );
                }
                if to.is_none() {
                    c.at_path(
                        &at("to"),
                        IssueKind::Invalid,
                        format!("window {:?}: to must be HH:MM (UTC)", w.name),
                    );
                }
                match (from, to) {
                    (Some(f), Some(t)) if f != t && !days.is_empty() => Some(WindowTime::Weekly {
                        days,
                        from_min: f,
                        to_min: t,
                    }),
                    (Some(_), Some(_)) if !days.is_empty() => {
                        c.at_path(
                            &at("to"),
                            IssueKind::Invalid,
                            format!("window {:?}: from and to must differ", w.name),
                        );
                        None
                    }
                    _ => None,
                }
            }
        };
        let mut incident_types = Vec::new();
        for (t, name) in w.incident_types.iter().enumerate() {
            match IncidentType::from_name(name) {
                Some(it) => incident_types.push(it),
                None => c.at_path(
                    &[
                        Seg::Key("windows"),
                        Seg::Index(i),
                        Seg::Key("incident_types"),
                        Seg::Index(t),
                    ],
                    IssueKind::Invalid,
                    format!("window {:?}: unknown incident type {name:?}", w.name),
                ),
            }
        }
        if let Some(time) = time {
            windows.push(Window {
                name: w.name.clone(),
                kind: w.kind,
                time,
                namespaces: w.namespaces.clone(),
                incident_types,
            });
        }
    }

    let mut approvers = Vec::new();
    let mut roles = BTreeSet::new();
    for (i, a) in file.approvers.iter().enumerate() {
        let at = |key: &'static str| [Seg::Key("approvers"), Seg::Index(i), Seg::Key(key)];
        let role_ok = !a.role.is_empty()
            && a.role
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !role_ok || !roles.insert(a.role.clone()) {
            c.at_path(
                &at("role"),
                IssueKind::Invalid,
                format!(
                    "approver role {:?} must be a unique name of letters, digits, - and _",
                    a.role
                ),
            );
        }
        let mut classes = Vec::new();
        for (k, name) in a.may_approve.iter().enumerate() {
            let place = [
                Seg::Key("approvers"),
                Seg::Index(i),
                Seg::Key("may_approve"),
                Seg::Index(k),
            ];
            match RiskClass::from_name(name) {
                Some(RiskClass::HumanOnly) => c.at_path(
                    &place,
                    IssueKind::HumanOnly,
                    format!(
                        "approver {:?}: human-only actions cannot be approved through the robot",
                        a.role
                    ),
                ),
                Some(RiskClass::ReadOnly) => c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!("approver {:?}: read_only actions need no approval", a.role),
                ),
                Some(class) => classes.push(class),
                None => c.at_path(
                    &place,
                    IssueKind::Invalid,
                    format!(
                        "approver {:?}: unknown risk class {name:?} (auto, approval)",
                        a.role
                    ),
                ),
            }
        }
        approvers.push(Approver {
            role: a.role.clone(),
            may_approve: classes,
        });
    }

    // Every action that may ask must have someone who can answer.
    for (name, mode) in &actions {
        let Some(class) = Action::class_of_name(name) else {
            continue;
        };
        let asks = *mode == Mode::Approval
            || unless_only.contains_key(name)
            || min_confidence.contains_key(name)
            || (class == RiskClass::Approval && *mode == Mode::Auto)
            || (class == RiskClass::Auto && autonomy == Autonomy::Observe);
        if asks
            && class != RiskClass::ReadOnly
            && !approvers.iter().any(|a| a.may_approve.contains(&class))
        {
            c.at_path(
                &[Seg::Key("actions"), Seg::Key(name)],
                IssueKind::Invalid,
                format!(
                    "action `{name}` may need approval but no approver may approve class {class}"
                ),
            );
        }
    }

    Policy {
        environment,
        autonomy,
        dry_run: file.dry_run,
        namespaces: file.allow.namespaces,
        resources: file.allow.resources,
        actions,
        unless_only,
        min_confidence,
        blast_radius: br,
        cooldowns: file.cooldowns,
        rate_limits,
        windows,
        approvers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_without_flagging_names() {
        for s in [
            "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
            "AKIAIOSFODNN7EXAMPLE1234",
            "0123456789abcdef0123456789abcdef01234567",
            "Zx9kQ2mW7pL4vB8nR3tY6uH1jF5gD0sA",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
            "-----BEGIN PRIVATE KEY-----",
        ] {
            assert!(looks_like_secret(s), "{s}");
        }
        for s in [
            "deployment/shop/checkout-api-v2",
            "deployment/payments-prod/*",
            "2026-11-27T00:00:00Z",
            "weekend maintenance for the storage team",
            "sre-oncall",
            "cron_job/shop/nightly-report-42",
            "node/worker-10-0-10-202",
        ] {
            assert!(!looks_like_secret(s), "{s}");
        }
    }

    #[test]
    fn shell_lines_are_recognised() {
        for s in [
            "sh -c 'rm -rf /'",
            "/bin/bash -lc true",
            "echo $(id)",
            "kubectl delete ns shop",
            "curl http://x | sh",
        ] {
            assert!(looks_like_shell(s), "{s}");
        }
        for s in [
            "shop",
            "weekend maintenance",
            "deployment/shop/*",
            "sre-oncall",
        ] {
            assert!(!looks_like_shell(s), "{s}");
        }
    }

    #[test]
    fn weekly_windows_wrap_midnight() {
        let w = Window {
            name: "night".into(),
            kind: WindowKind::Maintenance,
            time: WindowTime::Weekly {
                days: vec![0],
                from_min: 23 * 60,
                to_min: 60,
            },
            namespaces: vec![],
            incident_types: vec![],
        };
        // 2026-11-23 is a Monday.
        let monday = parse_rfc3339_ms("2026-11-23T23:30:00Z").unwrap();
        let tuesday_early = parse_rfc3339_ms("2026-11-24T00:30:00Z").unwrap();
        let tuesday_late = parse_rfc3339_ms("2026-11-24T23:30:00Z").unwrap();
        assert!(w.active_at(monday));
        assert!(w.active_at(tuesday_early));
        assert!(!w.active_at(tuesday_late));
        assert!(!w.active_at(monday - 60 * MINUTE_MS));
    }

    #[test]
    fn globs() {
        assert!(glob_match("shop", "shop"));
        assert!(!glob_match("shop", "shop2"));
        assert!(glob_match("demo-*", "demo-a"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("demo-*", "prod-a"));
    }
}
