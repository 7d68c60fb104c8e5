//! `GET|POST /api/v1/incidents/{id}/rca`: the deterministic root-cause draft built from the
//! incident's findings and evidence, interpreted by the configured model when there is one.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::live_rca::{LokiSource, Sources, draft_with, find_incident, log_context};
use axum::extract::{Path, State};
use axum::response::Response;
use rca::RcaReport;
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// `GET /api/v1/incidents/{id}/logs`: the incident's compact log context (templates with
/// counts, time spans and novelty per stream, within the token budget), from pushed logs.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let incident = find_incident(state.pipeline.engine.ledger(), &id)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    let sources = Sources {
        logs: Some(&state.logs),
        loki: loki_of(&state),
        ..Sources::default()
    };
    let context = log_context(&sources, &incident.target, incident.opened_at_ms).await;
    Ok(success(context.unwrap_or_default()))
}

fn loki_of(state: &AppState) -> Option<LokiSource<'_>> {
    let (client, section) = state.loki.as_ref().zip(state.config.rca.loki.as_ref())?;
    Some(LokiSource {
        client,
        service_label: &section.service_label,
        max_lines: section.max_lines,
    })
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
    let draft = draft_with(state.pipeline.engine.ledger(), sources, id)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
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
