//! `/ui/incidents/{id}?tab=summary|ai|signals|actions`: the incident drawer. Each tab is also
//! an htmx partial; the operator's commands (acknowledge, assign, comment, resolve, merge,
//! feedback, suppress similar) are forms that post to the application and come back here.

use super::chart::{ChartSvg, render};
use super::pages::{Chrome, app_error, done, evidence_anchor, html, html_status};
use super::session::{FormBody, Signed, may};
use crate::app::AppState;
use app::views::{Brief, Chart, ToolResult};
use app::{AppError, Caller, Operation};
use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use incident::{SuppressionOrigin, Verdict};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The four tabs.
pub const TABS: [(&str, &str); 4] = [
    ("summary", "Summary"),
    ("ai", "AI Workspace"),
    ("signals", "Signals"),
    ("actions", "Actions"),
];

/// What the caller may do here (offered only then; refused anyway if asked).
#[derive(Debug, Clone, Copy)]
pub struct May {
    pub operate: bool,
    pub approve: bool,
    pub interpret: bool,
}

impl May {
    fn of(caller: &Caller) -> Self {
        Self {
            operate: may(caller, Operation::Acknowledge),
            approve: may(caller, Operation::Approve),
            interpret: may(caller, Operation::RegenerateDraft),
        }
    }
}

/// One timeline line.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: String,
    pub kind: String,
    pub detail: String,
    pub start: bool,
    pub operator: bool,
}

/// One finding collapsed into the incident.
#[derive(Debug, Clone)]
pub struct FindingRow {
    pub anchor: String,
    pub kind: String,
    pub target: String,
    pub detector: String,
    pub origin: String,
    pub severity: String,
    pub confidence: String,
    pub occurrences: u64,
    pub first: String,
    pub last: String,
    pub healthy: bool,
}

/// A hypothesis with its evidence chips.
#[derive(Debug, Clone)]
pub struct HypothesisView {
    pub id: String,
    pub text: String,
    pub confidence: String,
    pub percent: u32,
    pub evidence: Vec<(String, String)>,
    pub against: Vec<(String, String)>,
    pub refuted_by: Vec<String>,
}

/// One plan step; `runnable` when this server can run its tool now.
#[derive(Debug, Clone)]
pub struct StepView {
    pub tool: String,
    pub args: String,
    pub why: String,
    pub hypothesis: String,
    pub runnable: bool,
    pub evidence: Vec<(String, String)>,
}

/// One evidence item of the bundle.
#[derive(Debug, Clone)]
pub struct EvidenceView {
    pub id: String,
    pub anchor: String,
    pub kind: String,
    pub name: String,
    pub summary: String,
    pub at: String,
}

/// One log template of the incident's context.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub stream: String,
    pub template: String,
    pub count: u64,
    pub first: String,
    pub last: String,
    pub example: String,
    pub level: String,
    pub novel: bool,
}

/// One proposed action with its decision and fate.
#[derive(Debug, Clone)]
pub struct ActionView {
    pub id: String,
    pub action: String,
    pub target: String,
    pub verdict: String,
    pub clause: String,
    pub reason: String,
    pub risk: String,
    pub blast: String,
    pub status: String,
    pub approval_id: Option<String>,
    pub pending: bool,
    pub answered_by: String,
    pub before: String,
    pub after: String,
    pub verification: String,
    pub error: String,
    pub proposed_by: String,
    pub evidence: Vec<(String, String)>,
    /// Parameters an approver may change: `(name, label, value)`.
    pub params: Vec<(String, String, String)>,
    pub action_type: String,
    /// What kind of statement the action is now (`Done`, `Needs approval`, ...) and its class.
    pub statement: (&'static str, &'static str),
    /// How to undo it, from the catalogue.
    pub undo: String,
}

/// One reached rung of the incident's ladder.
#[derive(Debug, Clone)]
pub struct RungView {
    pub rung: usize,
    /// `(label, class)` of its kind of statement.
    pub statement: (&'static str, &'static str),
    pub text: String,
    pub at: String,
    pub undo: Vec<String>,
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: u64,
    pub at: String,
    pub who: String,
    pub kind: String,
    pub why: String,
    pub detail: String,
}

