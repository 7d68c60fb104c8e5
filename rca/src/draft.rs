//! The deterministic root-cause draft: ranked hypotheses citing evidence ids, what would refute
//! each, a read-only investigation plan, catalogue actions and similar past incidents.
//!
//! Works with no model at all. The same input gives the same output (no hashing, no clocks), and
//! every citation names an item of the draft's own evidence bundle, built from the input.

use std::collections::BTreeSet;

use model::{EventEvidence, IncidentType, LabelSet, MetricEvidence, Scope, Severity, Target};
use serde::{Deserialize, Serialize};

use crate::catalogue::{self, CauseSpec};
use crate::context::{Level, LogContext};
use crate::ranking::RankedService;

/// Namespaces agree and are known.
fn same_namespace(a: &Target, b: &Target) -> bool {
    a.namespace.is_some() && a.namespace == b.namespace
}

/// What the draft needs to know about the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: String,
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    pub severity: Severity,
    pub target: Target,
    pub opened_at_ms: i64,
    /// Signature of the primary finding, to recall past incidents with the same one.
    #[serde(default)]
    pub signature: Option<String>,
    /// Node the target runs on, where known.
    #[serde(default)]
    pub node: Option<String>,
}

/// What an evidence item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Metric,
    Log,
    Event,
    Change,
    /// A read-only tool's result kept in the ledger (`tool-...`), run by the draft's plan or
    /// the model.
    Tool,
}

/// One citable piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// Unique within a draft; what hypotheses and claims cite.
    pub id: String,
    pub kind: EvidenceKind,
    /// Rule, reason or signature name (`memory_leak_slope`, `OOMKilled`, `oom_killed`, `deploy`).
    pub name: String,
    /// One line for people (log-derived text is untrusted: it is fenced in prompts).
    pub summary: String,
    #[serde(default)]
    pub at_ms: Option<i64>,
    #[serde(default)]
    pub labels: LabelSet,
}

impl EvidenceRef {
    /// A metric observation, cited as `id`.
    pub fn from_metric(id: impl Into<String>, m: &MetricEvidence) -> Self {
        let expected = m
            .expected
            .map(|e| format!(" (expected {e})"))
            .unwrap_or_default();
        Self {
            id: id.into(),
            kind: EvidenceKind::Metric,
            name: m.rule.clone(),
            summary: format!(
                "{} {} over {} = {}{expected} [{}]",
                m.series.metric_name(),
                m.aggregate,
                m.window,
                m.observed,
                m.rule
            ),
            at_ms: Some(m.at_ms),
            labels: m.series.clone(),
        }
    }

    /// An event (alert, Kubernetes event, log signature), cited as `id`; origin `log` makes a
    /// log item.
    pub fn from_event(id: impl Into<String>, e: &EventEvidence) -> Self {
        Self {
            id: id.into(),
            kind: if e.origin == model::Origin::Log {
                EvidenceKind::Log
            } else {
                EvidenceKind::Event
            },
            name: e.reason.clone(),
            summary: format!("{}: {} ({})", e.reason, e.message, e.origin),
            at_ms: Some(e.at_ms),
            labels: e.labels.clone(),
        }
    }

    /// Lower-case text the catalogue's signals are matched against.
    fn signal_text(&self) -> String {
        let metric = self.labels.get("__name__").unwrap_or_default();
        format!("{} {} {metric}", self.name, self.summary).to_lowercase()
    }
}

/// A recent change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Deploy,
    Image,
    Config,
    Scale,
}

impl ChangeKind {
    fn noun(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::Image => "image change",
            ChangeKind::Config => "config change",
            ChangeKind::Scale => "scaling change",
        }
    }

    fn remedies(self) -> &'static [&'static str] {
        match self {
            ChangeKind::Deploy | ChangeKind::Image => &["rollback_deployment"],
            ChangeKind::Config => &["patch_config", "reconcile_release", "rollback_deployment"],
            ChangeKind::Scale => &["scale_deployment"],
        }
    }
}

/// A deploy, image change, config change or scaling change, cited by `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub kind: ChangeKind,
    pub target: Target,
    pub at_ms: i64,
    /// What changed, e.g. `image payments:1.4.2 -> 1.4.3`.
    pub detail: String,
}

