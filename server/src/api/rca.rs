//! `GET|POST /api/v1/incidents/{id}/rca`: the deterministic root-cause draft built from the
//! incident's findings and evidence, interpreted by the configured model when there is one.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::response::Response;
use model::ErrorClass;
use rca::{DraftInput, Drafter, EvidenceRef, IncidentView, RcaReport, TargetRef};
use std::sync::Arc;

async fn report(state: &AppState, id: &str) -> Result<RcaReport, ApiError> {
    let ledger = state.pipeline.engine.ledger();
    let incident = ledger
        .incident(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?
        .ok_or_else(|| ApiError::new(ErrorClass::NotFound, format!("no incident {id:?}")))?;
    let findings = ledger
        .findings(id)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    let target = &incident.target;
    let mut input = DraftInput::new(IncidentView {
        id: incident.id.clone(),
        incident_type: incident.incident_type,
        severity: incident.severity,
        target: TargetRef::new(
            target.kind,
            target.namespace.as_deref(),
            target.name.clone(),
        ),
        opened_at_ms: incident.opened_at_ms,
        signature: Some(incident.signature.clone()),
        node: findings.iter().find_map(|f| f.candidate.node.clone()),
    });
    for (n, finding) in findings.iter().enumerate() {
        let evidence = &finding.candidate.evidence;
        for metric in &evidence.metrics {
            input.evidence.push(EvidenceRef::from_metric(
                format!("f{}-{}", n + 1, metric.id),
                metric,
            ));
        }
        for event in &evidence.events {
            input.evidence.push(EvidenceRef::from_event(
                format!("f{}-{}", n + 1, event.id),
                event,
            ));
        }
    }
    let draft = Drafter::default().draft(&input);
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
