//! The root cause by topology, live: Istio-meshed services over remote_write, a latency alert
//! on the frontend from Alertmanager's webhook, and the draft naming the callee the delay is in.

use crate::common::{client, get_data, start, test_config, wait_for};
use app::microservices::{Delivery, FaultKind, draw};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_walks_the_mesh_graph_to_the_callee_the_delay_is_in() {
    // A delay on the wire into a service two or more calls below the frontend, at one-minute
    // resolution with half an hour of normal data before it, carried by Istio's metrics.
    let d = (0..500)
        .map(|i| draw(41, i))
        .find(|d| {
            d.delivery == Delivery::Istio
                && d.fault == FaultKind::Delay
                && d.step_ms == 60_000
                && d.fault_start_ms - d.scenario.meta.start_ms >= 32 * 60_000
                && d.scenario.meta.end_ms - d.fault_start_ms >= 12 * 60_000
                && !d.edges.iter().any(|(c, r)| c == "frontend" && *r == d.root)
                && d.root != "frontend"
        })
        .expect("a deep Istio delay draw");

    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.windows.lateness_ms = 3_600_000;
    config.windows.retention_ms = 4 * 3_600_000;
    let server = start(config).await;
    let now = chrono::Utc::now().timestamp_millis();
    let shift = now - 60_000 - d.scenario.meta.end_ms;
    let sender = server::replay::Sender::with_ca(&server.url(), None, None).unwrap();
    let pushed = sender.push(&d.scenario, shift).await.unwrap();
    assert_eq!(pushed.written, pushed.samples);

    // The alert opens when the delay has shown for ten minutes.
    let opened = d.fault_start_ms + shift + 10 * 60_000;
    let starts = chrono::DateTime::from_timestamp_millis(opened)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let alert = serde_json::json!({
        "version": "4",
        "status": "firing",
        "receiver": "srebot",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "FrontendLatencyHigh", "namespace": "shop", "service": "frontend", "severity": "warning"},
            "annotations": {"summary": "frontend p95 latency is over its SLO"},
            "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z"
        }]
    });
    let client = client();
    let posted = client
        .post(format!("{}/api/v1/alerts/alertmanager", server.url()))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    let url = format!("{}/api/v1/incidents", server.url());
    let id = wait_for("the alert's incident", Duration::from_secs(30), || async {
        let list = get_data(&client, &url).await;
        list.as_array()?
            .iter()
            .find(|i| i["target"]["name"] == "frontend")
            .and_then(|i| i["id"].as_str().map(str::to_owned))
    })
    .await;

    let rca = get_data(&client, &format!("{url}/{id}/rca")).await;
    let draft = &rca["draft"];
    let origin = draft["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cause"] == "origin_service")
        .unwrap_or_else(|| panic!("no origin hypothesis for root {}: {rca:#}", d.root));
    let cited = format!("rank-{}", d.root);
    assert!(
        origin["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == cited.as_str()),
        "root {} not the origin: {origin:#}",
        d.root
    );
    assert!(origin["hypothesis"].as_str().unwrap().contains(&d.root));
    // The callers on the path are told to follow their callee.
    let evidence = draft["evidence"].as_array().unwrap();
    let follows = evidence
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .any(|s| s.contains("following"));
    assert!(follows, "{evidence:#?}");
}
