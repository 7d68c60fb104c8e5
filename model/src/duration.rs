//! Durations as operators write them in config files ("250ms", "15s", "10m", "2h", "1d"),
//! parsed with overflow checked; `text` is the serde adapter for such fields.

use std::time::Duration;

/// Parses a whole number followed by one unit: `ms`, `s`, `m`, `h` or `d`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} has no unit (ms, s, m, h, d)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a whole number"))?;
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("duration {text:?}: unknown unit {unit:?}")),
    };
    let ms = n
        .checked_mul(per_unit)
        .filter(|&ms| i64::try_from(ms).is_ok())
        .ok_or_else(|| format!("duration {text:?} is too long"))?;
    Ok(Duration::from_millis(ms))
}

/// The shortest exact text `parse` reads back: `15m`, `2h`, `90s`, `250ms`, `0s`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Serializes a duration as [`format`]'s text.
pub fn serialize_short<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*value))
}

/// Serde adapter: a duration field written as text (`#[serde(with = "model::duration::text")]`).
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", value.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_errors() {
        assert_eq!(parse("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse(" 2h "), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        for text in ["15m", "2h", "90s", "250ms", "0s", "1d"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert!(parse("15").unwrap_err().contains("no unit"));
        assert!(parse("xs").unwrap_err().contains("whole number"));
        assert!(parse("3w").unwrap_err().contains("unknown unit"));
        assert!(
            parse("99999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }
}
