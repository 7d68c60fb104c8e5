//! `/ui/rules` (effective rules with recent findings, operator overrides, the policy's
//! allowlist, rule suggestions), `/ui/settings` (robot, environment, policy and its simulate
//! console, channels, model probe, sources, suppression windows) and `/ui/demo` (built-in
//! scenarios and demo stories played into this server at the present).

use super::pages::{Chrome, app_error, done, html, html_status};
use super::session::{FormBody, Signed, may};
use crate::app::AppState;
use app::rules_edit::{RuleEdit, RuleView};
use app::{AppError, Operation};
use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use incident::SuggestionStatus;
use model::Severity;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One rule suggestion.
#[derive(Debug, Clone)]
pub struct SuggestionRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub rule: String,
    pub evidence: String,
    pub status: String,
    pub decided: String,
    pub pending: bool,
}

/// A rule as the rules page shows it.
#[derive(Debug, Clone)]
pub struct RuleRow {
    pub name: String,
    pub kind: String,
    pub severity: String,
    pub select: String,
    pub window: String,
    pub condition: String,
    pub origin: String,
    pub environments: String,
    pub env_demo: bool,
    pub env_staging: bool,
    pub env_prod: bool,
    pub enabled_here: bool,
    pub cooldown: String,
    pub escalate_above: String,
    pub escalate_severity: String,
    pub suppress: usize,
    pub labels: String,
    pub threshold_key: String,
    pub threshold: String,
    pub findings: u64,
    pub last: String,
}

fn rule_row(r: &RuleView, now: i64) -> RuleRow {
    let env = |name: &str| r.environments.is_empty() || r.environments.iter().any(|e| e == name);
    RuleRow {
        name: r.name.clone(),
        kind: r.incident_type.as_str().replace('_', " "),
        severity: r.severity.as_str().to_owned(),
        select: r.select.clone(),
        window: r.window.clone(),
        condition: r.condition.clone(),
        origin: format!("{:?}", r.origin).to_lowercase(),
        environments: if r.environments.is_empty() {
            "every environment".to_owned()
        } else {
            r.environments.join(", ")
        },
        env_demo: env("demo"),
        env_staging: env("staging"),
        env_prod: env("prod"),
        enabled_here: r.enabled_here,
        cooldown: r.cooldown.clone().unwrap_or_default(),
        escalate_above: r.escalate.map(|(a, _)| a.to_string()).unwrap_or_default(),
        escalate_severity: r
            .escalate
            .map(|(_, s)| s.as_str().to_owned())
            .unwrap_or_default(),
        suppress: r.suppress,
        labels: r
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        threshold_key: r
            .threshold
            .as_ref()
            .map(|(k, _)| k.clone())
            .unwrap_or_default(),
        threshold: r
            .threshold
            .as_ref()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default(),
        findings: r.recent_findings,
        last: r
            .last_finding_ms
            .map(|t| app::views::clock(t, now))
            .unwrap_or_default(),
    }
}

#[derive(Debug, Template)]
#[template(path = "rules.html")]
pub struct RulesPage {
    pub chrome: Chrome,
    pub rules: Vec<RuleRow>,
    pub file: String,
    pub file_text: String,
    pub environment: String,
    pub mode: String,
    pub suggestions: Vec<SuggestionRow>,
    pub may_edit: bool,
    pub may_allowlist: bool,
    pub allowlist: Option<String>,
    /// `FILE:LINE: reason` lines of a refused edit, shown inline.
    pub problems: Vec<String>,
    pub problem_rule: String,
}

