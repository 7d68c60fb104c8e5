//! `GET|POST /api/v1/incidents/{id}/rca`: the deterministic root-cause draft built from the
//! incident's findings and evidence, interpreted by the configured model when there is one.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::Response;
use model::ErrorClass;
use model::Target;
use rca::{Drafter, EvidenceRef, RcaReport};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a draft may draw on beyond the incident's own findings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sources<'a> {
    /// Pushed logs: the incident's log context and known failure signatures.
    pub logs: Option<&'a parking_lot::Mutex<super::logs::LogState>>,
    /// The windows: deploys, scaling, images and config changes before the incident.
    pub store: Option<&'a windows::Store>,
    /// Actions that fixed past incidents (incident id → catalogue action names).
    pub fixes: Option<&'a BTreeMap<String, Vec<String>>>,
    /// Loki, asked for the log context when no pushed lines belong to the target.
    pub loki: Option<(&'a rca::loki::LokiClient, &'a crate::config::LokiSection)>,
}

/// The incident's log context: from pushed lines, else pulled from Loki.
async fn log_context(
    sources: &Sources<'_>,
    target: &Target,
    opened_at_ms: i64,
) -> Option<rca::LogContext> {
    let pushed = sources
        .logs
        .and_then(|l| l.lock().context(target, opened_at_ms));
    match (pushed, sources.loki) {
        (Some(context), _) => Some(context),
        (None, Some((client, section))) => {
            super::logs::pull_context(client, section, target, opened_at_ms).await
        }
        (None, None) => None,
    }
}

/// The incident `id` from the ledger; 404 when there is none.
async fn find_incident(
    ledger: &incident::Ledger,
    id: &str,
) -> Result<incident::Incident, ApiError> {
    ledger
        .incident(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?
        .ok_or_else(|| ApiError::new(ErrorClass::NotFound, format!("no incident {id:?}")))
}

/// The deterministic draft of one incident, from its findings and evidence in the ledger and,
/// when given, the log context of pushed logs.
pub async fn draft(
    ledger: &incident::Ledger,
    logs: Option<&parking_lot::Mutex<super::logs::LogState>>,
    id: &str,
) -> Result<rca::Draft, ApiError> {
    let sources = Sources {
        logs,
        ..Sources::default()
    };
    draft_with(ledger, sources, id).await
}

/// Past incidents of the same signature recalled in a draft.
const SIMILAR_RECALLED: u32 = 5;

/// The draft from the incident's findings plus whatever `sources` offers: log context,
/// recent changes to its workload, and similar past incidents with what fixed them.
pub async fn draft_with(
    ledger: &incident::Ledger,
    sources: Sources<'_>,
    id: &str,
) -> Result<rca::Draft, ApiError> {
    let incident = find_incident(ledger, id).await?;
    let findings = ledger
        .findings(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    let mut input = app::draft_input(&incident, &findings);
    input.log_context = log_context(&sources, &input.incident.target, incident.opened_at_ms).await;
    if let Some(context) = &input.log_context {
        for event in &context.evidence {
            input
                .evidence
                .push(EvidenceRef::from_event(format!("log-{}", event.id), event));
        }
    }
    if let Some(store) = sources.store {
        input.changes =
            crate::changes::recent_changes(store, &input.incident.target, incident.opened_at_ms);
    }
    let similar = ledger
        .similar(&incident.signature, &incident.id, SIMILAR_RECALLED)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    input.similar_past = similar
        .iter()
        .map(|past| past_incident(past, sources.fixes))
        .collect();
    Ok(Drafter::default().draft(&input))
}

/// Incident id → names of the executed actions after which it recovered.
fn recovered_by(actions: &[crate::remediation::ActionEntry]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in actions {
        let recovered = entry
            .verification
            .as_ref()
            .is_some_and(|v| v.outcome == crate::remediation::Outcome::Recovered);
        if recovered {
            let names = out.entry(entry.incident_id.clone()).or_default();
            let name = entry.proposed.action.name().to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    out
}

/// A past incident as the draft recalls it: how it ended and which actions fixed it.
fn past_incident(
    past: &incident::Incident,
    fixes: Option<&BTreeMap<String, Vec<String>>>,
) -> rca::PastIncident {
    let actions = fixes
        .and_then(|f| f.get(&past.id))
        .cloned()
        .unwrap_or_default();
    let ended = match past.resolved_at_ms {
        Some(at) => format!(
            "resolved {} min after it opened",
            (at - past.opened_at_ms).max(0) / 60_000
        ),
        None => format!("still {}", past.status.as_str()),
    };
    let fix = if actions.is_empty() {
        format!("{} ({ended}) with no recorded action", past.id)
    } else {
        format!("{} ({ended}) after {}", past.id, actions.join(", "))
    };
    rca::PastIncident {
        id: past.id.clone(),
        signature: past.signature.clone(),
        templates: Vec::new(),
        fix,
        actions,
    }
}

/// `GET /api/v1/incidents/{id}/logs`: the incident's compact log context (templates with
/// counts, time spans and novelty per stream, within the token budget), from pushed logs.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let incident = find_incident(state.pipeline.engine.ledger(), &id).await?;
    let target = &incident.target;
    let target = Target::new(
        target.kind,
        target.namespace.as_deref(),
        target.name.clone(),
    );
    let sources = Sources {
        logs: Some(&state.logs),
        loki: loki_of(&state),
        ..Sources::default()
    };
    let context = log_context(&sources, &target, incident.opened_at_ms).await;
    Ok(success(context.unwrap_or_default()))
}

fn loki_of(state: &AppState) -> Option<(&rca::loki::LokiClient, &crate::config::LokiSection)> {
    state.loki.as_ref().zip(state.config.rca.loki.as_ref())
}

async fn report(state: &AppState, id: &str) -> Result<RcaReport, ApiError> {
    let fixes = match &state.remediation {
        Some(remediation) => recovered_by(&remediation.actions().await),
        None => BTreeMap::new(),
    };
    let sources = Sources {
        logs: Some(&state.logs),
        store: Some(&state.store),
        fixes: Some(&fixes),
        loki: loki_of(state),
    };
    let draft = draft_with(state.pipeline.engine.ledger(), sources, id).await?;
    Ok(match &state.config.rca.llm {
        None => RcaReport::draft_only(draft),
        Some(config) => match rca::Interpreter::new(config.clone()) {
            Ok(interpreter) => interpreter.report(draft).await,
            Err(error) => {
                tracing::warn!(error = %crate::error::chain(&error), "model client not built; draft only");
                RcaReport::draft_only(draft)
            }
        },
    })
}

/// `GET /api/v1/incidents/{id}/rca`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(report(&state, &id).await?))
}

/// `POST /api/v1/incidents/{id}/rca`: regenerates the draft (and interpretation).
pub async fn regenerate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(report(&state, &id).await?))
}
