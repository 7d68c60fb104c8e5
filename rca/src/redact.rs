//! Secret redaction for text that leaves the process (prompts to a model): bearer tokens, cloud
//! keys, passwords in URLs and `key=value` pairs, JWTs, private keys and high-entropy strings.
//!
//! Redaction errs on the side of removing too much: a lost token costs a little context, a
//! leaked one costs an incident. Each rule replaces the secret part with `[REDACTED]`.

use std::borrow::Cow;

use regex::Regex;

/// Replacement text for a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Rules as `(name, regex, replacement)`; `$pre` keeps the non-secret prefix.
const RULES: &[(&str, &str, &str)] = &[
    (
        "private_key",
        r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\z)",
        "[REDACTED PRIVATE KEY]",
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        REDACTED,
    ),
    (
        "authorization",
        r"(?i)(?P<pre>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}",
        "${pre}[REDACTED]",
    ),
    (
        "url_password",
        r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?P<post>@)",
        "${pre}[REDACTED]${post}",
    ),
    (
        "aws_access_key",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        REDACTED,
    ),
    (
        "known_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})",
        REDACTED,
    ),
    (
        "key_value",
        r#"(?i)(?P<pre>\b[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)[a-z0-9_.-]*["']?\s*[:=]\s*)(?:"[^"\n]*"|'[^'\n]*'|[^\s"',;&]+)"#,
        "${pre}[REDACTED]",
    ),
];

/// Candidate high-entropy tokens: long runs of base64 / hex-like characters.
const ENTROPY_CANDIDATE: &str = r"[A-Za-z0-9+/_=-]{24,}";

/// What a redaction pass removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    /// Number of secrets replaced.
    pub count: usize,
}

/// Compiled redaction rules.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Vec<(&'static str, Regex, &'static str)>,
    candidate: Option<Regex>,
    /// Shannon entropy (bits per character) at or above which a candidate token is a secret.
    pub min_entropy: f64,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A token that looks random: mixed classes (upper, lower, digit) and high entropy.
fn looks_random(token: &str, min_entropy: f64) -> bool {
    let upper = token.bytes().any(|b| b.is_ascii_uppercase());
    let lower = token.bytes().any(|b| b.is_ascii_lowercase());
    let digit = token.bytes().any(|b| b.is_ascii_digit());
    upper && lower && digit && shannon_entropy(token) >= min_entropy
}

impl Redactor {
    /// The built-in rules (each is covered by a test; a rule that failed to compile would be
    /// skipped rather than stop redaction as a whole).
    pub fn new() -> Self {
        let rules = RULES
            .iter()
            .filter_map(|(name, re, rep)| Regex::new(re).ok().map(|r| (*name, r, *rep)))
            .collect();
        Self {
            rules,
            candidate: Regex::new(ENTROPY_CANDIDATE).ok(),
            min_entropy: 4.0,
        }
    }

    /// Number of compiled rules (all of [`RULES`] when healthy).
    pub fn rule_count(&self) -> usize {
        self.rules.len() + usize::from(self.candidate.is_some())
    }

    /// Redacts every secret in `text`.
    pub fn redact(&self, text: &str) -> Redacted {
        let mut current = text.to_owned();
        let mut count = 0;
        for (_, re, rep) in &self.rules {
            let n = re.find_iter(&current).count();
            if n > 0 {
                count += n;
                if let Cow::Owned(s) = re.replace_all(&current, *rep) {
                    current = s;
                }
            }
        }
        if let Some(candidate) = &self.candidate {
            let mut n = 0;
            let replaced = candidate.replace_all(&current, |c: &regex::Captures<'_>| {
                let token = &c[0];
                if token.contains("REDACTED") || !looks_random(token, self.min_entropy) {
                    token.to_owned()
                } else {
                    n += 1;
                    REDACTED.to_owned()
                }
            });
            if n > 0 {
                count += n;
                current = replaced.into_owned();
            }
        }
        Redacted {
            text: current,
            count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(Redactor::new().rule_count(), RULES.len() + 1);
    }

    #[test]
    fn entropy_of_simple_strings() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }
}
