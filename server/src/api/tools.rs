//! The read-only investigation tools over HTTP: the catalogue, and one call per request (the
//! Run buttons of a workspace and `srebot mcp` use these; `/mcp` serves the same tools to MCP
//! clients).

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;

/// `GET /api/v1/tools`: every tool with its JSON-schema'd input.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.tools(&caller)?))
}

/// `POST /api/v1/tools/{name}` with the arguments object as the body (empty for none): the
/// result, kept as evidence under `evidence_id`. A refused argument is a 400 naming it.
pub async fn run(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let args: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body is not a JSON object of arguments: {e}"))
        })?
    };
    Ok(success(state.app.run_tool(&caller, &name, &args).await?))
}
