//! Ledger tests on SQLite in a temporary directory; `exercise` runs on PostgreSQL as well.

use crate::common::{candidate, node_scenario};
use incident::{CorrelatorConfig, IncidentEngine, IncidentFilter, Ledger};
use model::{Domain, IncidentStatus, IncidentType, Scope, Severity};

/// Drives an engine on `ledger` and checks what the API reads back.
pub(crate) async fn exercise(ledger: Ledger) {
    let engine = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let start = 1_767_574_800_000;
    let mut batch = node_scenario("node-b", 20, start);
    batch.push(candidate(
        IncidentType::LatencySpike,
        Scope::Deployment,
        "checkout",
        Some("shop"),
        None,
        start,
    ));
    // A duplicate of the latency finding: deduped, counted.
    batch.push(candidate(
        IncidentType::LatencySpike,
        Scope::Deployment,
        "checkout",
        Some("shop"),
        None,
        start + 5_000,
    ));
    let changes = engine.submit(batch).await.unwrap();
    assert!(!changes.is_empty());

    let all = ledger
        .summaries(&IncidentFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:#?}");
    let node = all
        .iter()
        .find(|s| s.incident_type == IncidentType::NodeDiskPressure)
        .unwrap();
    assert_eq!(node.candidate_count, 21);
    assert_eq!(node.severity, Severity::Critical);
    assert_eq!(node.domain, Domain::Infrastructure);

    let json = serde_json::to_value(node).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "type",
        "domain",
        "severity",
        "status",
        "target",
        "opened_at",
        "updated_at",
        "summary",
        "candidate_count",
        "origins",
        "source",
        "assignee",
        "acknowledged_by",
    ];
    expected.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(json["type"], "node_disk_pressure");
    assert_eq!(json["source"], "default");
    assert_eq!(json["target"]["kind"], "node");
    assert_eq!(json["target"]["name"], "node-b");
    assert!(json["target"]["namespace"].is_null());
    assert_eq!(json["opened_at"], "2026-01-05T01:00:00.000Z");
    assert_eq!(json["origins"], serde_json::json!(["rules"]));

    let filtered = ledger
        .summaries(
            &IncidentFilter::parse(
                Some("observed"),
                Some("warning"),
                Some("application_services"),
            )
            .unwrap(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].target.name, "checkout");
    assert_eq!(filtered[0].candidate_count, 2);
    assert!(
        ledger
            .summaries(
                &IncidentFilter::parse(Some("resolved"), None, None).unwrap(),
                100
            )
            .await
            .unwrap()
            .is_empty()
    );

    let detail = ledger.detail(&node.id).await.unwrap().unwrap();
    assert_eq!(detail.findings.len(), 21);
    assert_eq!(
        detail.evidence.len(),
        42,
        "one metric and one event per finding"
    );
    assert!(
        detail
            .evidence
            .iter()
            .all(|e| e.id.starts_with(&e.finding_id))
    );
    assert_eq!(detail.timeline[0].seq, 0);
    assert!(detail.timeline.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    let detail_json = serde_json::to_value(&detail).unwrap();
    assert_eq!(detail_json["id"], node.id.as_str());
    assert!(detail_json["findings"][0]["candidate"]["evidence"]["metrics"].is_array());

    let latency = &filtered[0];
    let latency_detail = ledger.detail(&latency.id).await.unwrap().unwrap();
    assert_eq!(latency_detail.findings.len(), 1);
    assert_eq!(latency_detail.findings[0].occurrences, 2);
    assert_eq!(ledger.candidates(100).await.unwrap().len(), 22);

    // Operators move status; the ledger follows.
    engine
        .set_status(&latency.id, IncidentStatus::Triaged, start + 6_000)
        .await
        .unwrap();
    let triaged = ledger.incident(&latency.id).await.unwrap().unwrap();
    assert_eq!(triaged.status, IncidentStatus::Triaged);

    // Healthy long enough: both resolve.
    let config = CorrelatorConfig::default();
    engine
        .tick(start + 30_000 + config.stale_after_ms)
        .await
        .unwrap();
    engine
        .tick(start + 30_000 + config.stale_after_ms + config.resolve_after_healthy_ms)
        .await
        .unwrap();
    let resolved = ledger
        .summaries(
            &IncidentFilter::parse(Some("resolved"), None, None).unwrap(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(resolved.len(), 2);

    // A restarted engine picks the resolved node incident back up and reopens it.
    drop(engine);
    let engine = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let recur = start + 30_000 + config.stale_after_ms + config.resolve_after_healthy_ms + 60_000;
    let changes = engine
        .submit(vec![candidate(
            IncidentType::NodeDiskPressure,
            Scope::Node,
            "node-b",
            None,
            None,
            recur,
        )])
        .await
        .unwrap();
    assert_eq!(changes[0].incident.id, node.id);
    let reopened = ledger.incident(&node.id).await.unwrap().unwrap();
    assert_eq!(reopened.status, IncidentStatus::Observed);
    assert_eq!(reopened.reopen_count, 1);
    let timeline = ledger.timeline(&node.id).await.unwrap();
    assert!(
        timeline.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
        "timeline continues after restart"
    );

    assert_eq!(ledger.integrity_check().await.unwrap(), "ok");
}

/// Rows written before origins were kept (no `incidents.origins`, candidates without
/// `origin`, evidence events with `source`) still load, and a restored incident learns its
/// origins from its findings. `raw` is the same database as `ledger`, written directly.
pub(crate) async fn legacy_rows_load(ledger: Ledger, url: &str) {
    let engine = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let start = 1_767_574_800_000;
    let mut alert = candidate(
        IncidentType::CrashLoop,
        Scope::Deployment,
        "cart",
        Some("shop"),
        None,
        start,
    );
    alert.detector = "alertmanager".to_owned();
    alert.origin = model::Origin::Alertmanager;
    let changes = engine.submit(vec![alert]).await.unwrap();
    let id = changes[0].incident.id.clone();
    drop(engine);
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(url).await.unwrap();
    let (finding_id, candidate_json): (String, String) =
        sqlx::query_as("SELECT id, candidate_json FROM findings WHERE incident_id = $1")
            .bind(id.as_str())
            .fetch_one(&raw)
            .await
            .unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&candidate_json).unwrap();
    old.as_object_mut().unwrap().remove("origin");
    let event = &mut old["evidence"]["events"][0];
    let origin = event.as_object_mut().unwrap().remove("origin").unwrap();
    event["source"] = origin;
    let old_event = serde_json::json!({"kind": "event", "id": "e1", "source": "kubernetes",
        "reason": "BackOff", "message": "back-off", "at_ms": start, "labels": {}});
    for (sql, value) in [
        (
            "UPDATE incidents SET origins = '' WHERE id = $1",
            id.clone(),
        ),
        (
            "UPDATE findings SET candidate_json = $1 WHERE id = $2",
            old.to_string(),
        ),
        (
            "UPDATE evidence SET body_json = $1 WHERE finding_id = $2 AND kind = 'event'",
            old_event.to_string(),
        ),
    ] {
        let query = sqlx::query(sql).bind(value);
        let query = if sql.contains("$2") {
            query.bind(finding_id.as_str())
        } else {
            query
        };
        query.execute(&raw).await.unwrap();
    }
    raw.close().await;

    let stored = ledger.incident(&id).await.unwrap().unwrap();
    assert!(stored.origins.is_empty(), "{stored:?}");
    let detail = ledger.detail(&id).await.unwrap().unwrap();
    assert_eq!(
        detail.findings[0].candidate.origin,
        model::Origin::Alertmanager
    );
    assert_eq!(
        detail.findings[0].candidate.evidence.events[0].origin,
        model::Origin::Kubernetes,
        "read from the old `source` key"
    );
    assert!(detail.evidence.iter().any(|e| matches!(
        &e.evidence,
        incident::EvidenceItem::Event(ev) if ev.origin == model::Origin::Kubernetes
    )));
    // Restored after a restart: the origins come from the findings, and a rule's sighting adds its own.
    let engine = IncidentEngine::open(ledger.clone(), CorrelatorConfig::default())
        .await
        .unwrap();
    let changes = engine
        .submit(vec![candidate(
            IncidentType::CrashLoop,
            Scope::Deployment,
            "cart",
            Some("shop"),
            None,
            start + 60_000,
        )])
        .await
        .unwrap();
    assert_eq!(changes[0].incident.id, id);
    let origins: Vec<model::Origin> = ledger
        .incident(&id)
        .await
        .unwrap()
        .unwrap()
        .origins
        .into_iter()
        .collect();
    assert_eq!(origins, [model::Origin::Alertmanager, model::Origin::Rules]);
}

#[tokio::test]
async fn sqlite_rows_from_before_origins_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_dir(dir.path()).await.unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join(incident::ledger::SQLITE_FILE).display()
    );
    legacy_rows_load(ledger, &url).await;
}

#[tokio::test]
async fn sqlite_ledger_round_trips_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_dir(dir.path()).await.unwrap();
    exercise(ledger.clone()).await;
    ledger.close().await;
    // Reopening runs no migration twice and keeps everything.
    let again = Ledger::open_dir(dir.path()).await.unwrap();
    let (incidents, findings, _) = again.counts().await.unwrap();
    assert_eq!((incidents, findings), (2, 22));
}

#[tokio::test]
async fn sqlite_uses_wal_and_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open_dir(dir.path()).await.unwrap();
    // journal_mode WAL, synchronous FULL (2).
    assert_eq!(
        ledger.sqlite_durability().await.unwrap(),
        Some(("wal".to_owned(), 2))
    );
    assert_eq!(ledger.integrity_check().await.unwrap(), "ok");
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    let err = Ledger::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, incident::Error::UnsupportedUrl { .. }));
}
