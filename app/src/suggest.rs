//! Rule suggestions learned from what repeats: a log template that rises in several incidents
//! with no rule on it, an alert name that always lands in one incident type, a threshold
//! operators marked noise again and again. Stored in the ledger with the evidence behind
//! them; accepted (into the operator rules file) or rejected by an operator.
//!
//! `[detect] suggestions = "training_auto_create"` (never in `prod`) accepts them at once:
//! they are detector rules, which raise candidates; what runs on the cluster stays the
//! policy's decision.

use crate::config::SuggestionMode;
use crate::service::{App, AppError, by};
use crate::{Caller, Operation, authorize};
use incident::{RuleSuggestion, SuggestionStatus};
use model::{IncidentType, Scope};
use policy::{AuditKind, AuditRecord};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use windows::{Selector, WindowQuery, WindowSpan};

/// Distinct incidents a pattern must appear in before a rule is suggested.
pub const MIN_INCIDENTS: usize = 3;

/// Recent incidents looked at per pass.
const INCIDENTS_PER_PASS: u32 = 100;

/// How often suggestions are learned.
const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

fn hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn suggestion(
    kind: &str,
    key: &str,
    title: String,
    rule_toml: String,
    evidence: serde_json::Value,
) -> RuleSuggestion {
    let fingerprint = format!("{kind}/{key}");
    RuleSuggestion {
        id: format!("sug-{}", hash(&fingerprint)),
        fingerprint,
        kind: kind.to_owned(),
        status: SuggestionStatus::Pending,
        title,
        rule_toml,
        evidence,
        created_at_ms: crate::remediation::now_ms(),
        decided_by: None,
        decided_at_ms: None,
        note: None,
    }
}

/// A name safe inside a rule name: letters, digits and `_`, lowercase.
fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut last_underscore = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && !out.is_empty() && !last_underscore {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            last_underscore = false;
        } else if !last_underscore && !out.is_empty() {
            out.push('_');
            last_underscore = true;
        }
    }
    out.trim_end_matches('_').chars().take(60).collect()
}

/// A label value that can go inside a selector's quotes as it is.
fn plain_value(text: &str) -> bool {
    !text.is_empty() && text.len() <= 200 && !text.contains(['"', '\\', '\n'])
}

/// The label that names a target of `scope` in Kubernetes' usual series.
fn target_label(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::Deployment => Some("deployment"),
        Scope::Pod => Some("pod"),
        Scope::Node => Some("node"),
        Scope::Service => Some("service"),
        Scope::Namespace => Some("namespace"),
        Scope::Job => Some("job_name"),
        Scope::Container => Some("container"),
        Scope::Cluster | Scope::Series | Scope::Release | Scope::Ingress => None,
    }
}

