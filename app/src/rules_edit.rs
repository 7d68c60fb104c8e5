//! The effective detector rules (built-in pack with operator overrides laid over it) and
//! operator edits to them: thresholds, severity escalation, environments, cooldowns,
//! suppression periods and routing labels, written to the operator rules file and reloaded.
//!
//! An edit is checked exactly as a rules file is at start (`FILE:LINE: reason`, no secrets,
//! no commands) before anything is written; a refused edit changes nothing. Rules raise
//! candidates only: no edit can make an action automatic, which stays the policy's.

use crate::service::{App, AppError, by};
use crate::{Caller, Operation, authorize};
use detect::{Environment, RuleSet};
use model::{IncidentType, Severity};
use policy::{AuditKind, AuditRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Largest rules file accepted from an editor.
pub const MAX_RULES_BYTES: usize = 256 * 1024;

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// The built-in pack, unchanged.
    Builtin,
    /// A built-in rule the operator file replaces.
    Override,
    /// A rule only the operator file has.
    Operator,
}

/// One effective rule as the rules page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub name: String,
    pub incident_type: IncidentType,
    pub severity: Severity,
    pub select: String,
    pub window: String,
    /// The condition as written (`kind = "threshold", ...`).
    pub condition: String,
    pub origin: RuleOrigin,
    /// Environments it runs in; every one when empty.
    pub environments: Vec<String>,
    /// Whether it runs in this server's environment.
    pub enabled_here: bool,
    pub cooldown: Option<String>,
    /// `above` and severity of its escalation, when it has one.
    pub escalate: Option<(f64, Severity)>,
    /// Quiet periods it has.
    pub suppress: usize,
    /// Routing labels copied onto its candidates.
    pub labels: BTreeMap<String, String>,
    /// The number an operator tunes (`value`, `above`, ...) and its key, where it has one.
    pub threshold: Option<(String, f64)>,
    /// Findings it raised in the last 24 hours (of event time) and when the last was seen.
    pub recent_findings: u64,
    pub last_finding_ms: Option<i64>,
}

/// The rules page: every effective rule and the operator file behind the overrides.
#[derive(Debug, Clone, Serialize)]
pub struct RulesView {
    pub rules: Vec<RuleView>,
    /// Where operator edits are written (`detect.rules_file`, or `rules.toml` in the data dir).
    pub file: PathBuf,
    /// The operator file as it is now (empty when there is none yet).
    pub file_text: String,
    pub environment: &'static str,
    pub suggestions: &'static str,
}

/// A change to one rule from the rules page's form; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleEdit {
    /// New value of the rule's tuned number (see [`RuleView::threshold`]).
    pub threshold: Option<f64>,
    pub severity: Option<Severity>,
    /// `Some(None)` removes the escalation.
    pub escalate: Option<Option<(f64, Severity)>>,
    /// Environments it runs in; empty means every one.
    pub environments: Option<Vec<Environment>>,
    /// e.g. `10m`; `Some(None)` removes the cooldown.
    pub cooldown: Option<Option<String>>,
    /// Routing labels (team, channel, ...), replacing the rule's own.
    pub labels: Option<BTreeMap<String, String>>,
    /// A quiet period (Unix ms) to add.
    pub suppress: Option<(i64, i64)>,
}

fn invalid(reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        reason: reason.into(),
    }
}

/// The rule tables of a rules file's text, in order.
fn tables(text: &str) -> Vec<Table> {
    let Ok(table) = text.parse::<Table>() else {
        return Vec::new();
    };
    match table.get("rule") {
        Some(Value::Array(rules)) => rules.iter().filter_map(|r| r.as_table().cloned()).collect(),
        _ => Vec::new(),
    }
}

fn name_of(table: &Table) -> Option<&str> {
    table.get("name").and_then(Value::as_str)
}

/// The key of the number an operator tunes for each condition kind.
fn threshold_key(condition: &Table) -> Option<&'static str> {
    match condition.get("kind").and_then(Value::as_str)? {
        "threshold" => Some("value"),
        "rate_of_change" | "slope" | "baseline_ratio" | "ratio" => Some("above"),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    value
        .as_float()
        .or_else(|| value.as_integer().map(|n| n as f64))
}

