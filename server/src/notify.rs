//! Operator notifications over an incoming webhook: approvals waiting and escalations, posted
//! as `{"text": "..."}` (Slack's incoming-webhook shape, which Mattermost and others accept).

use std::time::Duration;

/// Attempts per message (a failed delivery is retried with a growing pause, then logged).
const ATTEMPTS: u32 = 3;

/// Posts messages to one webhook URL without holding up the caller.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: String,
}

impl Notifier {
    pub fn new(url: &str) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }

    /// Sends `text` in the background; delivery failures are logged, never raised.
    pub fn send(&self, text: String) {
        let (client, url) = (self.client.clone(), self.url.clone());
        tokio::spawn(async move {
            let body = serde_json::json!({ "text": text });
            for attempt in 1..=ATTEMPTS {
                match client.post(&url).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => return,
                    Ok(answer) => {
                        tracing::warn!(status = %answer.status(), attempt, "notification refused")
                    }
                    Err(error) => tracing::warn!(%error, attempt, "notification not delivered"),
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            tracing::error!("notification dropped after {ATTEMPTS} attempts: {text}");
        });
    }
}
