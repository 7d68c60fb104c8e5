//! Runtime dependency probes against real servers on loopback: Debian's `redis-server` stopped
//! and started again, the Service's endpoints going unready in the fake API server, and the
//! dependents' own findings joining the dependency's incident.

use crate::fake_k8s;
use crate::support::{correlate, spec, summary};
use cluster::{ClusterWatch, DependencyKind, DependencyMonitor, DependencySpec};
use model::{
    Evidence, IncidentCandidate, IncidentType, LabelSet, MetricEvidence, Origin, Scope, Severity,
    Signal,
};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

/// A real Redis on a free loopback port; `None` (the test says SKIPPED) without the binary.
fn redis(port: u16) -> Option<Child> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not listen on {port}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dependency(name: &str, kind: DependencyKind, address: &str) -> DependencySpec {
    let text = format!(
        "name = \"{name}\"\nkind = \"{}\"\naddress = \"{address}\"\ninterval = \"150ms\"\ntimeout = \"1s\"",
        kind.as_str()
    );
    toml::from_str(&text).unwrap()
}

/// The finding the built-in `error_rate_5xx` rule raises for a workload (as `detect` builds it).
fn error_spike(namespace: &str, service: &str, at_ms: i64) -> IncidentCandidate {
    IncidentCandidate {
        incident_type: IncidentType::ErrorRateSpike,
        scope: Scope::Deployment,
        target: service.to_owned(),
        namespace: Some(namespace.to_owned()),
        node: None,
        confidence: 0.8,
        severity: Severity::Warning,
        detector: "error_rate_5xx".to_owned(),
        origin: Origin::Rules,
        detected_at_ms: at_ms,
        evidence: Evidence {
            metrics: vec![MetricEvidence {
                id: "m1".to_owned(),
                series: LabelSet::from_pairs([("namespace", namespace), ("service", service)])
                    .unwrap(),
                window: "5m".to_owned(),
                aggregate: "ratio".to_owned(),
                observed: 0.31,
                expected: Some(0.05),
                rule: "error_rate_5xx".to_owned(),
                at_ms,
                summary: None,
            }],
            events: Vec::new(),
        },
        signal: Signal::Firing,
        // The source the cluster's metrics arrive as: the cluster's own.
        source: "test-src".to_owned(),
        affects: Vec::new(),
    }
}

