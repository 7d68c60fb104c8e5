//! Microsoft Teams through a Workflows webhook (the successor of the retired Office 365
//! connectors): an Adaptive Card in a `{"type":"message","attachments":[…]}` envelope, one
//! message per event. Workflows answers 202 Accepted.

use crate::config::TeamsSettings;
use crate::error::{ChannelError, DeliveryError};
use crate::providers::{CALL_TIMEOUT, check_answer};
use serde_json::Value;

#[derive(Clone)]
pub struct TeamsClient {
    http: reqwest::Client,
    url: crate::config::Secret,
}

impl std::fmt::Debug for TeamsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsClient").finish_non_exhaustive()
    }
}

impl TeamsClient {
    pub fn new(settings: &TeamsSettings, key: &str) -> Result<Self, ChannelError> {
        let client = |source| ChannelError::Client {
            key: key.to_owned(),
            source,
        };
        let builder = outbound::client_builder(&settings.tls)
            .map_err(client)?
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            http: outbound::build(builder).map_err(client)?,
            url: settings.webhook_url.clone(),
        })
    }

    pub async fn post(&self, message: &Value) -> Result<(), DeliveryError> {
        let answer = self
            .http
            .post(self.url.expose())
            .json(message)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::transient(format!(
                    "{}: {}",
                    outbound::redact(self.url.expose()),
                    outbound::describe(e)
                ))
            })?;
        check_answer(answer, "the Teams workflow").await.map(|_| ())
    }
}
