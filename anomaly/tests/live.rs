//! The live path through a real window store: planted anomalies raise candidates of the right
//! type, with evidence, at the right time, and nothing before them.

use anomaly::{AnomalyConfig, LiveAnomaly};
use model::{IncidentCandidate, IncidentType, MetricType, Sample, Scope, SeriesRef};
use windows::{Store, StoreConfig};

use crate::support::{MINUTE, Planted, START, series};

fn store() -> Store {
    Store::new(StoreConfig {
        retention_ms: 2 * 3_600_000,
        lateness_ms: 0,
        max_series: 1000,
        ..StoreConfig::default()
    })
}

pub(crate) fn append(
    store: &Store,
    labels: &[(&str, &str)],
    ts: i64,
    value: f64,
    metric_type: MetricType,
) {
    let samples = [Sample {
        timestamp_ms: ts,
        value,
    }];
    let mut sorted = labels.to_vec();
    sorted.sort();
    let outcome = store.append(SeriesRef {
        labels: &sorted,
        samples: &samples,
        metric_type,
        unit: "",
        help: "",
        created_timestamp_ms: 0,
    });
    assert_eq!(outcome.dropped_total(), 0, "{outcome:?}");
}

/// Streams `points` of one series into a store, ticking every `tick` samples; returns every
/// candidate with the index of the tick's last sample.
fn run(
    config: &AnomalyConfig,
    labels: &[(&str, &str)],
    points: &[(i64, f64)],
    tick: usize,
) -> Vec<IncidentCandidate> {
    let store = store();
    let mut live = LiveAnomaly::new(config).unwrap();
    let mut out = Vec::new();
    for chunk in points.chunks(tick) {
        for &(ts, v) in chunk {
            append(&store, labels, ts, v, MetricType::Gauge);
        }
        let at = chunk.last().unwrap().0;
        out.extend(live.tick(&store, at));
    }
    assert_eq!(live.samples_scored(), points.len() as u64);
    out
}

fn index_of(ts: i64) -> usize {
    ((ts - START) / MINUTE) as usize
}

#[test]
fn latency_spike_raises_a_latency_candidate_with_evidence() {
    let labels = [
        ("__name__", "http_request_latency_seconds"),
        ("deployment", "payments-api"),
        ("namespace", "shop"),
    ];
    let points = series(
        Planted::Spike {
            at: 500,
            size: 15.0,
        },
        700,
        3,
    );
    let found = run(&AnomalyConfig::default(), &labels, &points, 10);
    // The spike, and at most one false alarm in 700 samples of noise.
    assert!(found.len() <= 2, "{found:#?}");
    let c = found
        .iter()
        .find(|c| index_of(c.detected_at_ms) == 500)
        .expect("spike missed");
    assert_eq!(c.incident_type, IncidentType::LatencySpike);
    assert_eq!(c.scope, Scope::Deployment);
    assert_eq!(c.target, "payments-api");
    assert_eq!(c.namespace.as_deref(), Some("shop"));
    assert!(c.confidence >= 0.6 && c.confidence <= 1.0);
    assert_eq!(c.detector, anomaly::DEFAULT_DETECTOR);
    let e = &c.evidence.metrics[0];
    assert_eq!(e.rule, anomaly::DEFAULT_DETECTOR);
    assert_eq!(e.series.get("deployment"), Some("payments-api"));
    assert_eq!(e.observed, points[500].1);
    let expected = e.expected.unwrap();
    assert!((expected - 100.0).abs() < 1.0, "expected {expected}");
}

#[test]
fn error_ratio_level_shift_raises_an_error_rate_candidate() {
    let labels = [("__name__", "http_5xx_ratio"), ("service", "checkout")];
    let points = series(
        Planted::Shift {
            at: 400,
            size: 12.0,
        },
        600,
        5,
    );
    let found = run(&AnomalyConfig::default(), &labels, &points, 7);
    assert!(!found.is_empty());
    // Nothing before the shift; the first candidate at it; the cooldown holds the rest back.
    assert_eq!(index_of(found[0].detected_at_ms), 400);
    assert!(found.len() <= 2, "{}", found.len());
    assert_eq!(found[0].incident_type, IncidentType::ErrorRateSpike);
    assert_eq!(found[0].scope, Scope::Service);
}

#[test]
fn memory_drift_is_a_leak_for_a_pod_and_pressure_for_a_node() {
    let points = series(
        Planted::Drift {
            at: 400,
            per_sample: 0.05,
        },
        600,
        11,
    );
    let pod = [
        ("__name__", "container_memory_working_set_bytes"),
        ("pod", "cart-7d9f8b6c5d-x2x9z"),
    ];
    let found = run(&AnomalyConfig::default(), &pod, &points, 15);
    assert!(!found.is_empty(), "drift missed");
    let first = index_of(found[0].detected_at_ms);
    assert!((400..500).contains(&first), "first at {first}");
    assert_eq!(found[0].incident_type, IncidentType::MemoryLeak);
    assert_eq!(found[0].detector, "cusum");

    let node = [("__name__", "node_memory_used_bytes"), ("node", "n1")];
    let found = run(&AnomalyConfig::default(), &node, &points, 15);
    assert!(!found.is_empty());
    assert_eq!(found[0].incident_type, IncidentType::MemoryPressure);
    assert_eq!(found[0].scope, Scope::Node);
}