async fn until(
    rx: &mut mpsc::Receiver<Vec<IncidentCandidate>>,
    seen: &mut Vec<IncidentCandidate>,
    what: &str,
    done: impl Fn(&[IncidentCandidate]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => seen.extend(batch),
            _ => panic!("timed out waiting for {what}: {:#?}", summary(seen)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_is_dependency_unavailable_and_its_dependents_errors_join_it() {
    let port = crate::support::restartable_port();
    let Some(mut server) = redis(port) else {
        eprintln!("SKIPPED: redis-server is not installed (scripts/test.sh installs it)");
        return;
    };
    let (fake, url) = fake_k8s::start().await;
    fake.load("redis-service.json");
    let (tx, mut rx) = mpsc::channel(64);
    let spec = spec(&url);
    let watch = ClusterWatch::start(spec.clone(), spec.client().await.unwrap(), tx.clone());
    let mut redis_dep = dependency("redis", DependencyKind::Redis, &format!("127.0.0.1:{port}"));
    redis_dep.service = Some("shop/redis".into());
    redis_dep.dependents = vec!["shop/cart".into(), "shop/worker".into()];
    let monitor = DependencyMonitor::start(
        vec![redis_dep],
        vec![("test".into(), "test-src".into(), watch.state())],
        tx,
    )
    .unwrap();
    let mut seen = Vec::new();
    // Up: PONG, and no candidate.
    for _ in 0..100 {
        if monitor.statuses()[0].up == Some(true) && monitor.statuses()[0].endpoints.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = monitor.statuses()[0].clone();
    assert_eq!(
        (status.up, status.detail.as_str(), status.endpoints),
        (Some(true), "PONG", Some((1, 0))),
        "{status:?}"
    );

    // Redis stops: after two failed probes in a row it is unavailable.
    server.kill().unwrap();
    server.wait().unwrap();
    until(&mut rx, &mut seen, "dependency_unavailable", |s| {
        s.iter()
            .any(|c| c.incident_type == IncidentType::DependencyUnavailable)
    })
    .await;
    let down = seen
        .iter()
        .find(|c| c.incident_type == IncidentType::DependencyUnavailable)
        .unwrap()
        .clone();
    assert_eq!(
        (down.scope, down.namespace.as_deref(), down.target.as_str()),
        (Scope::Service, Some("shop"), "redis")
    );
    assert_eq!(down.severity, Severity::Critical);
    let probe = &down.evidence.events[0];
    assert_eq!(probe.reason, "ProbeFailed");
    assert!(
        probe.message.contains("Connection refused")
            || probe.message.contains("connection refused"),
        "{}",
        probe.message
    );
    assert!(
        probe.message.contains("2 failed probes in a row"),
        "{}",
        probe.message
    );
    let dependents: Vec<&str> = down.affects.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(dependents, ["cart", "worker"]);
    assert!(monitor.statuses()[0].unavailable);

    // Its pod goes unready: the Service's endpoints say so too.
    fake.patch("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/redis-x7k2p", &json!({"endpoints": [
        {"addresses": ["10.244.1.23"], "conditions": {"ready": false, "serving": false, "terminating": false},
         "nodeName": "worker-1", "targetRef": {"kind": "Pod", "namespace": "shop", "name": "redis-0"}}]}));
    until(&mut rx, &mut seen, "no ready endpoints", |s| {
        s.iter().any(|c| {
            c.evidence
                .events
                .iter()
                .any(|e| e.reason == "NoReadyEndpoints")
        })
    })
    .await;

    // The dependents' own findings: cart's error spike (the rule's) and worker's crash loop
    // (the kubelet's back-off over the watch) join the dependency's incident.
    let now = cluster::signal::now_ms();
    let at = crate::support::rfc3339(now - 5_000);
    fake.apply(json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "worker-5f6d8c7b9-abc12.18c1", "namespace": "shop", "uid": "f1f1f1f1-0000-4000-8000-000000000001", "creationTimestamp": at},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "worker-5f6d8c7b9-abc12", "apiVersion": "v1"},
        "reason": "BackOff", "message": "Back-off restarting failed container worker in pod worker-5f6d8c7b9-abc12_shop(f1f1)",
        "source": {"component": "kubelet", "host": "worker-1"}, "firstTimestamp": at, "lastTimestamp": at, "count": 4, "type": "Warning"}));
    until(&mut rx, &mut seen, "the crash loop", |s| {
        s.iter().any(|c| c.incident_type == IncidentType::CrashLoop)
    })
    .await;
    let mut all = seen.clone();
    all.push(error_spike("shop", "cart", now));
    all.push(error_spike("shop", "search", now));
    let (correlator, incidents) = correlate(&all);
    let joined = incidents
        .iter()
        .find(|i| i.incident_type == IncidentType::DependencyUnavailable)
        .expect("the dependency's incident");
    let mut findings: Vec<(IncidentType, String)> = correlator
        .findings(&joined.id)
        .unwrap()
        .map(|f| (f.candidate.incident_type, f.candidate.target.clone()))
        .collect();
    findings.sort();
    let mut want = vec![
        (IncidentType::DependencyUnavailable, "redis".to_owned()),
        (IncidentType::CrashLoop, "worker-5f6d8c7b9-abc12".to_owned()),
        (IncidentType::ErrorRateSpike, "cart".to_owned()),
    ];
    want.sort();
    assert_eq!(findings, want);
    assert!(
        incidents
            .iter()
            .any(|i| i.incident_type == IncidentType::ErrorRateSpike && i.target.name == "search"),
        "search's errors stay their own incident: {incidents:#?}"
    );

    // Redis back and its pod ready: healthy again.
    fake.patch("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/redis-x7k2p", &json!({"endpoints": [
        {"addresses": ["10.244.1.23"], "conditions": {"ready": true, "serving": true, "terminating": false}}]}));
    let mut again = redis(port).expect("redis-server ran a moment ago");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|c| {
        c.incident_type == IncidentType::DependencyUnavailable && c.signal == Signal::Healthy
    }) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => seen.extend(batch),
            _ => panic!(
                "timed out waiting for the healthy signal; the probe says {:#?}; endpoints {:?}",
                monitor.statuses(),
                cluster::deps::endpoints(&watch.state().read(), "shop/redis")
            ),
        }
    }
    assert!(!monitor.statuses()[0].unavailable);
    again.kill().unwrap();
    again.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_speak_each_protocol() {
    // TCP and HTTP against loopback listeners of this test; NATS's INFO greeting as its
    // server sends it; a port nobody listens on fails each.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    let nats = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nats_addr = nats.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = nats.accept().await {
            let _ = s.write_all(b"INFO {\"server_id\":\"NCXYZ\",\"server_name\":\"n1\",\"version\":\"2.9.10\",\"proto\":1,\"max_payload\":1048576}\r\n").await;
        }
    });
    let http = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/broken",
            axum::routing::get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(http_listener, http).await.unwrap() });
    let closed = format!("127.0.0.1:{}", free_port());

    let probe = |spec: DependencySpec| async move {
        cluster::deps::Prober::new(spec).unwrap().probe().await
    };
    assert!(
        probe(dependency("t", DependencyKind::Tcp, &tcp_addr))
            .await
            .is_ok()
    );
    assert!(
        probe(dependency("t", DependencyKind::Tcp, &closed))
            .await
            .is_err()
    );
    assert_eq!(
        probe(dependency("n", DependencyKind::Nats, &nats_addr))
            .await
            .unwrap(),
        "NATS 2.9.10 (server n1)"
    );
    assert!(
        probe(dependency("n", DependencyKind::Nats, &tcp_addr))
            .await
            .unwrap_err()
            .contains("no answer")
    );
    assert_eq!(
        probe(dependency(
            "h",
            DependencyKind::Http,
            &format!("http://{http_addr}/healthz")
        ))
        .await
        .unwrap(),
        "HTTP 200"
    );
    assert_eq!(
        probe(dependency(
            "h",
            DependencyKind::Http,
            &format!("http://{http_addr}/broken")
        ))
        .await
        .unwrap_err(),
        "answered HTTP 503"
    );
    assert!(
        probe(dependency("r", DependencyKind::Redis, &closed))
            .await
            .is_err()
    );
    drop(tcp);
}