/// The condition as one line of TOML (`kind = "threshold", aggregate = "max", ...`).
fn inline(table: &Table) -> String {
    let kind = table.get("kind").map(|v| format!("kind = {v}"));
    kind.into_iter()
        .chain(
            table
                .iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k} = {v}")),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders rule tables as a rules file.
pub fn render(rules: &[Table]) -> Result<String, AppError> {
    let mut file = Table::new();
    file.insert(
        "rule".to_owned(),
        Value::Array(rules.iter().cloned().map(Value::Table).collect()),
    );
    let body = toml::to_string(&file)
        .map_err(|e| invalid(format!("the rules could not be written as TOML: {e}")))?;
    Ok(format!(
        "# Operator rules laid over the built-in pack; a rule with a built-in rule's name\n\
         # replaces it. Written by the srebot workspace; edits by hand are kept when valid.\n\n{body}"
    ))
}

/// Applies a form's edit to a rule table.
pub fn apply(table: &mut Table, edit: &RuleEdit) -> Result<(), AppError> {
    if let Some(value) = edit.threshold {
        if !value.is_finite() {
            return Err(invalid("threshold: give a finite number"));
        }
        let condition = table
            .get_mut("condition")
            .and_then(Value::as_table_mut)
            .ok_or_else(|| invalid("this rule has no condition table"))?;
        let key = threshold_key(condition)
            .ok_or_else(|| invalid("this rule's condition has no threshold to tune"))?;
        condition.insert(key.to_owned(), Value::Float(value));
    }
    if let Some(severity) = edit.severity {
        table.insert(
            "severity".to_owned(),
            Value::String(severity.as_str().to_owned()),
        );
    }
    match &edit.escalate {
        Some(Some((above, severity))) => {
            if !above.is_finite() {
                return Err(invalid("escalate above: give a finite number"));
            }
            let mut escalate = Table::new();
            escalate.insert("above".to_owned(), Value::Float(*above));
            escalate.insert(
                "severity".to_owned(),
                Value::String(severity.as_str().to_owned()),
            );
            table.insert("escalate".to_owned(), Value::Table(escalate));
        }
        Some(None) => {
            table.remove("escalate");
        }
        None => {}
    }
    if let Some(environments) = &edit.environments {
        if environments.is_empty() || environments.len() == Environment::ALL.len() {
            table.remove("environments");
        } else {
            table.insert(
                "environments".to_owned(),
                Value::Array(
                    environments
                        .iter()
                        .map(|e| Value::String(e.as_str().to_owned()))
                        .collect(),
                ),
            );
        }
    }
    match &edit.cooldown {
        Some(Some(text)) => {
            model::duration::parse(text).map_err(|e| invalid(format!("cooldown {text:?}: {e}")))?;
            table.insert("cooldown".to_owned(), Value::String(text.trim().to_owned()));
        }
        Some(None) => {
            table.remove("cooldown");
        }
        None => {}
    }
    if let Some(labels) = &edit.labels {
        if labels.is_empty() {
            table.remove("labels");
        } else {
            let mut t = Table::new();
            for (k, v) in labels {
                t.insert(k.clone(), Value::String(v.clone()));
            }
            table.insert("labels".to_owned(), Value::Table(t));
        }
    }
    if let Some((start_ms, end_ms)) = edit.suppress {
        if end_ms <= start_ms {
            return Err(invalid("quiet period: the end must come after the start"));
        }
        let mut period = Table::new();
        period.insert("start_ms".to_owned(), Value::Integer(start_ms));
        period.insert("end_ms".to_owned(), Value::Integer(end_ms));
        match table.get_mut("suppress").and_then(Value::as_array_mut) {
            Some(list) => list.push(Value::Table(period)),
            None => {
                table.insert(
                    "suppress".to_owned(),
                    Value::Array(vec![Value::Table(period)]),
                );
            }
        }
    }
    Ok(())
}

/// Where operator rules are read from: `detect.rules_file`, else `rules.toml` in the data dir
/// when it exists.
pub fn rules_source(config: &crate::config::Config) -> Option<PathBuf> {
    match &config.detect.rules_file {
        Some(path) => Some(path.clone()),
        None => {
            let path = config.server.data_dir.join("rules.toml");
            path.exists().then_some(path)
        }
    }
}

/// Where operator edits are written.
pub fn rules_target(config: &crate::config::Config) -> PathBuf {
    config
        .detect
        .rules_file
        .clone()
        .unwrap_or_else(|| config.server.data_dir.join("rules.toml"))
}

/// Writes `text` to `path` through a temporary file in the same folder, so a reader never
/// sees half a file.
fn write_atomically(path: &Path, text: &str) -> Result<(), AppError> {
    let fail = |e: std::io::Error| invalid(format!("{}: cannot write: {e}", path.display()));
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(fail)?;
    let tmp = folder.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("rules.toml")
    ));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