/// One past incident like this one.
#[derive(Debug, Clone)]
pub struct SimilarRow {
    pub id: String,
    pub summary: String,
    pub opened: String,
    pub ending: String,
    pub fixed_by: String,
}

/// The drawer's header: what, where, who.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: String,
    pub summary: String,
    pub severity: String,
    pub status: String,
    pub active: bool,
    pub kind: String,
    pub domain: String,
    pub target: String,
    pub opened: String,
    pub ago: String,
    pub owner: String,
    pub acknowledged: String,
    pub origins: String,
    pub merged_into: Option<String>,
}

/// The content of the selected tab.
#[derive(Debug, Clone, Default)]
pub struct TabData {
    // summary
    pub executive: Vec<String>,
    pub golden: Vec<ChartSvg>,
    pub timeline: Vec<Event>,
    pub findings: Vec<FindingRow>,
    pub similar: Vec<SimilarRow>,
    pub feedback: Vec<(String, String, String, String)>,
    // ai
    pub hypotheses: Vec<HypothesisView>,
    pub steps: Vec<StepView>,
    pub questions: Vec<String>,
    pub model: Option<String>,
    pub interpretation: Option<InterpretationView>,
    // signals
    pub evidence: Vec<EvidenceView>,
    pub charts: Vec<ChartSvg>,
    pub logs: Vec<LogRow>,
    pub log_note: String,
    // actions
    pub ladder: Vec<RungView>,
    pub ladder_note: String,
    pub actions: Vec<ActionView>,
    pub audit: Vec<AuditRow>,
    pub audit_note: String,
}

/// A model's grounded interpretation, as the AI tab shows it.
#[derive(Debug, Clone)]
pub struct InterpretationView {
    pub summary: String,
    pub claims: Vec<(String, Vec<(String, String)>)>,
    pub dropped: usize,
    pub dropped_detail: String,
    pub model: String,
    pub latency: String,
    pub fallback: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "drawer.html")]
pub struct DrawerPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub head: Head,
    pub tab: &'static str,
    pub tabs: Vec<(&'static str, &'static str, bool)>,
    pub data: TabData,
    pub may: May,
}

#[derive(Debug, Template)]
#[template(path = "tab.html")]
pub struct TabPartial {
    pub head: Head,
    pub tab: &'static str,
    pub data: TabData,
    pub may: May,
    pub csrf: String,
}

#[derive(Debug, Template)]
#[template(path = "tool_result.html")]
pub struct ToolPartial {
    pub result: ToolResult,
}

fn at(ms: i64) -> String {
    app::views::clock(ms, app::remediation::now_ms())
}

fn chip(id: &str) -> (String, String) {
    (id.to_owned(), evidence_anchor(id))
}

fn tab_of(query: &str) -> &'static str {
    let wanted = crate::api::param(query, "tab").unwrap_or_default();
    TABS.iter()
        .find(|(name, _)| *name == wanted)
        .map_or("summary", |(name, _)| name)
}

fn head(brief: &Brief) -> Head {
    let d = &brief.detail;
    let s = &d.summary;
    let now = app::remediation::now_ms();
    let opened = incident::rfc3339::parse(&s.opened_at).unwrap_or(now);
    Head {
        id: s.id.clone(),
        summary: s.summary.clone(),
        severity: s.severity.as_str().to_owned(),
        status: s.status.as_str().to_owned(),
        active: s.status.is_active() || s.status == model::IncidentStatus::Recovering,
        kind: s.incident_type.as_str().replace('_', " "),
        domain: s.domain.as_str().replace('_', " "),
        target: s.target.to_string(),
        opened: app::views::clock(opened, now),
        ago: app::views::span_words(now - opened),
        owner: s.assignee.clone().unwrap_or_default(),
        acknowledged: s.acknowledged_by.clone().unwrap_or_default(),
        origins: s
            .origins
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        merged_into: d.merged_into.clone(),
    }
}

