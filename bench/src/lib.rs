//! Shared workloads for the benches and the load generator: node_exporter-like remote_write
//! series, encoded the way Prometheus sends them (about 500 series per request).

use ingest::proto;

/// Labels of series `index`: a node_exporter-like set (name, cpu, instance, job, mode).
pub fn node_labels(index: usize) -> Vec<proto::Label> {
    let label = |name: &str, value: String| proto::Label {
        name: name.to_owned(),
        value,
    };
    let metrics = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_filesystem_avail_bytes",
        "node_memory_MemAvailable_bytes",
    ];
    let modes = [
        "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
    ];
    let host = index / 256;
    let within = index % 256;
    vec![
        label("__name__", metrics[within % metrics.len()].to_owned()),
        label("cpu", (within / 32).to_string()),
        label("instance", format!("node-{host:04}.prod.example:9100")),
        label("job", "node".to_owned()),
        label("mode", modes[(within / 4) % modes.len()].to_owned()),
    ]
}

/// One request carrying `series` (a range of series indices), one sample each at `timestamp_ms`.
pub fn node_request(series: std::ops::Range<usize>, timestamp_ms: i64) -> proto::WriteRequest {
    let timeseries = series
        .map(|i| proto::TimeSeries {
            labels: node_labels(i),
            samples: vec![proto::Sample {
                value: (timestamp_ms / 1000) as f64 * 0.25 + i as f64,
                timestamp: timestamp_ms,
            }],
            ..Default::default()
        })
        .collect();
    proto::WriteRequest {
        timeseries,
        ..Default::default()
    }
}

/// Bodies for one sender that owns `series`, `steps` samples 15 s apart from `start_ms`, in
/// time order, `batch` series per request, as snappy-compressed remote_write 1.0.
pub fn sender_bodies(
    series: std::ops::Range<usize>,
    steps: usize,
    start_ms: i64,
    batch: usize,
) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for step in 0..steps {
        let ts = start_ms + step as i64 * 15_000;
        let mut first = series.start;
        while first < series.end {
            let last = (first + batch).min(series.end);
            bodies.push(ingest::encode_v1(&node_request(first..last, ts)));
            first = last;
        }
    }
    bodies
}