/// A past incident from the ledger and what fixed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastIncident {
    pub id: String,
    pub signature: String,
    /// Log template texts seen in it (its template fingerprint).
    #[serde(default)]
    pub templates: Vec<String>,
    /// What fixed it, in words.
    pub fix: String,
    /// Catalogue actions that fixed it.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Everything the draft rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftInput {
    pub incident: IncidentView,
    #[serde(default)]
    pub evidence: Vec<EvidenceRef>,
    #[serde(default)]
    pub log_context: Option<LogContext>,
    #[serde(default)]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub similar_past: Vec<PastIncident>,
    /// Services ranked by metric deviation (see [`crate::rank_services`]).
    #[serde(default)]
    pub ranked_services: Vec<RankedService>,
}

impl DraftInput {
    pub fn new(incident: IncidentView) -> Self {
        Self {
            incident,
            evidence: Vec::new(),
            log_context: None,
            changes: Vec::new(),
            similar_past: Vec::new(),
            ranked_services: Vec::new(),
        }
    }
}

/// Draft settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DraftConfig {
    /// How long before the incident a change counts as a candidate cause.
    pub change_window_ms: i64,
    /// Changes recorded up to this long after the incident opened still count (clock skew).
    pub change_skew_ms: i64,
    /// Most hypotheses kept.
    pub max_hypotheses: usize,
    /// Most log-context entries turned into evidence.
    pub max_log_entries: usize,
    /// Most investigation steps.
    pub max_steps: usize,
    /// Smallest robust deviation for a ranked service to become evidence.
    pub min_service_score: f64,
}

impl Default for DraftConfig {
    fn default() -> Self {
        Self {
            change_window_ms: 60 * 60 * 1000,
            change_skew_ms: 5 * 60 * 1000,
            max_hypotheses: 5,
            max_log_entries: 15,
            max_steps: 8,
            min_service_score: 3.0,
        }
    }
}

/// One ranked root-cause hypothesis (the seed's `{hypothesis, confidence, evidence}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// `h1`, `h2`, ... in rank order.
    pub id: String,
    /// Stable cause key (`memory_limit_exceeded`, `change_impact`, ...).
    pub cause: String,
    pub hypothesis: String,
    /// In `[0, 1]`, two decimals.
    pub confidence: f64,
    /// Ids of the evidence that supports it.
    pub evidence: Vec<String>,
    /// Ids of present evidence that weighs against it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contradicted_by: Vec<String>,
    /// Observations that would refute it.
    pub refuted_by: Vec<String>,
}

/// One read-only check to run next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvestigationStep {
    pub tool: String,
    pub args: std::collections::BTreeMap<String, String>,
    pub why: String,
    /// The hypothesis it tests.
    pub hypothesis: String,
    pub evidence: Vec<String>,
}

/// A catalogue action the draft recommends (policy decides whether it may run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendedAction {
    /// Catalogue name, e.g. `rollback_deployment`.
    pub action: String,
    /// `kind/namespace/name` of what it acts on.
    pub target: String,
    pub reason: String,
    /// The hypothesis or past incident it comes from.
    pub source: String,
}

/// A similar past incident and what fixed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarIncident {
    pub id: String,
    pub signature: String,
    /// `signature` or `template`.
    pub matched_on: String,
    pub fix: String,
    pub actions: Vec<String>,
}

/// The deterministic root-cause draft of one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub incident_id: String,
    pub incident_type: IncidentType,
    pub target: Target,
    pub root_causes: Vec<Hypothesis>,
    pub investigation_plan: Vec<InvestigationStep>,
    pub recommended_actions: Vec<RecommendedAction>,
    pub similar_incidents: Vec<SimilarIncident>,
    /// The evidence bundle: every id a hypothesis, step or claim may cite.
    pub evidence: Vec<EvidenceRef>,
}

impl Draft {
    /// Whether `id` names an item of the evidence bundle.
    pub fn has_evidence(&self, id: &str) -> bool {
        self.evidence.iter().any(|e| e.id == id)
    }