/// A real `nats-server` on a free loopback port; `None` without the binary.
fn nats(port: u16) -> Option<Child> {
    let child = Command::new("nats-server")
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-n",
            "probe-test",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not listen on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_nats_server_answers_info_and_a_stopped_one_does_not() {
    let port = free_port();
    let Some(mut server) = nats(port) else {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
        return;
    };
    let prober = cluster::deps::Prober::new(dependency(
        "nats",
        DependencyKind::Nats,
        &format!("127.0.0.1:{port}"),
    ))
    .unwrap();
    let up = prober.probe().await.unwrap();
    assert!(
        up.starts_with("NATS 2.") && up.ends_with("(server probe-test)"),
        "{up}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let down = prober.probe().await.unwrap_err();
    assert!(down.contains("cannot connect"), "{down}");
}

/// A real PostgreSQL cluster on loopback (as the `postgres` user when run as root), stopped on
/// drop; `None` (SKIPPED) when Debian's `postgresql` is not installed.
struct Postgres {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    port: u16,
}

impl Postgres {
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = tempfile::Builder::new()
            .prefix("cluster-pg")
            .tempdir()
            .unwrap();
        if as_postgres {
            assert!(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path())
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let pg = Self {
            bin,
            dir,
            as_postgres,
            port: free_port(),
        };
        let data = pg.dir.path().join("data").display().to_string();
        pg.run(&[
            "initdb",
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let options = format!(
            "-k {} -h 127.0.0.1 -p {} -F",
            pg.dir.path().display(),
            pg.port
        );
        let log = pg.dir.path().join("log").display().to_string();
        pg.run(&[
            "pg_ctl", "-D", &data, "-o", &options, "-l", &log, "-w", "start",
        ]);
        Some(pg)
    }

    fn run(&self, args: &[&str]) {
        let program = self.bin.join(args[0]).display().to_string();
        let output = if self.as_postgres {
            let quoted: Vec<String> = std::iter::once(program)
                .chain(args[1..].iter().map(|a| (*a).to_owned()))
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &quoted.join(" ")])
                .output()
        } else {
            Command::new(program).args(&args[1..]).output()
        }
        .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn stop(&self) {
        let data = self.dir.path().join("data").display().to_string();
        self.run(&["pg_ctl", "-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_postgres_answers_select_1_and_a_stopped_one_does_not() {
    let Some(pg) = tokio::task::spawn_blocking(Postgres::start).await.unwrap() else {
        eprintln!("SKIPPED: PostgreSQL is not installed (scripts/test.sh installs it)");
        return;
    };
    for address in [
        format!("127.0.0.1:{}", pg.port),
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            pg.port
        ),
    ] {
        let prober =
            cluster::deps::Prober::new(dependency("db", DependencyKind::Postgres, &address))
                .unwrap();
        assert_eq!(
            prober.probe().await.unwrap(),
            "SELECT 1 returned 1",
            "{address}"
        );
    }
    let prober = cluster::deps::Prober::new(dependency(
        "db",
        DependencyKind::Postgres,
        &format!("127.0.0.1:{}", pg.port),
    ))
    .unwrap();
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    let down = prober.probe().await.unwrap_err();
    assert!(down.starts_with("cannot connect"), "{down}");
}