/// Ledger evidence ids (`<finding id>/<id>`) as the draft names them (`f<n>-<id>`).
fn draft_ids(brief: &Brief) -> BTreeMap<String, String> {
    let index: BTreeMap<&str, usize> = brief
        .detail
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i + 1))
        .collect();
    brief
        .detail
        .evidence
        .iter()
        .filter_map(|e| {
            let n = index.get(e.finding_id.as_str())?;
            let own = e.id.rsplit('/').next()?;
            Some((e.id.clone(), format!("f{n}-{own}")))
        })
        .collect()
}

fn charts(list: &[Chart], ids: &BTreeMap<String, String>) -> Vec<ChartSvg> {
    list.iter()
        .map(|c| {
            let mut svg = render(c);
            if let Some(id) = c.evidence_id.as_ref().and_then(|e| ids.get(e)) {
                svg.anchor = format!("chart-{}", evidence_anchor(id));
                svg.evidence_id = id.clone();
            }
            svg
        })
        .collect()
}

fn action_view(a: &app::remediation::ActionEntry) -> ActionView {
    let blast = a
        .decision
        .blast_radius
        .as_ref()
        .map(|b| {
            format!(
                "{} pods affected, {} replicas changed, {:.0}% of nodes",
                b.pods_affected,
                b.replicas_changed,
                b.node_share * 100.0
            )
        })
        .unwrap_or_else(|| "not known (no live figures)".to_owned());
    let json = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .unwrap_or_default()
    };
    let (before, after) = a
        .execution
        .as_ref()
        .map(|e| (json(&e.before), json(&e.after)))
        .unwrap_or_default();
    let verification = a
        .verification
        .as_ref()
        .map(|v| {
            format!(
                "{:?}: {} before, {} after",
                v.outcome,
                v.status_before,
                v.status_after
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "—".to_owned())
            )
            .to_lowercase()
        })
        .unwrap_or_default();
    let value = serde_json::to_value(&a.proposed.action).unwrap_or_default();
    let params = value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "type")
                .map(|(k, v)| {
                    let shown = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), k.replace('_', " "), shown)
                })
                .collect()
        })
        .unwrap_or_default();
    let kind = match a.status {
        app::remediation::ActionStatus::Executed | app::remediation::ActionStatus::DryRun => {
            model::StatementKind::ExecutedAction
        }
        app::remediation::ActionStatus::PendingApproval => model::StatementKind::RequiredApproval,
        _ => model::StatementKind::Recommendation,
    };
    ActionView {
        statement: (kind.label(), kind.as_str()),
        undo: a.proposed.action.rollback_instructions().to_owned(),
        id: a.id.clone(),
        action: a.proposed.action.to_string(),
        action_type: a.proposed.action.name().to_owned(),
        target: a.proposed.target.path(),
        verdict: a.decision.verdict.as_str().replace('_', " "),
        clause: a.decision.clause.clone(),
        reason: a.decision.reason.clone(),
        risk: format!("{:?}", a.decision.risk).to_lowercase(),
        blast,
        status: serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
        approval_id: a.approval_id.clone(),
        pending: a.status == app::remediation::ActionStatus::PendingApproval,
        answered_by: a
            .answered_by
            .as_ref()
            .map(|w| format!("{} ({})", w.name, w.role))
            .unwrap_or_default(),
        before,
        after,
        verification,
        error: a.error.clone().unwrap_or_default(),
        proposed_by: a.proposed.proposed_by.clone(),
        evidence: a.proposed.evidence_ids.iter().map(|e| chip(e)).collect(),
        params,
    }
}

/// Questions worth asking about a draft, from its hypotheses and target.
fn questions(draft: &rca::Draft) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(top) = draft.root_causes.first() {
        out.push(format!(
            "Is the cause this: {}? What would refute it: {}?",
            top.hypothesis.trim_end_matches('.'),
            if top.refuted_by.is_empty() {
                "nothing recorded".to_owned()
            } else {
                top.refuted_by.join("; ")
            }
        ));
    }
    out.push(format!(
        "What changed on {} in the 30 minutes before it started?",
        draft.target
    ));
    if draft.root_causes.len() > 1 {
        out.push(format!(
            "What tells {} apart from {}?",
            draft.root_causes[0].cause.replace('_', " "),
            draft.root_causes[1].cause.replace('_', " ")
        ));
    }
    if !draft.similar_incidents.is_empty() {
        out.push("Did the fix that ended the similar incidents apply here too?".to_owned());
    }
    out.push(format!("Who else depends on {}?", draft.target));
    out
}

