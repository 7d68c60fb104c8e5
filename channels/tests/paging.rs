//! Paging hand-off: PagerDuty Events API v2 and Opsgenie's Alert API against loopback
//! stand-ins answering their documented JSON (no such service can run here), and Debian's real
//! Alertmanager through its `POST /api/v2/alerts`. An incident triggers one alert keyed by its
//! id, acknowledges when someone works on it, resolves with it; approvals stay in the chat;
//! a test message pages nobody.

use crate::support::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use channels::{Channels, Directory, EventKind};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// What a stand-in was sent: path with query, headers, JSON body.
type Calls = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

/// A loopback service answering every POST with `answer` (202 and the service's JSON).
async fn stand_in(answer: Value) -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = axum::Router::new()
        .fallback(
            move |State(calls): State<Calls>, uri: Uri, headers: HeaderMap, body: Bytes| {
                let answer = answer.clone();
                async move {
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    calls.lock().push((uri.to_string(), headers, body));
                    (StatusCode::ACCEPTED, axum::Json(answer))
                }
            },
        )
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

fn event(kind: EventKind, status: &str, n: usize) -> channels::ChannelEvent {
    let mut e = opened(&n.to_string());
    e.kind = kind;
    e.key = format!("incident/{}/{n}", incident().id);
    if let Some(i) = e.incident.as_mut() {
        i.status = status.to_owned();
    }
    e
}

async fn deliver(channels: &Channels<MemOperator>, events: &[channels::ChannelEvent]) {
    for e in events {
        channels.publish(e).await.unwrap();
        tokio::time::sleep(Duration::from_millis(
            channels::hub::COALESCE_MS as u64 + 50,
        ))
        .await;
        channels.flush().await.unwrap();
    }
}

#[tokio::test]
async fn pagerduty_and_opsgenie_get_one_alert_per_incident_through_its_life() {
    let dir = tempfile::tempdir().unwrap();
    let (pd_url, pd) = stand_in(
        json!({"status": "success", "message": "Event processed", "dedup_key": "srebot-inc-3b881be00b61c2aa"}),
    )
    .await;
    let (og_url, og) = stand_in(
        json!({"result": "Request will be processed", "took": 0.1, "requestId": "9ae63dd7"}),
    )
    .await;
    write(dir.path(), "pd.key", "R0UT1NGK3Y0123456789abcdef012345");
    write(
        dir.path(),
        "pd.toml",
        &format!("url = \"{pd_url}\"\nrouting_key_file = \"pd.key\"\n"),
    );
    write(
        dir.path(),
        "og.key",
        "eb243592-faa2-4ba2-a551q-1afdf565c889",
    );
    write(
        dir.path(),
        "og.toml",
        &format!("url = \"{og_url}\"\napi_key_file = \"og.key\"\n"),
    );
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"pd\"\nkind = \"pagerduty\"\nconfig = \"pd.toml\"\n\
         [[channels.provider]]\nid = \"og\"\nkind = \"opsgenie\"\nconfig = \"og.toml\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let op = MemOperator::with_crash_loop();
    let channels = Channels::open(loaded, &ledger, op, Directory::default())
        .await
        .unwrap();
    let approval_asked =
        channels::ChannelEvent::approval_requested(approval(), Some(incident()), now_ms());
    deliver(
        &channels,
        &[
            event(EventKind::Opened, "observed", 0),
            approval_asked,
            event(EventKind::Updated, "triaged", 1),
            event(EventKind::Resolved, "resolved", 2),
        ],
    )
    .await;

    // PagerDuty: trigger, acknowledge, resolve under one dedup key; the approval is not paged.
    let calls = pd.lock().clone();
    let actions: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|(path, _, b)| {
            (
                path.as_str(),
                b["event_action"].as_str().unwrap(),
                b["dedup_key"].as_str().unwrap(),
            )
        })
        .collect();
    let key = "srebot-inc-3b881be00b61c2aa";
    assert_eq!(
        actions,
        [
            ("/v2/enqueue", "trigger", key),
            ("/v2/enqueue", "acknowledge", key),
            ("/v2/enqueue", "resolve", key)
        ]
    );
    let trigger = &calls[0].2;
    assert_eq!(trigger["routing_key"], "R0UT1NGK3Y0123456789abcdef012345");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "deployment/shop/payments-api");
    assert_eq!(trigger["payload"]["class"], "crash_loop");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("payments-api")
    );
    assert!(
        calls[1].2.get("payload").is_none(),
        "only a trigger carries a payload"
    );

    // Opsgenie: create with the alias, then acknowledge and close by alias, with the key.
    let calls = og.lock().clone();
    let paths: Vec<&str> = calls.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v2/alerts",
            "/v2/alerts/srebot-inc-3b881be00b61c2aa/acknowledge?identifierType=alias",
            "/v2/alerts/srebot-inc-3b881be00b61c2aa/close?identifierType=alias"
        ]
    );
    assert_eq!(
        calls[0].1["authorization"],
        "GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889"
    );
    assert_eq!(calls[0].2["alias"], key);
    assert_eq!(calls[0].2["priority"], "P1");
    assert!(calls[0].2["message"].as_str().unwrap().chars().count() <= 130);

    // A test pages nobody: a PagerDuty change event, an Opsgenie P5 alert closed at once.
    channels.test("pd").await.unwrap();
    channels.test("og").await.unwrap();
    let last = pd.lock().last().cloned().unwrap();
    assert_eq!(last.0, "/v2/change/enqueue");
    let tail: Vec<(String, Value)> = og
        .lock()
        .iter()
        .skip(3)
        .map(|(p, _, b)| (p.clone(), b["priority"].clone()))
        .collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert_eq!(tail[0].1, "P5");
    assert!(
        tail[1].0.ends_with("/close?identifierType=alias"),
        "{tail:?}"
    );
}

