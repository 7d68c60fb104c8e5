//! Every input is bounded: oversize bodies on every POST route answer 413 without being read
//! whole, slow bodies 408, and a Loki push under overload 503 with `Retry-After`, after which a
//! retrying client ends with every line counted.

use crate::common::*;
use std::io::Write as _;
use std::time::Duration;

/// Every POST route of the API.
const POST_ROUTES: [&str; 20] = [
    "/api/v1/write",
    "/loki/api/v1/push",
    "/api/v1/alerts/alertmanager",
    "/api/v1/series",
    "/api/v1/sql",
    "/api/v1/incidents/inc-x/rca",
    "/api/v1/rules/reload",
    "/api/v1/approvals/a-1/token",
    "/api/v1/approvals/a-1/approve",
    "/api/v1/approvals/a-1/reject",
    "/api/v1/approvals/a-1/modify",
    "/api/v1/robot/pause",
    "/api/v1/robot/resume",
    "/api/v1/policy/reload",
    "/api/v1/channels/ops/test",
    "/api/v1/chat",
    "/api/v1/summary/email",
    "/api/v1/channels/ops/telegram",
    "/api/v1/channels/ops/slack/interactions",
    "/api/v1/channels/ops/slack/commands",
];

/// An approver's token: the approval routes and resume need a policy role.
const APPROVER: &str = "bounds-approver-token-0123456789";

fn needs_approver(path: &str) -> bool {
    path.starts_with("/api/v1/approvals/") || path == "/api/v1/robot/resume"
}

fn small_limits(dir: &std::path::Path) -> server::config::Config {
    let mut config = test_config(dir);
    config.policy.file =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/examples/demo.toml"));
    let approvers = dir.join("approvers.toml");
    std::fs::write(
        &approvers,
        format!("[[approver]]\nname = \"alice\"\nrole = \"sre-oncall\"\ntoken = \"{APPROVER}\"\n"),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&approvers, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    config.policy.approvers_file = Some(approvers);
    config.server.max_request_bytes = 4 << 10;
    config.ingest.max_body_bytes = 64 << 10;
    config.server.body_timeout = Duration::from_millis(500);
    config
}

/// Sends a request's head and `sent` bytes of a body declared (or streamed) larger, then
/// reads the status line. `declared`: a `Content-Length`; else chunked.
fn raw_post(
    addr: &str,
    path: &str,
    declared: Option<usize>,
    sent: usize,
    stall: Duration,
) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let length = match declared {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_owned(),
    };
    let kind = if path == "/api/v1/write" {
        "content-type: application/x-protobuf\r\ncontent-encoding: snappy\r\n\
         x-prometheus-remote-write-version: 0.1.0\r\n"
    } else {
        "content-type: application/json\r\n"
    };
    let bearer = if needs_approver(path) {
        format!("authorization: Bearer {APPROVER}\r\n")
    } else {
        String::new()
    };
    let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n{kind}{bearer}{length}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 1024];
    let mut written = 0;
    while written < sent {
        let n = chunk.len().min(sent - written);
        let ok = match declared {
            Some(_) => stream.write_all(&chunk[..n]),
            None => stream
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| stream.write_all(&chunk[..n]))
                .and_then(|()| stream.write_all(b"\r\n")),
        };
        if ok.is_err() {
            // The server answered and closed early: that is the point.
            break;
        }
        written += n;
    }
    std::thread::sleep(stall);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_slow_bodies_on_every_post_route_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(small_limits(dir.path())).await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    for route in POST_ROUTES {
        let limit = if [
            "/api/v1/write",
            "/loki/api/v1/push",
            "/api/v1/alerts/alertmanager",
        ]
        .contains(&route)
        {
            64 << 10
        } else {
            4 << 10
        };
        let (addr, path) = (addr.clone(), route.to_owned());
        // Declared too large: refused before the body is read (only 1 KiB of it is sent).
        let declared = tokio::task::spawn_blocking({
            let (addr, path) = (addr.clone(), path.clone());
            move || raw_post(&addr, &path, Some(limit + 1), 1024, Duration::ZERO)
        })
        .await
        .unwrap();
        assert!(declared.contains(" 413 "), "{route} declared: {declared}");
        // Streamed past the limit without a length: refused once it passes.
        let streamed = tokio::task::spawn_blocking({
            let (addr, path) = (addr.clone(), path.clone());
            move || raw_post(&addr, &path, None, limit + 8 * 1024, Duration::ZERO)
        })
        .await
        .unwrap();
        assert!(streamed.contains(" 413 "), "{route} streamed: {streamed}");
        // Slow: half the declared body, then nothing for longer than the body timeout.
        let slow = tokio::task::spawn_blocking(move || {
            raw_post(&addr, &path, Some(2048), 1024, Duration::from_millis(1500))
        })
        .await
        .unwrap();
        assert!(slow.contains(" 408 "), "{route} slow: {slow}");
    }
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_push_under_overload_is_told_to_retry_and_every_line_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.ingest.max_inflight = 1;
    config.server.body_timeout = Duration::from_secs(20);
    let server = start(config).await;
    let addr = server.url().trim_start_matches("http://").to_owned();
    // A remote_write whose body trickles holds the one ingest slot.
    let holder = tokio::task::spawn_blocking(move || {
        raw_post(
            &addr,
            "/api/v1/write",
            Some(4096),
            1024,
            Duration::from_secs(3),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = client();
    let t0: i64 = 1_767_571_200_000;
    let lines: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            serde_json::json!([
                ((t0 + i * 1000) * 1_000_000).to_string(),
                format!("payment {i} declined by upstream gateway")
            ])
        })
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"app": "pay"}, "values": lines}]});
    let mut refusals = 0;
    loop {
        let response = client
            .post(format!("{}/loki/api/v1/push", server.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            204 => break,
            503 => {
                refusals += 1;
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(refusals < 20, "never admitted");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("push answered {other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(
        refusals > 0,
        "the push was never refused while the slot was held"
    );
    let _ = holder.await;
    let data = get_data(
        &client,
        &format!(
            "{}/api/v1/windows?match[]=srebot_log_lines_total{{app=\"pay\"}}&window=1m&at={}",
            server.url(),
            t0 + 30_000
        ),
    )
    .await;
    let counted: f64 = data["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["last"].as_f64().unwrap())
        .sum();
    assert_eq!(counted, 20.0, "{data}");
    server.task.abort();
}
