//! Generic parameter masking for log tokens: which tokens are variables before any template is
//! learned (numbers, hex, IPs, ids, sizes, durations), so one setting fits every log source.

/// Placeholder written for a masked parameter in template text.
pub const WILDCARD: &str = "<*>";

/// Whether a whitespace-separated token is a parameter on its own.
///
/// A token is a parameter when it carries a digit (counters, ids, IPs, ports, hex, timestamps,
/// sizes, durations, paths with numbers) or is a long hex-looking string. Letter-only tokens are
/// left for the miner to generalise by position.
pub fn is_parameter(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit()) || is_digitless_parameter(token)
}

/// Whether a token known to hold no digit is a parameter (long hex-looking string or a
/// calendar word): the rest of [`is_parameter`] for a lexer that has seen the digits already.
#[inline]
pub(crate) fn is_digitless_parameter(token: &str) -> bool {
    match token.len() {
        3 => is_calendar_word(token),
        n if n >= 8 => is_hexish(token.as_bytes()),
        _ => false,
    }
}

/// Month and weekday names, which only occur in logs as parts of timestamps.
fn is_calendar_word(token: &str) -> bool {
    const WORDS: [&str; 19] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Mon",
        "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    ];
    token.len() == 3 && WORDS.contains(&token)
}

/// A run of at least 8 hex digits (possibly with dashes, as in UUIDs) with no other letters.
fn is_hexish(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && bytes
            .iter()
            .all(|b| b.is_ascii_hexdigit() || *b == b'-' || *b == b':')
        && bytes.iter().filter(|b| b.is_ascii_hexdigit()).count() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_ips_and_hex_are_parameters() {
        for t in [
            "42",
            "10.0.0.1:8080",
            "blk_-1608999687919862906",
            "0x7f3a",
            "deadbeefcafe",
            "2.5s",
            "/var/lib/pod-3",
        ] {
            assert!(is_parameter(t), "{t}");
        }
    }

    #[test]
    fn words_are_not_parameters() {
        for t in [
            "connection",
            "refused",
            "ERROR",
            "PacketResponder",
            "cafe",
            "/",
        ] {
            assert!(!is_parameter(t), "{t}");
        }
    }
}
