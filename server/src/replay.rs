//! `srebot replay`: pushes a recorded dataset into a server over remote_write 2.0, exactly as
//! a live sender would, pacing itself so detection keeps up, and reads back the incidents.
//!
//! Without `--url` it starts a server in this process on a loopback port, so a replay always
//! goes through the live ingest → windows → detectors → incidents path.

use anyhow::{Context, bail};
use app::demo::{Fault, Scenario, generate};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ingest::proto::{self, v2};
use std::path::Path;
use std::time::Duration;

/// Event time pushed per request.
const BATCH_MS: i64 = 60_000;

/// Reads a dataset folder (`scenario.json` + `series.jsonl`) or generates the built-in
/// scenario of that name (e.g. `memory-leak`).
pub fn load(dataset: &str, seed: u64) -> anyhow::Result<Scenario> {
    let path = Path::new(dataset);
    if path.is_dir() {
        return Scenario::read(path).with_context(|| format!("reading dataset {dataset}"));
    }
    match Fault::ALL.iter().find(|f| f.name() == dataset) {
        Some(&fault) => Ok(generate(fault, seed)),
        None => {
            let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            bail!(
                "{dataset} is neither a dataset folder (scenario.json + series.jsonl) nor a \
                 built-in scenario ({})",
                names.join(", ")
            )
        }
    }
}

/// What a replay pushed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pushed {
    pub requests: usize,
    pub samples: usize,
    /// Samples the server kept (its `X-Prometheus-Remote-Write-Samples-Written`); the rest
    /// were older than what it already held.
    pub written: usize,
    /// Requests answered 429/503 and sent again after `Retry-After`.
    pub retried: usize,
    /// Requests answered 400 because none of their samples could be stored.
    pub unstored_batches: usize,
}

/// A remote_write sender with the server's bearer token, if any, writing to one source.
#[derive(Debug, Clone)]
pub struct Sender {
    pub client: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    /// Sent as `X-Scope-OrgID`: the source the samples belong to (its own event-time clock).
    pub source: String,
}

impl Sender {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Self> {
        Self::with_ca(base, token, None)
    }

