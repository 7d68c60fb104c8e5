//! The read-only tools through `srebot serve`: the tools API, MCP over streamable HTTP at `/mcp`
//! and `srebot mcp` over stdio, with the official Python SDK (`mcp` from PyPI) as the client, on
//! a fixture ledger and windows (an error-rate scenario over remote_write, Loki lines, the
//! loopback fake of the Kubernetes API in its wire format, a TCP dependency probed on loopback).

use crate::common::*;
use crate::fake_k8s;
use app::Role;
use datasets::scenarios::{Fault, generate};
use serde_json::{Value, json};
use server::replay::Sender;
use server::serve::RunningServer;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pinned Python SDK version (scripts/test.sh installs it).
const SDK: &str = "2.3.0";

fn token(role: Role) -> String {
    format!("{role}-token-tools-0123456789")
}

/// Tokens for every role; and a file per role holding just that token (for `srebot mcp`).
fn tokens(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.toml");
    let mut text = String::new();
    for role in Role::ALL {
        text.push_str(&format!(
            "[[token]]\nname = \"{role}-bot\"\nrole = \"{role}\"\ntoken = \"{}\"\n{}\n",
            token(role),
            if role == Role::Approve {
                "policy_role = \"sre-oncall\"\n"
            } else {
                ""
            }
        ));
        let single = dir.join(format!("{role}.token"));
        std::fs::write(&single, format!("{}\n", token(role))).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "toml" || e == "token") {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }
    path
}

/// The recorded disk-pressure episode, moved to end `ago_ms` before now.
fn recent_episode(ago_ms: i64) -> Value {
    let mut list = fake_k8s::fixture("events-disk-pressure.json");
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let items = list["items"].as_array_mut().unwrap();
    let latest = items
        .iter()
        .filter_map(|e| parse(&e["lastTimestamp"]))
        .max()
        .unwrap();
    let shift = cluster::signal::now_ms() - ago_ms - latest;
    for e in items {
        for field in ["firstTimestamp", "lastTimestamp"] {
            if let Some(at) = parse(&e[field]) {
                let t = chrono::DateTime::from_timestamp_millis(at + shift).unwrap();
                e[field] = Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
        }
    }
    list
}

/// A server with incidents, windows, log lines, a watched cluster and a probed dependency.
struct Fixture {
    server: RunningServer,
    dir: tempfile::TempDir,
    incident: String,
    _fake: std::sync::Arc<fake_k8s::Fake>,
    _dependency: std::net::TcpListener,
}

impl Fixture {
    fn url(&self) -> String {
        self.server.url()
    }

    fn token_file(&self, role: Role) -> PathBuf {
        self.dir.path().join(format!("{role}.token"))
    }
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(adjust: impl FnOnce(&mut server::config::Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    config.auth.tokens_file = Some(tokens(dir.path()));
    let (fake, kube_url) = fake_k8s::start().await;
    fake.load("release-cart-partial.json");
    fake.apply(recent_episode(20_000));
    let mut watched = cluster::ClusterSpec::named("shop-cluster");
    watched.url = Some(kube_url);
    watched.resync = Duration::from_millis(500);
    config.cluster = vec![watched];
    // A real TCP listener on loopback, probed as a dependency.
    let dependency = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = dependency.local_addr().unwrap();
    config.dependencies = vec![
        toml::from_str(&format!(
            "name = \"orders-db\"\nkind = \"tcp\"\naddress = \"{address}\"\ninterval = \"200ms\"\ntimeout = \"1s\""
        ))
        .unwrap(),
    ];
    let server = start(config).await;
    let url = server.url();

    // Windows: 18% of payments-api's requests answer 500.
    let scenario = generate(Fault::ErrorRateSpike, 7);
    let shift = cluster::signal::now_ms() - scenario.meta.end_ms;
    let sender = Sender::new(&url, Some(token(Role::Admin))).unwrap();
    let pushed = sender.push(&scenario, shift).await.unwrap();
    assert_eq!(pushed.written, pushed.samples);

    // Log lines of the same service.
    let now_ns = cluster::signal::now_ms() * 1_000_000;
    let body = json!({"streams": [{
        "stream": {"app": "payments-api", "namespace": "shop", "pod": "payments-api-7d4b9c6f5-x2x9q", "level": "error"},
        "values": [
            [(now_ns - 3_000_000_000_i64).to_string(), "ERROR charge failed: upstream answered 500"],
            [(now_ns - 2_000_000_000_i64).to_string(), "ERROR charge failed: upstream answered 500"],
            [(now_ns - 1_000_000_000_i64).to_string(), "INFO GET /health 200"],
        ]
    }]});
    let pushed = client()
        .post(format!("{url}/loki/api/v1/push"))
        .bearer_auth(token(Role::Ingest))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 204, "{}", pushed.text().await.unwrap());

    let reader = Sender::new(&url, Some(token(Role::Read))).unwrap();
    let incident = wait_for("the error-rate incident", Duration::from_secs(30), || {
        let reader = reader.clone();
        async move {
            let all = reader.incidents("").await.ok()?;
            all.iter()
                .find(|i| i["type"] == "error_rate_spike")
                .and_then(|i| i["id"].as_str().map(str::to_owned))
        }
    })
    .await;
    // The watch is synced and the probe answered.
    let client = client();
    wait_for(
        "the cluster synced and the probe up",
        Duration::from_secs(20),
        || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let status: Value = client
                    .get(format!("{url}/api/v1/status"))
                    .bearer_auth(token(Role::Read))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let data = &status["data"];
                (data["clusters"][0]["synced"] == true && data["dependencies"][0]["up"] == true)
                    .then_some(())
            }
        },
    )
    .await;
    Fixture {
        server,
        dir,
        incident,
        _fake: fake,
        _dependency: dependency,
    }
}

