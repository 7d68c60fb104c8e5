//! The Telegram Bot API client: `sendMessage` (HTML, inline keyboards, replies in a thread),
//! `editMessageText`, `answerCallbackQuery`, `getUpdates` long polling and `setWebhook`.
//!
//! Answers are read tolerantly (`result` may be `null` where Telegram says `true`, optional
//! fields may be missing, dates may be seconds or milliseconds); a 429's
//! `parameters.retry_after` (or `Retry-After`) becomes the retry hint. The bot token is part
//! of every URL, so no URL ever reaches an error or a log line.

use crate::config::{ChatId, TelegramSettings};
use crate::error::{ChannelError, DeliveryError};
use crate::providers::{CALL_TIMEOUT, MAX_ANSWER_BYTES, now_ms};
use crate::retry::retry_after_of;
use serde_json::{Value, json};
use std::time::Duration;

/// A Telegram bot of one provider.
#[derive(Clone)]
pub struct TelegramClient {
    http: reqwest::Client,
    /// `<api_url>/bot<token>`: a secret.
    base: String,
    pub chat: ChatId,
    /// What logs may say about where the bot talks to.
    pub shown: String,
}

impl std::fmt::Debug for TelegramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramClient")
            .field("api", &self.shown)
            .field("chat", &self.chat)
            .finish_non_exhaustive()
    }
}

/// One update, read tolerantly.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A text message in a chat.
    Message {
        update_id: i64,
        chat_id: Option<i64>,
        chat_username: Option<String>,
        message_id: Option<i64>,
        from_id: Option<i64>,
        from_name: Option<String>,
        text: String,
    },
    /// A button press.
    Callback {
        update_id: i64,
        id: String,
        from_id: Option<i64>,
        from_name: Option<String>,
        chat_id: Option<i64>,
        chat_username: Option<String>,
        message_id: Option<i64>,
        data: String,
    },
    /// Anything else (edited messages, joins, ...): skipped, but its id still counts.
    Other { update_id: i64 },
}

