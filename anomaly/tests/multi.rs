//! The multi-metric models through a real window store: a workload's memory leaving its load
//! behind is found and named; load moving all its metrics together breaks no relation, and a
//! state never seen is new to the mixture until a refit learns it. Every run also checks that
//! the models raise the same from the per-series detectors' shared read as from their own.

use anomaly::{
    AnomalyConfig, LiveAnomaly, LiveMulti, MIXTURE_DETECTOR, MULTI_DETECTOR, MultiConfig,
};
use model::{IncidentCandidate, IncidentType, MetricType, Scope};
use windows::{Store, StoreConfig};

use crate::live::append;
use crate::support::{MINUTE, Noise, START};

const STEP: i64 = 15_000;
const PODS: [&str; 2] = ["payments-7d9c5b0f6d-x2x1k", "payments-7d9c5b0f6d-q8r4t"];

/// Four hours of a two-pod workload whose CPU, memory and latency follow its traffic;
/// `traffic(minute)` is requests/s per pod and `leak(minute)` bytes added to memory. Returns
/// the multi-metric candidates of `detector` with the minute they were raised at, after
/// checking at every tick that the models raise the same from the per-series detectors'
/// shared read as from a read of their own.
fn run(
    detector: &str,
    traffic: impl Fn(f64) -> f64,
    leak: impl Fn(f64) -> f64,
) -> Vec<(f64, IncidentCandidate)> {
    let store = Store::new(StoreConfig {
        retention_ms: 6 * 3_600_000,
        lateness_ms: 0,
        max_series: 1000,
        ..StoreConfig::default()
    });
    let mut live = LiveAnomaly::new(&AnomalyConfig::golden_signals()).unwrap();
    let mut alone = LiveMulti::new(MultiConfig::default());
    let mut noise = Noise(7);
    let mut requests = [0.0; 2];
    let mut cpu = [0.0; 2];
    let mut out = Vec::new();
    for i in 0..(4 * 60 * 4) {
        let ts = START + i * STEP;
        let minute = (ts - START) as f64 / MINUTE as f64;
        for (p, pod) in PODS.iter().enumerate() {
            let rate = traffic(minute) * (1.0 + 0.03 * noise.normal());
            requests[p] += rate * 15.0;
            cpu[p] += (0.05 + rate * 0.004) * 15.0 * (1.0 + 0.02 * noise.normal());
            let memory = 300e6 + rate * 1e6 + 4e6 * noise.normal() + leak(minute);
            let latency = 0.08 + rate * 0.0004 + 0.004 * noise.normal();
            let base = [("namespace", "shop"), ("pod", *pod), ("container", "app")];
            let with = |name: &'static str| {
                let mut l = base.to_vec();
                l.push(("__name__", name));
                l
            };
            let counter = MetricType::Counter;
            let gauge = MetricType::Gauge;
            append(
                &store,
                &with("http_requests_total"),
                ts,
                requests[p],
                counter,
            );
            append(
                &store,
                &with("container_cpu_usage_seconds_total"),
                ts,
                cpu[p],
                counter,
            );
            append(
                &store,
                &with("container_memory_working_set_bytes"),
                ts,
                memory,
                gauge,
            );
            append(
                &store,
                &with("http_request_duration_seconds"),
                ts,
                latency,
                gauge,
            );
        }
        if i % 4 == 3 {
            let raised = live.tick(&store, ts);
            let shown = |c: &IncidentCandidate| format!("{c:?}");
            let mut shared: Vec<String> = raised
                .iter()
                .filter(|c| [MULTI_DETECTOR, MIXTURE_DETECTOR].contains(&c.detector.as_str()))
                .map(shown)
                .collect();
            let mut own: Vec<String> = alone.tick(&store, ts).iter().map(shown).collect();
            shared.sort();
            own.sort();
            assert_eq!(
                shared, own,
                "minute {minute}: the shared read raises what its own does"
            );
            out.extend(
                raised
                    .into_iter()
                    .filter(|c| c.detector == detector)
                    .map(|c| (minute, c)),
            );
        }
    }
    assert!(live.multi().models() >= 1);
    out
}

fn daily(minute: f64) -> f64 {
    40.0 + 15.0 * (minute / 90.0 * std::f64::consts::TAU).sin()
}

#[test]
fn memory_leaving_its_load_behind_is_found_and_named() {
    // From minute 180, 3 MiB a minute more memory at the same load.
    let found = run(MULTI_DETECTOR, daily, |m| {
        (m - 180.0).max(0.0) * 3.0 * 1_048_576.0
    });
    assert!(!found.is_empty(), "the leak is found");
    assert!(
        found.iter().all(|(m, _)| *m >= 180.0),
        "nothing before: {found:?}"
    );
    let (at, first) = &found[0];
    assert!(*at <= 200.0, "found at minute {at}");
    assert_eq!(first.target, "payments");
    assert_eq!(first.scope, Scope::Deployment);
    assert_eq!(first.namespace.as_deref(), Some("shop"));
    assert_eq!(first.incident_type, IncidentType::MemoryLeak);
    let summary = first.evidence.metrics[0].summary.as_deref().unwrap();
    assert!(
        summary.starts_with(
            "payments moved unlike its other 3 metrics: container_memory_working_set_bytes is"
        ),
        "{summary}"
    );
}

#[test]
fn load_moving_every_metric_together_breaks_no_relation() {
    // Traffic triples at minute 180 and everything follows it.
    let surge = |m: f64| daily(m) * if m >= 180.0 { 3.0 } else { 1.0 };
    let found = run(MULTI_DETECTOR, surge, |_| 0.0);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_state_never_seen_is_new_to_the_mixture_until_it_is_learned() {
    let surge = |m: f64| daily(m) * if m >= 180.0 { 3.0 } else { 1.0 };
    let found = run(MIXTURE_DETECTOR, surge, |_| 0.0);
    assert!(!found.is_empty());
    let minutes: Vec<f64> = found.iter().map(|(m, _)| *m).collect();
    assert!(minutes[0] >= 180.0 && minutes[0] <= 182.0, "{minutes:?}");
    // The schedule's next refits take the new state in.
    assert!(minutes.iter().all(|m| *m < 180.0 + 40.0), "{minutes:?}");
    let summary = found[0].1.evidence.metrics[0].summary.as_deref().unwrap();
    assert!(
        summary.starts_with(
            "payments is in a state unlike any of its recent ones across its 4 metrics: "
        ),
        "{summary}"
    );
}
