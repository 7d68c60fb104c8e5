//! https against a loopback server whose certificate a CA made in the test signed: the CA given
//! as `ca_file` is trusted, another CA is refused with a clear error, mTLS needs the client's
//! certificate. No test panics inside the client.

#[path = "support/ca.rs"]
mod ca;

use ca::{TestCa, serve_https};
use outbound::TlsConfig;
use std::sync::atomic::Ordering;

async fn get(tls: &TlsConfig, url: &str) -> Result<String, String> {
    let client = outbound::build(outbound::client_builder(tls).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(outbound::describe)?;
    let body = outbound::read_capped(response, 1024)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_test_ca_is_trusted_and_another_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "right");
    let other = TestCa::new(dir.path(), "other");
    let server = serve_https(&ca.leaf(dir.path(), "server"), None).await;
    let url = format!("https://localhost:{}/hook/SECRET", server.addr.port());

    let trusted = TlsConfig {
        ca_file: Some(ca.ca_file.clone()),
        ..TlsConfig::default()
    };
    assert_eq!(get(&trusted, &url).await, Ok("ok".to_owned()));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    let wrong = TlsConfig {
        ca_file: Some(other.ca_file.clone()),
        ..TlsConfig::default()
    };
    let error = get(&wrong, &url)
        .await
        .expect_err("another CA must not be trusted");
    eprintln!("with another CA: {error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(
        !error.contains("SECRET"),
        "the URL leaked into the error: {error}"
    );
    // System roots alone do not know the test CA either.
    let error = get(&TlsConfig::default(), &url)
        .await
        .expect_err("system roots");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "mtls");
    let server = serve_https(&ca.leaf(dir.path(), "server"), Some(&ca.ca_file)).await;
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let client = ca.leaf(dir.path(), "client");

    let without = TlsConfig {
        ca_file: Some(ca.ca_file.clone()),
        ..TlsConfig::default()
    };
    assert!(get(&without, &url).await.is_err());
    let with = TlsConfig {
        ca_file: Some(ca.ca_file.clone()),
        cert_file: Some(client.cert_file),
        key_file: Some(client.key_file),
    };
    assert_eq!(get(&with, &url).await, Ok("ok".to_owned()));
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "cap");
    let server = serve_https(&ca.leaf(dir.path(), "server"), None).await;
    let tls = TlsConfig {
        ca_file: Some(ca.ca_file.clone()),
        ..TlsConfig::default()
    };
    let client = outbound::build(outbound::client_builder(&tls).expect("builder")).expect("client");
    let response = client
        .get(format!("https://localhost:{}/", server.addr.port()))
        .send()
        .await
        .expect("send");
    let error = outbound::read_capped(response, 1)
        .await
        .expect_err("over the cap");
    assert!(error.to_string().contains("larger than 1 bytes"), "{error}");
}
