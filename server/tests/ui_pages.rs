//! The operator workspace, rendered by a real server and read as HTML: every page and tab,
//! their empty states, hostile input (a label value `<script>alert(1)</script>` renders as
//! text everywhere), sign-in sessions, CSRF and same-origin checks, every workspace route
//! against its least role, and the operator commands over the API.

use crate::common::*;
use crate::fake_k8s;
use app::{Operation, Role};
use serde_json::{Value, json};
use server::config::{Config, KubeConfig};
use server::serve::RunningServer;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) const HOSTILE: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

/// One token per role, `<role>-ui-token-0123456789`; the approver answers as `sre-oncall`.
pub(crate) fn token(role: Role) -> String {
    format!("{role}-ui-token-0123456789")
}

pub(crate) fn tokens_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.toml");
    let mut text = String::new();
    for role in Role::ALL {
        text.push_str(&format!(
            "[[token]]\nname = \"{role}-person\"\nrole = \"{role}\"\ntoken = \"{}\"\n{}\n",
            token(role),
            if role >= Role::Approve {
                "policy_role = \"sre-oncall\"\n"
            } else {
                ""
            }
        ));
    }
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// The prod example policy without its time windows (so tests do not depend on the hour).
pub(crate) fn prod_policy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/prod.toml"),
    )
    .unwrap();
    let kept: String = text
        .split("\n[[")
        .enumerate()
        .filter(|(i, part)| *i == 0 || !part.starts_with("windows]]"))
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("\n[[{part}")
            }
        })
        .collect();
    let path = dir.join("policy.toml");
    std::fs::write(&path, kept).unwrap();
    path
}

/// `application/x-www-form-urlencoded` bodies, as a browser's form sends them.
pub(crate) trait FormBody {
    fn form(self, fields: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form(self, fields: &[(&str, &str)]) -> Self {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish())
    }
}

/// A signed-in browser: the session cookie and the page's CSRF token.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl Browser {
    pub(crate) async fn sign_in(base: &str, token: &str) -> Browser {
        let client = no_redirects();
        let response = client
            .post(format!("{base}/ui/login"))
            .header("origin", base)
            .form(&[("token", token), ("next", "/ui/incidents")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "sign-in with {token}");
        let set = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        for part in ["HttpOnly", "SameSite=Strict", "Max-Age="] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Secure"), "plain http: no Secure flag: {set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let mut browser = Browser {
            client,
            base: base.to_owned(),
            cookie,
            csrf: String::new(),
        };
        // Every page needs at least the read role; an ingest token signs in to nothing.
        let (status, page) = browser.get("/ui/incidents").await;
        assert!(status == 200 || status == 403, "{status} {page}");
        browser.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        browser
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// A form post from the workspace's own page (same origin, CSRF token).
    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let mut fields: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .form(&fields)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location, response.text().await.unwrap())
    }
}

struct Rig {
    server: RunningServer,
    fake: std::sync::Arc<fake_k8s::Fake>,
    _dir: tempfile::TempDir,
}

async fn rig(tweak: impl FnOnce(&mut Config)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (fake, kube_url) = fake_k8s::start().await;
    for name in ["payments-api", "checkout", "catalogue"] {
        fake.deployment(name, 3);
    }
    let mut config = test_config(dir.path());
    config.auth.tokens_file = Some(tokens_file(dir.path()));
    config.policy.file = Some(prod_policy(dir.path()));
    config.policy.kube = Some(KubeConfig {
        url: Some(kube_url),
        ..KubeConfig::default()
    });
    tweak(&mut config);
    Rig {
        server: start(config).await,
        fake,
        _dir: dir,
    }
}

