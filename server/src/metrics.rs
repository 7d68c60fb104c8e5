//! The process's own `/metrics`: ingest counters and latency kept here, window-store figures
//! read from the store at each scrape, all encoded as Prometheus text by prometheus-client.

use app::App;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: String,
}

/// Counters and histograms the request handlers update.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Samples accepted into the windows, by protocol.
    pub samples_received: Family<ProtocolLabel, Counter>,
    /// Write requests refused, by reason (bad_snappy, bad_protobuf, bad_labels, too_large, ...).
    pub requests_rejected: Family<ReasonLabel, Counter>,
    /// Seconds from request start to samples in the windows.
    pub ingest_latency: Histogram,
    /// Write requests being decoded right now.
    pub queue_depth: Gauge,
    /// Scrapes that failed, by reason.
    pub scrape_failures: Family<ReasonLabel, Counter>,
    /// The audit log whose head `srebot_audit_head_seq` shows, once known.
    audit_log: Arc<OnceLock<PathBuf>>,
}

impl Metrics {
    pub fn new(app: Arc<App>) -> Self {
        let mut registry = Registry::default();
        let samples_received = Family::<ProtocolLabel, Counter>::default();
        registry.register(
            "srebot_samples_received",
            "Samples accepted into the windows",
            samples_received.clone(),
        );
        let requests_rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "srebot_write_requests_rejected",
            "Write requests refused, by reason",
            requests_rejected.clone(),
        );
        let ingest_latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "srebot_ingest_duration_seconds",
            "Time from a write request's start until its samples are in the windows",
            ingest_latency.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "srebot_ingest_queue_depth",
            "Write requests being decoded right now",
            queue_depth.clone(),
        );
        let scrape_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "srebot_scrape_failures",
            "Scrapes of text-exposition targets that failed",
            scrape_failures.clone(),
        );
        registry.register_collector(Box::new(StoreCollector { app }));
        let audit_log = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(AuditHeadCollector {
            log: Arc::clone(&audit_log),
        }));
        Self {
            audit_log,
            registry,
            samples_received,
            requests_rejected,
            ingest_latency,
            queue_depth,
            scrape_failures,
        }
    }

    /// Exports the head of the audit log at `path` (read from its `.head` file at each scrape)
    /// as `srebot_audit_head_seq`, so a copy of how far the chain reached lives outside it.
    pub fn watch_audit_head(&self, path: PathBuf) {
        let _already = self.audit_log.set(path);
    }

    pub fn reject(&self, reason: &str) {
        self.requests_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn received(&self, protocol: &str, samples: u64) {
        self.samples_received
            .get_or_create(&ProtocolLabel {
                protocol: protocol.to_owned(),
            })
            .inc_by(samples);
    }

    /// Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Reads the audit log's head at every scrape; nothing while there is no log.
#[derive(Debug)]
struct AuditHeadCollector {
    log: Arc<OnceLock<PathBuf>>,
}

impl Collector for AuditHeadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(seq) = self.log.get().and_then(|p| policy::audit::head_seq(p)) else {
            return Ok(());
        };
        let gauge = ConstGauge::new(seq as i64);
        let metric = encoder.encode_descriptor(
            "srebot_audit_head_seq",
            "Sequence number of the newest audit entry (compare with an external copy)",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// Reads the windows' figures (every source's together, drops per source) at every scrape.
#[derive(Debug)]
struct StoreCollector {
    app: Arc<App>,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sources = &self.app.sources;
        let stats = sources.stats();
        let gauges: [(&str, &str, i64); 4] = [
            (
                "srebot_active_series",
                "Series held in the windows",
                stats.active_series as i64,
            ),
            (
                "srebot_window_bytes",
                "Bytes the windows hold, labels included",
                stats.bytes as i64,
            ),
            (
                "srebot_window_samples",
                "Samples the windows hold",
                stats.samples as i64,
            ),
            (
                "srebot_window_watermark_ms",
                "Event-time watermark (newest timestamp seen minus lateness), ms",
                sources.watermark_ms().unwrap_or(0),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let per_series = ConstGauge::new(stats.bytes_per_series());
        let metric = encoder.encode_descriptor(
            "srebot_window_bytes_per_series",
            "Bytes held per active series, labels included",
            None,
            per_series.metric_type(),
        )?;
        per_series.encode(metric)?;
        let mut family = encoder.encode_descriptor(
            "srebot_samples_dropped",
            "Samples the windows dropped, by reason and source",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (source, store) in sources.list() {
            for (reason, count) in store.stats().dropped_by_reason() {
                let counter = ConstCounter::new(count);
                let labels = [("reason", reason), ("source", source.as_str())];
                counter.encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "srebot_samples_stored",
            "Samples stored in the windows since start, by source",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (source, store) in sources.list() {
            let counter = ConstCounter::new(store.stored_total());
            counter.encode(family.encode_family(&[("source", source.as_str())])?)?;
        }
        let pipeline = &self.app.pipeline;
        let busy = pipeline.busy_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
        let counter = ConstCounter::new(busy);
        let metric = encoder.encode_descriptor(
            "srebot_detection_seconds",
            "Time the detection loop spent evaluating ticks",
            None,
            counter.metric_type(),
        )?;
        counter.encode(metric)?;
        let ticks = ConstCounter::new(
            pipeline
                .ticks_total
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let metric = encoder.encode_descriptor(
            "srebot_detection_ticks",
            "Event-time ticks evaluated, every source together",
            None,
            ticks.metric_type(),
        )?;
        ticks.encode(metric)?;
        Ok(())
    }
}
