//! Webhook and custom providers: the documented, versioned JSON (`srebot.channel.v1`) posted
//! with `X-Srebot-Timestamp`, `X-Srebot-Signature: v1=<HMAC-SHA256>` and `X-Srebot-Delivery`
//! (the same id on every retry of one event, so a receiver can drop repeats).

use crate::config::WebhookSettings;
use crate::error::{ChannelError, DeliveryError};
use crate::providers::{CALL_TIMEOUT, check_answer, now_ms};
use crate::signature::{
    WEBHOOK_DELIVERY_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, webhook_sign,
};
use serde_json::Value;

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    url: String,
    secret: crate::config::Secret,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("url", &outbound::redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    pub fn new(settings: &WebhookSettings, key: &str) -> Result<Self, ChannelError> {
        let client = |source| ChannelError::Client {
            key: key.to_owned(),
            source,
        };
        let builder = outbound::client_builder(&settings.tls)
            .map_err(client)?
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            http: outbound::build(builder).map_err(client)?,
            url: settings.url.clone(),
            secret: settings.secret.clone(),
        })
    }

    pub async fn post(&self, body: &Value, delivery_id: &str) -> Result<(), DeliveryError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| DeliveryError::permanent(e.to_string()))?;
        let ts = now_ms() / 1000;
        let answer = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(WEBHOOK_TIMESTAMP_HEADER, ts.to_string())
            .header(
                WEBHOOK_SIGNATURE_HEADER,
                webhook_sign(self.secret.expose(), ts, &bytes),
            )
            .header(WEBHOOK_DELIVERY_HEADER, delivery_id)
            .body(bytes)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::transient(format!(
                    "{}: {}",
                    outbound::redact(&self.url),
                    outbound::describe(e)
                ))
            })?;
        check_answer(answer, &format!("webhook {}", outbound::redact(&self.url)))
            .await
            .map(|_| ())
    }
}