impl App {
    /// The effective rules with what each found in the last day of event time.
    pub async fn rules(&self, caller: &Caller) -> Result<RulesView, AppError> {
        authorize(caller, Operation::ListRules)?;
        let file = rules_target(&self.config);
        let file_text = std::fs::read_to_string(&file).unwrap_or_default();
        let operator = tables(&file_text);
        let builtin = tables(detect::BUILTIN_RULES_TOML);
        let mut ordered: Vec<(Table, RuleOrigin)> = builtin
            .into_iter()
            .map(|t| {
                match operator
                    .iter()
                    .find(|o| name_of(o).is_some() && name_of(o) == name_of(&t))
                {
                    Some(o) => (o.clone(), RuleOrigin::Override),
                    None => (t, RuleOrigin::Builtin),
                }
            })
            .collect();
        for table in &operator {
            if !ordered.iter().any(|(t, _)| name_of(t) == name_of(table)) {
                ordered.push((table.clone(), RuleOrigin::Operator));
            }
        }
        let since = self
            .pipeline
            .evaluated_through()
            .unwrap_or_else(crate::remediation::now_ms)
            .saturating_sub(24 * 3_600_000);
        let counts: BTreeMap<String, (u64, i64)> = self
            .ledger_ref()
            .detector_counts(since)
            .await
            .map_err(|source| AppError::Ledger { source })?
            .into_iter()
            .map(|(d, n, last)| (d, (n, last)))
            .collect();
        let environment = self.config.detect.environment;
        let running = self.pipeline.rules();
        let mut rules = Vec::new();
        for (table, origin) in ordered {
            let Some(name) = name_of(&table).map(str::to_owned) else {
                continue;
            };
            // The parsed rule says what runs; the table says how it was written.
            let Some(rule) = running.rules.iter().find(|r| r.name == name) else {
                continue;
            };
            let condition = table.get("condition").and_then(Value::as_table);
            let threshold = condition.and_then(|c| {
                let key = threshold_key(c)?;
                Some((key.to_owned(), number(c.get(key)?)?))
            });
            let (recent_findings, last) = counts.get(&name).copied().unwrap_or((0, 0));
            rules.push(RuleView {
                incident_type: rule.incident_type,
                severity: rule.severity,
                select: rule.select.clone(),
                window: table
                    .get("window")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                condition: condition.map(inline).unwrap_or_default(),
                origin,
                environments: rule
                    .environments
                    .iter()
                    .map(|e| e.as_str().to_owned())
                    .collect(),
                enabled_here: rule.enabled_in(environment),
                cooldown: table
                    .get("cooldown")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                escalate: rule.escalate.as_ref().map(|e| (e.above, e.severity)),
                suppress: rule.suppress.len(),
                labels: rule.labels.clone(),
                threshold,
                recent_findings,
                last_finding_ms: (recent_findings > 0).then_some(last),
                name,
            });
        }
        Ok(RulesView {
            rules,
            file,
            file_text,
            environment: environment.as_str(),
            suggestions: self.config.detect.suggestions.as_str(),
        })
    }

    /// Replaces the operator rules file with `text` when it is valid (each problem as
    /// `FILE:LINE: reason`, nothing changed otherwise), then reloads the rules. Returns how
    /// many rules now run.
    pub async fn save_rules(&self, caller: &Caller, text: &str) -> Result<usize, AppError> {
        authorize(caller, Operation::EditRules)?;
        let count = self.write_rules(text)?;
        self.audit_rules(caller, AuditKind::RulesSaved, "rules.save", text)?;
        Ok(count)
    }