impl Update {
    pub fn update_id(&self) -> i64 {
        match self {
            Update::Message { update_id, .. }
            | Update::Callback { update_id, .. }
            | Update::Other { update_id } => *update_id,
        }
    }
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn name_of(from: &Value) -> Option<String> {
    from["username"]
        .as_str()
        .map(|u| format!("@{u}"))
        .or_else(|| from["first_name"].as_str().map(str::to_owned))
}

/// Reads one update object; `None` when it has no `update_id`.
pub fn parse_update(v: &Value) -> Option<Update> {
    let update_id = int(&v["update_id"])?;
    if let Some(cb) = v.get("callback_query").filter(|c| c.is_object()) {
        let message = &cb["message"];
        return Some(Update::Callback {
            update_id,
            id: cb["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| int(&cb["id"]).map(|n| n.to_string()))
                .unwrap_or_default(),
            from_id: int(&cb["from"]["id"]),
            from_name: name_of(&cb["from"]),
            chat_id: int(&message["chat"]["id"]).or_else(|| int(&message["chat_id"])),
            chat_username: message["chat"]["username"].as_str().map(str::to_owned),
            message_id: int(&message["message_id"]),
            data: cb["data"].as_str().unwrap_or_default().to_owned(),
        });
    }
    if let Some(m) = v.get("message").filter(|m| m.is_object())
        && let Some(text) = m["text"].as_str()
    {
        return Some(Update::Message {
            update_id,
            chat_id: int(&m["chat"]["id"]).or_else(|| int(&m["chat_id"])),
            chat_username: m["chat"]["username"].as_str().map(str::to_owned),
            message_id: int(&m["message_id"]),
            from_id: int(&m["from"]["id"]),
            from_name: name_of(&m["from"]),
            text: text.to_owned(),
        });
    }
    Some(Update::Other { update_id })
}

/// Whether Telegram refused an edit only because nothing changed.
fn not_modified(description: &str) -> bool {
    description.contains("message is not modified")
}

impl TelegramClient {
    pub fn new(settings: &TelegramSettings, key: &str) -> Result<Self, ChannelError> {
        let builder = outbound::client_builder(&settings.tls)
            .map_err(|source| ChannelError::Client {
                key: key.to_owned(),
                source,
            })?
            .timeout(CALL_TIMEOUT + settings.poll_timeout);
        let http = outbound::build(builder).map_err(|source| ChannelError::Client {
            key: key.to_owned(),
            source,
        })?;
        let shown = url_host(&settings.api_url);
        Ok(Self {
            http,
            base: format!("{}/bot{}", settings.api_url, settings.bot_token.expose()),
            chat: settings.chat_id.clone(),
            shown,
        })
    }

    /// Calls one Bot API method with a JSON body; the `result` (possibly `null`) on success.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let answer = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(body)
            .send()
            .await
            .map_err(DeliveryError::from_reqwest)?;
        let status = answer.status();
        let header_retry = retry_after_of(answer.headers(), now_ms());
        let bytes = outbound::read_capped(answer, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| DeliveryError::transient(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() && value["ok"].as_bool() != Some(false) {
            return Ok(value.get("result").cloned().unwrap_or(Value::Null));
        }
        let description = value["description"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>();
        let code = value["error_code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(status.as_u16());
        let retry_after = value["parameters"]["retry_after"]
            .as_u64()
            .map(Duration::from_secs)
            .or(header_retry);
        if not_modified(&description) {
            return Ok(Value::Null);
        }
        Err(DeliveryError {
            reason: format!("Telegram {method} answered {code}: {description}"),
            retry_after,
            permanent: code == 400,
        })
    }

    /// Sends an HTML message (optionally as a reply, with a keyboard); its `message_id`.
    pub async fn send(
        &self,
        html: &str,
        keyboard: Option<&Value>,
        reply_to: Option<i64>,
    ) -> Result<Option<i64>, DeliveryError> {
        let mut body = json!({
            "chat_id": self.chat.to_json(),
            "text": html,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        if let Some(k) = keyboard
            && k["inline_keyboard"]
                .as_array()
                .is_some_and(|rows| !rows.is_empty())
        {
            body["reply_markup"] = k.clone();
        }
        if let Some(id) = reply_to {
            body["reply_to_message_id"] = json!(id);
            body["allow_sending_without_reply"] = json!(true);
        }
        let result = self.call("sendMessage", &body).await?;
        Ok(int(&result["message_id"]))
    }

    /// Replaces a message's text and keyboard (an empty keyboard removes the buttons).
    pub async fn edit(
        &self,
        message_id: i64,
        html: &str,
        keyboard: &Value,
    ) -> Result<(), DeliveryError> {
        let body = json!({
            "chat_id": self.chat.to_json(),
            "message_id": message_id,
            "text": html,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
            "reply_markup": keyboard,
        });
        self.call("editMessageText", &body).await.map(|_| ())
    }

    /// Answers a button press (always, so the client stops its spinner); `alert` shows a
    /// pop-up the user must dismiss.
    pub async fn answer_callback(
        &self,
        id: &str,
        text: &str,
        alert: bool,
    ) -> Result<(), DeliveryError> {
        let text: String = text.chars().take(190).collect();
        let body = json!({"callback_query_id": id, "text": text, "show_alert": alert});
        self.call("answerCallbackQuery", &body).await.map(|_| ())
    }

    /// One long poll: updates after `offset`, held open up to `timeout`.
    pub async fn updates(
        &self,
        offset: Option<i64>,
        timeout: Duration,
    ) -> Result<Vec<Update>, DeliveryError> {
        let mut body = json!({
            "timeout": timeout.as_secs(),
            "allowed_updates": ["message", "callback_query"],
        });
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        let result = self.call("getUpdates", &body).await?;
        Ok(result
            .as_array()
            .map(|list| list.iter().filter_map(parse_update).collect())
            .unwrap_or_default())
    }

    /// Points Telegram at our webhook, with the secret it will send back in
    /// `X-Telegram-Bot-Api-Secret-Token`.
    pub async fn set_webhook(&self, url: &str, secret: Option<&str>) -> Result<(), DeliveryError> {
        let mut body = json!({"url": url, "allowed_updates": ["message", "callback_query"]});
        if let Some(s) = secret {
            body["secret_token"] = json!(s);
        }
        self.call("setWebhook", &body).await.map(|_| ())
    }
}

fn url_host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{}://{h}{}",
                    u.scheme(),
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| "<api_url>".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_parse_from_telegram_and_the_emulator() {
        // Telegram's own shape.
        let real = json!({"update_id": 10, "callback_query": {"id": "4382", "chat_instance": "x",
            "from": {"id": 4242, "is_bot": false, "first_name": "Alice", "username": "alice"},
            "message": {"message_id": 7, "date": 1700000000, "chat": {"id": -100123, "type": "group"}},
            "data": "a:Ab3dE6"}});
        assert_eq!(
            parse_update(&real),
            Some(Update::Callback {
                update_id: 10,
                id: "4382".into(),
                from_id: Some(4242),
                from_name: Some("@alice".into()),
                chat_id: Some(-100123),
                chat_username: None,
                message_id: Some(7),
                data: "a:Ab3dE6".into(),
            })
        );
        // The emulator: no chat_instance, dates in ms, chat only as chat_id, ids as strings.
        let emulated = json!({"update_id": 11, "message": {"message_id": "8", "date": 1700000000000i64,
            "chat_id": "-100123", "from": {"id": 4242, "first_name": "Alice"}, "text": "status"}});
        let Some(Update::Message {
            chat_id,
            text,
            from_name,
            ..
        }) = parse_update(&emulated)
        else {
            panic!()
        };
        assert_eq!(
            (chat_id, text.as_str(), from_name.as_deref()),
            (Some(-100123), "status", Some("Alice"))
        );
        assert_eq!(
            parse_update(&json!({"update_id": 12, "edited_message": {}})),
            Some(Update::Other { update_id: 12 })
        );
        assert_eq!(parse_update(&json!({"message": {}})), None);
    }
}