async fn tab_data(
    state: &AppState,
    caller: &Caller,
    brief: &Brief,
    tab: &str,
    interpreted: Option<rca::RcaReport>,
) -> Result<TabData, AppError> {
    let id = &brief.detail.summary.id;
    let mut data = TabData::default();
    let app = &state.app;
    match tab {
        "ai" => {
            // Reading never calls the model: the interpretation last made of this very draft
            // comes with it, if any.
            let report = match interpreted {
                Some(report) => report,
                None => app.draft(caller, id, false).await?,
            };
            let draft = report.draft.clone();
            let interpreted =
                (report.interpretation.is_some() || report.fallback.is_some()).then_some(report);
            data.hypotheses = draft
                .root_causes
                .iter()
                .map(|h| HypothesisView {
                    id: h.id.clone(),
                    text: h.hypothesis.clone(),
                    confidence: format!("{:.2}", h.confidence),
                    percent: (h.confidence.clamp(0.0, 1.0) * 100.0).round() as u32,
                    evidence: h.evidence.iter().map(|e| chip(e)).collect(),
                    against: h.contradicted_by.iter().map(|e| chip(e)).collect(),
                    refuted_by: h.refuted_by.clone(),
                })
                .collect();
            data.steps = draft
                .investigation_plan
                .iter()
                .map(|s| StepView {
                    runnable: app::views::runnable(&s.tool),
                    tool: s.tool.clone(),
                    args: s
                        .args
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    why: s.why.clone(),
                    hypothesis: s.hypothesis.clone(),
                    evidence: s.evidence.iter().map(|e| chip(e)).collect(),
                })
                .collect();
            data.questions = questions(&draft);
            data.model = app
                .config
                .rca
                .llm
                .as_ref()
                .map(|m| format!("{} at {}", m.model, outbound::redact(&m.url)));
            if let Some(report) = interpreted {
                data.interpretation = Some(match report.interpretation {
                    Some(i) => InterpretationView {
                        summary: i.summary.clone(),
                        claims: i
                            .claims
                            .iter()
                            .map(|c| (c.text.clone(), c.evidence.iter().map(|e| chip(e)).collect()))
                            .collect(),
                        dropped: i.dropped_uncited
                            + i.dropped_unknown_evidence
                            + i.dropped_commands,
                        dropped_detail: format!(
                            "{} without a citation, {} citing unknown evidence, {} telling someone to run a command; {} actions outside the draft left out",
                            i.dropped_uncited,
                            i.dropped_unknown_evidence,
                            i.dropped_commands,
                            i.dropped_actions
                        ),
                        model: i.model.clone(),
                        latency: format!("{} ms", i.latency_ms),
                        fallback: None,
                    },
                    None => InterpretationView {
                        summary: String::new(),
                        claims: Vec::new(),
                        dropped: 0,
                        dropped_detail: String::new(),
                        model: report
                            .fallback
                            .as_ref()
                            .map(|f| f.model.clone())
                            .unwrap_or_default(),
                        latency: report
                            .fallback
                            .as_ref()
                            .map(|f| format!("{} ms", f.latency_ms))
                            .unwrap_or_default(),
                        fallback: Some(
                            report
                                .fallback
                                .map(|f| format!("{}: {}", f.kind, f.reason))
                                .unwrap_or_else(|| "no model is configured".to_owned()),
                        ),
                    },
                });
            }
        }
        "signals" => {
            let draft = app.draft(caller, id, false).await?.draft;
            data.evidence = draft
                .evidence
                .iter()
                .map(|e| EvidenceView {
                    anchor: evidence_anchor(&e.id),
                    id: e.id.clone(),
                    kind: format!("{:?}", e.kind).to_lowercase(),
                    name: e.name.clone(),
                    summary: e.summary.clone(),
                    at: e.at_ms.map(at).unwrap_or_default(),
                })
                .collect();
            let ids = draft_ids(brief);
            data.charts = charts(&app.evidence_charts(caller, id).await?, &ids);
            let context = app.incident_logs(caller, id).await?;
            for chunk in &context.chunks {
                for e in &chunk.entries {
                    data.logs.push(LogRow {
                        stream: chunk.labels.to_string(),
                        template: e.template.clone(),
                        count: e.count,
                        first: at(e.first_ms),
                        last: at(e.last_ms),
                        example: e.example.clone(),
                        level: format!("{:?}", e.level).to_lowercase(),
                        novel: e.novel,
                    });
                }
            }
            data.log_note = if context.total_lines == 0 {
                "No log lines belong to this incident's target (push them to /loki/api/v1/push or configure [rca.loki]).".to_owned()
            } else {
                format!(
                    "{} lines in {} templates; {} health-check and noise lines left out{}.",
                    context.total_lines,
                    data.logs.len(),
                    context.noise_lines,
                    if context.omitted_entries > 0 {
                        format!(", {} templates past the budget", context.omitted_entries)
                    } else {
                        String::new()
                    }
                )
            };
        }
        "actions" => {
            data.actions = brief.actions.iter().map(action_view).collect();
            if let Ok(runs) = app.ladders(caller, Some(id)).await
                && let Some(run) = runs.first()
            {
                data.ladder = run
                    .rungs
                    .iter()
                    .map(|r| RungView {
                        rung: r.rung,
                        statement: (r.kind.label(), r.kind.as_str()),
                        text: r.text.clone(),
                        at: at(r.event_ms),
                        undo: r.rollback.clone(),
                    })
                    .collect();
                data.ladder_note = match &run.ended {
                    Some(why) => format!("The climb ended: {why}."),
                    None => format!(
                        "Climbing the {} ladder: {} rung{} reached.",
                        run.incident_type.as_str().replace('_', " "),
                        run.rungs.len(),
                        if run.rungs.len() == 1 { "" } else { "s" }
                    ),
                };
            }
            match app.audit(caller, Some(id), 200).await {
                Ok(view) => {
                    data.audit = view
                        .entries
                        .iter()
                        .rev()
                        .map(|e| AuditRow {
                            seq: e.seq,
                            at: at(e.record.at_ms),
                            who: e.record.who.clone(),
                            kind: serde_json::to_value(e.record.kind)
                                .ok()
                                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                                .unwrap_or_default(),
                            why: e.record.why.clone(),
                            detail: e.record.detail.clone(),
                        })
                        .collect();
                    data.audit_note = if view.chain.ok {
                        format!(
                            "The audit chain verifies ({} entries in all).",
                            view.chain.entries.unwrap_or(0)
                        )
                    } else {
                        format!(
                            "The audit chain does NOT verify: {}",
                            view.chain.error.unwrap_or_default()
                        )
                    };
                }
                Err(AppError::RemediationOff) => {
                    data.audit_note =
                        "No audit log runs: remediation is off (set [policy] file).".to_owned();
                }
                Err(error) => return Err(error),
            }
        }
        _ => {
            data.executive = brief.executive.clone();
            let ids = draft_ids(brief);
            data.golden = charts(&app.golden_signals(caller, id).await?, &ids);
            let start = incident::rfc3339::parse(&brief.detail.summary.opened_at).unwrap_or(0);
            data.timeline = brief
                .detail
                .timeline
                .iter()
                .map(|e| Event {
                    at: at(e.at_ms),
                    kind: e.kind.as_str().replace('_', " "),
                    detail: e
                        .detail
                        .strip_prefix(&format!("{}: ", e.kind.as_str()))
                        .unwrap_or(&e.detail)
                        .to_owned(),
                    start: e.seq == 0
                        || (e.at_ms == start && e.kind == incident::TimelineKind::Opened),
                    operator: e.kind.is_operator(),
                })
                .collect();
            data.findings = brief
                .detail
                .findings
                .iter()
                .map(|f| FindingRow {
                    anchor: format!("finding-{}", f.id),
                    kind: f.candidate.incident_type.as_str().replace('_', " "),
                    target: f.candidate.target_ref().to_string(),
                    detector: f.candidate.detector.clone(),
                    origin: f.candidate.origin.as_str().to_owned(),
                    severity: f.severity.as_str().to_owned(),
                    confidence: format!("{:.2}", f.confidence),
                    occurrences: f.occurrences,
                    first: at(f.first_seen_ms),
                    last: at(f.last_seen_ms),
                    healthy: f.healthy_at_ms.is_some(),
                })
                .collect();
            data.similar = brief
                .similar
                .iter()
                .map(|s| SimilarRow {
                    id: s.summary.id.clone(),
                    summary: s.summary.summary.clone(),
                    opened: s.summary.opened_at.clone(),
                    ending: s.ending.clone(),
                    fixed_by: s.fixed_by.join(", "),
                })
                .collect();
            data.feedback = brief
                .detail
                .feedback
                .iter()
                .map(|f| {
                    (
                        f.verdict.label().to_owned(),
                        f.note.clone(),
                        f.author.clone(),
                        at(f.at_ms),
                    )
                })
                .collect();
        }
    }
    Ok(data)
}

