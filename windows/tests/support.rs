//! Helpers shared by the tests: appending literal series and generating node-like data.

use model::{MetricType, Sample, SeriesRef};
use windows::{AppendOutcome, Selector, Store, StoreConfig, WindowQuery, WindowSpan};

pub(crate) fn store(lateness_ms: i64, retention_ms: i64) -> Store {
    Store::new(StoreConfig {
        lateness_ms,
        retention_ms,
        ..StoreConfig::default()
    })
}

pub(crate) fn s(timestamp_ms: i64, value: f64) -> Sample {
    Sample {
        timestamp_ms,
        value,
    }
}

/// Appends one series; `labels` must be sorted by name.
pub(crate) fn append(
    store: &Store,
    labels: &[(&str, &str)],
    samples: &[Sample],
    metric_type: MetricType,
) -> AppendOutcome {
    model::labels::validate_sorted(labels.iter().copied()).unwrap();
    store.append(SeriesRef {
        labels,
        samples,
        metric_type,
        unit: "",
        help: "",
        created_timestamp_ms: 0,
    })
}

pub(crate) fn query(selectors: &[&str], window: &str, at_ms: Option<i64>) -> WindowQuery {
    WindowQuery {
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect(),
        window: WindowSpan::parse(window).unwrap(),
        at_ms,
        by: None,
    }
}

/// A tiny deterministic generator (tests need no seeds from outside).
#[derive(Debug, Clone)]
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One node_exporter-like series: owned labels (sorted) and how its values move.
#[derive(Debug, Clone)]
pub(crate) struct NodeSeries {
    pub(crate) labels: Vec<(String, String)>,
    kind: u8,
    value: f64,
}

impl NodeSeries {
    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// The next value: CPU-seconds counters (hundredths), byte counters, memory gauges,
    /// constants (sizes, info, error counters at zero) and rarely moving integer counters.
    pub(crate) fn step(&mut self, rng: &mut Lcg) -> f64 {
        match self.kind {
            0 => self.value += rng.below(1500) as f64 / 100.0,
            1 => self.value += (rng.below(64) * 4096) as f64,
            2 => self.value = (1_000_000 + rng.below(256)) as f64 * 4096.0,
            4 if rng.below(10) == 0 => self.value += (1 + rng.below(3)) as f64,
            _ => {}
        }
        self.value
    }
}

/// `n` series spread over instances the way node_exporter exposes them: a name, `instance`,
/// `job`, and 0–3 more labels.
pub(crate) fn node_series(n: usize) -> Vec<NodeSeries> {
    // A node_exporter mix: 15% CPU-second counters, 15% byte counters, 15% gauges, 35%
    // constants, 20% slow counters.
    let names = [
        ("node_cpu_seconds_total", 0u8),
        ("node_network_receive_bytes_total", 1),
        ("node_memory_Active_bytes", 2),
        ("node_filesystem_size_bytes", 3),
        ("node_network_receive_errs_total", 4),
        ("node_cpu_guest_seconds_total", 3),
        ("node_disk_read_bytes_total", 1),
        ("node_filesystem_avail_bytes", 2),
        ("node_uname_info", 3),
        ("node_context_switches_total", 4),
        ("process_cpu_seconds_total", 0),
        ("node_network_transmit_bytes_total", 1),
        ("node_hwmon_temp_celsius", 2),
        ("node_network_mtu_bytes", 3),
        ("node_forks_total", 4),
        ("node_schedstat_running_seconds_total", 0),
        ("node_disk_io_now", 3),
        ("node_filefd_maximum", 3),
        ("node_vmstat_oom_kill", 4),
        ("node_network_up", 3),
    ];
    let per_instance = 200;
    (0..n)
        .map(|i| {
            let instance = format!(
                "10.0.{}.{}:9100",
                i / per_instance / 250,
                i / per_instance % 250
            );
            let k = i % per_instance;
            let (name, kind) = names[k % names.len()];
            let mut labels = vec![
                ("__name__".to_owned(), name.to_owned()),
                ("instance".to_owned(), instance),
                ("job".to_owned(), "node".to_owned()),
            ];
            let extra = k / names.len();
            let more = if extra == 0 { 0 } else { 1 + extra % 3 };
            if more >= 1 {
                labels.push(("cpu".to_owned(), extra.to_string()));
            }
            if more >= 2 {
                labels.push(("device".to_owned(), format!("sd{}", extra % 8)));
            }
            if more >= 3 {
                labels.push((
                    "mode".to_owned(),
                    ["idle", "user", "system"][extra % 3].to_owned(),
                ));
            }
            labels.sort();
            NodeSeries {
                labels,
                kind,
                value: (1000 + i) as f64,
            }
        })
        .collect()
}
