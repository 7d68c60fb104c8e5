//! The provider clients, each speaking its service's exact wire format, and how an HTTP answer
//! becomes a delivered message or a [`DeliveryError`] with the provider's retry hint.
//!
//! Errors never carry a URL: webhook URLs and Telegram's bot path are credentials.

pub mod email;
pub mod in_app;
pub mod paging;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod webhook;

use crate::error::DeliveryError;
use crate::retry::retry_after_of;
use std::time::Duration;

/// Most bytes read of a provider's answer.
pub(crate) const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Time one call to a provider may take (Telegram's long poll adds its own timeout).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A plain webhook answer: 2xx delivered; 429 and 5xx retried (after `Retry-After` when
/// given); 400, 413 and 422 refuse the message itself (permanent); other 4xx (401, 403, 404:
/// a credential or URL problem) are retried, so a misconfigured provider counts as failing.
pub(crate) async fn check_answer(
    answer: reqwest::Response,
    who: &str,
) -> Result<Vec<u8>, DeliveryError> {
    let status = answer.status();
    let retry_after = retry_after_of(answer.headers(), now_ms());
    let body = outbound::read_capped(answer, MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    let reason = format!("{who} answered {status}: {}", text.trim());
    let permanent = matches!(status.as_u16(), 400 | 413 | 422);
    Err(DeliveryError {
        reason,
        retry_after,
        permanent,
    })
}
