//! Pull mode: scrapes Prometheus text-exposition targets (this process's own metrics included,
//! read in-process) on an interval and appends what it reads to the windows, as Prometheus would.
//! Each target gets only its own credentials; srebot's own token is never sent anywhere.

use crate::app::AppState;
use crate::config::ScrapeTarget;
use anyhow::Context;
use model::{MetricType, Sample, SeriesRef};
use prometheus_parse::{Scrape, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why one scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("GET {url}: {reason}")]
    Fetch { url: String, reason: String },
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

/// How a target is read.
#[derive(Debug, Clone)]
pub enum Reader {
    /// This process's own metrics, rendered in-process (no network, no credentials).
    Own,
    /// Over HTTP(S) with the target's own TLS settings and credentials.
    Http {
        client: reqwest::Client,
        authorization: Option<reqwest::header::HeaderValue>,
    },
}

impl Reader {
    /// The client and credentials `target` is scraped with.
    pub fn for_target(target: &ScrapeTarget, timeout: Duration) -> anyhow::Result<Self> {
        let key = || {
            format!(
                "scrape target {} ({})",
                target.job,
                outbound::redact(&target.url)
            )
        };
        let builder = outbound::client_builder(&target.tls_config).with_context(key)?;
        let client = outbound::build(builder.timeout(timeout)).with_context(key)?;
        let authorization = match &target.authorization {
            None => None,
            Some(auth) => {
                let secret =
                    std::fs::read_to_string(&auth.credentials_file).with_context(|| {
                        format!(
                            "{}: reading authorization.credentials_file {}",
                            key(),
                            auth.credentials_file.display()
                        )
                    })?;
                let mut value = reqwest::header::HeaderValue::from_str(&format!(
                    "{} {}",
                    auth.kind,
                    secret.trim()
                ))
                .map_err(|_| {
                    anyhow::anyhow!("{}: the credentials are not a valid header value", key())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Reader::Http {
            client,
            authorization,
        })
    }
}

/// Starts one scrape loop per target (and one for this process's own metrics, labelled with
/// `own_instance`); they run until the runtime stops. A target whose client cannot be built is
/// logged and skipped; the others run.
pub fn spawn(state: &Arc<AppState>, own_instance: Option<String>) {
    let config = &state.app.config.scrape;
    let mut targets = Vec::new();
    for target in &config.targets {
        match Reader::for_target(target, config.timeout) {
            Ok(reader) => targets.push((target.clone(), reader)),
            Err(error) => {
                tracing::error!(error = %crate::error::chain(error.as_ref()), "target not scraped")
            }
        }
    }
    if let Some(instance) = own_instance {
        let own = ScrapeTarget {
            job: "srebot".to_owned(),
            url: format!("http://{instance}/metrics"),
            authorization: None,
            tls_config: outbound::TlsConfig::default(),
            source: model::SELF_SOURCE.to_owned(),
        };
        targets.push((own, Reader::Own));
    }
    for (target, reader) in targets {
        let state = Arc::clone(state);
        let interval = config.interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                scrape_once(&state, &reader, &target).await;
            }
        });
    }
}

/// Scrapes one target once and appends its samples plus `up` and `scrape_duration_seconds`.
pub async fn scrape_once(state: &AppState, reader: &Reader, target: &ScrapeTarget) {
    let started = Instant::now();
    let timestamp_ms = now_ms();
    let result = match reader {
        Reader::Own => {
            parse_exposition(&state.metrics.render()).map_err(|source| ScrapeError::Parse {
                url: target.url.clone(),
                source,
            })
        }
        Reader::Http {
            client,
            authorization,
        } => {
            let limit = state.app.config.scrape.max_response_bytes;
            fetch(client, authorization.as_ref(), &target.url, limit).await
        }
    };
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
            &target.source,
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
    client: &reqwest::Client,
    authorization: Option<&reqwest::header::HeaderValue>,
    url: &str,
    limit: usize,
) -> Result<Scrape, ScrapeError> {
    let shown = || outbound::redact(url);
    let mut request = client.get(url).header(
        reqwest::header::ACCEPT,
        "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5",
    );
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value.clone());
    }
    let response = request.send().await.map_err(|error| ScrapeError::Fetch {
        url: shown(),
        reason: outbound::describe(error),
    })?;
    if !response.status().is_success() {
        return Err(ScrapeError::Status {
            url: shown(),
            status: response.status().as_u16(),
        });
    }
    let body = outbound::read_capped(response, limit)
        .await
        .map_err(|error| ScrapeError::Fetch {
            url: shown(),
            reason: error.to_string(),
        })?;
    parse_exposition(&String::from_utf8_lossy(&body)).map_err(|source| ScrapeError::Parse {
        url: shown(),
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
                &target.source,
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

fn append_one(
    state: &AppState,
    source: &str,
    labels: &[(&str, &str)],
    metric_type: MetricType,
    sample: Sample,
) {
    if model::labels::validate_sorted(labels.iter().copied()).is_err() {
        return;
    }
    let store = match state.app.sources.get_or_create(source) {
        Ok(store) => store,
        Err(error) => {
            tracing::debug!(%error, "scraped sample not stored");
            return;
        }
    };
    let samples = [sample];
    let outcome = store.append(SeriesRef {
        labels,
        samples: &samples,
        metric_type,
        unit: "",
        help: "",
        created_timestamp_ms: 0,
    });
    state.metrics.received("scrape", outcome.appended as u64);
}
