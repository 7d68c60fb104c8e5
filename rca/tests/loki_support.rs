//! A fake Loki on loopback for the query client's tests: it answers `query_range` with Loki's
//! documented JSON and records every request.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

type Labels = BTreeMap<String, String>;

/// One stored log line of the fake Loki.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) ts: i64,
    pub(crate) line: String,
}

/// A `query_range` request as received.
#[derive(Debug, Clone)]
pub(crate) struct QueryRecord {
    pub(crate) params: HashMap<String, String>,
    pub(crate) tenant: Option<String>,
    pub(crate) authorization: Option<String>,
}

/// What the fake answers before it answers with data.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<&'static str>,
    pub(crate) body: &'static str,
}

#[derive(Debug, Default)]
pub(crate) struct FakeState {
    pub(crate) lines: Vec<Line>,
    /// Answered in order to the first requests, one each.
    pub(crate) failures: Vec<Failure>,
    pub(crate) requests: Vec<QueryRecord>,
}

/// A fake Loki holding `lines`. It ignores the selector (the tests check it as received) and
/// answers like Loki: entries in `[start, end)`, oldest first, at most `limit` over all
/// streams, grouped by stream.
pub(crate) struct FakeLoki {
    pub(crate) base_url: String,
    pub(crate) state: Arc<Mutex<FakeState>>,
}

impl FakeLoki {
    pub(crate) async fn start(lines: Vec<Line>, failures: Vec<Failure>) -> Self {
        Self::start_at("", lines, failures).await
    }

    /// Served under a path prefix, as behind a gateway.
    pub(crate) async fn start_at(prefix: &str, lines: Vec<Line>, failures: Vec<Failure>) -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            lines,
            failures,
            requests: Vec::new(),
        }));
        let router = Router::new()
            .route(
                &format!("{prefix}/loki/api/v1/query_range"),
                get(query_range),
            )
            .with_state(Arc::clone(&state));
        Self {
            base_url: format!("{}{prefix}", serve(router).await),
            state,
        }
    }

    pub(crate) fn requests(&self) -> Vec<QueryRecord> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn query_range(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap();
    state.requests.push(QueryRecord {
        params: params.clone(),
        tenant: header(&headers, "x-scope-orgid"),
        authorization: header(&headers, "authorization"),
    });
    if !state.failures.is_empty() {
        let failure = state.failures.remove(0);
        let mut response = (
            StatusCode::from_u16(failure.status).unwrap(),
            failure.body.to_owned(),
        )
            .into_response();
        if let Some(after) = failure.retry_after {
            response
                .headers_mut()
                .insert("retry-after", after.parse().unwrap());
        }
        return response;
    }
    let number = |name: &str| params.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end), Some(limit)) = (number("start"), number("end"), number("limit"))
    else {
        return (StatusCode::BAD_REQUEST, "missing start, end or limit").into_response();
    };
    if params.get("direction").map(String::as_str) != Some("forward") {
        return (StatusCode::BAD_REQUEST, "expected direction=forward").into_response();
    }
    let mut hits: Vec<&Line> = state
        .lines
        .iter()
        .filter(|l| l.ts >= start && l.ts < end)
        .collect();
    hits.sort_by_key(|l| l.ts);
    hits.truncate(usize::try_from(limit).unwrap());
    let mut streams: Vec<(Labels, Vec<[String; 2]>)> = Vec::new();
    for hit in hits {
        match streams.iter_mut().find(|(labels, _)| *labels == hit.labels) {
            Some((_, values)) => values.push([hit.ts.to_string(), hit.line.clone()]),
            None => streams.push((
                hit.labels.clone(),
                vec![[hit.ts.to_string(), hit.line.clone()]],
            )),
        }
    }
    let result: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(labels, values)| serde_json::json!({"stream": labels, "values": values}))
        .collect();
    let body = serde_json::json!({
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": result,
            "stats": {"summary": {"totalEntriesReturned": 0}}
        }
    });
    (
        [("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An error with its sources, as a binary reports it.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