async fn rules_page(
    state: &AppState,
    signed: &Signed,
    query: Option<&str>,
    refused: Option<(String, String, Option<String>)>,
) -> Response {
    let caller = &signed.session.caller;
    let view = match state.app.rules(caller).await {
        Ok(v) => v,
        Err(e) => return app_error(&e),
    };
    let suggestions = match state.app.rule_suggestions(caller, None).await {
        Ok(s) => s,
        Err(e) => return app_error(&e),
    };
    let allowlist = state
        .app
        .policy_view(caller)
        .ok()
        .flatten()
        .map(|p| p.resources.join("\n"));
    let now = app::remediation::now_ms();
    let chrome = Chrome::of(state, signed, "rules", query).await;
    let (problems, problem_rule, text) = match refused {
        Some((rule, problems, text)) => (problems.lines().map(str::to_owned).collect(), rule, text),
        None => (Vec::new(), String::new(), None),
    };
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html_status(
        status,
        &RulesPage {
            chrome,
            rules: view.rules.iter().map(|r| rule_row(r, now)).collect(),
            file: view.file.display().to_string(),
            file_text: text.unwrap_or(view.file_text),
            environment: view.environment.to_owned(),
            mode: view.suggestions.to_owned(),
            suggestions: suggestions
                .iter()
                .map(|s| SuggestionRow {
                    id: s.id.clone(),
                    kind: s.kind.replace('_', " "),
                    title: s.title.clone(),
                    rule: s.rule_toml.clone(),
                    evidence: serde_json::to_string(&s.evidence).unwrap_or_default(),
                    status: s.status.as_str().to_owned(),
                    decided: s
                        .decided_by
                        .as_ref()
                        .map(|b| {
                            format!(
                                "by {b}{}",
                                s.decided_at_ms
                                    .map(|t| format!(" at {}", app::views::clock(t, now)))
                                    .unwrap_or_default()
                            )
                        })
                        .unwrap_or_default(),
                    pending: s.status == SuggestionStatus::Pending,
                })
                .collect(),
            may_edit: may(caller, Operation::EditRules),
            may_allowlist: may(caller, Operation::EditAllowlist) && allowlist.is_some(),
            allowlist,
            problems,
            problem_rule,
        },
    )
}

/// `GET /ui/rules`.
pub async fn rules(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    rules_page(&state, &signed, query.as_deref(), None).await
}

fn number(form: &FormBody, key: &str) -> Result<Option<f64>, AppError> {
    match form.get(key).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<f64>().map(Some).map_err(|_| AppError::Invalid {
            reason: format!("{}: {v:?} is not a number", key.replace('_', " ")),
        }),
    }
}

fn severity(value: &str) -> Result<Severity, AppError> {
    incident::severity_from_name(value).ok_or_else(|| AppError::Invalid {
        reason: format!("severity {value:?} is not one of info, warning, critical"),
    })
}

