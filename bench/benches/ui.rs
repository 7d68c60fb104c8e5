//! The operator workspace rendered server-side with 10,000 incidents in the ledger: the
//! incident list (first page, and a filtered search) and the incident drawer (Summary and
//! Actions tabs), each a whole request through the router (session, authorization, ledger
//! queries, window reads, template) as a browser would ask, in-process.
//!
//! Before criterion runs, a one-shot timing prints medians against the targets (list under
//! 30 ms, drawer under 50 ms) with the ledger's size.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use incident::{Change, Finding, Incident, TimelineEvent, TimelineKind};
use model::{
    Evidence, IncidentCandidate, IncidentStatus, IncidentType, LabelSet, MetricEvidence, Origin,
    Scope, Severity, Signal, Target,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Incidents in the ledger.
const INCIDENTS: usize = 10_000;
const START_MS: i64 = 1_767_571_200_000;

const TYPES: [IncidentType; 6] = [
    IncidentType::CrashLoop,
    IncidentType::MemoryLeak,
    IncidentType::ErrorRateSpike,
    IncidentType::LatencySpike,
    IncidentType::NodeDiskPressure,
    IncidentType::DependencyUnavailable,
];

/// One stored incident with a finding, its evidence and a timeline of three events.
fn change(i: usize) -> Change {
    let kind = TYPES[i % TYPES.len()];
    let (scope, namespace, name) = match kind {
        IncidentType::NodeDiskPressure => (Scope::Node, None, format!("node-{}", i % 300)),
        IncidentType::DependencyUnavailable => (Scope::Service, None, format!("db-{}", i % 50)),
        _ => (
            Scope::Deployment,
            Some(format!("team-{}", i % 40)),
            format!("svc-{i}"),
        ),
    };
    let at = START_MS + i as i64 * 60_000;
    let id = format!("inc-{i:016x}");
    let status = if i.is_multiple_of(5) {
        IncidentStatus::Observed
    } else {
        IncidentStatus::Resolved
    };
    let candidate = IncidentCandidate {
        incident_type: kind,
        scope,
        target: name.clone(),
        namespace: namespace.clone(),
        node: None,
        confidence: 0.9,
        severity: Severity::Warning,
        detector: "bench_rule".to_owned(),
        origin: Origin::Rules,
        detected_at_ms: at,
        evidence: Evidence {
            metrics: vec![MetricEvidence {
                id: "m1".to_owned(),
                series: LabelSet::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("service", name.as_str()),
                ])
                .unwrap(),
                window: "5m".to_owned(),
                aggregate: "rate".to_owned(),
                observed: 12.0,
                expected: Some(5.0),
                rule: "bench_rule".to_owned(),
                at_ms: at,
                summary: None,
            }],
            events: Vec::new(),
        },
        signal: Signal::Firing,
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
    };
    let finding = Finding {
        id: format!("fnd-{i:016x}"),
        incident_id: id.clone(),
        signature: format!("sig-{i}"),
        severity: Severity::Warning,
        confidence: 0.9,
        occurrences: 3,
        first_seen_ms: at,
        last_seen_ms: at + 120_000,
        healthy_at_ms: None,
        candidate,
    };
    let incident = Incident {
        id: id.clone(),
        signature: format!("sig-{i}"),
        incident_type: kind,
        domain: kind.domain(),
        severity: if i.is_multiple_of(7) {
            Severity::Critical
        } else {
            Severity::Warning
        },
        status,
        target: Target::new(scope, namespace.as_deref(), name.clone()),
        opened_at_ms: at,
        updated_at_ms: at + 600_000,
        resolved_at_ms: (status == IncidentStatus::Resolved).then_some(at + 600_000),
        summary: format!(
            "{} on {} {name}; bench_rule observed 12 (expected 5)",
            kind.as_str().replace('_', " "),
            scope.as_str()
        ),
        candidate_count: 3,
        reopen_count: 0,
        flapping: false,
        merged_into: None,
        origins: [Origin::Rules].into_iter().collect(),
        source: model::DEFAULT_SOURCE.to_owned(),
        assignee: None,
        acknowledged_by: None,
        acknowledged_at_ms: None,
    };
    let event = |seq: u64, kind: TimelineKind, at_ms: i64, detail: &str| TimelineEvent {
        incident_id: id.clone(),
        seq,
        at_ms,
        kind,
        status,
        finding_id: None,
        detail: detail.to_owned(),
        notify: false,
    };
    Change {
        timeline: vec![
            event(0, TimelineKind::Opened, at, "opened"),
            event(
                1,
                TimelineKind::StatusChanged,
                at + 300_000,
                "observed → recovering",
            ),
            event(
                2,
                TimelineKind::StatusChanged,
                at + 600_000,
                "recovering → resolved",
            ),
        ],
        findings: vec![finding],
        retired_findings: Vec::new(),
        incident,
    }
}

struct Rig {
    router: axum::Router,
    cookie: String,
    drawer_id: String,
    _dir: tempfile::TempDir,
}

fn rig(rt: &tokio::runtime::Runtime) -> Rig {
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let ledger = incident::Ledger::open_dir(dir.path()).await.unwrap();
        let changes: Vec<Change> = (0..INCIDENTS).map(change).collect();
        for batch in changes.chunks(1_000) {
            ledger.apply(batch).await.unwrap();
        }
        let (incidents, findings, events) = ledger.counts().await.unwrap();
        println!(
            "ledger: {incidents} incidents, {findings} findings, {events} timeline events (SQLite, {})",
            dir.path().display()
        );
        ledger.close().await;
        let mut config = server::config::Config::default();
        config.server.data_dir = dir.path().to_owned();
        config.scrape.self_scrape = false;
        let state = server::app::AppState::open(config, server::auth::Tokens::default())
            .await
            .unwrap();
        let session = state.ui.sessions.create(app::Caller::anonymous());
        Rig {
            router: server::app::router(Arc::clone(&state)),
            cookie: format!("{}={}", server::ui::session::COOKIE, session.id),
            drawer_id: format!("inc-{:016x}", INCIDENTS - 5),
            _dir: dir,
        }
    })
}

async fn get(rig: &Rig, path: &str) -> usize {
    let request = Request::get(path)
        .header("cookie", &rig.cookie)
        .body(Body::empty())
        .unwrap();
    let response = rig.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .len()
}

fn median(rt: &tokio::runtime::Runtime, rig: &Rig, path: &str) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..15 {
        let started = Instant::now();
        bytes = rt.block_on(get(rig, path));
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], bytes)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rig = rig(&rt);
    let pages = [
        ("list", "/ui/incidents".to_owned(), 30),
        (
            "list_filtered",
            "/ui/incidents?status=observed&domain=application_services&q=svc-9&page=2".to_owned(),
            30,
        ),
        (
            "drawer_summary",
            format!("/ui/incidents/{}?tab=summary", rig.drawer_id),
            50,
        ),
        (
            "drawer_actions",
            format!("/ui/incidents/{}?tab=actions", rig.drawer_id),
            50,
        ),
    ];
    println!(
        "one-shot medians of 15, server time per request, {INCIDENTS} incidents in the ledger:"
    );
    for (name, path, target) in &pages {
        let (time, bytes) = median(&rt, &rig, path);
        println!(
            "  {name:<16} {:>8.2} ms  (target < {target} ms: {})  {bytes} bytes of HTML",
            time.as_secs_f64() * 1000.0,
            if time.as_millis() < *target {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    let mut group = c.benchmark_group(format!("ui_{INCIDENTS}_incidents"));
    for (name, path, _) in &pages {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| get(&rig, path));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
