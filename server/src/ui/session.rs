//! Workspace sign-in sessions: a random server-side id in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` under TLS) that expires, the caller it stands for, and its CSRF token.
//!
//! Every state-changing request must come from the workspace itself: same origin (`Origin` or
//! `Sec-Fetch-Site`) and the session's CSRF token in the form or the `X-CSRF-Token` header.
//! Who may do what is still decided by `app::authorize`, once, before the handler runs.

use crate::app::AppState;
use app::{Caller, Operation};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "srebot_session";

/// Largest form body a workspace POST may carry.
pub const MAX_FORM_BYTES: usize = 512 * 1024;

/// Failed sign-ins per minute before the form answers 429.
const MAX_FAILED_SIGN_INS: usize = 20;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub caller: Caller,
    /// Sent back with every state-changing request.
    pub csrf: String,
    pub expires: Instant,
    pub created: Instant,
}

/// The sessions of this process (they end with it).
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    max: usize,
    failures: Mutex<Vec<Instant>>,
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
            failures: Mutex::new(Vec::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for `caller`; the oldest goes when there are too many.
    pub fn create(&self, caller: Caller) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_hex(),
            caller,
            csrf: random_hex(),
            expires: now + self.ttl,
            created: now,
        };
        let mut map = self.map.lock();
        map.retain(|_, s| s.expires > now);
        while map.len() >= self.max {
            let Some(oldest) = map.values().min_by_key(|s| s.created).map(|s| s.id.clone()) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session of this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.map.lock();
        match map.get(id) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// Counts a failed sign-in; `false` when too many failed in the last minute.
    pub fn failed_sign_in(&self) -> bool {
        let now = Instant::now();
        let mut failures = self.failures.lock();
        failures.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        failures.push(now);
        failures.len() <= MAX_FAILED_SIGN_INS
    }

    /// Whether sign-ins are held back for now.
    pub fn throttled(&self) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock();
        failures
            .iter()
            .filter(|t| now.duration_since(**t) < Duration::from_secs(60))
            .count()
            >= MAX_FAILED_SIGN_INS
    }
}

/// The `Set-Cookie` value of a session (or of its removal with `None`).
pub fn cookie(session: Option<&Session>, ttl: Duration, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = match session {
        Some(s) => format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            s.id,
            ttl.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session id a request's cookies carry.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the request comes from a page of this server: `Sec-Fetch-Site` says so, or its
/// `Origin` names this host. A request with neither (an old browser, a script) is let through
/// to the CSRF check, which it cannot pass without the session's token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        host,
    ) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or(origin);
            bare == host
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Where to go after signing in: a workspace path only (never another site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with("/ui/")
                && !path.starts_with("//")
                && !path.contains("\\")
                && !path.contains("/ui/login")
                && path.len() < 2_000 =>
        {
            path.to_owned()
        }
        _ => "/ui/incidents".to_owned(),
    }
}

/// The signed-in caller and session, for handlers.
#[derive(Debug, Clone)]
pub struct Signed {
    pub session: Session,
}

/// The buffered form of a POST (the middleware read it to check the CSRF token).
#[derive(Debug, Clone, Default)]
pub struct FormBody(pub Vec<(String, String)>);

impl FormBody {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = super::pages::refusal_page(status, message);
    (status, body).into_response()
}

/// For every workspace route: the operation it runs (from the one route table), the session
/// behind it, same-origin and CSRF checks for state changes, and `app::authorize`.
pub async fn require_session(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    let Some(operation) = crate::auth::operation_of(&method, &route) else {
        return refuse(StatusCode::NOT_FOUND, "no such page");
    };
    let changes = method == Method::POST;
    let (parts, body) = request.into_parts();
    if changes && !same_origin(&parts.headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-site request refused: workspace forms are accepted from its own pages only",
        );
    }
    let form = if changes {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let server = &state.app.config.server;
        let bytes = match crate::bodies::read_limited(
            body,
            declared,
            server.max_request_bytes.min(MAX_FORM_BYTES),
            "server.max_request_bytes",
            server.body_timeout,
        )
        .await
        {
            Ok(bytes) => bytes,
            Err(error) => return refuse(error.status(), &error.message),
        };
        FormBody(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    } else {
        FormBody::default()
    };
    let mut request = Request::from_parts(parts, Body::empty());
    let session = session_id(request.headers()).and_then(|id| state.ui.sessions.get(&id));
    if operation.is_public() {
        if let Some(session) = session {
            request.extensions_mut().insert(Signed { session });
        }
        request.extensions_mut().insert(form);
        return next.run(request).await;
    }
    let Some(session) = session else {
        if changes || request.headers().contains_key("hx-request") {
            let mut response = refuse(StatusCode::UNAUTHORIZED, "sign in first");
            response
                .headers_mut()
                .insert("hx-redirect", HeaderValue::from_static("/ui/login"));
            return response;
        }
        let next_path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let target = format!(
            "/ui/login?next={}",
            form_urlencoded::byte_serialize(next_path.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
    };
    if changes {
        let presented = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .or_else(|| form.get("csrf"))
            .unwrap_or_default();
        if !app::auth::same_secret(presented.as_bytes(), session.csrf.as_bytes()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or stale: reload the page and try again",
            );
        }
    }
    if let Err(error) = app::authorize(&session.caller, operation) {
        return refuse(StatusCode::FORBIDDEN, &error.to_string());
    }
    if operation.is_mutating() {
        tracing::info!(caller = %session.caller.name, role = %session.caller.role, operation = operation.name(), "workspace: authorized");
    }
    request.extensions_mut().insert(Signed { session });
    request.extensions_mut().insert(form);
    next.run(request).await
}

/// Whether this caller may run `operation`: the app layer's answer, for offering it at all.
pub fn may(caller: &Caller, operation: Operation) -> bool {
    app::authorize(caller, operation).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_next_paths() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9710"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9710"),
        );
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9710"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
        assert_eq!(safe_next(Some("/ui/approvals")), "/ui/approvals");
        assert_eq!(safe_next(Some("//evil.test/ui/")), "/ui/incidents");
        assert_eq!(safe_next(Some("https://evil.test")), "/ui/incidents");
        assert_eq!(safe_next(None), "/ui/incidents");
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let sessions = Sessions::new(Duration::from_millis(50), 2);
        let a = sessions.create(Caller::anonymous());
        assert!(sessions.get(&a.id).is_some());
        let _b = sessions.create(Caller::anonymous());
        let _c = sessions.create(Caller::anonymous());
        assert!(
            sessions.get(&a.id).is_none(),
            "the oldest goes past the cap"
        );
        let d = sessions.create(Caller::anonymous());
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.get(&d.id).is_none(), "expired");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={}", d.id)).unwrap(),
        );
        assert_eq!(session_id(&h).as_deref(), Some(d.id.as_str()));
        let cookie = cookie(Some(&d), Duration::from_secs(60), true);
        let text = cookie.to_str().unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=60"] {
            assert!(text.contains(part), "{text}");
        }
    }
}