fn is_partial(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
        && headers
            .get("hx-target")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == "tab")
}

/// What the drawer shows besides the incident: a refused command, or a model's report.
enum Extra {
    Nothing,
    Error(StatusCode, String),
    Interpreted(Box<rca::RcaReport>),
}

/// Renders the drawer (or just its tab for htmx), with an optional error or model report.
async fn render_drawer(
    state: &AppState,
    signed: &Signed,
    id: &str,
    tab: &'static str,
    partial: bool,
    query: Option<&str>,
    extra: Extra,
) -> Response {
    let (error, interpreted) = match extra {
        Extra::Nothing => (None, None),
        Extra::Error(status, message) => (Some((status, message)), None),
        Extra::Interpreted(report) => (None, Some(*report)),
    };
    let caller = &signed.session.caller;
    let brief = match state.app.brief(caller, id).await {
        Ok(brief) => brief,
        Err(e) => return app_error(&e),
    };
    let data = match tab_data(state, caller, &brief, tab, interpreted).await {
        Ok(data) => data,
        Err(e) => return app_error(&e),
    };
    let may = May::of(caller);
    let head = head(&brief);
    if partial {
        return html(&TabPartial {
            head,
            tab,
            data,
            may,
            csrf: signed.session.csrf.clone(),
        });
    }
    let mut chrome = Chrome::of(state, signed, "incidents", query).await;
    let status = match error {
        Some((status, message)) => {
            chrome.error = Some(message);
            status
        }
        None => StatusCode::OK,
    };
    html_status(
        status,
        &DrawerPage {
            csrf: signed.session.csrf.clone(),
            chrome,
            head,
            tab,
            tabs: TABS.iter().map(|(n, l)| (*n, *l, *n == tab)).collect(),
            data,
            may,
        },
    )
}