/// One call of every tool, with the arguments that fit the fixture.
fn every_call(incident: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("incidents.list", json!({})),
        ("incidents.get", json!({"id": incident})),
        ("findings.list", json!({"incident": incident})),
        ("evidence.list", json!({"incident": incident})),
        (
            "windows.query",
            json!({"selector": "http_requests_total{namespace=\"shop\"}", "window": "5m", "by": ["code"]}),
        ),
        (
            "logs.recent",
            json!({"namespace": "shop", "target": "payments-api"}),
        ),
        ("events.list", json!({"node": "worker-2"})),
        ("http_signals.recent", json!({"namespace": "shop"})),
        (
            "http_signals.history",
            json!({"service": "payments-api", "since": "30m"}),
        ),
        ("async_backlog.recent", json!({})),
        ("messaging_transport.recent", json!({})),
        ("runtime_health.get", json!({})),
        ("cluster_overview.get", json!({})),
        ("nodes.list", json!({})),
        ("pods.list", json!({"namespace": "shop"})),
        (
            "rollout.history",
            json!({"namespace": "shop", "target": "cart"}),
        ),
        ("release_drift.summary", json!({"namespace": "shop"})),
        ("actions.list", json!({})),
        ("audit.list", json!({})),
    ]
}

/// What each tool must have found in the fixture (its `result`), beyond answering.
fn check_result(tool: &str, result: &Value, summary: &str) {
    let text = result.to_string();
    let has = |needle: &str| {
        assert!(
            text.contains(needle),
            "{tool}: {needle:?} not in {summary} {text}"
        )
    };
    match tool {
        "incidents.list" | "incidents.get" | "findings.list" => has("error_rate_spike"),
        "windows.query" => has("\"500\""),
        "logs.recent" => has("charge failed"),
        "events.list" => {
            has("EvictionThresholdMet");
            has("FreeDiskSpaceFailed");
        }
        "http_signals.recent" | "http_signals.history" => has("payments-api"),
        "runtime_health.get" => {
            has("orders-db");
            assert_eq!(result["dependencies"][0]["state"], "up", "{text}");
        }
        "cluster_overview.get" => {
            has("shop-cluster");
            has("DiskPressure");
        }
        "nodes.list" => {
            has("worker-2");
            has("DiskPressure");
        }
        "pods.list" => has("cart-7d9f8b6c5d-h5vnm"),
        "rollout.history" => {
            // The watch: the Deployment's current ReplicaSet revision and image.
            assert_eq!(result["current"][0]["revision"], 3, "{text}");
            has("ghcr.io/example/cart:1.5.0");
        }
        "release_drift.summary" => {
            assert_eq!(result["releases"][0]["name"], "cart", "{text}");
            assert_eq!(result["releases"][0]["drifting"], true, "{text}");
        }
        "actions.list" | "audit.list" => has("remediation is off"),
        _ => {}
    }
    assert!(
        !text.contains("no cluster configured"),
        "{tool} says no cluster: {text}"
    );
}

