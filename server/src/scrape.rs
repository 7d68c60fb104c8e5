//! Pull mode: scrapes Prometheus text-exposition targets (this process's own `/metrics`
//! included) on an interval and appends what it reads to the windows, as Prometheus would.

use crate::app::AppState;
use crate::config::ScrapeTarget;
use model::{MetricType, Sample, SeriesRef};
use prometheus_parse::{Scrape, Value};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Why one scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("GET {url}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("parsing exposition from {url}")]
    Parse {
        url: String,
        #[source]
        source: std::io::Error,
    },
}

impl ScrapeError {
    fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Fetch { .. } => "fetch",
            ScrapeError::Status { .. } => "status",
            ScrapeError::Parse { .. } => "parse",
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `host:port` of a URL, for the `instance` label.
fn instance_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Starts one scrape loop per target; they run until the runtime stops.
pub fn spawn(state: &Arc<AppState>, self_url: Option<String>) {
    let config = &state.config.scrape;
    let mut targets = config.targets.clone();
    if let Some(url) = self_url {
        targets.push(ScrapeTarget {
            job: "srebot".to_owned(),
            url,
        });
    }
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the scrape client; pull mode is off");
            return;
        }
    };
    for target in targets {
        let state = Arc::clone(state);
        let client = client.clone();
        let interval = config.interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                scrape_once(&state, &client, &target).await;
            }
        });
    }
}

/// Scrapes one target once and appends its samples plus `up` and `scrape_duration_seconds`.
pub async fn scrape_once(state: &AppState, client: &reqwest::Client, target: &ScrapeTarget) {
    let started = Instant::now();
    let timestamp_ms = now_ms();
    let result = fetch(state, client, &target.url).await;
    let up = match result {
        Ok(scrape) => {
            append_scrape(state, target, &scrape, timestamp_ms);
            1.0
        }
        Err(error) => {
            tracing::debug!(error = %crate::error::chain(&error), job = %target.job, "scrape failed");
            state
                .metrics
                .scrape_failures
                .get_or_create(&crate::metrics::ReasonLabel {
                    reason: error.reason().to_owned(),
                })
                .inc();
            0.0
        }
    };
    let instance = instance_of(&target.url);
    let duration = started.elapsed().as_secs_f64();
    for (name, value, metric_type) in [
        ("up", up, MetricType::Gauge),
        ("scrape_duration_seconds", duration, MetricType::Gauge),
    ] {
        let labels = [
            ("__name__", name),
            ("instance", instance.as_str()),
            ("job", target.job.as_str()),
        ];
        append_one(
            state,
            &labels,
            metric_type,
            Sample {
                timestamp_ms,
                value,
            },
        );
    }
}

async fn fetch(
    state: &AppState,
    client: &reqwest::Client,
    url: &str,
) -> Result<Scrape, ScrapeError> {
    let mut request = client.get(url).header(
        reqwest::header::ACCEPT,
        "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5",
    );
    if let Some(token) = &state.tokens.read_write {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|source| ScrapeError::Fetch {
        url: url.to_owned(),
        source,
    })?;
    if !response.status().is_success() {
        return Err(ScrapeError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let text = response.text().await.map_err(|source| ScrapeError::Fetch {
        url: url.to_owned(),
        source,
    })?;
    parse_exposition(&text).map_err(|source| ScrapeError::Parse {
        url: url.to_owned(),
        source,
    })
}

/// Parses text exposition (0.0.4, and OpenMetrics as far as its lines agree with it).
pub fn parse_exposition(text: &str) -> std::io::Result<Scrape> {
    let lines = text
        .lines()
        .filter(|l| !l.starts_with("# EOF") && !l.starts_with("# UNIT"))
        .map(|l| Ok(l.to_owned()));
    Scrape::parse(lines)
}

/// Appends every sample of a scrape with `job` and `instance` attached; a target's own
/// `job`/`instance` labels are kept as `exported_job`/`exported_instance`, as Prometheus does.
pub fn append_scrape(state: &AppState, target: &ScrapeTarget, scrape: &Scrape, timestamp_ms: i64) {
    let instance = instance_of(&target.url);
    for sample in &scrape.samples {
        let base: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| {
                let name = if k == "job" || k == "instance" {
                    format!("exported_{k}")
                } else {
                    k.clone()
                };
                (name, v.clone())
            })
            .collect();
        let emit = |name: String, extra: Option<(&str, String)>, value: f64, kind: MetricType| {
            let mut labels = base.clone();
            labels.push(("__name__".to_owned(), name));
            labels.push(("job".to_owned(), target.job.clone()));
            labels.push(("instance".to_owned(), instance.clone()));
            if let Some((k, v)) = extra {
                labels.push((k.to_owned(), v));
            }
            labels.sort();
            labels.dedup_by(|a, b| a.0 == b.0);
            let borrowed: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            append_one(
                state,
                &borrowed,
                kind,
                Sample {
                    timestamp_ms,
                    value,
                },
            );
        };
        match &sample.value {
            Value::Counter(v) => emit(sample.metric.clone(), None, *v, MetricType::Counter),
            Value::Gauge(v) => emit(sample.metric.clone(), None, *v, MetricType::Gauge),
            Value::Untyped(v) => emit(sample.metric.clone(), None, *v, MetricType::Unknown),
            Value::Histogram(buckets) => {
                for bucket in buckets {
                    emit(
                        format!("{}_bucket", sample.metric),
                        Some(("le", format_le(bucket.less_than))),
                        bucket.count,
                        MetricType::Counter,
                    );
                }
            }
            Value::Summary(quantiles) => {
                for q in quantiles {
                    emit(
                        sample.metric.clone(),
                        Some(("quantile", q.quantile.to_string())),
                        q.count,
                        MetricType::Summary,
                    );
                }
            }
        }
    }
}

fn format_le(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".to_owned()
    } else {
        le.to_string()
    }
}

fn append_one(state: &AppState, labels: &[(&str, &str)], metric_type: MetricType, sample: Sample) {
    if model::labels::validate_sorted(labels.iter().copied()).is_err() {
        return;
    }
    let samples = [sample];
    let outcome = state.store.append(SeriesRef {
        labels,
        samples: &samples,
        metric_type,
        unit: "",
        help: "",
        created_timestamp_ms: 0,
    });
    state.metrics.received("scrape", outcome.appended as u64);
}