    /// Changes one rule through the form: the effective rule (built-in or operator) with the
    /// edit applied is written as an operator override.
    pub async fn edit_rule(
        &self,
        caller: &Caller,
        name: &str,
        edit: &RuleEdit,
    ) -> Result<usize, AppError> {
        authorize(caller, Operation::EditRules)?;
        let file = rules_target(&self.config);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        let mut operator = tables(&current);
        if !current.trim().is_empty() && operator.is_empty() && current.contains("[[rule]]") {
            return Err(invalid(format!(
                "{} does not parse; fix it in the editor first",
                file.display()
            )));
        }
        let base = operator
            .iter()
            .find(|t| name_of(t) == Some(name))
            .cloned()
            .or_else(|| {
                tables(detect::BUILTIN_RULES_TOML)
                    .into_iter()
                    .find(|t| name_of(t) == Some(name))
            })
            .ok_or_else(|| AppError::NotFound {
                what: "rule",
                id: name.to_owned(),
            })?;
        let mut edited = base;
        apply(&mut edited, edit)?;
        match operator.iter_mut().find(|t| name_of(t) == Some(name)) {
            Some(slot) => *slot = edited,
            None => operator.push(edited),
        }
        let text = render(&operator)?;
        let count = self.write_rules(&text)?;
        self.audit_rules(
            caller,
            AuditKind::RulesSaved,
            &format!("rules.edit.{name}"),
            &text,
        )?;
        Ok(count)
    }

    /// Adds (or replaces by name) one `[[rule]]` table of TOML text in the operator file and
    /// reloads: how an accepted suggestion becomes a rule.
    pub(crate) fn add_rule_text(&self, rule_toml: &str) -> Result<usize, AppError> {
        let added = tables(rule_toml);
        if added.is_empty() {
            return Err(invalid("the suggestion holds no [[rule]] table"));
        }
        let file = rules_target(&self.config);
        let mut operator = tables(&std::fs::read_to_string(&file).unwrap_or_default());
        for table in added {
            match operator.iter_mut().find(|t| name_of(t) == name_of(&table)) {
                Some(slot) => *slot = table,
                None => operator.push(table),
            }
        }
        self.write_rules(&render(&operator)?)
    }

