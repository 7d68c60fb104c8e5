//! `GET|POST /api/v1/incidents/{id}/rca`: the deterministic root-cause draft built from the
//! incident's findings and evidence, interpreted by the configured model when there is one.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::Response;
use model::ErrorClass;
use rca::{Drafter, EvidenceRef, RcaReport, TargetRef};
use std::sync::Arc;

/// The deterministic draft of one incident, from its findings and evidence in the ledger and,
/// when given, the log context of pushed logs.
pub async fn draft(
    ledger: &incident::Ledger,
    logs: Option<&parking_lot::Mutex<super::logs::LogState>>,
    id: &str,
) -> Result<rca::Draft, ApiError> {
    let incident = ledger
        .incident(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?
        .ok_or_else(|| ApiError::new(ErrorClass::NotFound, format!("no incident {id:?}")))?;
    let findings = ledger
        .findings(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    let mut input = datasets::rca_eval::draft_input(&incident, &findings);
    input.log_context = logs.and_then(|l| {
        l.lock()
            .context(&input.incident.target, incident.opened_at_ms)
    });
    if let Some(context) = &input.log_context {
        for event in &context.evidence {
            input
                .evidence
                .push(EvidenceRef::from_event(format!("log-{}", event.id), event));
        }
    }
    Ok(Drafter::default().draft(&input))
}

/// `GET /api/v1/incidents/{id}/logs`: the incident's compact log context (templates with
/// counts, time spans and novelty per stream, within the token budget), from pushed logs.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let incident = state
        .pipeline
        .engine
        .ledger()
        .incident(&id)
        .await
        .map_err(|e| ApiError::from_error(&e))?
        .ok_or_else(|| ApiError::new(ErrorClass::NotFound, format!("no incident {id:?}")))?;
    let target = &incident.target;
    let target = TargetRef::new(
        target.kind,
        target.namespace.as_deref(),
        target.name.clone(),
    );
    let context = state.logs.lock().context(&target, incident.opened_at_ms);
    Ok(success(context.unwrap_or_else(|| rca::LogContext {
        chunks: Vec::new(),
        total_lines: 0,
        noise_lines: 0,
        omitted_entries: 0,
        tokens: 0,
        evidence: Vec::new(),
    })))
}

async fn report(state: &AppState, id: &str) -> Result<RcaReport, ApiError> {
    let draft = draft(state.pipeline.engine.ledger(), Some(&state.logs), id).await?;
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
