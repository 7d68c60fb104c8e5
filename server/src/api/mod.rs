//! HTTP handlers, one module per surface: remote_write ingest, queries, operations.
//! Handlers translate HTTP to library calls and errors to [`crate::error::ApiError`].

pub mod channels;
pub mod incidents;
pub mod logs;
pub mod operator;
pub mod ops;
pub mod query;
pub mod rca;
pub mod remediation;
pub mod tools;
pub mod write;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Prometheus's success envelope: `{"status":"success","data":...}`.
pub fn success<T: Serialize>(data: T) -> Response {
    Json(serde_json::json!({ "status": "success", "data": data })).into_response()
}

/// Every value of a repeated query or form parameter, e.g. `match[]`.
pub fn params<'a>(encoded: &'a str, key: &'a str) -> impl Iterator<Item = String> + 'a {
    form_urlencoded::parse(encoded.as_bytes())
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The last value of a parameter.
pub fn param(encoded: &str, key: &str) -> Option<String> {
    params(encoded, key).last()
}

/// The `status` filter of a listing: none when absent or empty, else what `parse` makes of it;
/// a value it does not know is a 400 listing the ones it does (`names`).
pub fn status_param<T>(
    query: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
    names: &str,
) -> Result<Option<T>, crate::error::ApiError> {
    match param(query.unwrap_or(""), "status").as_deref() {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some).ok_or_else(|| {
            crate::error::ApiError::bad_request(format!("status {text:?} is not one of {names}"))
        }),
    }
}

/// The tenant a request names in `X-Scope-OrgID` (as Mimir and Loki read it): the default
/// source without one; a malformed name is a 400 naming the header.
pub fn tenant(headers: &axum::http::HeaderMap) -> Result<String, crate::error::ApiError> {
    let Some(value) = headers.get("x-scope-orgid") else {
        return Ok(model::DEFAULT_SOURCE.to_owned());
    };
    let text = value
        .to_str()
        .map_err(|_| crate::error::ApiError::bad_request("X-Scope-OrgID is not visible ASCII"))?
        .trim();
    model::check_source(text)
        .map_err(|e| crate::error::ApiError::bad_request(format!("X-Scope-OrgID: {e}")))?;
    Ok(text.to_owned())
}