    /// Replaces the policy's `[allow] resources` (the resources automatic and approved
    /// actions may touch, within the kinds the action families act on) and reloads the
    /// policy. The rest of the file is kept as written; an invalid list is refused with
    /// `FILE:LINE: reason` and the file is left as it was. Admin only.
    pub async fn edit_allowlist(
        &self,
        caller: &Caller,
        resources: &[String],
    ) -> Result<crate::remediation::PolicyReload, AppError> {
        authorize(caller, Operation::EditAllowlist)?;
        let remediation = self.remediation.as_ref().ok_or(AppError::RemediationOff)?;
        let file = remediation.policy_file().to_owned();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| invalid(format!("{}: cannot read: {e}", file.display())))?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
        let mut list = toml_edit::Array::new();
        for resource in resources.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            list.push(resource);
        }
        let allow = doc
            .entry("allow")
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        let Some(allow) = allow.as_table_like_mut() else {
            return Err(invalid(format!(
                "{}: [allow] is not a table",
                file.display()
            )));
        };
        allow.insert("resources", toml_edit::value(list));
        let new_text = doc.to_string();
        let file_name = file.display().to_string();
        if let Err(errors) = policy::Policy::from_toml_str(&new_text, &file_name) {
            return Err(invalid(errors.to_string()));
        }
        write_atomically(&file, &new_text)?;
        match self.reload_policy(caller).await {
            Ok(done) => {
                if let Some(remediation) = &self.remediation {
                    remediation
                        .record(AuditRecord {
                            at_ms: crate::remediation::now_ms(),
                            who: by(caller),
                            kind: AuditKind::AllowlistSaved,
                            incident_id: None,
                            action: None,
                            why: "policy.allow.resources".to_owned(),
                            detail: format!("{} resources allowlisted", resources.len()),
                            evidence_ids: Vec::new(),
                            before: Some(serde_json::json!({"sha256": done.old_sha256})),
                            after: Some(serde_json::json!({"sha256": done.new_sha256})),
                        })
                        .map_err(|source| AppError::Remediation { source })?;
                }
                Ok(done)
            }
            Err(error) => {
                write_atomically(&file, &text)?;
                Err(error)
            }
        }
    }

    fn write_rules(&self, text: &str) -> Result<usize, AppError> {
        if text.len() > MAX_RULES_BYTES {
            return Err(invalid(format!(
                "the rules file is {} bytes, over the limit of {MAX_RULES_BYTES}",
                text.len()
            )));
        }
        let file = rules_target(&self.config);
        RuleSet::parse(text, &file).map_err(|e| invalid(e.to_string()))?;
        // The whole set must load as it will at start (built-in pack, then this file).
        let previous = std::fs::read_to_string(&file).ok();
        write_atomically(&file, text)?;
        match crate::pipeline::load_rules(Some(&file)) {
            Ok(rules) => Ok(self.pipeline.reload(rules)),
            Err(error) => {
                match previous {
                    Some(old) => write_atomically(&file, &old)?,
                    None => {
                        let _ = std::fs::remove_file(&file);
                    }
                }
                Err(invalid(error.to_string()))
            }
        }
    }

    fn audit_rules(
        &self,
        caller: &Caller,
        kind: AuditKind,
        why: &str,
        text: &str,
    ) -> Result<(), AppError> {
        use sha2::Digest;
        if let Some(remediation) = &self.remediation {
            let digest: String = sha2::Sha256::digest(text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            remediation
                .record(AuditRecord {
                    at_ms: crate::remediation::now_ms(),
                    who: by(caller),
                    kind,
                    incident_id: None,
                    action: None,
                    why: why.to_owned(),
                    detail: format!(
                        "{} rewritten (sha256 {digest})",
                        rules_target(&self.config).display()
                    ),
                    evidence_ids: Vec::new(),
                    before: None,
                    after: None,
                })
                .map_err(|source| AppError::Remediation { source })?;
        }
        tracing::info!(by = %caller.name, "operator rules saved and reloaded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Table {
        tables(detect::BUILTIN_RULES_TOML)
            .into_iter()
            .find(|t| name_of(t) == Some(name))
            .unwrap()
    }

    #[test]
    fn an_edited_builtin_rule_renders_as_a_valid_override() {
        let mut rule = builtin("crash_loop_restarts");
        apply(
            &mut rule,
            &RuleEdit {
                threshold: Some(6.5),
                severity: Some(Severity::Warning),
                escalate: Some(Some((12.0, Severity::Critical))),
                environments: Some(vec![Environment::Prod, Environment::Staging]),
                cooldown: Some(Some("10m".into())),
                labels: Some(BTreeMap::from([("team".into(), "payments".into())])),
                suppress: Some((1_000, 2_000)),
            },
        )
        .unwrap();
        let text = render(&[rule]).unwrap();
        let set = RuleSet::parse(&text, Path::new("rules.toml")).unwrap_or_else(|e| panic!("{e}"));
        let parsed = &set.rules[0];
        assert_eq!(parsed.severity, Severity::Warning);
        assert!(parsed.enabled_in(Environment::Staging));
        assert!(!parsed.enabled_in(Environment::Demo));
        assert_eq!(parsed.escalate.as_ref().unwrap().above, 12.0);
        assert_eq!(parsed.suppress.len(), 1);
        assert_eq!(parsed.labels["team"], "payments");
        match &parsed.condition {
            detect::Condition::Threshold { value, .. } => assert_eq!(*value, 6.5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_edits_are_refused() {
        let mut rule = builtin("deployment_replicas_missing");
        let err = apply(
            &mut rule,
            &RuleEdit {
                threshold: Some(1.0),
                ..RuleEdit::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("no threshold"), "{err}");
        let mut rule = builtin("crash_loop_restarts");
        assert!(
            apply(
                &mut rule,
                &RuleEdit {
                    cooldown: Some(Some("soon".into())),
                    ..RuleEdit::default()
                }
            )
            .is_err()
        );
        assert!(
            apply(
                &mut rule,
                &RuleEdit {
                    suppress: Some((5, 5)),
                    ..RuleEdit::default()
                }
            )
            .is_err()
        );
    }
}