#[test]
fn seasonal_break_in_a_request_rate_counter() {
    // A request counter whose per-second rate follows the day; on day 4 it stops falling.
    let day = 1440;
    let at = 3 * day + day / 2 + 60;
    let rates = series(Planted::SeasonalBreak { at }, at + 300, 9);
    let mut total = 0.0;
    let counter: Vec<(i64, f64)> = rates
        .iter()
        .map(|&(ts, r)| {
            total += r * 60.0;
            (ts, total)
        })
        .collect();
    let labels = [("__name__", "shop_requests_total"), ("service", "front")];
    let store = store();
    let mut live = LiveAnomaly::new(&AnomalyConfig::default()).unwrap();
    let mut found = Vec::new();
    for chunk in counter.chunks(30) {
        for &(ts, v) in chunk {
            append(&store, &labels, ts, v, MetricType::Counter);
        }
        found.extend(live.tick(&store, chunk.last().unwrap().0));
    }
    assert!(!found.is_empty(), "break missed");
    let first = index_of(found[0].detected_at_ms);
    assert!(
        (at..at + 240).contains(&first),
        "first at {first}, break at {at}"
    );
    let e = &found[0].evidence.metrics[0];
    assert_eq!(e.aggregate, "rate");
    assert_eq!(found[0].detector, "seasonal");
    assert_eq!(found[0].incident_type, IncidentType::MetricAnomaly);
}

#[test]
fn configured_family_type_and_detector_win_and_buckets_are_ignored() {
    let config: AnomalyConfig = toml::from_str(
        r#"
        threshold = 0.5
        [[families]]
        metric = "queue_*"
        detector = "mad"
        type = "backlog_growth"
        "#,
    )
    .unwrap();
    let points = series(
        Planted::Shift {
            at: 300,
            size: 30.0,
        },
        400,
        13,
    );
    let found = run(
        &config,
        &[("__name__", "queue_depth"), ("job", "w")],
        &points,
        20,
    );
    assert!(!found.is_empty());
    assert_eq!(found[0].incident_type, IncidentType::BacklogGrowth);
    assert_eq!(found[0].detector, "mad");

    let store = store();
    let mut live = LiveAnomaly::new(&AnomalyConfig::default()).unwrap();
    for &(ts, v) in &points {
        append(
            &store,
            &[("__name__", "rpc_seconds_bucket"), ("le", "0.5")],
            ts,
            v,
            MetricType::Gauge,
        );
    }
    assert!(live.tick(&store, points[399].0).is_empty());
    assert_eq!(live.series_count(), 0);
    assert_eq!(live.samples_scored(), 0);
}

#[test]
fn state_is_one_detector_per_series_and_forgotten_after_retention() {
    let store = store();
    let mut live = LiveAnomaly::new(&AnomalyConfig::default()).unwrap();
    let names = ["a", "b", "c"];
    for i in 0..120 {
        for name in names {
            append(
                &store,
                &[("__name__", "gauge_x"), ("instance", name)],
                START + i * MINUTE,
                1.0 + (i % 3) as f64,
                MetricType::Gauge,
            );
        }
        if i % 10 == 9 {
            live.tick(&store, START + i * MINUTE);
        }
    }
    assert_eq!(live.series_count(), 3);
    assert_eq!(live.samples_scored(), 360);
    // Ticking again at the same time feeds nothing twice.
    live.tick(&store, START + 119 * MINUTE);
    assert_eq!(live.samples_scored(), 360);
    // Only `a` keeps reporting, for longer than the retention: the others are forgotten.
    for i in 120..(120 + 180) {
        append(
            &store,
            &[("__name__", "gauge_x"), ("instance", "a")],
            START + i * MINUTE,
            1.0,
            MetricType::Gauge,
        );
        if i % 10 == 9 {
            live.tick(&store, START + i * MINUTE);
        }
    }
    assert_eq!(live.series_count(), 1);
}

#[test]
fn disabled_config_raises_nothing() {
    let config = AnomalyConfig {
        enabled: false,
        ..AnomalyConfig::default()
    };
    let points = series(
        Planted::Spike {
            at: 300,
            size: 50.0,
        },
        400,
        1,
    );
    let store = store();
    let mut live = LiveAnomaly::new(&config).unwrap();
    for &(ts, v) in &points {
        append(&store, &[("__name__", "x")], ts, v, MetricType::Gauge);
    }
    assert!(live.tick(&store, points[399].0).is_empty());
}