/// `GET /ui/incidents/{id}?tab=`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let tab = tab_of(&query);
    render_drawer(
        &state,
        &signed,
        &id,
        tab,
        is_partial(&headers),
        Some(&query),
        Extra::Nothing,
    )
    .await
}

/// What an operator's form asks for.
enum Command {
    Ack,
    Assign,
    Comment,
    Resolve,
    Merge,
    Feedback,
    Silence,
}

async fn command(
    state: Arc<AppState>,
    signed: Signed,
    id: String,
    form: FormBody,
    command: Command,
) -> Response {
    let caller = &signed.session.caller;
    let app = &state.app;
    let back_tab = match form.get("tab") {
        Some(t) if TABS.iter().any(|(n, _)| *n == t) => t.to_owned(),
        _ => "summary".to_owned(),
    };
    let result: Result<&str, AppError> = match command {
        Command::Ack => app.acknowledge(caller, &id).await.map(|_| "ack"),
        Command::Assign => app
            .assign(caller, &id, form.get("assignee").unwrap_or_default())
            .await
            .map(|_| "assigned"),
        Command::Comment => app
            .comment(caller, &id, form.get("text").unwrap_or_default())
            .await
            .map(|_| "commented"),
        Command::Resolve => app
            .resolve(caller, &id, form.get("reason").unwrap_or_default())
            .await
            .map(|_| "resolved"),
        Command::Merge => app
            .merge(caller, &id, form.get("other").unwrap_or_default())
            .await
            .map(|_| "merged"),
        Command::Feedback => feedback(&state, caller, &id, &form).await,
        Command::Silence => silence(&state, caller, &id, &form).await,
    };
    match result {
        Ok(code) => done(&format!("/ui/incidents/{id}?tab={back_tab}"), code),
        Err(AppError::Auth(error)) => app_error(&AppError::Auth(error)),
        Err(AppError::NotFound { what, id: missing }) if missing == id => {
            app_error(&AppError::NotFound { what, id: missing })
        }
        Err(error) => {
            let status = crate::error::ApiError::from_app(&error).status();
            let tab = TABS
                .iter()
                .find(|(n, _)| *n == back_tab)
                .map_or("summary", |(n, _)| n);
            render_drawer(
                &state,
                &signed,
                &id,
                tab,
                false,
                None,
                Extra::Error(status, error.to_string()),
            )
            .await
        }
    }
}