async fn post_tool(url: &str, bearer: Option<&str>, name: &str, args: &Value) -> (u16, Value) {
    let mut request = client()
        .post(format!("{url}/api/v1/tools/{name}"))
        .json(args);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_api_lists_and_runs_every_tool_as_evidence() {
    let fixture = fixture().await;
    let url = fixture.url();
    let read = token(Role::Read);
    let listed: Value = client()
        .get(format!("{url}/api/v1/tools"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tools = listed["data"].as_array().unwrap();
    assert_eq!(tools.len(), 19, "{listed}");
    for tool in tools {
        assert_eq!(tool["read_only"], true);
        assert_eq!(tool["input_schema"]["type"], "object", "{tool}");
    }
    for (name, args) in every_call(&fixture.incident) {
        let (status, body) = post_tool(&url, Some(&read), name, &args).await;
        assert_eq!(status, 200, "{name}: {body}");
        let data = &body["data"];
        let id = data["evidence_id"].as_str().unwrap();
        assert!(id.starts_with("tool-"), "{name}: {data}");
        check_result(
            name,
            &data["result"],
            data["summary"].as_str().unwrap_or(""),
        );
        // Kept: evidence.list gives the same result back by its id.
        let (status, stored) =
            post_tool(&url, Some(&read), "evidence.list", &json!({"id": id})).await;
        assert_eq!(status, 200, "{stored}");
        assert!(
            stored["data"]["result"].to_string().contains(id),
            "{stored}"
        );
    }

    // Bad arguments: 400 naming the argument.
    for (name, args, argument) in [
        ("windows.query", json!({}), "selector"),
        ("incidents.list", json!({"limit": 0}), "limit"),
        ("logs.recent", json!({"since": "yesterday-ish"}), "since"),
        ("nodes.list", json!({"colour": "blue"}), "colour"),
        ("pods.list", json!({"source": "elsewhere"}), "source"),
        ("runtime_health.get", json!({"name": "no-such-db"}), "name"),
    ] {
        let (status, body) = post_tool(&url, Some(&read), name, &args).await;
        assert_eq!(status, 400, "{name} {args}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&format!("`{argument}`")), "{name}: {error}");
    }
    let (status, body) = post_tool(&url, Some(&read), "no.such_tool", &json!({})).await;
    assert_eq!(status, 404, "{body}");

    // Least role: read. Ingest is refused with 403, no token with 401.
    let (status, _) = post_tool(&url, Some(&token(Role::Ingest)), "nodes.list", &json!({})).await;
    assert_eq!(status, 403);
    let (status, _) = post_tool(&url, None, "nodes.list", &json!({})).await;
    assert_eq!(status, 401);
}

/// Runs the Python SDK session `plan`; `None` (after SKIPPED) without the pinned SDK.
fn python_session(plan: &Value) -> Option<Value> {
    let version = std::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp'))",
        ])
        .output()
        .ok()?;
    let found = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if !version.status.success() || found != SDK {
        eprintln!(
            "SKIPPED: the official MCP Python SDK mcp=={SDK} is not installed (found {found:?}); scripts/test.sh installs it"
        );
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(plan.to_string().as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the client printed no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Some(report)
}

fn calls_with_bad_ones(incident: &str) -> Vec<Value> {
    let mut calls: Vec<Value> = every_call(incident)
        .into_iter()
        .map(|(name, args)| json!({"name": name.replace('.', "_"), "arguments": args}))
        .collect();
    calls.push(json!({"name": "windows_query", "arguments": {}}));
    calls.push(json!({"name": "incidents_list", "arguments": {"limit": 0}}));
    calls.push(json!({"name": "events_list", "arguments": {"since": "yesterday-ish"}}));
    calls
}

/// The report of a session that called [`calls_with_bad_ones`]: every tool listed read-only
/// with its schema, every call answered, the bad ones as tool errors naming their argument.
fn check_session(report: &Value, protocol: &str, incident: &str) {
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["protocol_version"], protocol, "{report}");
    assert_eq!(report["server"]["name"], "srebot");
    let tools = report["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 19);
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        assert!(!name.contains('.'), "{name}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{tool}");
        assert_eq!(tool["annotations"]["destructiveHint"], false, "{tool}");
    }
    let windows = tools.iter().find(|t| t["name"] == "windows_query").unwrap();
    assert_eq!(windows["title"], "windows.query");
    assert_eq!(windows["inputSchema"]["required"], json!(["selector"]));
    let results = report["results"].as_array().unwrap();
    let (good, bad) = results.split_at(results.len() - 3);
    let names = every_call(incident);
    assert_eq!(good.len(), names.len());
    for (result, (name, _)) in good.iter().zip(names) {
        assert_eq!(result["is_error"], false, "{result}");
        let structured = &result["structured"];
        assert!(
            structured["evidence_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("tool-")),
            "{result}"
        );
        check_result(
            name,
            &structured["result"],
            structured["summary"].as_str().unwrap_or(""),
        );
    }
    let mut ms: Vec<f64> = good.iter().filter_map(|r| r["ms"].as_f64()).collect();
    ms.sort_by(f64::total_cmp);
    if let (Some(median), Some(max)) = (ms.get(ms.len() / 2), ms.last()) {
        eprintln!(
            "tool call round trip over MCP ({protocol}): median {median:.1} ms, max {max:.1} ms"
        );
    }
    for (result, argument) in bad.iter().zip(["selector", "limit", "since"]) {
        assert_eq!(result["is_error"], true, "{result}");
        let text = result["text"].as_str().unwrap();
        assert!(text.contains(&format!("`{argument}`")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_over_mcp_streamable_http_with_the_python_sdk() {
    let fixture = fixture().await;
    let mcp = format!("{}/mcp", fixture.url());
    let calls = calls_with_bad_ones(&fixture.incident);
    let plan = json!({"transport": "http", "url": mcp, "token": token(Role::Read), "calls": calls});
    let Some(report) = tokio::task::spawn_blocking(move || python_session(&plan))
        .await
        .unwrap()
    else {
        return;
    };
    // The newest revision rmcp speaks...
    check_session(&report, "2026-07-28", &fixture.incident);
    // ...and a client of the one before it (the initialize handshake).
    let plan = json!({"transport": "http", "url": mcp, "token": token(Role::Read), "mode": "legacy", "calls": calls});
    let report = tokio::task::spawn_blocking(move || python_session(&plan))
        .await
        .unwrap()
        .unwrap();
    check_session(&report, "2025-11-25", &fixture.incident);

    // Below read: the SDK's session does not open; the HTTP answers are 401 and 403.
    for mode in ["legacy", "auto"] {
        for (bearer, status) in [(Some(token(Role::Ingest)), 403), (None, 401)] {
            let plan = json!({"transport": "http", "url": mcp, "token": bearer, "mode": mode});
            let report = tokio::task::spawn_blocking(move || python_session(&plan))
                .await
                .unwrap()
                .unwrap();
            assert!(report["error"].is_string(), "{report}");
            assert!(report["tools"].is_null(), "{report}");
            // (auto probes `server/discover`, then tries the handshake: refused both times)
            let statuses = report["http_statuses"].as_array().unwrap();
            assert!(
                !statuses.is_empty() && statuses.iter().all(|s| s == status),
                "{mode}: {report}"
            );
        }
    }
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    for (bearer, status) in [(Some(token(Role::Ingest)), 403), (None, 401)] {
        let mut request = client()
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(token) = &bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_over_mcp_stdio_with_the_python_sdk() {
    let fixture = fixture().await;
    let srebot = env!("CARGO_BIN_EXE_srebot");
    let args = |role: Role| {
        json!([
            "mcp",
            "--url",
            fixture.url(),
            "--token-file",
            fixture.token_file(role).display().to_string()
        ])
    };
    let calls = calls_with_bad_ones(&fixture.incident);
    let plan = json!({"transport": "stdio", "command": srebot, "args": args(Role::Read), "mode": "legacy", "calls": calls});
    let Some(report) = tokio::task::spawn_blocking(move || python_session(&plan))
        .await
        .unwrap()
    else {
        return;
    };
    check_session(&report, "2025-11-25", &fixture.incident);
    let plan =
        json!({"transport": "stdio", "command": srebot, "args": args(Role::Read), "calls": calls});
    let report = tokio::task::spawn_blocking(move || python_session(&plan))
        .await
        .unwrap()
        .unwrap();
    check_session(&report, "2026-07-28", &fixture.incident);

    // An ingest token: `srebot mcp` says the server refused it (403) and exits.
    let refused = std::process::Command::new(srebot)
        .args([
            "mcp",
            "--url",
            &fixture.url(),
            "--token-file",
            &fixture.token_file(Role::Ingest).display().to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_without_a_cluster_or_probes_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    for name in [
        "nodes.list",
        "pods.list",
        "events.list",
        "cluster_overview.get",
        "release_drift.summary",
    ] {
        let (status, body) = post_tool(&server.url(), None, name, &json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["result"]["available"], false, "{body}");
        let summary = body["data"]["summary"].as_str().unwrap();
        assert!(summary.starts_with("no cluster configured"), "{summary}");
    }
    let (_, body) = post_tool(&server.url(), None, "runtime_health.get", &json!({})).await;
    let summary = body["data"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("no dependency probes configured"),
        "{summary}"
    );
    let (_, body) = post_tool(
        &server.url(),
        None,
        "rollout.history",
        &json!({"namespace": "shop", "target": "cart"}),
    )
    .await;
    assert!(
        body["data"]["result"]["cluster"]
            .as_str()
            .is_some_and(|c| c.starts_with("no cluster configured")),
        "{body}"
    );
}

/// An OpenAI-format stand-in for a model on loopback (no real model scripts tool calls
/// reliably): its investigation turns follow a script, and its interpretation cites the first
/// tool result it was shown. Every request is kept.
#[derive(Default)]
struct Scripted {
    seen: std::sync::Mutex<Vec<Value>>,
    /// Investigation turns after the first take this long (ms).
    delay_ms: std::sync::atomic::AtomicU64,
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 1_700_000_000,
        "model": "scripted-investigator",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

fn call(id: &str, name: &str, arguments: Value) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
}

async fn scripted_turn(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<Scripted>>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    state.seen.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if body.get("tools").is_some() {
        let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
        if turn > 0 {
            let delay = state.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let calls = match turn {
            0 => vec![
                call("c1", "nodes_list", json!({})),
                // On the catalogue, not on this investigation's list; and no tool at all.
                call("c2", "audit_list", json!({})),
                call(
                    "c3",
                    "run_shell",
                    json!({"command": "kubectl delete pod x"}),
                ),
            ],
            1 => vec![
                call("c4", "events_list", json!({"node": "worker-2"})),
                call(
                    "c5",
                    "pods_list",
                    json!({"namespace": "shop", "colour": "blue"}),
                ),
            ],
            // One call more than the budget left.
            _ => vec![
                call("c6", "pods_list", json!({"namespace": "shop"})),
                call("c7", "nodes_list", json!({"node": "worker-2"})),
            ],
        };
        return axum::Json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": calls}),
            "tool_calls",
        ));
    }
    // The interpretation: cite the first tool result the prompt lists.
    let prompt = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    if prompt.contains("QUESTION FROM THE ON-CALL OPERATOR") {
        return axum::Json(completion(
            json!({"role": "assistant", "content": question_answer(&prompt).to_string()}),
            "stop",
        ));
    }
    let cited = prompt
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("tool-"))
        .unwrap_or("none")
        .to_owned();
    let answer = json!({
        "summary": "worker-2 is under disk pressure and evicted pods.",
        "claims": [{"text": "The node reports DiskPressure and the kubelet evicted pods.",
                    "evidence": [cited], "hypothesis": "h1"}],
        "actions": []
    });
    axum::Json(completion(
        json!({"role": "assistant", "content": answer.to_string()}),
        "stop",
    ))
}

/// A free-form question's answer: one claim citing the first evidence item the prompt lists,
/// one citing an id it does not have, one telling the reader to run a command, and an action
/// (every one of the last three must be dropped).
fn question_answer(prompt: &str) -> Value {
    let first = prompt
        .lines()
        .find_map(|l| l.strip_prefix("- [")?.split(']').next())
        .unwrap_or("none")
        .to_owned();
    json!({
        "summary": "payments-api answers 500 to about one request in five since the spike began.",
        "claims": [
            {"text": "The error ratio of payments-api rose well above its baseline.", "evidence": [first]},
            {"text": "The database was down all night.", "evidence": ["m-made-up"]},
            {"text": "Run kubectl delete pod payments-api-0 to fix it.", "evidence": [first]}
        ],
        "actions": ["restart_deployment"]
    })
}

async fn scripted_model() -> (String, std::sync::Arc<Scripted>) {
    let state = std::sync::Arc::new(Scripted::default());
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(scripted_turn))
        .with_state(std::sync::Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), state)
}

async fn regenerate(fixture: &Fixture) -> Value {
    let response = client()
        .post(format!(
            "{}/api/v1/incidents/{}/rca",
            fixture.url(),
            fixture.incident
        ))
        .bearer_auth(token(Role::Operate))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_investigation_mode_is_bounded_allowlisted_and_cited() {
    let (model_url, model) = scripted_model().await;
    let fixture = fixture_with(|config| {
        config.rca.llm = Some(
            toml::from_str(&format!(
                "backend = \"openai\"\nurl = \"{model_url}\"\nmodel = \"scripted-investigator\"\n\
                 max_tool_calls = 6\ninvestigation_timeout = \"30s\"\n\
                 tools = [\"nodes.list\", \"events.list\", \"pods.list\", \"incidents.get\"]\n"
            ))
            .unwrap(),
        );
    })
    .await;
    let report = regenerate(&fixture).await;
    let investigation = &report["investigation"];
    assert_eq!(investigation["by"], "model", "{report}");
    assert_eq!(
        investigation["stopped"], "max_tool_calls",
        "{investigation}"
    );
    let calls = investigation["calls"].as_array().unwrap();
    let outline: Vec<(String, bool)> = calls
        .iter()
        .map(|c| {
            (
                c["tool"].as_str().unwrap().to_owned(),
                c["evidence_id"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        outline,
        [
            ("nodes.list".to_owned(), true),
            ("audit.list".to_owned(), false),
            ("run_shell".to_owned(), false),
            ("events.list".to_owned(), true),
            ("pods.list".to_owned(), false),
            ("pods.list".to_owned(), true),
            ("nodes.list".to_owned(), false),
        ],
        "{investigation}"
    );
    // Six calls made (refusals count), the seventh over the budget; why each was refused.
    assert!(
        calls[1]["refused"]
            .as_str()
            .unwrap()
            .contains("rca.llm.tools")
    );
    assert!(
        calls[2]["refused"]
            .as_str()
            .unwrap()
            .contains("rca.llm.tools")
    );
    assert!(
        calls[4]["refused"].as_str().unwrap().contains("`colour`"),
        "{}",
        calls[4]
    );
    assert!(
        calls[6]["refused"]
            .as_str()
            .unwrap()
            .contains("rca.llm.max_tool_calls")
    );

    // The model was told: refusals name the tool, results carry their evidence ids; it was
    // offered only the allowed tools, by names without dots.
    let seen = model.seen.lock().unwrap().clone();
    let turns: Vec<&Value> = seen.iter().filter(|b| b.get("tools").is_some()).collect();
    assert_eq!(turns.len(), 3);
    let offered: Vec<&str> = turns[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["incidents_get", "events_list", "nodes_list", "pods_list"]
    );
    let answers: Vec<String> = turns[2]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| format!("{} {}", m["tool_call_id"], m["content"]))
        .collect();
    assert_eq!(answers.len(), 5, "{answers:?}");
    assert!(
        answers[0].contains("evidence_id") && answers[0].contains("worker-2"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("\\\"audit_list\\\" is not a tool of this investigation"),
        "{}",
        answers[1]
    );
    assert!(answers[2].contains("run_shell"), "{}", answers[2]);
    assert!(answers[4].contains("`colour`"), "{}", answers[4]);

    // The interpretation cites a tool result, which the draft carries as evidence.
    let claims = report["interpretation"]["claims"].as_array().unwrap();
    let cited = claims[0]["evidence"][0].as_str().unwrap();
    assert!(cited.starts_with("tool-"), "{report}");
    let item = report["draft"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == cited)
        .unwrap();
    assert_eq!(item["kind"], "tool");
    // Stored, by the model, for this incident.
    let (status, stored) = post_tool(
        &fixture.url(),
        Some(&token(Role::Read)),
        "evidence.list",
        &json!({"id": cited}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        stored["data"]["result"]["snapshot"]["ran_by"], "model",
        "{stored}"
    );
    assert_eq!(
        stored["data"]["result"]["snapshot"]["incident_id"],
        fixture.incident.as_str()
    );
    // Nothing was proposed or run.
    let actions: Value = client()
        .get(format!("{}/api/v1/actions", fixture.url()))
        .bearer_auth(token(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        actions["data"].as_array().is_none_or(Vec::is_empty),
        "{actions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_the_draft_runs_its_plan_and_cites_the_results_without_a_model() {
    let fixture = fixture().await;
    let url = format!(
        "{}/api/v1/incidents/{}/rca",
        fixture.url(),
        fixture.incident
    );
    let read_draft = || async {
        let report: Value = client()
            .get(&url)
            .bearer_auth(token(Role::Read))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        report["data"].clone()
    };
    let report = &read_draft().await;
    // Read again within the minute: the same results, not a second run.
    assert_eq!(read_draft().await["investigation"], report["investigation"]);
    let investigation = &report["investigation"];
    assert_eq!(investigation["by"], "draft", "{report}");
    let ran: Vec<&Value> = investigation["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["evidence_id"].is_string())
        .collect();
    assert!(!ran.is_empty(), "{investigation}");
    let plan = report["draft"]["investigation_plan"].as_array().unwrap();
    for call in ran {
        let id = call["evidence_id"].as_str().unwrap();
        // A plan step cites it, and the draft's evidence has it.
        assert!(
            plan.iter().any(|s| s["tool"] == call["tool"]
                && s["evidence"].as_array().unwrap().iter().any(|e| e == id)),
            "{id} not cited by the plan: {plan:?}"
        );
        assert!(
            report["draft"]["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == id && e["kind"] == "tool"),
            "{id} not in the evidence"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_investigation_mode_stops_at_its_timeout_and_still_interprets() {
    let (model_url, model) = scripted_model().await;
    model
        .delay_ms
        .store(20_000, std::sync::atomic::Ordering::Relaxed);
    let fixture = fixture_with(|config| {
        config.rca.llm = Some(
            toml::from_str(&format!(
                "backend = \"openai\"\nurl = \"{model_url}\"\nmodel = \"scripted-investigator\"\n\
                 max_tool_calls = 20\ninvestigation_timeout = \"3s\"\n"
            ))
            .unwrap(),
        );
    })
    .await;
    let started = std::time::Instant::now();
    let report = regenerate(&fixture).await;
    let investigation = &report["investigation"];
    assert_eq!(
        investigation["stopped"], "investigation_timeout",
        "{investigation}"
    );
    // The first turn's three calls ran or were refused; the second turn outlasted the time.
    assert_eq!(
        investigation["calls"].as_array().unwrap().len(),
        3,
        "{investigation}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // What was gathered is interpreted.
    let cited = report["interpretation"]["claims"][0]["evidence"][0]
        .as_str()
        .unwrap();
    assert!(cited.starts_with("tool-"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_the_workspace_run_buttons_run_catalogue_tools() {
    let fixture = fixture().await;
    let browser = crate::ui_pages::Browser::sign_in(&fixture.url(), &token(Role::Read)).await;
    let id = &fixture.incident;
    // Scoped to the incident (namespace shop, deployment payments-api), kept as evidence.
    let (status, page) = browser
        .get(&format!("/ui/incidents/{id}/tools/pods.list"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("(evidence tool-"), "{page}");
    let (status, page) = browser
        .get(&format!("/ui/incidents/{id}/tools/http_signals.history"))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("payments-api"), "{page}");
    let (status, page) = browser
        .get(&format!("/ui/incidents/{id}/tools/no.such_tool"))
        .await;
    assert!((400..500).contains(&status), "{status} {page}");
    assert!(page.contains("not a read-only tool"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_question_is_answered_from_the_draft_with_citations_and_nothing_is_done() {
    let (model_url, model) = scripted_model().await;
    let fixture = fixture_with(|config| {
        config.rca.llm = Some(
            toml::from_str(&format!(
                "backend = \"openai\"\nurl = \"{model_url}\"\nmodel = \"scripted-answerer\"\n"
            ))
            .unwrap(),
        );
        config.policy.file =
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/prod.toml"));
    })
    .await;
    let http = client();
    let url = fixture.url();
    let ask = |who: Role, text: &str| {
        http.post(format!("{url}/api/v1/chat"))
            .bearer_auth(token(who))
            .json(&json!({ "text": text }))
            .send()
    };
    let question = format!(
        "why is {} failing? our db password=hunter2 if that helps",
        fixture.incident
    );
    let answer: Value = ask(Role::Read, &question)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = &answer["data"];
    assert_eq!(data["command"], "question", "{answer}");
    assert_eq!(data["ok"], true, "{answer}");
    let text = data["text"].as_str().unwrap();
    // The answer and the one supported claim, cited, with the cited evidence spelt out.
    assert!(text.contains("one request in five"), "{text}");
    assert!(text.contains("rose well above its baseline. ["), "{text}");
    assert!(text.contains("Sources:\n["), "{text}");
    assert!(text.contains(&fixture.incident), "{text}");
    // Grounding dropped the made-up citation, the command and the action.
    assert!(!text.contains("database was down"), "{text}");
    assert!(!text.contains("kubectl"), "{text}");
    assert!(!text.contains("restart_deployment"), "{text}");
    assert!(text.contains("never takes an action"), "{text}");
    // The model saw the draft's evidence and the question, never the secret in it.
    let seen = model.seen.lock().unwrap().clone();
    let asked: Vec<&Value> = seen
        .iter()
        .filter(|b| b.to_string().contains("QUESTION FROM THE ON-CALL OPERATOR"))
        .collect();
    assert_eq!(asked.len(), 1, "one model call");
    assert!(!asked[0].to_string().contains("hunter2"), "{}", asked[0]);
    assert!(
        asked[0].get("tools").is_none(),
        "an answer is offered no tool"
    );
    // Nothing was done: the audit (remediation is on, under the prod policy) has no entry by
    // the asker, and no approval was decided.
    let get = |path: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body: Value = http
                .get(format!("{url}{path}"))
                .bearer_auth(token(Role::Admin))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let data = &body["data"];
            data.get("entries")
                .unwrap_or(data)
                .as_array()
                .cloned()
                .unwrap_or_else(|| panic!("{path}: {body}"))
        }
    };
    let audit = get("/api/v1/audit").await;
    assert!(
        audit
            .iter()
            .all(|e| !e["who"].as_str().unwrap_or("").contains("read-bot")),
        "{audit:?}"
    );
    assert!(
        audit.len() >= 2,
        "the prod policy asked for approvals: {audit:?}"
    );
    let approvals = get("/api/v1/approvals").await;
    assert!(!approvals.is_empty());
    assert!(
        approvals.iter().all(|a| a["status"] == "pending"),
        "{approvals:?}"
    );
    // A question without naming the incident is about the latest active one; commands still
    // parse as commands; the ingest role may not ask.
    let answer: Value = ask(Role::Read, "is it getting better?")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["command"], "question", "{answer}");
    assert!(
        answer["data"]["text"]
            .as_str()
            .unwrap()
            .contains("from the draft of inc-"),
        "{answer}"
    );
    let status: Value = ask(Role::Read, "status")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["command"], "status", "{status}");
    let refused = ask(Role::Ingest, "is it getting better?").await.unwrap();
    assert_eq!(refused.status(), 403);
}