    /// Citations (by hypotheses and plan steps) that do not resolve to the bundle, and all
    /// citations: for the "share of citations that resolve" figure.
    pub fn citation_counts(&self) -> (usize, usize) {
        let cited = self
            .root_causes
            .iter()
            .flat_map(|h| h.evidence.iter().chain(&h.contradicted_by))
            .chain(self.investigation_plan.iter().flat_map(|s| &s.evidence));
        let mut total = 0;
        let mut unresolved = 0;
        for id in cited {
            total += 1;
            if !self.has_evidence(id) {
                unresolved += 1;
            }
        }
        (unresolved, total)
    }

    /// Names of the recommended actions, deduplicated, in order.
    pub fn action_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.recommended_actions {
            if !out.contains(&a.action) {
                out.push(a.action.clone());
            }
        }
        out
    }
}

/// Builds drafts.
#[derive(Debug, Clone, Default)]
pub struct Drafter {
    config: DraftConfig,
}

/// A hypothesis before ranking.
#[derive(Debug)]
struct Scored {
    cause: String,
    text: String,
    confidence: f64,
    evidence: Vec<String>,
    against: Vec<String>,
    refuted_by: Vec<String>,
    checks: Vec<(String, String)>,
    /// `(action, target)` pairs.
    actions: Vec<(String, String)>,
    /// Tie-break: change-impact first, then table order.
    order: usize,
}

fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// Whether `keyword` occurs in `text` at a word start.
fn has_signal(text: &str, keyword: &str) -> bool {
    text.match_indices(keyword).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

fn minutes(ms: i64) -> i64 {
    (ms.max(0) + 30_000) / 60_000
}

impl Drafter {
    pub fn new(config: DraftConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &DraftConfig {
        &self.config
    }

    /// Builds the draft of one incident.
    pub fn draft(&self, input: &DraftInput) -> Draft {
        let incident = &input.incident;
        let bundle = self.bundle(input);
        let target_text = incident.target.to_string();

        let mut scored: Vec<Scored> = Vec::new();
        scored.extend(self.change_hypotheses(input, &bundle));
        scored.extend(self.origin_hypothesis(input, &bundle));
        let table = catalogue::causes(incident.incident_type);
        let mut table_scored: Vec<Scored> = table
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| self.score_cause(spec, i, input, &bundle, false))
            .collect();
        if table_scored.is_empty()
            && let Some(spec) = table.first()
        {
            // No direct support: the type's most likely cause, resting on the symptoms.
            table_scored.extend(self.score_cause(spec, 0, input, &bundle, true));
        }
        scored.extend(table_scored);

        scored.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(a.order.cmp(&b.order))
                .then(a.cause.cmp(&b.cause))
        });
        let mut seen = BTreeSet::new();
        scored.retain(|s| seen.insert(s.text.clone()));
        scored.truncate(self.config.max_hypotheses);

        let root_causes: Vec<Hypothesis> = scored
            .iter()
            .enumerate()
            .map(|(i, s)| Hypothesis {
                id: format!("h{}", i + 1),
                cause: s.cause.clone(),
                hypothesis: s.text.clone(),
                confidence: round2(s.confidence),
                evidence: s.evidence.clone(),
                contradicted_by: s.against.clone(),
                refuted_by: s.refuted_by.clone(),
            })
            .collect();

        let investigation_plan = self.plan(input, &scored, &root_causes);
        let similar_incidents = similar(input);
        let recommended_actions = recommend(
            incident,
            &target_text,
            &scored,
            &root_causes,
            &similar_incidents,
        );

        Draft {
            incident_id: incident.id.clone(),
            incident_type: incident.incident_type,
            target: incident.target.clone(),
            root_causes,
            investigation_plan,
            recommended_actions,
            similar_incidents,
            evidence: bundle,
        }
    }

    /// The evidence bundle: input evidence, changes, log signatures and top log templates,
    /// ranked services; first occurrence of an id wins.
    fn bundle(&self, input: &DraftInput) -> Vec<EvidenceRef> {
        let mut out: Vec<EvidenceRef> = Vec::new();
        let mut ids = BTreeSet::new();
        let mut push = |e: EvidenceRef, out: &mut Vec<EvidenceRef>| {
            if !e.id.is_empty() && ids.insert(e.id.clone()) {
                out.push(e);
            }
        };
        for e in &input.evidence {
            push(e.clone(), &mut out);
        }
        for c in &input.changes {
            push(
                EvidenceRef {
                    id: c.id.clone(),
                    kind: EvidenceKind::Change,
                    name: c.kind.noun().replace(' ', "_"),
                    summary: format!("{} of {}: {}", c.kind.noun(), c.target, c.detail),
                    at_ms: Some(c.at_ms),
                    labels: LabelSet::default(),
                },
                &mut out,
            );
        }
        if let Some(ctx) = &input.log_context {
            for e in &ctx.evidence {
                push(EvidenceRef::from_event(e.id.clone(), e), &mut out);
            }
            let mut entries: Vec<(&LabelSet, &crate::context::CollapsedEntry)> = ctx
                .chunks
                .iter()
                .flat_map(|c| c.entries.iter().map(move |e| (&c.labels, e)))
                .filter(|(_, e)| e.level >= Level::Warn || e.novel || !e.signatures.is_empty())
                .collect();
            entries.sort_by(|a, b| {
                b.1.score
                    .total_cmp(&a.1.score)
                    .then(a.1.template_id.cmp(&b.1.template_id))
            });
            let mut kept = 0;
            for (labels, e) in entries {
                if kept >= self.config.max_log_entries {
                    break;
                }
                let name = if e.signatures.is_empty() {
                    if e.novel {
                        "novel_template"
                    } else {
                        "log_template"
                    }
                    .to_owned()
                } else {
                    e.signatures.join(",")
                };
                let level = serde_json::to_value(e.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let before = out.len();
                push(
                    EvidenceRef {
                        id: format!("tpl-{}", e.template_id),
                        kind: EvidenceKind::Log,
                        name,
                        summary: if e.template == e.example {
                            format!(
                                "{level} x{} {}line: {}",
                                e.count,
                                if e.novel { "new " } else { "" },
                                e.example
                            )
                        } else {
                            format!(
                                "{level} x{} {}template: {} | e.g. {}",
                                e.count,
                                if e.novel { "new " } else { "" },
                                e.template,
                                e.example
                            )
                        },
                        at_ms: Some(e.first_ms),
                        labels: labels.clone(),
                    },
                    &mut out,
                );
                kept += usize::from(out.len() > before);
            }
        }
        for r in &input.ranked_services {
            if r.score.is_finite() && r.score >= self.config.min_service_score {
                push(
                    EvidenceRef {
                        id: format!("rank-{}", r.service),
                        kind: EvidenceKind::Metric,
                        name: "service_rank".to_owned(),
                        summary: match &r.inherits_from {
                            Some(callee) => format!(
                                "service {} {} moved {:+.0}% ({:.1} IQRs) from its normal period, \
                                 following {callee}, which it calls",
                                r.service,
                                r.metric,
                                r.change * 100.0,
                                r.score
                            ),
                            None => format!(
                                "service {} {} moved {:+.0}% ({:.1} IQRs) from its normal period",
                                r.service,
                                r.metric,
                                r.change * 100.0,
                                r.score
                            ),
                        },
                        at_ms: None,
                        labels: LabelSet::default(),
                    },
                    &mut out,
                );
            }
        }
        out
    }

    fn score_cause(
        &self,
        spec: &CauseSpec,
        order: usize,
        input: &DraftInput,
        bundle: &[EvidenceRef],
        on_symptoms: bool,
    ) -> Option<Scored> {
        let target = input.incident.target.to_string();
        let mut support = Vec::new();
        let mut against = Vec::new();
        for e in bundle.iter().filter(|e| e.kind != EvidenceKind::Change) {
            let text = e.signal_text();
            if spec.refutes.iter().any(|k| has_signal(&text, k)) {
                against.push(e.id.clone());
            } else if spec.supports.iter().any(|k| has_signal(&text, k)) {
                support.push(e.id.clone());
            }
        }
        let confidence = if on_symptoms {
            support = input
                .evidence
                .iter()
                .filter(|e| matches!(e.kind, EvidenceKind::Metric | EvidenceKind::Event))
                .map(|e| e.id.clone())
                .collect();
            if support.is_empty() {
                return None;
            }
            spec.prior * 0.8
        } else {
            if support.is_empty() {
                return None;
            }
            let n = support.len().min(6) as i32;
            // Causes listed later for this type start lower.
            let prior = spec.prior * (1.0 - 0.1 * order.min(5) as f64);
            prior + (0.9 - prior) * (1.0 - 0.6f64.powi(n)) * 0.8 - 0.2 * against.len().min(2) as f64
        };
        let name = &input.incident.target.name;
        Some(Scored {
            cause: spec.key.to_owned(),
            text: spec.text.replace("{target}", name),
            confidence: confidence.clamp(0.05, 0.95),
            evidence: support,
            against,
            refuted_by: vec![spec.refuted_by.replace("{target}", name)],
            checks: spec
                .checks
                .iter()
                .map(|c| (c.tool.to_owned(), c.why.to_owned()))
                .collect(),
            actions: spec
                .actions
                .iter()
                .map(|a| ((*a).to_owned(), target.clone()))
                .collect(),
            order: 10 + order,
        })
    }

    /// Change-impact: a change shortly before the incident on the same workload ranks high; a
    /// change to a neighbour in the same namespace ranks low.
    fn change_hypotheses(&self, input: &DraftInput, bundle: &[EvidenceRef]) -> Vec<Scored> {
        let incident = &input.incident;
        let window = self.config.change_window_ms.max(1);
        let mut out = Vec::new();
        for (i, change) in input.changes.iter().enumerate() {
            let before = incident.opened_at_ms - change.at_ms;
            if before > window || before < -self.config.change_skew_ms {
                continue;
            }
            let same = incident.target.same_workload(&change.target);
            if !same && !same_namespace(&incident.target, &change.target) {
                continue;
            }
            let closeness = 1.0 - before.max(0) as f64 / window as f64;
            // Symptoms after the change support it; symptoms that predate it weigh against it.
            let mut after = Vec::new();
            let mut prior = Vec::new();
            for e in bundle.iter().filter(|e| e.kind != EvidenceKind::Change) {
                match e.at_ms {
                    Some(t) if t >= change.at_ms => after.push(e.id.clone()),
                    Some(_) => prior.push(e.id.clone()),
                    None => {}
                }
            }
            after.truncate(5);
            prior.truncate(5);
            let type_bonus = match incident.incident_type {
                IncidentType::DeployRegression | IncidentType::ConfigDrift => 0.05,
                _ => 0.0,
            };
            let base = if same {
                0.6 + 0.25 * closeness
            } else {
                0.2 + 0.15 * closeness
            };
            let confidence = (base + type_bonus + 0.03 * after.len().min(3) as f64
                - 0.15 * prior.len().min(2) as f64)
                .min(if same { 0.93 } else { 0.6 });
            let mins = minutes(before);
            let when = if before >= 0 {
                format!("{mins} min before the incident")
            } else {
                format!("{} min after the incident opened", minutes(-before))
            };
            let text = if same {
                format!(
                    "The {} of {} {when} ({}) introduced the fault",
                    change.kind.noun(),
                    change.target.name,
                    change.detail
                )
            } else {
                format!(
                    "The {} of neighbouring {} {when} ({}) affects {}",
                    change.kind.noun(),
                    change.target.name,
                    change.detail,
                    incident.target.name
                )
            };
            let mut evidence = vec![change.id.clone()];
            evidence.extend(after);
            let ns = change.target.namespace.clone().unwrap_or_default();
            out.push(Scored {
                cause: if same {
                    "change_impact".to_owned()
                } else {
                    "neighbour_change".to_owned()
                },
                text,
                confidence: confidence.clamp(0.05, 0.95),
                evidence,
                against: prior,
                refuted_by: vec![
                    format!(
                        "the symptom started before the {} of {}",
                        change.kind.noun(),
                        change.target.name
                    ),
                    "reverting the change does not clear the symptom".to_owned(),
                ],
                checks: vec![
                    (
                        "rollout.history".to_owned(),
                        format!("what exactly changed in {} ({ns})", change.target.name),
                    ),
                    (
                        "release_drift.summary".to_owned(),
                        "difference between the live and the previous release".to_owned(),
                    ),
                ],
                actions: change
                    .kind
                    .remedies()
                    .iter()
                    .map(|a| ((*a).to_owned(), change.target.to_string()))
                    .collect(),
                order: i,
            });
        }
        out
    }

    /// When metric ranking puts another service first, that service is a candidate origin.
    fn origin_hypothesis(&self, input: &DraftInput, bundle: &[EvidenceRef]) -> Option<Scored> {
        let top = input.ranked_services.first()?;
        let id = format!("rank-{}", top.service);
        if top.service == input.incident.target.name || !bundle.iter().any(|e| e.id == id) {
            return None;
        }
        let second = input.ranked_services.get(1).map_or(0.0, |r| r.share);
        let margin = if top.share > 0.0 {
            (1.0 - second / top.share).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let target = Target {
            kind: Scope::Service,
            namespace: input.incident.target.namespace.clone(),
            name: top.service.clone(),
        };
        Some(Scored {
            cause: "origin_service".to_owned(),
            text: format!(
                "The fault originates in {} ({} moved most where the call graph leads) and \
                 propagates to {}",
                top.service, top.metric, input.incident.target.name
            ),
            confidence: 0.35 + 0.3 * margin,
            evidence: vec![id],
            against: Vec::new(),
            refuted_by: vec![format!(
                "{} behaves normally when called directly, bypassing {}",
                top.service, input.incident.target.name
            )],
            checks: vec![
                (
                    "windows.query".to_owned(),
                    format!("{} of {} against its baseline", top.metric, top.service),
                ),
                (
                    "logs.recent".to_owned(),
                    format!("errors of {} in the window", top.service),
                ),
            ],
            actions: vec![
                ("collect_evidence".to_owned(), target.to_string()),
                ("restart_deployment".to_owned(), target.to_string()),
            ],
            order: 5,
        })
    }

    fn plan(
        &self,
        input: &DraftInput,
        scored: &[Scored],
        hypotheses: &[Hypothesis],
    ) -> Vec<InvestigationStep> {
        let incident = &input.incident;
        let since = incident.opened_at_ms - self.config.change_window_ms;
        let mut steps: Vec<InvestigationStep> = Vec::new();
        for (s, h) in scored.iter().zip(hypotheses).take(3) {
            for (tool, why) in &s.checks {
                let mut args = std::collections::BTreeMap::new();
                if let Some(ns) = &incident.target.namespace {
                    args.insert("namespace".to_owned(), ns.clone());
                }
                let node_tool = tool == "nodes.list" || tool == "cluster_overview.get";
                match (&incident.node, node_tool) {
                    (Some(node), true) => {
                        args.insert("node".to_owned(), node.clone());
                    }
                    (None, true) if incident.target.kind == Scope::Node => {
                        args.insert("node".to_owned(), incident.target.name.clone());
                    }
                    _ => {
                        args.insert("target".to_owned(), incident.target.name.clone());
                    }
                }
                args.insert("since_ms".to_owned(), since.to_string());
                args.insert("until_ms".to_owned(), incident.opened_at_ms.to_string());
                if steps.iter().any(|x| &x.tool == tool && x.args == args) {
                    continue;
                }
                steps.push(InvestigationStep {
                    tool: tool.clone(),
                    args,
                    why: why.clone(),
                    hypothesis: h.id.clone(),
                    evidence: h.evidence.iter().take(3).cloned().collect(),
                });
            }
        }
        if input.log_context.is_none() && !steps.iter().any(|s| s.tool == "logs.recent") {
            let mut args = std::collections::BTreeMap::new();
            if let Some(ns) = &incident.target.namespace {
                args.insert("namespace".to_owned(), ns.clone());
            }
            args.insert("target".to_owned(), incident.target.name.clone());
            args.insert("since_ms".to_owned(), since.to_string());
            args.insert("until_ms".to_owned(), incident.opened_at_ms.to_string());
            steps.push(InvestigationStep {
                tool: "logs.recent".to_owned(),
                args,
                why: "no log context was collected for this incident".to_owned(),
                hypothesis: hypotheses.first().map(|h| h.id.clone()).unwrap_or_default(),
                evidence: Vec::new(),
            });
        }
        steps.truncate(self.config.max_steps);
        steps
    }
}

/// Past incidents with the same signature, then those sharing a log template.
fn similar(input: &DraftInput) -> Vec<SimilarIncident> {
    let templates: BTreeSet<&str> = input
        .log_context
        .iter()
        .flat_map(|c| &c.chunks)
        .flat_map(|c| &c.entries)
        .map(|e| e.template.as_str())
        .collect();
    let mut out: Vec<(u8, SimilarIncident)> = Vec::new();
    for p in &input.similar_past {
        if p.id == input.incident.id {
            continue;
        }
        let matched = if input.incident.signature.as_deref() == Some(p.signature.as_str()) {
            Some((0, "signature"))
        } else if p.templates.iter().any(|t| templates.contains(t.as_str())) {
            Some((1, "template"))
        } else {
            None
        };
        if let Some((rank, on)) = matched {
            out.push((
                rank,
                SimilarIncident {
                    id: p.id.clone(),
                    signature: p.signature.clone(),
                    matched_on: on.to_owned(),
                    fix: p.fix.clone(),
                    actions: p
                        .actions
                        .iter()
                        .filter(|a| catalogue::is_catalogue_action(a))
                        .cloned()
                        .collect(),
                },
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.id.cmp(&a.1.id)));
    out.into_iter().map(|(_, s)| s).take(5).collect()
}

fn recommend(
    incident: &IncidentView,
    target_text: &str,
    scored: &[Scored],
    hypotheses: &[Hypothesis],
    similar: &[SimilarIncident],
) -> Vec<RecommendedAction> {
    let node = incident
        .node
        .clone()
        .or_else(|| (incident.target.kind == Scope::Node).then(|| incident.target.name.clone()));
    let mut out: Vec<RecommendedAction> = Vec::new();
    let mut add = |action: &str, target: String, reason: String, source: String| {
        if !catalogue::is_catalogue_action(action)
            || out.iter().any(|a| a.action == action && a.target == target)
        {
            return;
        }
        out.push(RecommendedAction {
            action: action.to_owned(),
            target,
            reason,
            source,
        });
    };
    for (s, h) in scored.iter().zip(hypotheses).take(3) {
        for (action, target) in &s.actions {
            let target = if action == "cordon_node" || action == "drain_node" {
                match &node {
                    Some(n) => format!("node/{n}"),
                    None => continue,
                }
            } else {
                target.clone()
            };
            add(
                action,
                target,
                format!("addresses {}: {}", h.id, h.hypothesis),
                h.id.clone(),
            );
        }
    }
    for p in similar {
        for a in &p.actions {
            add(
                a,
                target_text.to_owned(),
                format!("fixed similar incident {}: {}", p.id, p.fix),
                p.id.clone(),
            );
        }
    }
    add(
        "collect_evidence",
        target_text.to_owned(),
        "snapshot logs, events and metrics before anything changes".to_owned(),
        incident.id.clone(),
    );
    add(
        "notify",
        target_text.to_owned(),
        "tell the owning team what the draft found".to_owned(),
        incident.id.clone(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_match_at_word_starts_only() {
        assert!(has_signal("exit code 137 oomkilled", "oom"));
        assert!(has_signal("status 429 too many", "429"));
        assert!(!has_signal("latency 14290 ms", "429"));
        assert!(has_signal("container_cpu_cfs_throttled_seconds", "throttl"));
    }

    #[test]
    fn pods_belong_to_their_deployment() {
        let d = Target::new(Scope::Deployment, Some("shop"), "payments");
        let p = Target::new(Scope::Pod, Some("shop"), "payments-7d9f-x2k4q");
        let other_ns = Target::new(Scope::Pod, Some("ops"), "payments-7d9f-x2k4q");
        let other = Target::new(Scope::Pod, Some("shop"), "paymentsx-1");
        assert!(d.same_workload(&p) && p.same_workload(&d));
        assert!(!d.same_workload(&other_ns));
        assert!(!d.same_workload(&other));
        assert_eq!(p.to_string(), "pod/shop/payments-7d9f-x2k4q");
    }
}