    /// As [`Sender::new`], trusting `ca_file` besides the system roots for an https `base`.
    pub fn with_ca(
        base: &str,
        token: Option<String>,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let client = crate::cli::remote_client(ca_file, Duration::from_secs(60))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
            source: model::DEFAULT_SOURCE.to_owned(),
        })
    }

    /// The same sender writing to `source` (its incidents and clock are that source's).
    pub fn with_source(mut self, source: &str) -> Self {
        source.clone_into(&mut self.source);
        self
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends one remote_write 2.0 body, retrying while the server says to come back.
    async fn write(&self, body: Vec<u8>, pushed: &mut Pushed) -> anyhow::Result<()> {
        loop {
            let request = self
                .client
                .post(format!("{}/api/v1/write", self.base))
                .header(
                    "content-type",
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                )
                .header("content-encoding", "snappy")
                .header("x-prometheus-remote-write-version", "2.0.0")
                .header("x-scope-orgid", self.source.as_str())
                .body(body.clone());
            let response = self
                .authorize(request)
                .send()
                .await
                .context("remote_write")?;
            let status = response.status();
            if status.is_success() {
                pushed.requests += 1;
                pushed.written += response
                    .headers()
                    .get("x-prometheus-remote-write-samples-written")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                return Ok(());
            }
            if status.as_u16() == 429 || status.as_u16() == 503 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                pushed.retried += 1;
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            if status.as_u16() == 400 && text.contains("no sample could be stored") {
                // The server holds none of this batch (too old for it, say): counted as sent
                // and not written, the summary says so, and the replay goes on.
                pushed.requests += 1;
                pushed.unstored_batches += 1;
                return Ok(());
            }
            bail!("remote_write answered {status}: {text}");
        }
    }

    /// `GET /api/v1/status`'s data.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let request = self.client.get(format!("{}/api/v1/status", self.base));
        let body: serde_json::Value = self
            .authorize(request)
            .send()
            .await
            .context("asking for the server's status")?
            .error_for_status()
            .context("asking for the server's status")?
            .json()
            .await
            .context("reading the server's status")?;
        Ok(body["data"].clone())
    }

    /// This sender's source in `GET /api/v1/status`' `sources`, once it holds data.
    pub async fn source_status(&self) -> anyhow::Result<Option<serde_json::Value>> {
        let status = self.status().await?;
        Ok(status["sources"].as_array().and_then(|all| {
            all.iter()
                .find(|s| s["source"].as_str() == Some(self.source.as_str()))
                .cloned()
        }))
    }

    /// Waits until detection has evaluated every tick this source's watermark has passed.
    async fn wait_for_detection(&self) -> anyhow::Result<()> {
        for _ in 0..2_400 {
            let caught_up = match self.source_status().await? {
                Some(source) => source["caught_up"].as_bool() == Some(true),
                None => true,
            };
            if caught_up {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("detection did not keep up with the replay within 60 s")
    }

    /// Pushes the scenario in event-time order, `BATCH_MS` of it per request, shifted by
    /// `shift_ms`, waiting for detection after every request.
    pub async fn push(&self, scenario: &Scenario, shift_ms: i64) -> anyhow::Result<Pushed> {
        let mut pushed = Pushed::default();
        let meta = &scenario.meta;
        let batches = ((meta.end_ms - meta.start_ms) / BATCH_MS + 1).max(1) as u64;
        let bar = ProgressBar::new(batches);
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template("replay {msg} [{bar:30}] {pos}/{len} min") {
            bar.set_style(style);
        }
        bar.set_message(meta.name.clone());
        let mut cursors = vec![0usize; scenario.series.len()];
        let mut from = meta.start_ms;
        while from <= meta.end_ms {
            let until = from + BATCH_MS;
            let mut symbols = v2::SymbolTable::default();
            let mut timeseries = Vec::new();
            for (series, cursor) in scenario.series.iter().zip(cursors.iter_mut()) {
                let start = *cursor;
                while *cursor < series.samples.len() && series.samples[*cursor].0 < until {
                    *cursor += 1;
                }
                if start == *cursor {
                    continue;
                }
                let samples: Vec<proto::Sample> = series.samples[start..*cursor]
                    .iter()
                    .map(|&(t, value)| proto::Sample {
                        value,
                        timestamp: t + shift_ms,
                    })
                    .collect();
                pushed.samples += samples.len();
                timeseries.push(v2::TimeSeries {
                    labels_refs: symbols.label_refs(series.labels.iter()),
                    samples,
                    metadata: Some(v2::Metadata {
                        r#type: proto::metric_type_code(series.metric_type),
                        help_ref: 0,
                        unit_ref: 0,
                    }),
                    ..Default::default()
                });
            }
            if !timeseries.is_empty() {
                let body = ingest::encode_v2(&v2::Request {
                    symbols: symbols.into_symbols(),
                    timeseries,
                });
                self.write(body, &mut pushed).await?;
                self.wait_for_detection().await?;
            }
            bar.inc(1);
            from = until;
        }
        bar.finish_and_clear();
        Ok(pushed)
    }

    /// `GET /api/v1/incidents`'s data.
    pub async fn incidents(&self, query: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let url = if query.is_empty() {
            format!("{}/api/v1/incidents", self.base)
        } else {
            format!("{}/api/v1/incidents?{query}", self.base)
        };
        let response = self
            .authorize(self.client.get(url))
            .send()
            .await
            .context("listing incidents")?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.context("reading incidents")?;
        if !status.is_success() {
            bail!(
                "listing incidents answered {status}: {}",
                body["error"].as_str().unwrap_or("")
            );
        }
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }
}

/// Incidents as a table: id, type, severity, status, target, opened, candidates, summary.
pub fn incident_table(incidents: &[serde_json::Value]) -> String {
    let mut out = format!(
        "{:<22} {:<24} {:<9} {:<10} {:<36} {:<24} {:>5}  {}\n",
        "id", "type", "severity", "status", "target", "opened", "cands", "summary"
    );
    for i in incidents {
        let text = |key: &str| i[key].as_str().unwrap_or("").to_owned();
        let target = &i["target"];
        let target = format!(
            "{}/{}{}",
            target["kind"].as_str().unwrap_or(""),
            target["namespace"]
                .as_str()
                .map(|n| format!("{n}/"))
                .unwrap_or_default(),
            target["name"].as_str().unwrap_or("")
        );
        out.push_str(&format!(
            "{:<22} {:<24} {:<9} {:<10} {:<36} {:<24} {:>5}  {}\n",
            text("id"),
            text("type"),
            text("severity"),
            text("status"),
            target,
            text("opened_at"),
            i["candidate_count"].as_u64().unwrap_or(0),
            text("summary")
        ));
    }
    if incidents.is_empty() {
        out.push_str("(no incidents)\n");
    }
    out
}
