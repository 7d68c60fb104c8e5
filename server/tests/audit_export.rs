//! The audit head's external copy: posted when there is a head, then after every N entries,
//! and retried while the receiver refuses it.

use axum::http::StatusCode;
use parking_lot::Mutex;
use policy::{AuditKey, AuditKind, AuditLog, AuditRecord};
use server::audit_export::{HeadCopy, HeadExporter};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn record(i: i64) -> AuditRecord {
    AuditRecord {
        at_ms: 1_000 + i,
        who: "robot".into(),
        kind: AuditKind::Decision,
        incident_id: Some("inc-1".into()),
        action: None,
        why: format!("step {i}"),
        detail: String::new(),
        evidence_ids: Vec::new(),
        before: None,
        after: None,
    }
}

#[tokio::test]
async fn the_head_is_copied_after_every_n_entries_and_retried_until_it_lands() {
    let copies: Arc<Mutex<Vec<HeadCopy>>> = Arc::default();
    let refusals = Arc::new(AtomicUsize::new(0));
    let (store, refused) = (Arc::clone(&copies), Arc::clone(&refusals));
    let app = axum::Router::new().route(
        "/head",
        axum::routing::post(move |axum::Json(copy): axum::Json<HeadCopy>| {
            let (store, refused) = (Arc::clone(&store), Arc::clone(&refused));
            async move {
                // The first delivery is refused: the exporter must try again.
                if refused.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                store.lock().push(copy);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("audit.key");
    AuditKey::create(&key).unwrap();
    let mut log = AuditLog::open_in(dir.path(), AuditKey::load(&key).unwrap()).unwrap();
    let path = dir.path().join(policy::audit::AUDIT_FILE);
    log.append(record(0)).unwrap();

    let mut exporter = HeadExporter::new(
        path.clone(),
        &format!("http://{addr}/head"),
        3,
        &outbound::TlsConfig::default(),
    )
    .unwrap();
    exporter.interval = Duration::from_millis(20);
    exporter.spawn();

    let wait = |n: usize| {
        let copies = Arc::clone(&copies);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while copies.lock().len() < n {
                assert!(Instant::now() < deadline, "no copy {n} arrived");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait(1).await;
    let first = copies.lock()[0].clone();
    let (seq, hash) = policy::audit::head_of(&path).unwrap();
    assert_eq!((first.seq, first.hash.clone()), (seq, hash));
    assert!(
        refusals.load(Ordering::SeqCst) >= 2,
        "the refused copy was retried"
    );

    // Two more entries are fewer than three: no copy; the third makes one.
    log.append(record(1)).unwrap();
    log.append(record(2)).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(copies.lock().len(), 1, "{:?}", copies.lock());
    let last = log.append(record(3)).unwrap();
    wait(2).await;
    let second = copies.lock()[1].clone();
    assert_eq!(second.seq, first.seq + 3);
    assert_eq!(second.hash, last.hash);
}
