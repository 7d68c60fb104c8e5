//! Operator notifications over an incoming webhook: approvals waiting and escalations, posted
//! as `{"text": "..."}` (Slack's incoming-webhook shape, which Mattermost and others accept).
//! The webhook URL is a secret (Slack's path is the credential): logs show it redacted.

use std::time::Duration;

/// Attempts per message (a failed delivery is retried with a growing pause, then logged).
const ATTEMPTS: u32 = 3;

/// Posts messages to one webhook URL without holding up the caller.
#[derive(Clone)]
pub struct Notifier {
    client: outbound::reqwest::Client,
    url: String,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", &outbound::redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl Notifier {
    pub fn new(url: &str, tls: &outbound::TlsConfig) -> Result<Self, outbound::OutboundError> {
        outbound::check_url(url)?;
        let builder = outbound::client_builder(tls)?.timeout(Duration::from_secs(10));
        Ok(Self {
            client: outbound::build(builder)?,
            url: url.to_owned(),
        })
    }

    /// Sends `text` in the background; delivery failures are logged, never raised.
    pub fn send(&self, text: String) {
        let (client, url) = (self.client.clone(), self.url.clone());
        tokio::spawn(async move {
            let body = serde_json::json!({ "text": text });
            let shown = outbound::redact(&url);
            for attempt in 1..=ATTEMPTS {
                match client.post(&url).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => return,
                    Ok(answer) => {
                        tracing::warn!(webhook = %shown, status = %answer.status(), attempt, "notification refused")
                    }
                    Err(error) => tracing::warn!(
                        webhook = %shown,
                        error = %outbound::describe(error),
                        attempt,
                        "notification not delivered"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            tracing::error!(webhook = %shown, "notification dropped after {ATTEMPTS} attempts: {text}");
        });
    }
}