/// Useful / noise / wrong cause, with a note.
async fn feedback(
    state: &AppState,
    caller: &Caller,
    id: &str,
    form: &FormBody,
) -> Result<&'static str, AppError> {
    let verdict = form.get("verdict").unwrap_or_default();
    let verdict = Verdict::from_name(verdict).ok_or_else(|| AppError::Invalid {
        reason: format!("choose useful, noise or wrong cause (got {verdict:?})"),
    })?;
    let note = form.get("note").unwrap_or_default();
    state.app.feedback(caller, id, verdict, note).await?;
    Ok("feedback")
}

/// "Suppress similar for N hours": a suppression window on the incident's signature.
async fn silence(
    state: &AppState,
    caller: &Caller,
    id: &str,
    form: &FormBody,
) -> Result<&'static str, AppError> {
    let hours = form.get("hours").unwrap_or_default().trim();
    let hours: f64 = hours.parse().map_err(|_| AppError::Invalid {
        reason: format!("suppress for {hours:?} hours: give a number of hours"),
    })?;
    if !(hours > 0.0 && hours <= 168.0) {
        return Err(AppError::Invalid {
            reason: "suppress for: above 0 and at most 168 hours (7 days)".to_owned(),
        });
    }
    state
        .app
        .silence(
            caller,
            id,
            std::time::Duration::from_secs_f64(hours * 3600.0),
            SuppressionOrigin::Workspace,
            form.get("reason").unwrap_or_default(),
        )
        .await?;
    Ok("silenced")
}

macro_rules! command_route {
    ($name:ident, $command:expr) => {
        pub async fn $name(
            State(state): State<Arc<AppState>>,
            Extension(signed): Extension<Signed>,
            Path(id): Path<String>,
            Extension(form): Extension<FormBody>,
        ) -> Response {
            command(state, signed, id, form, $command).await
        }
    };
}

command_route!(ack, Command::Ack);
command_route!(assign, Command::Assign);
command_route!(comment, Command::Comment);
command_route!(resolve, Command::Resolve);
command_route!(merge, Command::Merge);
command_route!(give_feedback, Command::Feedback);
command_route!(silence_similar, Command::Silence);

/// `POST /ui/incidents/{id}/interpret`: the configured model interprets the draft.
pub async fn interpret(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match state.app.draft(&signed.session.caller, &id, true).await {
        Ok(report) => {
            render_drawer(
                &state,
                &signed,
                &id,
                "ai",
                false,
                None,
                Extra::Interpreted(Box::new(report)),
            )
            .await
        }
        Err(e) => app_error(&e),
    }
}

/// `GET /ui/incidents/{id}/tools/{tool}`: runs one read-only tool of the plan.
pub async fn run_tool(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path((id, tool)): Path<(String, String)>,
) -> Response {
    match state
        .app
        .run_plan_tool(&signed.session.caller, &id, &tool)
        .await
    {
        Ok(result) => html(&ToolPartial { result }),
        Err(e) => app_error(&e),
    }
}
