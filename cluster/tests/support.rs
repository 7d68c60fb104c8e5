//! What the cluster-signal tests share: a watch of the fake API, gathering what it raises,
//! moving recorded events to the present, and correlating candidates as the server does.

use cluster::{ClusterSpec, ClusterWatch};
use incident::{Correlator, CorrelatorConfig, Incident};
use model::{IncidentCandidate, Signal};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

/// A cluster spec for the fake at `url`, judging quickly.
pub(crate) fn spec(url: &str) -> ClusterSpec {
    let mut spec = ClusterSpec::named("test");
    spec.url = Some(url.to_owned());
    spec.source = Some("test-src".to_owned());
    spec.resync = Duration::from_millis(300);
    spec.cert_check_interval = Duration::from_millis(300);
    spec
}

/// A running watch and what it sends.
pub(crate) struct Watched {
    pub(crate) watch: ClusterWatch,
    pub(crate) rx: mpsc::Receiver<Vec<IncidentCandidate>>,
    /// Everything received so far, in order.
    pub(crate) seen: Vec<IncidentCandidate>,
}

pub(crate) async fn watch(spec: ClusterSpec) -> Watched {
    let (tx, rx) = mpsc::channel(64);
    let client = spec.client().await.unwrap();
    let watch = ClusterWatch::start(spec, client, tx);
    let mut w = Watched {
        watch,
        rx,
        seen: Vec::new(),
    };
    w.synced().await;
    w
}

impl Watched {
    /// Waits until every watch has listed.
    pub(crate) async fn synced(&mut self) {
        for _ in 0..200 {
            if self.watch.synced() {
                return;
            }
            self.drain(Duration::from_millis(50)).await;
        }
        let state = self.watch.state();
        panic!("not synced: {:?}", state.read().status);
    }

    /// Receives for `wait`.
    pub(crate) async fn drain(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(batch)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.extend(batch);
        }
    }

    /// Receives until `done` holds over everything seen (at most 20 s).
    pub(crate) async fn until(&mut self, what: &str, done: impl Fn(&[IncidentCandidate]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(batch)) => self.seen.extend(batch),
                _ => panic!(
                    "timed out waiting for {what}; seen: {:#?}",
                    summary(&self.seen)
                ),
            }
        }
    }

    /// The firing candidates seen of `detector` prefix.
    pub(crate) fn firing(&self, detector: &str) -> Vec<&IncidentCandidate> {
        self.seen
            .iter()
            .filter(|c| c.signal == Signal::Firing && c.detector.starts_with(detector))
            .collect()
    }
}

/// `type scope ns/target (detector, signal)` per candidate.
pub(crate) fn summary(candidates: &[IncidentCandidate]) -> Vec<String> {
    candidates
        .iter()
        .map(|c| {
            format!(
                "{} {} {}/{} ({}, {:?})",
                c.incident_type,
                c.scope.as_str(),
                c.namespace.as_deref().unwrap_or("-"),
                c.target,
                c.detector,
                c.signal
            )
        })
        .collect()
}

/// The recorded events of a fixture moved so the latest happens `ago_ms` before now, keeping
/// their spacing (the watch raises only events of the recent past).
pub(crate) fn recent(mut list: Value, ago_ms: i64) -> Value {
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
                e[field] = Value::String(rfc3339(at + shift));
            }
        }
        if let Some(at) = parse(&e["metadata"]["creationTimestamp"]) {
            e["metadata"]["creationTimestamp"] = Value::String(rfc3339(at + shift));
        }
    }
    list
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The incidents the server's correlator makes of `candidates` (fed in order).
pub(crate) fn correlate(candidates: &[IncidentCandidate]) -> (Correlator, Vec<Incident>) {
    let mut correlator = Correlator::new(CorrelatorConfig::default());
    for c in candidates {
        correlator.ingest(c.clone());
    }
    let open = correlator
        .incidents()
        .filter(|i| i.merged_into.is_none())
        .cloned()
        .collect();
    (correlator, open)
}

/// A free port below Linux's ephemeral range (32768–60999), for a server the test stops and
/// starts again on the same port: no other test's `bind(:0)` can take it in between.
pub(crate) fn restartable_port() -> u16 {
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20_000 + (seed >> 33) as u16 % 10_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
