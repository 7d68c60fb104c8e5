//! Release and ingress drift end to end: recorded HelmRelease, workload, Ingress and Secret
//! objects in the fake API server, a real TLS server on loopback serving the ingress host's
//! certificate, and the correlator turning what is raised into incidents.

use crate::fake_k8s;
use crate::support::{correlate, spec, summary, watch};
use incident::{Correlator, CorrelatorConfig};
use model::{IncidentStatus, IncidentType, Scope, Severity, Signal};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const CART_POD: &str = "/api/v1/namespaces/shop/pods/cart-7d9f8b6c5d-h5vnm";
const WORKER: &str = "/apis/apps/v1/namespaces/shop/deployments/cart-worker";
const CART: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_helm_release_apply_is_one_drift_incident() {
    let (fake, url) = fake_k8s::start().await;
    // Revision 5 (chart 1.5.0): cart is on it, cart-worker still on 1.4.2, and cart's one
    // running pod still runs 1.4.2.
    fake.load("release-cart-partial.json");
    // Its Ingress routes the host its values name.
    fake.load("ingress-shop.json");
    let mut w = watch(spec(&url)).await;
    w.until("the release drift", |seen| {
        seen.iter()
            .any(|c| c.detector.starts_with("release_drift/"))
    })
    .await;
    w.drain(Duration::from_millis(700)).await;
    let drifts = w.firing("release_drift/");
    let drift = *drifts.last().unwrap();
    let said = |c: &model::IncidentCandidate| {
        c.evidence
            .events
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        drifts
            .iter()
            .all(|c| said(c) == said(drift) && c.incident_type == drift.incident_type),
        "one drift, re-sent while it holds: {:#?}",
        drifts.iter().map(|c| said(c)).collect::<Vec<_>>()
    );
    assert_eq!(drift.incident_type, IncidentType::ConfigDrift);
    assert_eq!(
        (
            drift.scope,
            drift.namespace.as_deref(),
            drift.target.as_str()
        ),
        (Scope::Release, Some("shop"), "cart")
    );
    let by_reason = |reason: &str| -> Vec<&str> {
        drift
            .evidence
            .events
            .iter()
            .filter(|e| e.reason == reason)
            .map(|e| e.message.as_str())
            .collect()
    };
    let partial = by_reason("PartialApply");
    assert_eq!(partial.len(), 1);
    assert!(
        partial[0].contains("1 workload(s) on cart-1.5.0")
            && partial[0].contains("Deployment cart-worker on cart-1.4.2"),
        "{}",
        partial[0]
    );
    let images = by_reason("ImageDiffersFromValues");
    assert_eq!(images.len(), 2, "{images:#?}");
    assert!(images.iter().any(|m| {
        m.contains("Deployment cart-worker (worker) runs ghcr.io/example/cart-worker:1.4.2")
    }));
    assert!(
        images
            .iter()
            .any(|m| m.contains("Deployment cart (cart) runs ghcr.io/example/cart:1.4.2")),
        "the running pod, not the template"
    );
    let mut affects: Vec<&str> = drift.affects.iter().map(|t| t.name.as_str()).collect();
    affects.sort_unstable();
    assert_eq!(affects, ["cart", "cart-worker"]);
    let (_, incidents) = correlate(&w.seen);
    let drift_incidents: Vec<_> = incidents
        .iter()
        .filter(|i| i.incident_type == IncidentType::ConfigDrift)
        .collect();
    assert_eq!(drift_incidents.len(), 1, "{incidents:#?}");
    assert_eq!(drift_incidents[0].target.kind, Scope::Release);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_that_reappears_after_a_release_change_reopens_its_incident() {
    let (fake, url) = fake_k8s::start().await;
    fake.load("release-cart-partial.json");
    // Its Ingress routes the host its values name.
    fake.load("ingress-shop.json");
    let mut w = watch(spec(&url)).await;
    w.until("the release drift", |seen| {
        seen.iter()
            .any(|c| c.detector.starts_with("release_drift/"))
    })
    .await;
    let mut correlator = Correlator::new(CorrelatorConfig {
        resolve_after_healthy_ms: 200,
        stale_after_ms: 60_000,
        ..CorrelatorConfig::default()
    });
    for c in w
        .seen
        .drain(..)
        .filter(|c| c.detector.starts_with("release_drift/"))
    {
        correlator.ingest(c);
    }
    // The rest of revision 5 lands: the drift clears.
    fake.patch(WORKER, &json!({"metadata": {"labels": {"helm.sh/chart": "cart-1.5.0"}},
        "spec": {"template": {"spec": {"containers": [{"name": "worker", "image": "ghcr.io/example/cart-worker:1.5.0"}]}}}}));
    fake.patch(
        CART_POD,
        &json!({"spec": {"containers": [{"name": "cart", "image": "ghcr.io/example/cart:1.5.0"}]}}),
    );
    w.until("the drift to clear", |seen| {
        seen.iter()
            .any(|c| c.signal == Signal::Healthy && c.detector.starts_with("release_drift/"))
    })
    .await;
    for c in w
        .seen
        .drain(..)
        .filter(|c| c.detector.starts_with("release_drift/"))
    {
        correlator.ingest(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    correlator.tick(cluster::signal::now_ms());
    correlator.tick(cluster::signal::now_ms() + 250);
    let resolved: Vec<_> = correlator
        .incidents()
        .filter(|i| i.status == IncidentStatus::Resolved)
        .cloned()
        .collect();
    assert_eq!(
        resolved.len(),
        1,
        "{:#?}",
        correlator.incidents().collect::<Vec<_>>()
    );
    let id = resolved[0].id.clone();

    // Revision 6 (chart 1.6.0) reaches cart only: the same drift is back.
    fake.patch(fake_k8s::HELM_RELEASE, &json!({"metadata": {"generation": 6},
        "spec": {"values": {"image": {"tag": "1.6.0"}, "worker": {"image": {"tag": "1.6.0"}}}},
        "status": {"observedGeneration": 6, "history": [
            {"name": "cart", "namespace": "shop", "version": 6, "status": "deployed", "chartName": "cart",
             "chartVersion": "1.6.0", "appVersion": "1.6.0", "lastDeployed": "2026-11-23T11:00:05Z"},
            {"name": "cart", "namespace": "shop", "version": 5, "status": "superseded", "chartName": "cart",
             "chartVersion": "1.5.0", "appVersion": "1.5.0", "lastDeployed": "2026-11-23T10:20:05Z"}]}}));
    fake.patch(CART, &json!({"metadata": {"labels": {"helm.sh/chart": "cart-1.6.0"}},
        "spec": {"template": {"spec": {"containers": [{"name": "cart", "image": "ghcr.io/example/cart:1.6.0"}]}}}}));
    fake.patch(
        CART_POD,
        &json!({"spec": {"containers": [{"name": "cart", "image": "ghcr.io/example/cart:1.6.0"}]}}),
    );
    w.until("the drift again", |seen| {
        seen.iter()
            .any(|c| c.signal == Signal::Firing && c.detector.starts_with("release_drift/"))
    })
    .await;
    let again = w
        .seen
        .iter()
        .find(|c| c.signal == Signal::Firing && c.detector.starts_with("release_drift/"))
        .unwrap()
        .clone();
    let note = again
        .evidence
        .events
        .iter()
        .find(|e| e.reason == "DriftReappeared")
        .expect("says it came back");
    assert!(
        note.message.contains("cleared at revision 5") && note.message.contains("revision 6"),
        "{}",
        note.message
    );
    let changes = correlator.ingest(again);
    let reopened = changes
        .iter()
        .find(|c| c.incident.id == id)
        .expect("the same incident");
    assert_eq!(reopened.incident.reopen_count, 1);
    assert_eq!(reopened.incident.status, IncidentStatus::Observed);
}

/// A TLS server on loopback serving a certificate for `names` that expires `in_days` from now.
async fn tls_server(names: &[&str], in_days: i64) -> String {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(80);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(in_days);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_drift_and_a_certificate_expiring_in_three_days() {
    let (fake, url) = fake_k8s::start().await;
    fake.load("ingress-shop.json");
    let served = tls_server(&["shop.example.com"], 3).await;
    let mut spec = spec(&url);
    spec.expected_hosts = vec!["shop.example.com".into(), "api.example.com".into()];
    spec.ingress_tls_address = Some(served);
    let mut w = watch(spec).await;
    w.until("the certificate expiry", |seen| {
        seen.iter()
            .any(|c| c.incident_type == IncidentType::CertExpiry)
    })
    .await;
    w.until("the missing host", |seen| {
        seen.iter()
            .any(|c| c.detector == "ingress_drift/host_missing")
    })
    .await;
    let expiry = w
        .seen
        .iter()
        .find(|c| c.incident_type == IncidentType::CertExpiry)
        .unwrap();
    assert_eq!(
        (
            expiry.scope,
            expiry.namespace.as_deref(),
            expiry.target.as_str()
        ),
        (Scope::Ingress, Some("shop"), "shop")
    );
    assert_eq!(
        expiry.severity,
        Severity::Critical,
        "3 days is within a quarter of the 14-day warning"
    );
    let message = &expiry.evidence.events[0].message;
    assert!(
        message.contains("shop.example.com expires in 3.0 days")
            || message.contains("expires in 2.9 days"),
        "{message}"
    );
    assert!(message.contains("14 days warning"), "{message}");
    let missing = w
        .seen
        .iter()
        .find(|c| c.detector == "ingress_drift/host_missing")
        .unwrap();
    assert_eq!(
        (missing.scope, missing.target.as_str()),
        (Scope::Ingress, "api.example.com")
    );
    assert!(
        !w.seen.iter().any(|c| c.detector == "ingress_drift/tls"),
        "the secret exists and names the host: {:#?}",
        summary(&w.seen)
    );

    // Secrets are read by metadata only: every request asked for PartialObjectMetadata.
    let secret_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/secrets"))
        .collect();
    assert!(!secret_requests.is_empty());
    for r in &secret_requests {
        assert!(
            r.accept.contains("as=PartialObjectMetadata"),
            "{} {}",
            r.path,
            r.accept
        );
    }
    let held = serde_json::to_string(&w.watch.state().read().secrets.values().collect::<Vec<_>>())
        .unwrap();
    assert!(
        held.contains("shop-tls") && held.contains("cert-manager.io/alt-names"),
        "{held}"
    );
    assert!(!held.contains("U1JFQk9U"), "no secret data is held");

    // A second TLS host the served certificate does not cover, and the secret gone.
    fake.patch(
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/shop",
        &json!({"spec": {
        "tls": [{"hosts": ["shop.example.com", "pay.example.com"], "secretName": "shop-tls"}]}}),
    );
    fake.delete("/api/v1/namespaces/shop/secrets/shop-tls");
    w.until("the TLS drift", |seen| {
        seen.iter().any(|c| {
            c.detector == "ingress_drift/tls"
                && c.evidence
                    .events
                    .iter()
                    .any(|e| e.reason == "TLSSecretMissing")
                && c.evidence.events.iter().any(|e| {
                    e.reason == "CertificateNotForHost" && e.message.contains("pay.example.com")
                })
        })
    })
    .await;
}
