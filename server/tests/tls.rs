//! TLS in and out, and where credentials go: `serve` over https with a certificate a CA made in
//! the test signed, `require_tls`, an https webhook (trusted CA delivers; another CA fails and
//! the log holds no secret), and scrape targets that get their own credentials and never
//! srebot's token.

#[path = "../../outbound/tests/support/ca.rs"]
#[allow(dead_code)]
mod ca;

use crate::common::{start, test_config};
use axum::http::HeaderMap;
use ca::{TestCa, serve_https};
use parking_lot::Mutex;
use server::config::{ScrapeAuthorization, ScrapeTarget};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test]
async fn serve_speaks_https_with_its_certificate_and_says_so_in_status() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "serve");
    let leaf = ca.leaf(dir.path(), "server");
    let mut config = test_config(dir.path());
    config.server.tls_cert = Some(leaf.cert_file.clone());
    config.server.tls_key = Some(leaf.key_file.clone());
    let server = start(config).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());

    let client = server::cli::remote_client(Some(&ca.ca_file), Duration::from_secs(10)).unwrap();
    let status: serde_json::Value = client
        .get(format!("{}/api/v1/status", server.url()))
        .send()
        .await
        .expect("https GET with the test CA")
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["tls"], true, "{status}");

    // remote_write over https is stored.
    let sender = server::replay::Sender::with_ca(&server.url(), None, Some(&ca.ca_file)).unwrap();
    let pushed = sender
        .push(&server::replay::load("memory-leak", 7).unwrap(), 0)
        .await
        .expect("push over https");
    assert!(
        pushed.samples > 0 && pushed.written == pushed.samples,
        "{pushed:?}"
    );

    // Plain http to the https port gets no answer; a client without the CA refuses the peer.
    let plain = crate::common::client()
        .get(format!("http://{}/api/v1/status", server.addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let untrusted = server::cli::remote_client(None, Duration::from_secs(10)).unwrap();
    let error = untrusted
        .get(format!("{}/api/v1/status", server.url()))
        .send()
        .await
        .expect_err("the test CA is not a system root");
    assert!(
        outbound::describe(error)
            .to_lowercase()
            .contains("certificate"),
        "a clear certificate error"
    );
}

#[tokio::test]
async fn plain_http_says_tls_false_and_require_tls_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_config(dir.path())).await;
    let status: serde_json::Value = crate::common::client()
        .get(format!("{}/api/v1/status", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["tls"], false, "{status}");

    let mut config = test_config(dir.path());
    config.server.require_tls = true;
    let error = server::serve::start(config).await.expect_err("refused");
    assert!(format!("{error:#}").contains("require_tls"), "{error:#}");

    let mut config = test_config(dir.path());
    config.server.tls_cert = Some(dir.path().join("cert.pem"));
    let error = server::serve::start(config).await.expect_err("half a pair");
    assert!(format!("{error:#}").contains("tls_key"), "{error:#}");
}

/// Log lines written while the guard lives, on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_https_webhook_delivers_with_its_ca_and_a_failing_one_logs_no_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "hook");
    let other = TestCa::new(dir.path(), "other");
    let receiver = serve_https(&ca.leaf(dir.path(), "hooks"), None).await;
    let url = format!(
        "https://localhost:{}/services/T0001/B0001/XXXXSECRETXXXX",
        receiver.addr.port()
    );
    let tls = |ca_file: &std::path::Path| outbound::TlsConfig {
        ca_file: Some(ca_file.to_owned()),
        ..outbound::TlsConfig::default()
    };

    // policy.notify_webhook is delivered by the channels as a provider of kind slack.
    let client = |ca_file: &std::path::Path| {
        let provider = channels::Provider::notify_webhook(&url, &tls(ca_file)).unwrap();
        let channels::config::Settings::Slack(settings) = &provider.settings else {
            panic!("notify_webhook is a slack provider")
        };
        channels::providers::slack::SlackClient::new(settings, "policy.notify_webhook").unwrap()
    };
    let message = serde_json::json!({"text": "an approval is waiting"});
    client(&ca.ca_file).post_text(&message).await.unwrap();
    wait_for(|| receiver.requests.load(Ordering::SeqCst) == 1).await;

    let error = client(&other.ca_file)
        .post_text(&serde_json::json!({"text": "this one cannot be delivered"}))
        .await
        .unwrap_err();
    tracing::warn!(error = %error.reason, "channel delivery failed");
    let text = format!("{}\n{}", error.reason, logs.text());
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "{text}"
    );
    assert!(
        text.contains("https://localhost"),
        "the error says where: {text}"
    );
    assert!(
        !text.contains("SECRET"),
        "the webhook's secret path reached the log: {text}"
    );
    assert_eq!(receiver.requests.load(Ordering::SeqCst), 1);

    // A scheme the client cannot speak is refused when the provider is made.
    let error = channels::Provider::notify_webhook(
        "ftp://hooks.example/x",
        &outbound::TlsConfig::default(),
    )
    .map(|_| ())
    .unwrap_err();
    let error = model::error::chain(&error);
    assert!(error.contains("\"ftp\""), "{error}");
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn scrape_targets_get_their_own_credentials_and_never_srebots_token() {
    // A target that records the Authorization header of every scrape.
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                record.lock().push(auth);
                "# TYPE demo_up gauge\ndemo_up 1\n"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let srebot_token = dir.path().join("srebot.token");
    std::fs::write(&srebot_token, "srebot-own-token-0123456789\n").unwrap();
    let target_secret = dir.path().join("target.secret");
    std::fs::write(&target_secret, "target-secret-abcdef\n").unwrap();
    let mut config = test_config(dir.path());
    config.server.token_file = Some(srebot_token);
    let server = start(config).await;

    let plain = ScrapeTarget {
        job: "plain".to_owned(),
        url: format!("http://{target_addr}/metrics"),
        authorization: None,
        tls_config: outbound::TlsConfig::default(),
        source: model::DEFAULT_SOURCE.to_owned(),
    };
    let with_auth = ScrapeTarget {
        job: "authorized".to_owned(),
        authorization: Some(ScrapeAuthorization {
            kind: "Bearer".to_owned(),
            credentials_file: target_secret,
        }),
        ..plain.clone()
    };
    for target in [&plain, &with_auth] {
        let reader = server::scrape::Reader::for_target(target, Duration::from_secs(5)).unwrap();
        server::scrape::scrape_once(&server.state, &reader, target).await;
    }
    let seen = seen.lock().clone();
    assert_eq!(
        seen,
        vec![None, Some("Bearer target-secret-abcdef".to_owned())],
        "srebot's token must never be sent to a target"
    );
}