/// Posts one firing Alertmanager alert about Deployment `shop/<deployment>`.
pub(crate) async fn alert(base: &str, alertname: &str, deployment: &str, starts_at: &str) {
    let body = json!({
        "version": "4", "status": "firing", "receiver": "srebot", "groupKey": deployment,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": alertname, "namespace": "shop",
                       "deployment": deployment, "severity": "critical"},
            "annotations": {"summary": format!("{deployment} is crash looping")},
            "startsAt": starts_at, "fingerprint": format!("fp-{deployment}-{starts_at}")
        }]
    });
    let response = client()
        .post(format!("{base}/api/v1/alerts/alertmanager"))
        .bearer_auth(token(Role::Ingest))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

fn rfc3339(ms: i64) -> String {
    incident::rfc3339::format(ms)
}

async fn incident_ids(base: &str) -> Vec<Value> {
    let response = client()
        .get(format!("{base}/api/v1/incidents"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn assert_no_raw_script(what: &str, page: &str) {
    assert!(
        !page.contains(HOSTILE),
        "{what} holds a raw script tag:\n{}",
        &page[page.find(HOSTILE).unwrap().saturating_sub(300)..]
            .chars()
            .take(600)
            .collect::<String>()
    );
    assert!(!page.contains("<script>alert"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_tab_renders_its_empty_state() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let reader = Browser::sign_in(&base, &token(Role::Read)).await;
    for (path, expect) in [
        ("/ui/incidents", "No incidents yet"),
        ("/ui/approvals", "Nothing waits for an approver"),
        ("/ui/audit", "The chain verifies"),
        ("/ui/rules", "No suggestion yet"),
        ("/ui/settings", "No suppression window"),
        ("/ui/demo", "No demo played yet"),
        (
            "/ui/incidents?status=resolved",
            "No incident matches these filters",
        ),
    ] {
        let (status, page) = reader.get(path).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert!(page.contains(expect), "{path} lacks {expect:?}");
        assert!(page.contains("/ui/assets/htmx.min.js"), "{path}");
        assert!(
            !page.contains("http://") || !page.contains("src=\"http"),
            "{path}"
        );
    }
    // A bad filter names what was wrong.
    let (status, page) = reader.get("/ui/incidents?status=open").await;
    assert_eq!(status, 400);
    assert!(
        page.contains("unknown status &#34;open&#34;")
            || page.contains("unknown status \"open\"")
            || page.contains("unknown status &quot;open&quot;"),
        "{page}"
    );
    // No incident of that id.
    let (status, _) = reader.get("/ui/incidents/inc-nope").await;
    assert_eq!(status, 404);
    // Every embedded asset is served from here; htmx comes with its licence.
    let names = server::ui::assets::names();
    for name in [
        "htmx.min.js",
        "htmx-ext-sse.js",
        "app.css",
        "LICENSE-htmx.txt",
        "icon.svg",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} is not embedded");
        let (status, body) = reader.get(&format!("/ui/assets/{name}")).await;
        assert_eq!(status, 200, "{name}");
        assert!(!body.is_empty());
    }
    // The root goes to the workspace; a page without a session goes to sign-in.
    let anonymous = no_redirects();
    let response = anonymous.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/ui/incidents");
    let response = anonymous
        .get(format!("{base}/ui/approvals"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/ui/login?next=%2Fui%2Fapprovals"
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    // A wrong token is refused at sign-in.
    let response = anonymous
        .post(format!("{base}/ui/login"))
        .header("origin", &base)
        .form(&[("token", "not-a-known-token-0000")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(rig.fake.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_label_values_render_as_text_everywhere() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let now = app::remediation::now_ms();
    alert(&base, HOSTILE, HOSTILE, &rfc3339(now - 60_000)).await;
    // Log lines of the same target, with the script in a label value and in the line.
    let push = json!({"streams": [{
        "stream": {"namespace": "shop", "deployment": HOSTILE, "app": HOSTILE},
        "values": [[format!("{}", (now - 30_000) * 1_000_000), format!("error: {HOSTILE} failed")]]
    }]});
    let response = client()
        .post(format!("{base}/loki/api/v1/push"))
        .bearer_auth(token(Role::Ingest))
        .json(&push)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let ids = wait_for("the hostile incident", Duration::from_secs(30), || async {
        let list = incident_ids(&base).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    let id = ids[0]["id"].as_str().unwrap().to_owned();
    let operator = Browser::sign_in(&base, &token(Role::Approve)).await;
    // The script as an assignee, a comment, feedback and a suppression reason.
    for (path, form) in [
        ("assign", vec![("assignee", HOSTILE)]),
        ("comment", vec![("text", HOSTILE)]),
        ("feedback", vec![("verdict", "noise"), ("note", HOSTILE)]),
        ("silence", vec![("hours", "2"), ("reason", HOSTILE)]),
    ] {
        let (status, location, body) = operator
            .post(&format!("/ui/incidents/{id}/{path}"), &form)
            .await;
        assert_eq!(status, 303, "{path}: {body}");
        assert!(
            location.starts_with(&format!("/ui/incidents/{id}")),
            "{location}"
        );
    }
    let mut pages = vec![
        "/ui/incidents".to_owned(),
        format!("/ui/incidents?q={}", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        "/ui/incidents/rows".to_owned(),
        "/ui/approvals".to_owned(),
        "/ui/audit".to_owned(),
        format!("/ui/audit?incident={id}"),
        "/ui/rules".to_owned(),
        "/ui/settings".to_owned(),
        "/ui/demo".to_owned(),
        format!("/ui/incidents/{id}/tools/evidence.list"),
        format!("/ui/incidents/{id}/tools/logs.recent"),
    ];
    for tab in ["summary", "ai", "signals", "actions"] {
        pages.push(format!("/ui/incidents/{id}?tab={tab}"));
    }
    let mut seen_escaped = 0;
    for path in &pages {
        let (status, page) = operator.get(path).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert_no_raw_script(path, &page);
        if page.contains(ESCAPED) {
            seen_escaped += 1;
        }
    }
    // It is shown (as text), not dropped: list, drawer tabs, approvals, audit, settings.
    assert!(
        seen_escaped >= 8,
        "the escaped text shows on {seen_escaped} pages"
    );
    let (_, summary) = operator
        .get(&format!("/ui/incidents/{id}?tab=summary"))
        .await;
    assert!(
        summary.contains(&format!("assigned to {ESCAPED}")),
        "assignee in the timeline"
    );
    let (_, signals) = operator
        .get(&format!("/ui/incidents/{id}?tab=signals"))
        .await;
    assert!(
        signals.contains(&format!("error: {ESCAPED} failed")),
        "the log line"
    );
    // htmx partials escape too.
    let response = operator
        .client
        .get(format!("{base}/ui/incidents/{id}?tab=signals"))
        .header("cookie", &operator.cookie)
        .header("hx-request", "true")
        .header("hx-target", "tab")
        .send()
        .await
        .unwrap();
    let partial = response.text().await.unwrap();
    assert!(!partial.contains("<html"), "a partial, not a page");
    assert_no_raw_script("signals partial", &partial);
    // A rules file with the script is refused with its line, and shown back escaped.
    let (status, _, page) = operator
        .post(
            "/ui/rules/file",
            &[("text", &format!("[[rule]]\nname = \"{HOSTILE}\"\n"))],
        )
        .await;
    assert_eq!(status, 400);
    assert_no_raw_script("refused rules", &page);
    assert!(page.contains("rules.toml:"), "FILE:LINE inline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_session_csrf_token_and_the_same_origin() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let now = app::remediation::now_ms();
    alert(
        &base,
        "KubePodCrashLooping",
        "checkout",
        &rfc3339(now - 60_000),
    )
    .await;
    let ids = wait_for("an incident", Duration::from_secs(30), || async {
        let list = incident_ids(&base).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    let id = ids[0]["id"].as_str().unwrap().to_owned();
    let operator = Browser::sign_in(&base, &token(Role::Operate)).await;
    let path = format!("{base}/ui/incidents/{id}/ack");
    // Another site's form: refused before anything else, cookie or not.
    for (origin, site) in [
        (Some("http://localhost:1"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let mut request = operator
            .client
            .post(&path)
            .header("cookie", &operator.cookie)
            .form(&[("csrf", operator.csrf.as_str())]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains("cross-site request refused"), "{body}");
    }
    // Same origin without the token, or with another session's token: refused.
    let other = Browser::sign_in(&base, &token(Role::Operate)).await;
    for csrf in ["", other.csrf.as_str()] {
        let response = operator
            .client
            .post(&path)
            .header("cookie", &operator.cookie)
            .header("origin", &base)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(response.text().await.unwrap().contains("CSRF"));
    }
    // No session: 401, nothing done.
    let response = no_redirects()
        .post(&path)
        .header("origin", &base)
        .form(&[("csrf", operator.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let detail = client()
        .get(format!("{base}/api/v1/incidents/{id}"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(detail["data"]["acknowledged_by"].is_null(), "{detail}");
    // The header token (htmx) works as the form field does.
    let response = operator
        .client
        .post(&path)
        .header("cookie", &operator.cookie)
        .header("origin", &base)
        .header("x-csrf-token", &operator.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    // Signing out ends the session on the server.
    let (status, _, _) = operator.post("/ui/logout", &[]).await;
    assert_eq!(status, 303);
    let (status, _) = operator.get("/ui/incidents").await;
    assert_eq!(status, 303, "signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire() {
    let rig = rig(|c| c.workspace.session_ttl = Duration::from_secs(60)).await;
    let base = rig.server.url();
    let reader = Browser::sign_in(&base, &token(Role::Read)).await;
    let (status, _) = reader.get("/ui/incidents").await;
    assert_eq!(status, 200);
    // The cookie's Max-Age says 60 s; the server forgets it then too (checked in the unit
    // test of the session store, which can wait less than a minute).
    let response = no_redirects()
        .post(format!("{base}/ui/login"))
        .header("origin", &base)
        .form(&[("token", token(Role::Read).as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=60")
    );
}

/// Every workspace route with a concrete path, and the operation it runs.
pub(crate) const UI_ROUTES: &[(&str, &str, Operation)] = &[
    ("GET", "/ui/events", Operation::ListIncidents),
    ("GET", "/ui/incidents", Operation::ListIncidents),
    ("GET", "/ui/incidents/rows", Operation::ListIncidents),
    ("GET", "/ui/incidents/inc-x", Operation::GetIncident),
    ("POST", "/ui/incidents/inc-x/ack", Operation::Acknowledge),
    ("POST", "/ui/incidents/inc-x/assign", Operation::Assign),
    ("POST", "/ui/incidents/inc-x/comment", Operation::Comment),
    (
        "POST",
        "/ui/incidents/inc-x/resolve",
        Operation::ResolveIncident,
    ),
    (
        "POST",
        "/ui/incidents/inc-x/merge",
        Operation::MergeIncidents,
    ),
    ("POST", "/ui/incidents/inc-x/feedback", Operation::Feedback),
    ("POST", "/ui/incidents/inc-x/silence", Operation::Silence),
    (
        "POST",
        "/ui/incidents/inc-x/interpret",
        Operation::RegenerateDraft,
    ),
    (
        "GET",
        "/ui/incidents/inc-x/tools/evidence.list",
        Operation::RunTool,
    ),
    ("GET", "/ui/approvals", Operation::ListApprovals),
    ("POST", "/ui/approvals/ap-x/approve", Operation::Approve),
    ("POST", "/ui/approvals/ap-x/reject", Operation::Reject),
    ("POST", "/ui/approvals/ap-x/modify", Operation::Modify),
    ("GET", "/ui/audit", Operation::Audit),
    ("GET", "/ui/rules", Operation::ListRules),
    ("POST", "/ui/rules/edit/no_such_rule", Operation::EditRules),
    ("POST", "/ui/rules/file", Operation::EditRules),
    ("POST", "/ui/rules/allowlist", Operation::EditAllowlist),
    (
        "POST",
        "/ui/rules/suggestions/sug-x/accept",
        Operation::AcceptSuggestion,
    ),
    (
        "POST",
        "/ui/rules/suggestions/sug-x/reject",
        Operation::RejectSuggestion,
    ),
    ("GET", "/ui/settings", Operation::Status),
    ("POST", "/ui/settings/pause", Operation::Pause),
    ("POST", "/ui/settings/resume", Operation::Resume),
    ("POST", "/ui/settings/simulate", Operation::SimulatePolicy),
    ("POST", "/ui/settings/probe", Operation::ProbeModel),
    (
        "POST",
        "/ui/settings/suppressions/sup-x/remove",
        Operation::RemoveSuppression,
    ),
    ("GET", "/ui/demo", Operation::Status),
    ("POST", "/ui/demo", Operation::StartDemo),
    ("GET", "/ui/login", Operation::SignIn),
    ("GET", "/ui/assets/app.css", Operation::WorkspaceAssets),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workspace_route_needs_its_least_role() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let mut browsers = std::collections::BTreeMap::new();
    for role in Role::ALL {
        browsers.insert(role, Browser::sign_in(&base, &token(role)).await);
    }
    for &(method, path, op) in UI_ROUTES {
        let route = server::auth::operation_of(
            &axum::http::Method::from_bytes(method.as_bytes()).unwrap(),
            &path
                .replace("inc-x", "{id}")
                .replace("ap-x", "{id}")
                .replace("sug-x", "{id}")
                .replace("sup-x", "{id}")
                .replace("no_such_rule", "{name}")
                .replace("evidence.list", "{tool}")
                .replace("app.css", "{*path}"),
        );
        assert_eq!(route, Some(op), "{method} {path} in the route table");
        if op.is_public() {
            continue;
        }
        let least = op.least_role();
        let call = |browser: &Browser| {
            let url = format!("{base}{path}");
            let request = match method {
                "GET" => browser.client.get(url).header("hx-request", "x"),
                _ => browser
                    .client
                    .post(url)
                    .header("origin", &base)
                    .form(&[("csrf", browser.csrf.as_str())]),
            };
            request.header("cookie", &browser.cookie).send()
        };
        if let Some(below) = Role::ALL.into_iter().rev().find(|r| *r < least) {
            let response = call(&browsers[&below]).await.unwrap();
            assert_eq!(response.status(), 403, "{method} {path} as {below}");
        }
        if path == "/ui/events" {
            continue; // a stream: past authorization it never ends
        }
        let response = call(&browsers[&least]).await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 401 && status != 403,
            "{method} {path} as {least}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    assert!(rig.fake.writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_over_the_api_land_in_the_timeline_and_the_audit() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let now = app::remediation::now_ms();
    alert(
        &base,
        "KubePodCrashLooping",
        "checkout",
        &rfc3339(now - 120_000),
    )
    .await;
    alert(
        &base,
        "KubePodCrashLooping",
        "catalogue",
        &rfc3339(now - 60_000),
    )
    .await;
    let list = wait_for("two incidents", Duration::from_secs(30), || async {
        let list = incident_ids(&base).await;
        (list.len() >= 2).then_some(list)
    })
    .await;
    let id_of = |name: &str| {
        list.iter().find(|i| i["target"]["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (checkout, catalogue) = (id_of("checkout"), id_of("catalogue"));
    let api = client();
    let post = |path: String, role: Role, body: Value| {
        api.post(format!("{base}{path}"))
            .bearer_auth(token(role))
            .json(&body)
            .send()
    };
    // A read token may not; an operate token may.
    let response = post(
        format!("/api/v1/incidents/{checkout}/ack"),
        Role::Read,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["required_role"], "operate");
    for (verb, body) in [
        ("ack", json!({})),
        ("assign", json!({"assignee": "bob"})),
        ("comment", json!({"text": "rolled back the config by hand"})),
        ("merge", json!({"other": catalogue})),
        ("resolve", json!({"reason": "config rolled back"})),
    ] {
        let response = post(
            format!("/api/v1/incidents/{checkout}/{verb}"),
            Role::Operate,
            body,
        )
        .await
        .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{verb}: {text}");
    }
    // Bad input names what was wrong.
    let response = post(
        format!("/api/v1/incidents/{checkout}/assign"),
        Role::Operate,
        json!({"assignee": ""}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let response = post(
        format!("/api/v1/incidents/{checkout}/assign"),
        Role::Operate,
        json!({"who": "bob"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let response = post(
        format!("/api/v1/incidents/{checkout}/resolve"),
        Role::Operate,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400, "resolved twice");
    let response = post(
        "/api/v1/incidents/inc-nope/ack".to_owned(),
        Role::Operate,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);

    let detail: Value = api
        .get(format!("{base}/api/v1/incidents/{checkout}"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d = &detail["data"];
    assert_eq!(d["status"], "resolved", "{d}");
    assert_eq!(d["assignee"], "bob");
    assert_eq!(d["acknowledged_by"], "operate-person");
    let kinds: Vec<&str> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "acknowledged",
        "assigned",
        "commented",
        "absorbed",
        "status_changed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let merged: Value = api
        .get(format!("{base}/api/v1/incidents/{catalogue}"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(merged["data"]["merged_into"], checkout.as_str());
    let audit: Value = api
        .get(format!("{base}/api/v1/audit?incident={checkout}"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["data"]["entries"].as_array().unwrap();
    for kind in [
        "acknowledged",
        "assigned",
        "commented",
        "merged",
        "resolved_by_hand",
    ] {
        let entry = entries
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} not audited: {audit}"));
        assert_eq!(entry["who"], "operate-person (operate)");
    }
    assert_eq!(audit["data"]["chain"]["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_are_learned_accepted_and_rejected_over_the_api() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let now = app::remediation::now_ms();
    // The same unknown alert on three deployments: three incidents of one type.
    for (i, deployment) in ["payments-api", "checkout", "catalogue"].iter().enumerate() {
        alert(
            &base,
            "PaymentsQueueStuck",
            deployment,
            &rfc3339(now - 600_000 + i as i64 * 60_000),
        )
        .await;
    }
    wait_for("three incidents", Duration::from_secs(30), || async {
        (incident_ids(&base).await.len() >= 3).then_some(())
    })
    .await;
    let new = rig.server.state.app.learn_rules().await.unwrap();
    assert!(new >= 1, "nothing learned");
    assert_eq!(
        rig.server.state.app.learn_rules().await.unwrap(),
        0,
        "never twice"
    );
    let api = client();
    let list: Value = api
        .get(format!("{base}/api/v1/rules/suggestions?status=pending"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let suggestion = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "alert_name")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    assert!(
        suggestion["title"]
            .as_str()
            .unwrap()
            .contains("PaymentsQueueStuck")
    );
    assert_eq!(
        suggestion["evidence"]["incidents"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let id = suggestion["id"].as_str().unwrap();
    let rules_before = rig.server.state.app.pipeline.rule_count();
    let response = api
        .post(format!("{base}/api/v1/rules/suggestions/{id}/accept"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "accepting needs operate");
    let response = api
        .post(format!("{base}/api/v1/rules/suggestions/{id}/accept"))
        .bearer_auth(token(Role::Operate))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "accepted");
    assert_eq!(rig.server.state.app.pipeline.rule_count(), rules_before + 1);
    let file = std::fs::read_to_string(
        rig.server
            .state
            .app
            .config
            .server
            .data_dir
            .join("rules.toml"),
    )
    .unwrap();
    assert!(file.contains("alert_payments_queue_stuck"), "{file}");
    let response = api
        .post(format!("{base}/api/v1/rules/suggestions/{id}/reject"))
        .bearer_auth(token(Role::Operate))
        .json(&json!({"note": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "decided once");
    let response = api
        .get(format!("{base}/api/v1/rules/suggestions?status=maybe"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The rules page shows it as an operator rule now.
    let reader = Browser::sign_in(&base, &token(Role::Read)).await;
    let (_, page) = reader.get("/ui/rules").await;
    assert!(page.contains("alert_payments_queue_stuck"));
    assert!(
        !page.contains("Check, save and reload"),
        "read may not edit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_edits_are_checked_saved_and_reloaded() {
    let rig = rig(|_| {}).await;
    let base = rig.server.url();
    let operator = Browser::sign_in(&base, &token(Role::Operate)).await;
    let file = rig
        .server
        .state
        .app
        .config
        .server
        .data_dir
        .join("rules.toml");
    // The form: a threshold, an escalation and environments for a built-in rule.
    let (status, location, body) = operator
        .post(
            "/ui/rules/edit/crash_loop_restarts",
            &[
                ("threshold", "6.5"),
                ("severity", "critical"),
                ("escalate_above", "20"),
                ("escalate_severity", "critical"),
                ("env", "staging"),
                ("env", "prod"),
                ("cooldown", "10m"),
                ("labels", "team=payments"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location, "/ui/rules?ok=rules");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("value = 6.5"), "{text}");
    let rules = rig.server.state.app.pipeline.rules();
    let rule = rules
        .rules
        .iter()
        .find(|r| r.name == "crash_loop_restarts")
        .unwrap();
    assert!(!rule.enabled_in(detect::Environment::Demo));
    assert_eq!(rule.labels["team"], "payments");
    // An invalid file is refused with FILE:LINE: reason inline, and nothing changes.
    let (status, _, page) = operator
        .post(
            "/ui/rules/file",
            &[("text", "[[rule]]\nname = \"x\"\ntype = \"no_such_type\"\n")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains(&format!("{}:", file.display())), "{page}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "unchanged");
    // No secrets in rules.
    let (status, _, page) = operator
        .post(
            "/ui/rules/edit/crash_loop_restarts",
            &[("env", "prod"), ("labels", "api_token=abc")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("looks like a secret"), "{page}");
    // The allowlist is the admin's.
    let (status, _, _) = operator
        .post("/ui/rules/allowlist", &[("resources", "deployment/shop/*")])
        .await;
    assert_eq!(status, 403);
    let admin = Browser::sign_in(&base, &token(Role::Admin)).await;
    let (status, _, page) = admin
        .post("/ui/rules/allowlist", &[("resources", "pod/shop")])
        .await;
    assert_eq!(status, 400, "a pod pattern needs kind/namespace/name");
    assert!(page.contains("resource pattern"), "{page}");
    let (status, location, page) = admin
        .post(
            "/ui/rules/allowlist",
            &[("resources", "deployment/shop/*\nnode/*\nincident/*")],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(location, "/ui/rules?ok=allowlist");
    let policy = rig.server.state.app.remediation.as_ref().unwrap().policy();
    assert_eq!(
        policy.resources,
        vec!["deployment/shop/*", "node/*", "incident/*"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_similar_opens_the_next_one_suppressed_and_settings_list_it() {
    // A short reopen window, so the same problem after the resolution opens a new incident.
    let rig = rig(|c| c.incidents.correlation.reopen_window_ms = 1_000).await;
    let base = rig.server.url();
    let now = app::remediation::now_ms();
    alert(
        &base,
        "KubePodCrashLooping",
        "checkout",
        &rfc3339(now - 3_000_000),
    )
    .await;
    let list = wait_for("an incident", Duration::from_secs(30), || async {
        let list = incident_ids(&base).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let operator = Browser::sign_in(&base, &token(Role::Operate)).await;
    let (status, location, _) = operator
        .post(
            &format!("/ui/incidents/{id}/feedback"),
            &[("verdict", "noise"), ("note", "batch job")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location.ends_with("ok=feedback"), "{location}");
    let (status, _, page) = operator
        .post(&format!("/ui/incidents/{id}/silence"), &[("hours", "900")])
        .await;
    assert_eq!(status, 400, "more than 7 days");
    assert!(page.contains("at most 168 hours"), "{page}");
    let (status, location, _) = operator
        .post(
            &format!("/ui/incidents/{id}/silence"),
            &[("hours", "4"), ("reason", "batch job")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location.ends_with("ok=silenced"), "{location}");
    let (_, resolved, _) = operator
        .post(
            &format!("/ui/incidents/{id}/resolve"),
            &[("reason", "by hand")],
        )
        .await;
    assert_eq!(
        resolved,
        format!("/ui/incidents/{id}?tab=summary&ok=resolved")
    );
    let (_, settings) = operator.get("/ui/settings").await;
    assert!(settings.contains("incidents with this signature"), "listed");
    // The same problem again, after the reopen window: a new incident, suppressed, told to
    // nobody.
    alert(
        &base,
        "KubePodCrashLooping",
        "checkout",
        &rfc3339(now + 5_000),
    )
    .await;
    let suppressed = wait_for(
        "the suppressed incident",
        Duration::from_secs(30),
        || async {
            let list = incident_ids(&base).await;
            list.into_iter()
                .find(|i| i["id"] != id.as_str() && i["target"]["name"] == "checkout")
        },
    )
    .await;
    assert_eq!(suppressed["status"], "suppressed", "{suppressed}");
    let (_, page) = operator
        .get(&format!(
            "/ui/incidents/{}",
            suppressed["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        page.contains("opened suppressed by window"),
        "timeline says why"
    );
    let windows = rig
        .server
        .state
        .app
        .suppressions(&app::Caller::anonymous(), false)
        .await
        .unwrap();
    assert_eq!(windows.len(), 1);
    // Removing the window: gone from settings, kept as removed.
    let (status, _, _) = operator
        .post(
            &format!("/ui/settings/suppressions/{}/remove", windows[0].id),
            &[],
        )
        .await;
    assert_eq!(status, 303);
    let (_, settings) = operator.get("/ui/settings").await;
    assert!(settings.contains("No suppression window"));
    let audit: Value = client()
        .get(format!("{base}/api/v1/audit"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = audit["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "feedback",
        "suppression_added",
        "suppression_removed",
        "resolved_by_hand",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }

    // The chat `silence` command adds to the same list, as the chat's window.
    let answer: Value = client()
        .post(format!("{base}/api/v1/chat"))
        .bearer_auth(token(Role::Operate))
        .json(&serde_json::json!({"text": format!("silence {id} 2h")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["data"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("Silenced {id}"))),
        "{answer}"
    );
    let windows: Value = client()
        .get(format!("{base}/api/v1/suppressions"))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat: Vec<&Value> = windows["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["origin"] == "chat")
        .collect();
    assert_eq!(chat.len(), 1, "{windows}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_app_channel_reaches_the_open_page_as_feed_events() {
    let rig = rig(|c| {
        c.channels = app::config::ChannelsConfig {
            provider: vec![app::config::ProviderConfig {
                id: "feed".into(),
                kind: "in_app".into(),
                display_name: "The workspace".into(),
                enabled: true,
                approvals: false,
                config: None,
            }],
            ..app::config::ChannelsConfig::default()
        };
    })
    .await;
    let base = rig.server.url();
    let reader = Browser::sign_in(&base, &token(Role::Read)).await;
    let mut events = reader
        .client
        .get(format!("{base}/ui/events"))
        .header("cookie", &reader.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    // A test message to the in-app provider is routed like any event.
    let sent = client()
        .post(format!("{base}/api/v1/channels/feed/test"))
        .bearer_auth(token(Role::Operate))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: feed") && seen.contains("\"provider\":\"feed\"") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{seen}");
    // Settings lists the provider with what it delivered.
    let (_, settings) = reader.get("/ui/settings").await;
    assert!(
        settings.contains("The workspace (in_app)"),
        "the provider in settings"
    );
}