fn by_labels(scope: Scope, label: &str) -> Vec<String> {
    let mut by = Vec::new();
    if !matches!(scope, Scope::Node | Scope::Namespace) {
        by.push("namespace".to_owned());
    }
    if !by.iter().any(|b| b == label) {
        by.push(label.to_owned());
    }
    by
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// An alert name whose findings landed in at least [`MIN_INCIDENTS`] incidents, all of one
/// type, with no rule on its `ALERTS` series: a rule over that series makes the engine's own
/// rules back the alert.
async fn alert_names(app: &App, rules: &detect::RuleSet) -> Result<Vec<RuleSuggestion>, AppError> {
    let ledger = app.ledger_ref();
    let findings = ledger
        .findings_of_detector(incident::alertmanager::ALERTMANAGER_DETECTOR, 5_000)
        .await
        .map_err(|source| AppError::Ledger { source })?;
    // alertname → incident ids and the scope and label the alert named its target by.
    let mut seen: BTreeMap<String, (BTreeSet<String>, Scope, model::Severity)> = BTreeMap::new();
    for finding in &findings {
        let Some(name) = finding
            .candidate
            .evidence
            .events
            .iter()
            .find_map(|e| e.labels.get("alertname").map(str::to_owned))
        else {
            continue;
        };
        let entry = seen.entry(name).or_insert_with(|| {
            (
                BTreeSet::new(),
                finding.candidate.scope,
                finding.candidate.severity,
            )
        });
        entry.0.insert(finding.incident_id.clone());
    }
    let mut out = Vec::new();
    for (name, (incidents, scope, severity)) in seen {
        if incidents.len() < MIN_INCIDENTS || !plain_value(&name) {
            continue;
        }
        let covered = rules
            .rules
            .iter()
            .any(|r| r.select.contains(&format!("alertname=\"{name}\"")));
        let Some(label) = target_label(scope) else {
            continue;
        };
        if covered {
            continue;
        }
        let mut types = BTreeSet::new();
        for id in &incidents {
            let incident = ledger
                .incident(id)
                .await
                .map_err(|source| AppError::Ledger { source })?;
            let incident = match incident {
                Some(i) if i.merged_into.is_some() => ledger
                    .incident(i.merged_into.as_deref().unwrap_or_default())
                    .await
                    .map_err(|source| AppError::Ledger { source })?,
                other => other,
            };
            if let Some(incident) = incident {
                types.insert(incident.incident_type);
            }
        }
        let [incident_type] = types.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let rule_name = format!("alert_{}", slug(&name));
        let rule = format!(
            "[[rule]]\nname = {rule_name:?}\ntype = {:?}\nseverity = {:?}\n\
             select = 'ALERTS{{alertname=\"{name}\",alertstate=\"firing\"}}'\nby = {}\n\
             window = \"2m\"\ncondition = {{ kind = \"threshold\", aggregate = \"max\", op = \">=\", value = 1.0 }}\n\
             target = {{ scope = {:?}, label = {label:?} }}\n",
            incident_type.as_str(),
            severity.as_str(),
            toml_list(&by_labels(scope, label)),
            scope.as_str(),
        );
        out.push(suggestion(
            "alert_name",
            &name,
            format!(
                "Alert {name} landed in {} incidents, every one of type {}: let a rule on its \
                 ALERTS series raise {} itself.",
                incidents.len(),
                incident_type.as_str(),
                incident_type.as_str()
            ),
            rule,
            json!({"alertname": name, "incidents": incidents, "incident_type": incident_type}),
        ));
    }
    Ok(out)
}

/// A log template that rose (more lines in the incident's window than in as long a window
/// before it) in at least [`MIN_INCIDENTS`] incidents of one type, with no rule on it.
async fn log_templates(
    app: &App,
    rules: &detect::RuleSet,
) -> Result<Vec<RuleSuggestion>, AppError> {
    let Ok(selector) = Selector::parse(rca::logstore::LOG_LINES_METRIC) else {
        return Ok(Vec::new());
    };
    let incidents = app
        .ledger_ref()
        .recent(INCIDENTS_PER_PASS)
        .await
        .map_err(|source| AppError::Ledger { source })?;
    let window = WindowSpan { ms: 25 * 60_000 };
    // template → (incident ids, types, stream label naming the workload, smallest rise)
    let mut seen: BTreeMap<String, (BTreeSet<String>, BTreeSet<IncidentType>, String, f64)> =
        BTreeMap::new();
    for incident in &incidents {
        let Some(store) = app.sources.get(&incident.source) else {
            continue;
        };
        let during = store.window(&WindowQuery {
            selectors: vec![selector.clone()],
            window,
            at_ms: Some(incident.opened_at_ms + 15 * 60_000),
            by: None,
        });
        let before = store.window(&WindowQuery {
            selectors: vec![selector.clone()],
            window,
            at_ms: Some(incident.opened_at_ms - 10 * 60_000),
            by: None,
        });
        for row in &during.series {
            if !rca::logstore::belongs_to(&row.labels, &incident.target) {
                continue;
            }
            let Some(template) = row.labels.get("template").map(str::to_owned) else {
                continue;
            };
            let rise = row.aggregates.increase.unwrap_or(0.0);
            let earlier = before
                .series
                .iter()
                .find(|b| b.labels == row.labels)
                .and_then(|b| b.aggregates.increase)
                .unwrap_or(0.0);
            if rise <= earlier.max(0.0) || rise < 1.0 {
                continue;
            }
            let label = ["app", "service", "deployment", "pod", "container"]
                .into_iter()
                .find(|l| row.labels.get(l).is_some())
                .unwrap_or("pod")
                .to_owned();
            let entry = seen
                .entry(template)
                .or_insert_with(|| (BTreeSet::new(), BTreeSet::new(), label, f64::MAX));
            entry.0.insert(incident.id.clone());
            entry.1.insert(incident.incident_type);
            entry.3 = entry.3.min(rise);
        }
    }
    let mut out = Vec::new();
    for (template, (ids, types, label, rise)) in seen {
        if ids.len() < MIN_INCIDENTS || !plain_value(&template) {
            continue;
        }
        let [incident_type] = types.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let covered = rules
            .rules
            .iter()
            .any(|r| r.select.contains(&format!("template=\"{template}\"")));
        if covered {
            continue;
        }
        let text = app
            .logs
            .lock()
            .template_text(&template)
            .unwrap_or_else(|| format!("template {template}"));
        let from_pod = label == "pod";
        let threshold = (rise / 2.0).floor().max(1.0);
        let rule = format!(
            "[[rule]]\nname = \"log_template_{template}\"\ntype = {:?}\nseverity = \"warning\"\n\
             select = '{}{{template=\"{template}\"}}'\nby = [\"namespace\", {label:?}]\n\
             window = \"5m\"\ncondition = {{ kind = \"threshold\", aggregate = \"increase\", op = \">\", value = {threshold:.1} }}\n\
             target = {{ scope = \"deployment\", label = {label:?}{} }}\n",
            incident_type.as_str(),
            rca::logstore::LOG_LINES_METRIC,
            if from_pod { ", from_pod = true" } else { "" },
        );
        out.push(suggestion(
            "log_template",
            &template,
            format!(
                "The log line \u{201c}{text}\u{201d} rose in {} {} incidents and no rule watches \
                 it: raise {} when it appears more than {threshold} times in 5 minutes.",
                ids.len(),
                incident_type.as_str(),
                incident_type.as_str()
            ),
            rule,
            json!({"template": template, "text": text, "incidents": ids, "incident_type": incident_type}),
        ));
    }
    Ok(out)
}

/// A rule operators marked noise on at least [`MIN_INCIDENTS`] incidents: raise its threshold
/// by half.
async fn noisy_thresholds(
    app: &App,
    rules: &detect::RuleSet,
) -> Result<Vec<RuleSuggestion>, AppError> {
    let noise = app
        .ledger_ref()
        .noise_by_detector(10_000)
        .await
        .map_err(|source| AppError::Ledger { source })?;
    let mut by_rule: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (detector, incident) in noise {
        by_rule.entry(detector).or_default().insert(incident);
    }
    let mut out = Vec::new();
    for (name, incidents) in by_rule {
        if incidents.len() < MIN_INCIDENTS {
            continue;
        }
        let Some(rule) = rules.rules.iter().find(|r| r.name == name) else {
            continue;
        };
        use detect::{Comparison, Condition};
        let current = match &rule.condition {
            Condition::Threshold {
                op: Comparison::Above | Comparison::AtLeast,
                value,
                ..
            } => *value,
            Condition::RateOfChange { above, .. }
            | Condition::Slope { above, .. }
            | Condition::BaselineRatio { above, .. }
            | Condition::Ratio { above, .. } => *above,
            _ => continue,
        };
        if current <= 0.0 {
            continue;
        }
        let raised = current * 1.5;
        let edit = crate::rules_edit::RuleEdit {
            threshold: Some(raised),
            ..crate::rules_edit::RuleEdit::default()
        };
        let Some(mut table) = rule_table(app, &name) else {
            continue;
        };
        if crate::rules_edit::apply(&mut table, &edit).is_err() {
            continue;
        }
        let Ok(rule_toml) = crate::rules_edit::render(&[table]) else {
            continue;
        };
        out.push(suggestion(
            "noisy_threshold",
            &format!("{name}@{current}"),
            format!(
                "{name} was marked noise on {} incidents: raise its threshold from {current} to \
                 {raised}.",
                incidents.len()
            ),
            rule_toml,
            json!({"rule": name, "incidents": incidents, "from": current, "to": raised}),
        ));
    }
    Ok(out)
}

/// The rule's table as the operator file or the built-in pack writes it.
fn rule_table(app: &App, name: &str) -> Option<toml::Table> {
    let file = crate::rules_edit::rules_target(&app.config);
    let operator = std::fs::read_to_string(file).unwrap_or_default();
    for text in [operator.as_str(), detect::BUILTIN_RULES_TOML] {
        let Ok(table) = text.parse::<toml::Table>() else {
            continue;
        };
        let found = table
            .get("rule")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
            .find(|t| t.get("name").and_then(toml::Value::as_str) == Some(name))
            .cloned();
        if found.is_some() {
            return found;
        }
    }
    None
}

impl App {
    /// One learning pass: stores suggestions not seen before (and, in training mode outside
    /// prod, accepts them at once). Returns how many were new.
    pub async fn learn_rules(&self) -> Result<usize, AppError> {
        let mode = self.config.detect.suggestions;
        if mode == SuggestionMode::Disabled {
            return Ok(0);
        }
        let rules = self.pipeline.rules();
        let mut found = alert_names(self, &rules).await?;
        found.extend(log_templates(self, &rules).await?);
        found.extend(noisy_thresholds(self, &rules).await?);
        let mut new = 0;
        for s in found {
            if !self
                .ledger_ref()
                .add_suggestion(&s)
                .await
                .map_err(|source| AppError::Ledger { source })?
            {
                continue;
            }
            new += 1;
            tracing::info!(suggestion = %s.id, kind = %s.kind, "rule suggested");
            let training = mode == SuggestionMode::TrainingAutoCreate
                && self.config.detect.environment != detect::Environment::Prod;
            if training {
                let robot = Caller {
                    name: "robot (training)".to_owned(),
                    role: crate::Role::Operate,
                    policy_role: None,
                };
                if let Err(error) = self.accept_suggestion(&robot, &s.id).await {
                    tracing::warn!(suggestion = %s.id, %error, "training mode could not add the rule");
                }
            }
        }
        Ok(new)
    }

    /// Learns suggestions every minute until the runtime stops.
    pub async fn run_suggestions(self: Arc<Self>) {
        if self.config.detect.suggestions == SuggestionMode::Disabled {
            return;
        }
        loop {
            tokio::time::sleep(EVERY).await;
            if let Err(error) = self.learn_rules().await {
                tracing::warn!(error = %model::error::chain(&error), "learning rule suggestions failed");
            }
        }
    }

    /// Rule suggestions of one status (or all), newest first.
    pub async fn rule_suggestions(
        &self,
        caller: &Caller,
        status: Option<SuggestionStatus>,
    ) -> Result<Vec<RuleSuggestion>, AppError> {
        authorize(caller, Operation::ListSuggestions)?;
        self.ledger_ref()
            .suggestions(status)
            .await
            .map_err(|source| AppError::Ledger { source })
    }

    async fn pending_suggestion(&self, id: &str) -> Result<RuleSuggestion, AppError> {
        let found = self
            .ledger_ref()
            .suggestion(id)
            .await
            .map_err(|source| AppError::Ledger { source })?
            .ok_or_else(|| AppError::NotFound {
                what: "rule suggestion",
                id: id.to_owned(),
            })?;
        if found.status != SuggestionStatus::Pending {
            return Err(AppError::Invalid {
                reason: format!("suggestion {id} is already {}", found.status.as_str()),
            });
        }
        Ok(found)
    }

    /// Adds the suggested rule to the operator rules file (checked as any edit is) and
    /// reloads the rules; the suggestion is marked accepted.
    pub async fn accept_suggestion(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RuleSuggestion, AppError> {
        authorize(caller, Operation::AcceptSuggestion)?;
        let found = self.pending_suggestion(id).await?;
        self.add_rule_text(&found.rule_toml)?;
        self.decide(caller, &found, SuggestionStatus::Accepted, None)
            .await
    }

    /// Marks a suggestion rejected, with an optional note; it is never proposed again.
    pub async fn reject_suggestion(
        &self,
        caller: &Caller,
        id: &str,
        note: Option<&str>,
    ) -> Result<RuleSuggestion, AppError> {
        authorize(caller, Operation::RejectSuggestion)?;
        let found = self.pending_suggestion(id).await?;
        self.decide(caller, &found, SuggestionStatus::Rejected, note)
            .await
    }

    async fn decide(
        &self,
        caller: &Caller,
        found: &RuleSuggestion,
        status: SuggestionStatus,
        note: Option<&str>,
    ) -> Result<RuleSuggestion, AppError> {
        let now = crate::remediation::now_ms();
        let done = self
            .ledger_ref()
            .decide_suggestion(&found.id, status, &by(caller), now, note)
            .await
            .map_err(|source| AppError::Ledger { source })?;
        if !done {
            return Err(AppError::Invalid {
                reason: format!("suggestion {} was decided meanwhile", found.id),
            });
        }
        if let Some(remediation) = &self.remediation {
            remediation
                .record(AuditRecord {
                    at_ms: now,
                    who: by(caller),
                    kind: if status == SuggestionStatus::Accepted {
                        AuditKind::SuggestionAccepted
                    } else {
                        AuditKind::SuggestionRejected
                    },
                    incident_id: None,
                    action: None,
                    why: format!("suggestion.{}", found.kind),
                    detail: format!("{}: {}", found.id, found.title),
                    evidence_ids: Vec::new(),
                    before: None,
                    after: None,
                })
                .map_err(|source| AppError::Remediation { source })?;
        }
        self.ledger_ref()
            .suggestion(&found.id)
            .await
            .map_err(|source| AppError::Ledger { source })?
            .ok_or_else(|| AppError::NotFound {
                what: "rule suggestion",
                id: found.id.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_values() {
        assert_eq!(slug("KubePodCrashLooping"), "kube_pod_crash_looping");
        assert_eq!(slug("a--b"), "a_b");
        assert!(plain_value("KubeX"));
        assert!(!plain_value("a\"b"));
        assert_eq!(by_labels(Scope::Node, "node"), vec!["node".to_owned()]);
        assert_eq!(
            by_labels(Scope::Deployment, "deployment"),
            vec!["namespace".to_owned(), "deployment".to_owned()]
        );
    }

    #[test]
    fn suggested_rules_parse() {
        let rule = format!(
            "[[rule]]\nname = \"alert_kube_thing\"\ntype = \"crash_loop\"\nseverity = \"warning\"\n\
             select = 'ALERTS{{alertname=\"KubeThing\",alertstate=\"firing\"}}'\nby = {}\n\
             window = \"2m\"\ncondition = {{ kind = \"threshold\", aggregate = \"max\", op = \">=\", value = 1.0 }}\n\
             target = {{ scope = \"deployment\", label = \"deployment\" }}\n",
            toml_list(&by_labels(Scope::Deployment, "deployment"))
        );
        detect::RuleSet::parse(&rule, std::path::Path::new("s.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