#[tokio::test]
async fn a_paging_provider_without_its_key_is_refused_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pd.toml",
        "url = \"https://events.pagerduty.com\"\n",
    );
    let text = "[[channels.provider]]\nid = \"pd\"\nkind = \"pagerduty\"\nconfig = \"pd.toml\"\n";
    let err = try_load(dir.path(), text).unwrap_err().to_string();
    assert!(err.contains("routing_key_file"), "{err}");
    write(dir.path(), "am.toml", "token_file = \"x\"\n");
    let text =
        "[[channels.provider]]\nid = \"am\"\nkind = \"alertmanager\"\nconfig = \"am.toml\"\n";
    let err = try_load(dir.path(), text).unwrap_err().to_string();
    assert!(err.contains("url"), "{err}");
}

#[tokio::test]
async fn alertmanager_itself_holds_the_incident_until_it_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_am, am_url)) = alertmanager(dir.path()) else {
        eprintln!(
            "SKIPPED: Debian's prometheus-alertmanager is not installed (scripts/test.sh installs it)"
        );
        return;
    };
    write(dir.path(), "am.toml", &format!("url = \"{am_url}\"\n"));
    let loaded = load(
        dir.path(),
        "[[channels.provider]]\nid = \"am\"\nkind = \"alertmanager\"\nconfig = \"am.toml\"\n",
    );
    let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
    let channels = Channels::open(
        loaded,
        &ledger,
        MemOperator::with_crash_loop(),
        Directory::default(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let ours = |alerts: &Value| -> Vec<Value> {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["incident"] == incident().id)
            .cloned()
            .collect()
    };
    deliver(&channels, &[event(EventKind::Opened, "observed", 0)]).await;
    let alerts: Value = http
        .get(format!("{am_url}/api/v2/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held = ours(&alerts);
    assert_eq!(held.len(), 1, "{alerts}");
    assert_eq!(held[0]["labels"]["alertname"], "SrebotIncident");
    assert_eq!(held[0]["labels"]["severity"], "critical");
    assert_eq!(held[0]["labels"]["target"], "payments-api");
    assert_eq!(held[0]["status"]["state"], "active");

    deliver(&channels, &[event(EventKind::Resolved, "resolved", 1)]).await;
    let alerts: Value = http
        .get(format!("{am_url}/api/v2/alerts?active=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let still: Vec<Value> = ours(&alerts)
        .into_iter()
        .filter(|a| a["status"]["state"] == "active")
        .collect();
    assert!(still.is_empty(), "resolved with the incident: {alerts}");
}

/// Debian's Alertmanager on a free loopback port, or `None` when it is not installed.
fn alertmanager(dir: &std::path::Path) -> Option<(ChildGuard, String)> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let port = free_port();
    let cluster = free_port();
    let child = std::process::Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, format!("http://127.0.0.1:{port}")))
}
