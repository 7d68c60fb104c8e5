//! Keeps a copy of the audit chain's head outside the data dir: after every N entries, posts
//! `{"seq", "hash", "log", "at_ms"}` to `[policy] audit_head_webhook`, retrying until it lands.
//! Comparing that copy with the log is what shows a deletion of the newest entries.

use std::path::PathBuf;
use std::time::Duration;

/// What is posted; `hash` is the newest entry's HMAC, which binds every entry before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadCopy {
    pub seq: u64,
    pub hash: String,
    pub log: String,
    pub at_ms: i64,
}

/// Posts the head of the log at `log` to `url` whenever it has grown `every` entries past the
/// last copy that landed (the first copy as soon as there is a head), checking each `interval`.
#[derive(Debug, Clone)]
pub struct HeadExporter {
    pub log: PathBuf,
    pub url: String,
    pub every: u64,
    pub interval: Duration,
    pub client: reqwest::Client,
}

impl HeadExporter {
    pub fn new(
        log: PathBuf,
        url: &str,
        every: u64,
        tls: &outbound::TlsConfig,
    ) -> Result<Self, outbound::OutboundError> {
        outbound::check_url(url)?;
        let client =
            outbound::build(outbound::client_builder(tls)?.timeout(Duration::from_secs(10)))?;
        Ok(Self {
            log,
            url: url.to_owned(),
            every: every.max(1),
            interval: Duration::from_secs(5),
            client,
        })
    }

    /// Runs until the runtime stops.
    pub fn spawn(self) {
        tokio::spawn(async move {
            let shown = outbound::redact(&self.url);
            let mut landed: Option<u64> = None;
            let mut ticker = tokio::time::interval(self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some((seq, hash)) = policy::audit::head_of(&self.log) else {
                    continue;
                };
                if landed.is_some_and(|last| seq < last.saturating_add(self.every)) {
                    continue;
                }
                let copy = HeadCopy {
                    seq,
                    hash,
                    log: self.log.display().to_string(),
                    at_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64),
                };
                match self.client.post(&self.url).json(&copy).send().await {
                    Ok(answer) if answer.status().is_success() => landed = Some(seq),
                    Ok(answer) => tracing::warn!(
                        webhook = %shown, status = %answer.status(), seq,
                        "audit head copy refused; retrying"
                    ),
                    Err(error) => tracing::warn!(
                        webhook = %shown, error = %outbound::describe(error), seq,
                        "audit head copy not delivered; retrying"
                    ),
                }
            }
        });
    }
}
