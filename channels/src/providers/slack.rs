//! Slack: an incoming webhook (`{"text": ...}`, one message per event) or the Web API with a
//! bot token (`chat.postMessage`, `chat.update`, thread replies with `thread_ts`, Block Kit
//! buttons), and the shapes of what Slack posts back (interactions, slash commands).
//!
//! A Web API answer is `{"ok": false, "error": "..."}` on failure, often with HTTP 200; a
//! rate limit is HTTP 429 with `Retry-After`.

use crate::config::{SlackMode, SlackSettings};
use crate::error::ChannelError;
use crate::error::DeliveryError;
use crate::providers::{CALL_TIMEOUT, MAX_ANSWER_BYTES, check_answer, now_ms};
use crate::retry::retry_after_of;
use serde_json::{Value, json};

/// A Slack provider's client.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    pub mode: SlackMode,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            SlackMode::Webhook { .. } => "incoming webhook",
            SlackMode::App { .. } => "app",
        };
        f.debug_struct("SlackClient")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    pub fn new(settings: &SlackSettings, key: &str) -> Result<Self, ChannelError> {
        let client = |source| ChannelError::Client {
            key: key.to_owned(),
            source,
        };
        let builder = outbound::client_builder(&settings.tls)
            .map_err(client)?
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            http: outbound::build(builder).map_err(client)?,
            mode: settings.mode.clone(),
        })
    }

    /// Posts one `{"text": ...}` to the incoming webhook (app mode: a plain message).
    pub async fn post_text(&self, message: &Value) -> Result<(), DeliveryError> {
        match &self.mode {
            SlackMode::Webhook { url } => {
                let shown = outbound::redact(url.expose());
                let answer = self
                    .http
                    .post(url.expose())
                    .json(message)
                    .send()
                    .await
                    .map_err(|e| {
                        DeliveryError::transient(format!("{shown}: {}", outbound::describe(e)))
                    })?;
                check_answer(answer, &format!("the Slack webhook {shown}"))
                    .await
                    .map(|_| ())
            }
            SlackMode::App { .. } => {
                let text = message["text"].as_str().unwrap_or_default();
                self.post(text, &Value::Array(Vec::new()), None)
                    .await
                    .map(|_| ())
            }
        }
    }

    /// `chat.postMessage` (app mode), optionally in a thread; the message's `ts`.
    pub async fn post(
        &self,
        text: &str,
        blocks: &Value,
        thread_ts: Option<&str>,
    ) -> Result<String, DeliveryError> {
        let SlackMode::App { channel, .. } = &self.mode else {
            return Err(DeliveryError::permanent("threads need Slack app mode"));
        };
        let mut body =
            json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.api("chat.postMessage", &body).await?;
        Ok(answer["ts"].as_str().unwrap_or_default().to_owned())
    }

    /// `chat.update` of a thread's first message.
    pub async fn update(&self, ts: &str, text: &str, blocks: &Value) -> Result<(), DeliveryError> {
        let SlackMode::App { channel, .. } = &self.mode else {
            return Err(DeliveryError::permanent("edits need Slack app mode"));
        };
        let body = json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks});
        self.api("chat.update", &body).await.map(|_| ())
    }

    async fn api(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let SlackMode::App {
            bot_token, api_url, ..
        } = &self.mode
        else {
            return Err(DeliveryError::permanent("the Web API needs Slack app mode"));
        };
        let answer = self
            .http
            .post(format!("{api_url}/{method}"))
            .bearer_auth(bot_token.expose())
            .json(body)
            .send()
            .await
            .map_err(DeliveryError::from_reqwest)?;
        let status = answer.status();
        let retry_after = retry_after_of(answer.headers(), now_ms());
        let bytes = outbound::read_capped(answer, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| DeliveryError::transient(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() && value["ok"].as_bool() == Some(true) {
            return Ok(value);
        }
        let error = value["error"]
            .as_str()
            .unwrap_or("no error given")
            .to_owned();
        Err(DeliveryError {
            reason: format!("Slack {method} answered {status}: {error}"),
            retry_after,
            permanent: matches!(
                error.as_str(),
                "invalid_blocks" | "msg_too_long" | "invalid_arguments" | "no_text"
            ),
        })
    }

    /// Posts an answer to a `response_url` Slack gave with an interaction or a command.
    pub async fn respond(&self, response_url: &str, text: &str) -> Result<(), DeliveryError> {
        outbound::check_url(response_url).map_err(|e| DeliveryError::permanent(e.to_string()))?;
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let answer = self
            .http
            .post(response_url)
            .json(&body)
            .send()
            .await
            .map_err(DeliveryError::from_reqwest)?;
        check_answer(answer, "Slack's response_url")
            .await
            .map(|_| ())
    }
}

/// A button press Slack posts to the interactions URL (`payload=<json>`, `block_actions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub user_id: String,
    pub user_name: Option<String>,
    /// `approve`, `reject`, `evidence` or `silence`.
    pub action: String,
    /// The approval id (approve, reject) or incident id (evidence, silence).
    pub value: String,
    pub response_url: Option<String>,
}

/// Reads an interaction request body.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, ChannelError> {
    let bad = |reason: &str| ChannelError::BadRequest {
        reason: reason.to_owned(),
    };
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| bad("no payload field"))?;
    let v: Value = serde_json::from_str(&payload).map_err(|_| bad("payload is not JSON"))?;
    if v["type"] != "block_actions" {
        return Err(bad("only block_actions interactions are handled"));
    }
    let action = &v["actions"][0];
    Ok(Interaction {
        user_id: v["user"]["id"]
            .as_str()
            .ok_or_else(|| bad("no user.id"))?
            .to_owned(),
        user_name: v["user"]["username"]
            .as_str()
            .or_else(|| v["user"]["name"].as_str())
            .map(str::to_owned),
        action: action["action_id"]
            .as_str()
            .ok_or_else(|| bad("no actions[0].action_id"))?
            .to_owned(),
        value: action["value"].as_str().unwrap_or_default().to_owned(),
        response_url: v["response_url"].as_str().map(str::to_owned),
    })
}

/// A slash command Slack posts (form fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub user_id: String,
    pub user_name: Option<String>,
    pub text: String,
    pub response_url: Option<String>,
}

pub fn parse_command(body: &[u8]) -> Result<SlashCommand, ChannelError> {
    let mut user_id = None;
    let mut out = SlashCommand {
        user_id: String::new(),
        user_name: None,
        text: String::new(),
        response_url: None,
    };
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "user_id" => user_id = Some(v.into_owned()),
            "user_name" => out.user_name = Some(v.into_owned()),
            "text" => out.text = v.into_owned(),
            "response_url" => out.response_url = Some(v.into_owned()),
            _ => {}
        }
    }
    out.user_id = user_id.ok_or_else(|| ChannelError::BadRequest {
        reason: "no user_id field".to_owned(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_and_commands_parse() {
        let payload = json!({"type": "block_actions", "user": {"id": "U1", "username": "alice"},
            "actions": [{"action_id": "approve", "value": "apr-1"}], "response_url": "https://hooks.slack.com/actions/x"});
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let i = parse_interaction(body.as_bytes()).unwrap();
        assert_eq!(
            (i.user_id.as_str(), i.action.as_str(), i.value.as_str()),
            ("U1", "approve", "apr-1")
        );
        assert!(parse_interaction(b"payload=%7B%7D").is_err());
        let c =
            parse_command(b"command=%2Fsrebot&text=why+did+you+restart+payments-api&user_id=U1")
                .unwrap();
        assert_eq!(c.text, "why did you restart payments-api");
        assert!(parse_command(b"text=status").is_err());
    }
}
