//! Signatures on the channel wire: Slack's `X-Slack-Signature` v0 checked on inbound requests,
//! the HMAC our webhooks carry so receivers can check us, and Telegram's webhook secret.
//!
//! Every comparison is constant-time; a Slack timestamp more than five minutes from now is
//! refused before anything is compared, so a captured request cannot be replayed later.

use crate::error::ChannelError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a Slack request's timestamp may be from now.
pub const SLACK_MAX_SKEW_SECS: i64 = 5 * 60;

fn mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `v0=<hex>`: Slack's signature of `v0:<timestamp>:<body>` (what a test or Slack sends).
pub fn slack_sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.as_bytes(), b":", body],
    );
    format!("v0={}", hex::encode(digest))
}

/// Verifies a Slack request: `X-Slack-Request-Timestamp` within five minutes of `now_secs`
/// and `X-Slack-Signature` equal (in constant time) to v0 HMAC-SHA256 over
/// `v0:timestamp:body` under the app's signing secret.
pub fn slack_verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), ChannelError> {
    let refuse = |reason| Err(ChannelError::Unauthenticated { reason });
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return refuse("X-Slack-Request-Timestamp and X-Slack-Signature are required");
    };
    let Ok(at) = timestamp.trim().parse::<i64>() else {
        return refuse("X-Slack-Request-Timestamp is not a Unix time");
    };
    if (now_secs - at).abs() > SLACK_MAX_SKEW_SECS {
        return refuse("X-Slack-Request-Timestamp is more than 5 minutes from now");
    }
    let Some(hex_sig) = signature.trim().strip_prefix("v0=") else {
        return refuse("X-Slack-Signature is not a v0 signature");
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return refuse("X-Slack-Signature is not hex");
    };
    let want = mac(
        signing_secret.as_bytes(),
        &[b"v0:", timestamp.trim().as_bytes(), b":", body],
    );
    if bool::from(want.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        refuse("X-Slack-Signature does not match")
    }
}

/// The header our webhook deliveries carry: `X-Srebot-Signature: v1=<hex>`, HMAC-SHA256 under
/// the provider's secret over `<X-Srebot-Timestamp>.<body>`.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-Srebot-Signature";
/// Unix seconds the delivery was signed at.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "X-Srebot-Timestamp";
/// The delivery's id: the same for every retry of one event, so a receiver can drop repeats.
pub const WEBHOOK_DELIVERY_HEADER: &str = "X-Srebot-Delivery";

/// `v1=<hex>` over `<timestamp>.<body>`.
pub fn webhook_sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "v1={}",
        hex::encode(mac(secret.as_bytes(), &[ts.as_bytes(), b".", body]))
    )
}

/// What a receiver does with our webhook: recompute and compare in constant time.
pub fn webhook_verify(secret: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let Some(hex_sig) = signature.trim().strip_prefix("v1=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let want = mac(
        secret.as_bytes(),
        &[timestamp.trim().as_bytes(), b".", body],
    );
    want.as_slice().ct_eq(given.as_slice()).into()
}

/// Telegram's webhook header `X-Telegram-Bot-Api-Secret-Token` against the configured secret.
pub fn telegram_secret_ok(configured: &str, header: Option<&str>) -> bool {
    header.is_some_and(|given| bool::from(configured.as_bytes().ct_eq(given.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_documented_example_verifies() {
        // The example of Slack's "Verifying requests from Slack" page.
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = "1531420618";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(slack_sign(secret, ts, body), sig);
        assert!(slack_verify(secret, Some(ts), Some(sig), body, 1_531_420_618).is_ok());
    }

    #[test]
    fn slack_bad_signature_and_stale_timestamp_are_refused() {
        let secret = "s3cret";
        let body = b"payload=%7B%7D";
        let now = 1_700_000_000;
        let ts = now.to_string();
        let sig = slack_sign(secret, &ts, body);
        assert!(slack_verify(secret, Some(&ts), Some(&sig), body, now).is_ok());
        // Another body, another secret, a flipped character, no header.
        assert!(slack_verify(secret, Some(&ts), Some(&sig), b"payload=x", now).is_err());
        assert!(slack_verify("other", Some(&ts), Some(&sig), body, now).is_err());
        let mut flipped = sig.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(slack_verify(secret, Some(&ts), Some(&flipped), body, now).is_err());
        assert!(slack_verify(secret, None, Some(&sig), body, now).is_err());
        // Six minutes old (or ahead): refused even with a right signature.
        let old = (now - 360).to_string();
        let old_sig = slack_sign(secret, &old, body);
        let err = slack_verify(secret, Some(&old), Some(&old_sig), body, now).unwrap_err();
        assert!(err.to_string().contains("5 minutes"), "{err}");
        let ahead = (now + 360).to_string();
        let ahead_sig = slack_sign(secret, &ahead, body);
        assert!(slack_verify(secret, Some(&ahead), Some(&ahead_sig), body, now).is_err());
    }

    #[test]
    fn webhook_signatures_round_trip() {
        let sig = webhook_sign("k", 1_700_000_000, b"{\"a\":1}");
        assert!(webhook_verify("k", "1700000000", &sig, b"{\"a\":1}"));
        assert!(!webhook_verify("k", "1700000001", &sig, b"{\"a\":1}"));
        assert!(!webhook_verify("other", "1700000000", &sig, b"{\"a\":1}"));
        assert!(telegram_secret_ok("abc", Some("abc")));
        assert!(!telegram_secret_ok("abc", Some("abd")));
        assert!(!telegram_secret_ok("abc", None));
    }
}
