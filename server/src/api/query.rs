//! Read-only queries over the windows: Prometheus-shaped `/api/v1/series`, the aggregates of
//! `/api/v1/windows`, and DataFusion SQL over the `windows` and `samples` tables.

use super::{param, params, success};
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use bytes::Bytes;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;
use windows::{Selector, WindowQuery, WindowSpan};

fn selectors(encoded: &str) -> Result<Vec<Selector>, ApiError> {
    let selectors: Vec<Selector> = params(encoded, "match[]")
        .map(|text| Selector::parse(&text).map_err(|e| ApiError::from_error(&e)))
        .collect::<Result<_, _>>()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_request(
            "no match[] parameter: give at least one series selector, e.g. match[]=up",
        ));
    }
    Ok(selectors)
}

/// The label sets of the matching series, each with its source as `__source__` (a
/// Prometheus-style internal label), in one source (`source=`) or all.
fn series_of(state: &AppState, caller: &Caller, encoded: &str) -> Result<Response, ApiError> {
    let source = param(encoded, "source");
    let found = state
        .app
        .series(caller, source.as_deref(), &selectors(encoded)?)?;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = found
        .into_iter()
        .map(|s| {
            let mut row: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .map(|(n, v)| (n.to_owned(), serde_json::Value::from(v)))
                .collect();
            row.insert("__source__".to_owned(), serde_json::Value::from(s.source));
            row
        })
        .collect();
    Ok(success(rows))
}

/// `GET /api/v1/series?match[]=SELECTOR[&source=NAME]`.
pub async fn series(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    series_of(&state, &caller, query.as_deref().unwrap_or(""))
}

/// `POST /api/v1/series` with a form body, as Prometheus accepts for long selectors.
pub async fn series_form(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("form body is not UTF-8"))?;
    series_of(&state, &caller, text)
}

/// `GET /api/v1/windows?match[]=SELECTOR&window=5m[&at=MS][&by=label,...][&source=NAME]`:
/// every row names its source and is taken at its source's own watermark (or `at`).
pub async fn windows(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let encoded = query.as_deref().unwrap_or("");
    let window_text = param(encoded, "window").unwrap_or_else(|| "5m".to_owned());
    let window = WindowSpan::parse(&window_text).map_err(|e| ApiError::from_error(&e))?;
    let at_ms = match param(encoded, "at") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "at={text:?} is not a timestamp in Unix milliseconds"
            ))
        })?),
    };
    let by = param(encoded, "by").map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    });
    let query = WindowQuery {
        selectors: selectors(encoded)?,
        window,
        at_ms,
        by,
    };
    let source = param(encoded, "source");
    Ok(success(state.app.windows(
        &caller,
        source.as_deref(),
        &query,
    )?))
}

#[derive(serde::Deserialize)]
struct SqlBody {
    query: String,
}

/// The SQL text of a request: JSON `{"query": ...}`, a form `query=...`, or the plain body.
fn sql_text(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("SQL body is not UTF-8"))?;
    let query = if content_type.starts_with("application/json") {
        serde_json::from_str::<SqlBody>(text)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "JSON body: {e}; expected {{\"query\": \"SELECT ...\"}}"
                ))
            })?
            .query
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        param(text, "query").ok_or_else(|| ApiError::bad_request("form body has no query="))?
    } else {
        text.to_owned()
    };
    if query.trim().is_empty() {
        return Err(ApiError::bad_request("empty SQL query"));
    }
    Ok(query)
}

/// `POST /api/v1/sql`: runs a read-only DataFusion query over `windows` and `samples` within
/// the `[sql]` limits; rows as JSON objects.
pub async fn sql(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = sql_text(&headers, &body)?;
    let answer = state.app.sql(&caller, &query).await?;
    let rows = rows_json(&answer.batches)?;
    Ok(success(
        serde_json::json!({ "columns": answer.columns, "rows": rows }),
    ))
}

fn rows_json(batches: &[RecordBatch]) -> Result<serde_json::Value, ApiError> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .and_then(|()| writer.finish())
        .map_err(|e| ApiError::new(model::ErrorClass::Internal, format!("encoding rows: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Array(Vec::new()));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(model::ErrorClass::Internal, format!("encoding rows: {e}")))
}
