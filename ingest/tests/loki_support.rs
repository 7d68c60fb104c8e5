//! A loopback push capture for the Loki push tests: records what a client sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use std::sync::{Arc, Mutex};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// One request as the capture server received it.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) path: String,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Answers every `POST` with 204 and keeps the request.
pub(crate) struct PushCapture {
    pub(crate) base_url: String,
    seen: Arc<Mutex<Vec<Captured>>>,
}

impl PushCapture {
    pub(crate) async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/{*path}", post(capture))
            .with_state(Arc::clone(&seen));
        Self {
            base_url: serve(router).await,
            seen,
        }
    }

    /// The requests so far, emptying the record.
    pub(crate) fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn capture(
    State(seen): State<Arc<Mutex<Vec<Captured>>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    seen.lock().unwrap().push(Captured {
        path: uri.path().to_owned(),
        content_type: header(&headers, "content-type"),
        content_encoding: header(&headers, "content-encoding"),
        body: body.to_vec(),
    });
    StatusCode::NO_CONTENT
}
