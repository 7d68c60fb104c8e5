//! Numbers in an operator's words: sizes in binary units, durations rounded the way people
//! say them ("about 4 h"), shares in percent, and a value shown in the unit its metric names.

/// `1 GiB`, `540 MiB`, `3.5 KiB`, `12 B`: binary units, at most three significant digits.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let sign = if value < 0.0 { "-" } else { "" };
    let mut v = value.abs();
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{sign}{} {}", significant(v), UNITS[unit])
}

/// Decimal sizes for disks, as `df -H` and vendors state them: `40 GB`, `850 MB`.
pub fn bytes_decimal(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let sign = if value < 0.0 { "-" } else { "" };
    let mut v = value.abs();
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{sign}{} {}", significant(v), UNITS[unit])
}

/// A span of time as people round it: `40 s`, `12 min`, `about 4 h`, `about 3 days`.
pub fn duration_secs(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "never".to_owned();
    }
    let s = seconds.abs();
    if s < 90.0 {
        format!("{} s", s.round())
    } else if s < 90.0 * 60.0 {
        format!("{} min", (s / 60.0).round())
    } else if s < 36.0 * 3600.0 {
        let hours = s / 3600.0;
        if hours < 10.0 {
            format!("about {} h", (hours * 2.0).round() / 2.0)
        } else {
            format!("about {} h", hours.round())
        }
    } else {
        format!("about {} days", (s / 86_400.0).round())
    }
}

/// `18%`, `0.2%`, `0.05%`.
pub fn percent(share: f64) -> String {
    format!("{}%", significant(share * 100.0))
}

/// Seconds as latency: `950 ms`, `1.2 s`, `80 µs`.
pub fn seconds(value: f64) -> String {
    let v = value.abs();
    if v >= 1.0 {
        format!("{} s", significant(value))
    } else if v >= 1e-3 {
        format!("{} ms", significant(value * 1e3))
    } else {
        format!("{} µs", significant(value * 1e6))
    }
}

/// A plain number with at most three significant digits (`51462.249` → `51.5k`).
pub fn number(value: f64) -> String {
    let v = value.abs();
    if v >= 1e9 {
        format!("{}G", significant(value / 1e9))
    } else if v >= 1e6 {
        format!("{}M", significant(value / 1e6))
    } else if v >= 1e4 {
        format!("{}k", significant(value / 1e3))
    } else {
        significant(value)
    }
}

/// A value in the unit its metric's name gives (`_bytes`, `_seconds`, `_ratio`), else plain.
pub fn in_unit_of(metric: &str, value: f64) -> String {
    if metric.ends_with("_bytes") {
        if metric.starts_with("node_filesystem") {
            bytes_decimal(value)
        } else {
            bytes(value)
        }
    } else if metric.ends_with("_seconds") || metric.contains("duration_seconds") {
        seconds(value)
    } else if metric.ends_with("_ratio") {
        percent(value)
    } else {
        number(value)
    }
}

/// At most three significant digits, trailing zeros dropped.
fn significant(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_owned();
    }
    let a = v.abs();
    let decimals = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // Enough decimals for three significant digits, at most six.
        ((-a.log10()).floor() as usize + 3).min(6)
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_as_people_say_them() {
        assert_eq!(bytes(1024.0 * 1024.0 * 1024.0), "1 GiB");
        assert_eq!(bytes(2.0 * 1048576.0), "2 MiB");
        assert_eq!(bytes(540.3 * 1048576.0), "540 MiB");
        assert_eq!(bytes_decimal(40e9), "40 GB");
        assert_eq!(duration_secs(4.0 * 3600.0 + 200.0), "about 4 h");
        assert_eq!(duration_secs(47.0 * 60.0), "47 min");
        assert_eq!(duration_secs(30.0), "30 s");
        assert_eq!(duration_secs(3.0 * 86_400.0), "about 3 days");
        assert_eq!(percent(0.18), "18%");
        assert_eq!(percent(0.002), "0.2%");
        assert_eq!(seconds(0.95), "950 ms");
        assert_eq!(number(51462.249), "51.5k");
        assert_eq!(in_unit_of("http_request_duration_seconds", 0.12), "120 ms");
    }
}