fn rule_edit(form: &FormBody) -> Result<RuleEdit, AppError> {
    let environments = form
        .all("env")
        .into_iter()
        .map(|e| {
            detect::Environment::ALL
                .into_iter()
                .find(|x| x.as_str() == e)
                .ok_or_else(|| AppError::Invalid {
                    reason: format!("environment {e:?} is not demo, staging or prod"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if environments.is_empty() {
        return Err(AppError::Invalid {
            reason: "tick at least one environment (untick all but one to disable it elsewhere)"
                .to_owned(),
        });
    }
    let escalate = match (
        number(form, "escalate_above")?,
        form.get("escalate_severity").filter(|s| !s.is_empty()),
    ) {
        (Some(above), Some(s)) => Some(Some((above, severity(s)?))),
        (None, _) => Some(None),
        (Some(_), None) => {
            return Err(AppError::Invalid {
                reason: "escalation: give the severity to escalate to".to_owned(),
            });
        }
    };
    let labels: BTreeMap<String, String> = form
        .get("labels")
        .unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| AppError::Invalid {
                    reason: format!("routing label {pair:?}: write it as name=value"),
                })
        })
        .collect::<Result<_, _>>()?;
    let suppress = match (
        form.get("quiet_from").filter(|s| !s.is_empty()),
        form.get("quiet_hours").filter(|s| !s.is_empty()),
    ) {
        (Some(from), Some(hours)) => {
            let start = incident::rfc3339::parse(&format!("{from}:00Z"))
                .or_else(|_| incident::rfc3339::parse(from))
                .map_err(|_| AppError::Invalid {
                    reason: format!("quiet period start {from:?}: give a date and time (UTC)"),
                })?;
            let hours: f64 = hours.parse().map_err(|_| AppError::Invalid {
                reason: format!("quiet period {hours:?}: give a number of hours"),
            })?;
            Some((start, start + (hours * 3_600_000.0) as i64))
        }
        _ => None,
    };
    Ok(RuleEdit {
        threshold: number(form, "threshold")?,
        severity: form
            .get("severity")
            .filter(|s| !s.is_empty())
            .map(severity)
            .transpose()?,
        escalate,
        environments: Some(environments),
        cooldown: Some(
            form.get("cooldown")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        ),
        labels: Some(labels),
        suppress,
    })
}

/// `POST /ui/rules/edit/{name}`: one rule's form.
pub async fn edit_rule(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(name): Path<String>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let caller = &signed.session.caller;
    let result = match rule_edit(&form) {
        Ok(edit) => state.app.edit_rule(caller, &name, &edit).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => done("/ui/rules", "rules"),
        Err(AppError::Invalid { reason }) => {
            rules_page(&state, &signed, None, Some((name, reason, None))).await
        }
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/rules/file`: the operator rules file as text.
pub async fn save_file(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let text = form.get("text").unwrap_or_default().replace("\r\n", "\n");
    match state.app.save_rules(&signed.session.caller, &text).await {
        Ok(_) => done("/ui/rules", "rules"),
        Err(AppError::Invalid { reason }) => {
            rules_page(
                &state,
                &signed,
                None,
                Some(("file".to_owned(), reason, Some(text))),
            )
            .await
        }
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/rules/allowlist`: the policy's allowlisted resources (admin).
pub async fn save_allowlist(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let resources: Vec<String> = form
        .get("resources")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    match state
        .app
        .edit_allowlist(&signed.session.caller, &resources)
        .await
    {
        Ok(_) => done("/ui/rules", "allowlist"),
        Err(AppError::Invalid { reason }) => {
            rules_page(
                &state,
                &signed,
                None,
                Some(("allowlist".to_owned(), reason, None)),
            )
            .await
        }
        Err(AppError::Reload(error)) => {
            rules_page(
                &state,
                &signed,
                None,
                Some(("allowlist".to_owned(), error.to_string(), None)),
            )
            .await
        }
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/rules/suggestions/{id}/accept`.
pub async fn accept(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .accept_suggestion(&signed.session.caller, &id)
        .await
    {
        Ok(_) => done("/ui/rules", "accepted"),
        Err(AppError::Invalid { reason }) => {
            rules_page(
                &state,
                &signed,
                None,
                Some(("suggestion".to_owned(), reason, None)),
            )
            .await
        }
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/rules/suggestions/{id}/reject`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let note = form.get("note").map(str::trim).filter(|n| !n.is_empty());
    match state
        .app
        .reject_suggestion(&signed.session.caller, &id, note)
        .await
    {
        Ok(_) => done("/ui/rules", "dismissed"),
        Err(e) => app_error(&e),
    }
}

/// One suppression window.
#[derive(Debug, Clone)]
pub struct WindowRow {
    pub id: String,
    pub name: String,
    pub origin: String,
    pub scope: String,
    pub when: String,
    pub reason: String,
    pub by: String,
    pub removable: bool,
}

/// The running policy in plain rows.
#[derive(Debug, Clone, Default)]
pub struct PolicyRows {
    pub environment: String,
    pub autonomy: String,
    pub dry_run: bool,
    pub tiers: Vec<(String, String)>,
    pub namespaces: String,
    pub resources: Vec<String>,
    pub blast: String,
    pub cooldowns: String,
    pub rate_limits: Vec<(String, String)>,
    pub approvers: Vec<(String, String)>,
}

#[derive(Debug, Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub robot: Option<(bool, String)>,
    pub outcomes: Vec<(String, u64, u64)>,
    pub environment: String,
    pub tls: bool,
    pub policy: Option<PolicyRows>,
    pub simulation: Option<SimulationView>,
    pub policy_text: String,
    pub notify: String,
    pub model: String,
    pub probe: Option<app::views::ModelProbe>,
    pub sources: Vec<(String, usize, usize, String, String, String)>,
    pub windows: Vec<WindowRow>,
    pub may_pause: bool,
    pub may_resume: bool,
    pub may_probe: bool,
    pub may_remove: bool,
}

/// What a simulation found.
#[derive(Debug, Clone)]
pub struct SimulationView {
    pub auto: usize,
    pub ask: usize,
    pub denied: usize,
    pub rows: Vec<(String, String, String, String, String)>,
}

fn window_when(time: &incident::WindowTime, now: i64) -> String {
    match time {
        incident::WindowTime::Once { start_ms, end_ms } => format!(
            "{} to {}{}",
            app::views::clock(*start_ms, now),
            app::views::clock(*end_ms, now),
            if *end_ms <= now {
                " (over)"
            } else if *start_ms <= now {
                " (active)"
            } else {
                ""
            }
        ),
        incident::WindowTime::Weekly {
            days,
            from_min,
            to_min,
        } => {
            const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let days: Vec<&str> = days
                .iter()
                .filter_map(|d| NAMES.get(usize::from(*d)).copied())
                .collect();
            format!(
                "every {} {:02}:{:02}–{:02}:{:02} UTC",
                days.join(", "),
                from_min / 60,
                from_min % 60,
                to_min / 60,
                to_min % 60
            )
        }
    }
}

fn policy_rows(p: &policy::Policy) -> PolicyRows {
    PolicyRows {
        environment: format!("{:?}", p.environment).to_lowercase(),
        autonomy: format!("{:?}", p.autonomy).to_lowercase(),
        dry_run: p.dry_run,
        tiers: p
            .actions
            .iter()
            .map(|(name, mode)| {
                let unless = p
                    .unless_only
                    .get(name)
                    .map(|o| {
                        format!(
                            " (asks when backed only by {})",
                            o.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    })
                    .unwrap_or_default();
                (
                    name.clone(),
                    format!(
                        "{}{unless}",
                        serde_json::to_value(mode)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                )
            })
            .collect(),
        namespaces: p.namespaces.join(", "),
        resources: p.resources.clone(),
        blast: format!(
            "at most {} replicas changed, {} pods affected, {:.0}% of nodes",
            p.blast_radius.max_replicas_changed,
            p.blast_radius.max_pods_affected,
            p.blast_radius.max_node_share * 100.0
        ),
        cooldowns: format!(
            "{} per incident, {} per target",
            app::views::span_words(
                i64::try_from(p.cooldowns.per_incident_secs * 1000).unwrap_or(i64::MAX)
            ),
            app::views::span_words(
                i64::try_from(p.cooldowns.per_target_secs * 1000).unwrap_or(i64::MAX)
            )
        ),
        rate_limits: p
            .rate_limits
            .iter()
            .map(|(family, limit)| {
                (
                    family.to_string(),
                    format!(
                        "{} per {}",
                        limit.max,
                        app::views::span_words(
                            i64::try_from(limit.per_secs * 1000).unwrap_or(i64::MAX)
                        )
                    ),
                )
            })
            .collect(),
        approvers: p
            .approvers
            .iter()
            .map(|a| {
                (
                    a.role.clone(),
                    serde_json::to_value(&a.may_approve)
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// The channel providers in a sentence each: who they are, what they delivered, what waits
/// and what last went wrong (the `[policy] notify_webhook` is one of them).
async fn channel_lines(state: &AppState) -> String {
    match state.channels.list().await {
        Ok(list) if list.is_empty() => {
            "no channel providers ([[channels.provider]] or [policy] notify_webhook)".to_owned()
        }
        Ok(list) => list
            .iter()
            .map(|c| {
                let name = if c.display_name.is_empty() {
                    &c.id
                } else {
                    &c.display_name
                };
                let error = c
                    .last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default();
                format!(
                    "{name} ({}{}): {} delivered, {} waiting{error}",
                    c.kind,
                    if c.enabled { "" } else { ", disabled" },
                    c.delivered,
                    c.queue_depth
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("the channel providers could not be read: {e}"),
    }
}

async fn settings_page(
    state: &AppState,
    signed: &Signed,
    query: Option<&str>,
    simulation: Option<Result<policy::SimulationReport, String>>,
    policy_text: String,
    probe: Option<app::views::ModelProbe>,
) -> Response {
    let caller = &signed.session.caller;
    let app = &state.app;
    let now = app::remediation::now_ms();
    let mut chrome = Chrome::of(state, signed, "settings", query).await;
    let robot = match app.robot(caller).await {
        Ok(r) => Some(r),
        Err(AppError::RemediationOff) => None,
        Err(e) => return app_error(&e),
    };
    let status = match app.status(caller) {
        Ok(s) => s,
        Err(e) => return app_error(&e),
    };
    let windows = match app.suppressions(caller, false).await {
        Ok(w) => w,
        Err(e) => return app_error(&e),
    };
    let policy = match app.policy_view(caller) {
        Ok(p) => p,
        Err(e) => return app_error(&e),
    };
    let mut code = StatusCode::OK;
    let simulation = match simulation {
        Some(Ok(report)) => Some(SimulationView {
            auto: report.auto,
            ask: report.ask,
            denied: report.denied,
            rows: report
                .rows
                .iter()
                .take(200)
                .map(|r| {
                    (
                        r.incident_id.clone(),
                        format!("{} {}", r.action, r.target),
                        r.verdict.as_str().replace('_', " "),
                        r.clause.clone(),
                        r.reason.clone(),
                    )
                })
                .collect(),
        }),
        Some(Err(error)) => {
            chrome.error = Some(error);
            code = StatusCode::BAD_REQUEST;
            None
        }
        None => None,
    };
    html_status(
        code,
        &SettingsPage {
            chrome,
            robot: robot.as_ref().map(|r| {
                (
                    r.paused,
                    match (&r.changed_by, r.changed_at_ms) {
                        (Some(by), Some(at)) => format!(
                            "{} by {by} at {}{}",
                            if r.paused { "paused" } else { "resumed" },
                            app::views::clock(at, now),
                            r.reason
                                .as_ref()
                                .map(|x| format!(": {x}"))
                                .unwrap_or_default()
                        ),
                        _ => String::new(),
                    },
                )
            }),
            outcomes: robot
                .as_ref()
                .map(|r| {
                    r.outcomes
                        .iter()
                        .map(|(k, v)| (k.replace('/', " → "), v.recovered, v.escalated))
                        .collect()
                })
                .unwrap_or_default(),
            environment: app.config.detect.environment.as_str().to_owned(),
            tls: status.tls,
            policy: policy.as_deref().map(policy_rows),
            simulation,
            policy_text,
            notify: channel_lines(state).await,
            model: match &app.config.rca.llm {
                Some(m) => format!("{} at {}", m.model, outbound::redact(&m.url)),
                None => "no model configured ([rca.llm]): drafts stand alone".to_owned(),
            },
            probe,
            sources: status
                .sources
                .iter()
                .map(|s| {
                    (
                        s.source.clone(),
                        s.active_series,
                        s.samples,
                        s.watermark
                            .map(|w| app::views::clock(w, now))
                            .unwrap_or_else(|| "no data yet".to_owned()),
                        s.evaluated_through
                            .map(|w| app::views::clock(w, now))
                            .unwrap_or_else(|| "—".to_owned()),
                        s.dropped
                            .iter()
                            .filter(|(_, n)| **n > 0)
                            .map(|(r, n)| format!("{n} {}", r.replace('_', " ")))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
                .collect(),
            windows: windows
                .iter()
                .map(|w| WindowRow {
                    id: w.id.clone(),
                    name: w.name.clone(),
                    origin: w.origin.as_str().to_owned(),
                    scope: {
                        let mut parts = Vec::new();
                        if w.signature.is_some() {
                            parts.push("incidents with this signature".to_owned());
                        }
                        if !w.namespaces.is_empty() {
                            parts.push(format!("namespaces {}", w.namespaces.join(", ")));
                        }
                        if !w.incident_types.is_empty() {
                            parts.push(
                                w.incident_types
                                    .iter()
                                    .map(|t| t.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            );
                        }
                        if parts.is_empty() {
                            "every incident".to_owned()
                        } else {
                            parts.join("; ")
                        }
                    },
                    when: window_when(&w.time, now),
                    reason: w.reason.clone(),
                    by: w.created_by.clone(),
                    removable: w.origin != incident::SuppressionOrigin::Policy,
                })
                .collect(),
            may_pause: may(caller, Operation::Pause),
            may_resume: may(caller, Operation::Resume),
            may_probe: may(caller, Operation::ProbeModel),
            may_remove: may(caller, Operation::RemoveSuppression),
        },
    )
}

/// `GET /ui/settings`.
pub async fn settings(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    settings_page(&state, &signed, query.as_deref(), None, String::new(), None).await
}

/// `POST /ui/settings/pause` and `/resume`.
pub async fn pause(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    set_paused(state, signed, form, true).await
}

pub async fn resume(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    set_paused(state, signed, form, false).await
}

async fn set_paused(
    state: Arc<AppState>,
    signed: Signed,
    form: FormBody,
    paused: bool,
) -> Response {
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    match state
        .app
        .set_paused(&signed.session.caller, paused, reason)
        .await
    {
        Ok(_) => done("/ui/settings", if paused { "paused" } else { "resumed" }),
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/settings/simulate`: a pasted policy (or the running one) over the ledger.
pub async fn simulate(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let text = form.get("policy").unwrap_or_default().replace("\r\n", "\n");
    let options = policy::SimOptions {
        assume_approved: form.get("assume_approved").is_some(),
    };
    let pasted = (!text.trim().is_empty()).then_some(text.as_str());
    let report = state
        .app
        .simulate_policy(&signed.session.caller, pasted, options)
        .await
        .map_err(|e| e.to_string());
    settings_page(&state, &signed, None, Some(report), text, None).await
}

/// `POST /ui/settings/probe`: asks the model whether it answers.
pub async fn probe(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
) -> Response {
    match state.app.probe_model(&signed.session.caller).await {
        Ok(probe) => settings_page(&state, &signed, None, None, String::new(), Some(probe)).await,
        Err(e) => app_error(&e),
    }
}

/// `POST /ui/settings/suppressions/{id}/remove`.
pub async fn remove_window(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
) -> Response {
    match state
        .app
        .remove_suppression(&signed.session.caller, &id)
        .await
    {
        Ok(_) => done("/ui/settings", "removed"),
        Err(AppError::Invalid { reason }) => {
            let mut page = settings_page(&state, &signed, None, None, String::new(), None).await;
            *page.status_mut() = StatusCode::BAD_REQUEST;
            tracing::info!(%reason, "suppression window not removed");
            page
        }
        Err(e) => app_error(&e),
    }
}

/// One demo run.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub name: String,
    pub started: String,
    pub by: String,
    pub fault_at: String,
    pub progress: u32,
    pub kept: String,
    pub done: bool,
    pub error: String,
}

#[derive(Debug, Template)]
#[template(path = "demo.html")]
pub struct DemoPage {
    pub chrome: Chrome,
    pub stories: Vec<(String, String, String)>,
    pub scenarios: Vec<(String, String, bool)>,
    pub live: DemoLive,
    pub may_start: bool,
}

/// The part of the demo page that follows the runs live.
#[derive(Debug, Clone)]
pub struct DemoLive {
    pub runs: Vec<RunRow>,
    pub newest: Vec<super::list::Row>,
}

#[derive(Debug, Template)]
#[template(path = "demo_live.html")]
pub struct DemoLivePartial {
    pub live: DemoLive,
}

async fn demo_live(state: &AppState, signed: &Signed) -> Result<DemoLive, AppError> {
    let caller = &signed.session.caller;
    let now = app::remediation::now_ms();
    let runs = state.app.demo_runs(caller)?;
    let page = state
        .app
        .incident_page(
            caller,
            &incident::IncidentQuery {
                page: 1,
                per_page: 8,
                ..incident::IncidentQuery::default()
            },
        )
        .await?;
    Ok(DemoLive {
        runs: runs
            .iter()
            .map(|r| RunRow {
                id: r.id.clone(),
                name: r.name.clone(),
                started: app::views::clock(r.started_at_ms, now),
                by: r.started_by.clone(),
                fault_at: r
                    .fault_at_ms
                    .map(|t| app::views::clock(t, now))
                    .unwrap_or_default(),
                progress: if r.done {
                    100
                } else {
                    let span = (r.end_ms - r.started_from_ms).max(1);
                    u32::try_from(
                        ((r.fed_through_ms - r.started_from_ms) * 100 / span).clamp(0, 99),
                    )
                    .unwrap_or(99)
                },
                kept: format!(
                    "{} samples kept{}",
                    r.stored,
                    if r.dropped.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({} dropped: {})",
                            r.dropped.values().sum::<u64>(),
                            r.dropped
                                .keys()
                                .map(|k| k.replace('_', " "))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                done: r.done,
                error: r.error.clone().unwrap_or_default(),
            })
            .collect(),
        newest: page
            .rows
            .iter()
            .map(|s| super::list::Row::of(s, now))
            .collect(),
    })
}

/// `GET /ui/demo` (and its live part for htmx).
pub async fn demo(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let live = match demo_live(&state, &signed).await {
        Ok(live) => live,
        Err(e) => return app_error(&e),
    };
    let raw = query.unwrap_or_default();
    if headers.contains_key("hx-request")
        && crate::api::param(&raw, "part").as_deref() == Some("live")
    {
        return html(&DemoLivePartial { live });
    }
    let chrome = Chrome::of(&state, &signed, "demo", Some(&raw)).await;
    html(&DemoPage {
        chrome,
        stories: app::stories::STORIES
            .iter()
            .map(|s| {
                (
                    s.name.to_owned(),
                    s.title.to_owned(),
                    s.description.to_owned(),
                )
            })
            .collect(),
        scenarios: app::demo::Fault::ALL
            .iter()
            .map(|f| {
                (
                    f.name().to_owned(),
                    app::demo::description(*f).to_owned(),
                    f.name().starts_with("healthy-"),
                )
            })
            .collect(),
        live,
        may_start: may(&signed.session.caller, Operation::StartDemo),
    })
}

/// `POST /ui/demo`: starts a scenario or story.
pub async fn start_demo(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let name = form.get("scenario").unwrap_or_default();
    match state.app.start_demo(&signed.session.caller, name, 7).await {
        Ok(_) => done("/ui/demo", "demo"),
        Err(e) => app_error(&e),
    }
}
