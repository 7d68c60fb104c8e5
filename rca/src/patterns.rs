//! Known failure signatures in log lines (OOMKilled, Java heap space, refused or timed-out
//! dependency connections, expired certificates, DNS failures, registry rate limits, auth, disk).
//!
//! A match becomes a `model::EventEvidence` with source `log`, so the RCA draft can cite it.

use model::{EventEvidence, IncidentType};
use regex::{Regex, RegexSet};

use crate::context::LogLine;
use crate::error::RcaError;

/// One known failure signature.
#[derive(Debug, Clone)]
pub struct KnownPattern {
    /// Stable name, used as the evidence `reason` (e.g. `oom_killed`).
    pub name: String,
    /// The incident type this signature points to.
    pub incident_type: IncidentType,
    /// Case-insensitive regular expression over the message.
    pub regex: Regex,
}

/// A set of signatures matched together in one pass.
#[derive(Debug, Clone)]
pub struct PatternLibrary {
    patterns: Vec<KnownPattern>,
    set: RegexSet,
}

/// The built-in SRE signatures: `(name, incident type, regex)`.
const SRE_PATTERNS: &[(&str, IncidentType, &str)] = &[
    (
        "oom_killed",
        IncidentType::OomKilled,
        r"\bOOMKilled\b|out of memory: kill(ed)? process|oom[-_ ]kill|memory cgroup out of memory",
    ),
    (
        "java_heap_space",
        IncidentType::OomKilled,
        r"java\.lang\.OutOfMemoryError|\bjava heap space\b|GC overhead limit exceeded",
    ),
    (
        "dependency_connection_refused",
        IncidentType::DependencyUnavailable,
        r"connection refused|ECONNREFUSED|connect: connection reset|no route to host",
    ),
    (
        "dependency_timeout",
        IncidentType::DependencyUnavailable,
        r"(connection|connect|dial tcp|read|i/o|request|upstream)[^\n]{0,40}?tim(ed|e)[ -]?out|ETIMEDOUT|context deadline exceeded",
    ),
    (
        "x509_expired",
        IncidentType::CertExpiry,
        r"x509: certificate has expired|certificate (has )?expired|certificate is not yet valid|CERT_HAS_EXPIRED",
    ),
    (
        "dns_failure",
        IncidentType::DnsFailure,
        r"no such host|could not resolve|name or service not known|temporary failure in name resolution|NXDOMAIN|SERVFAIL|ENOTFOUND",
    ),
    (
        "registry_rate_limited",
        IncidentType::ImagePullFailure,
        r"toomanyrequests|429 too many requests|pull rate limit|rate limit(ed)? exceeded|rate[- ]limited",
    ),
    (
        "auth_failure",
        IncidentType::LoginErrorSpike,
        r"\b401 unauthorized\b|authentication (failed|failure)|invalid credentials|permission denied \(publickey|access denied for user|unauthorized: authentication required",
    ),
    (
        "disk_full",
        IncidentType::NodeDiskPressure,
        r"no space left on device|disk (is )?full|ENOSPC|DiskPressure|filesystem.{0,20}full",
    ),
];

impl PatternLibrary {
    /// Compiles a library from `(name, incident type, regex)`; regexes are case-insensitive.
    pub fn new<'a>(
        patterns: impl IntoIterator<Item = (&'a str, IncidentType, &'a str)>,
    ) -> Result<Self, RcaError> {
        let mut compiled = Vec::new();
        let mut sources = Vec::new();
        for (name, incident_type, pattern) in patterns {
            let source = format!("(?i){pattern}");
            let regex = Regex::new(&source).map_err(|source| RcaError::Pattern {
                name: name.to_owned(),
                source,
            })?;
            compiled.push(KnownPattern {
                name: name.to_owned(),
                incident_type,
                regex,
            });
            sources.push(source);
        }
        let set = RegexSet::new(&sources).map_err(|source| RcaError::Pattern {
            name: "(set)".to_owned(),
            source,
        })?;
        Ok(Self {
            patterns: compiled,
            set,
        })
    }

    /// The built-in SRE failure signatures.
    pub fn sre_default() -> Self {
        match Self::new(SRE_PATTERNS.iter().copied()) {
            Ok(lib) => lib,
            // The built-in table is constant and covered by tests.
            Err(_) => Self {
                patterns: Vec::new(),
                set: RegexSet::empty(),
            },
        }
    }

    pub fn patterns(&self) -> &[KnownPattern] {
        &self.patterns
    }

    /// Every signature the message matches, in library order.
    pub fn matches(&self, message: &str) -> Vec<&KnownPattern> {
        self.set
            .matches(message)
            .into_iter()
            .map(|i| &self.patterns[i])
            .collect()
    }

    /// Evidence for the first signature the line matches, with the given evidence id.
    pub fn evidence(&self, line: &LogLine, id: impl Into<String>) -> Option<EventEvidence> {
        let pattern = self.matches(&line.message).into_iter().next()?;
        Some(EventEvidence {
            id: id.into(),
            origin: model::Origin::Log,
            reason: pattern.name.clone(),
            message: line.message.clone(),
            at_ms: line.at_ms,
            labels: line.labels.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(msg: &str) -> LogLine {
        LogLine::new(1_000, model::LabelSet::default(), msg)
    }

    #[test]
    fn each_signature_matches_a_real_line_and_not_a_benign_one() {
        let lib = PatternLibrary::sre_default();
        assert_eq!(lib.patterns().len(), SRE_PATTERNS.len());
        let cases = [
            (
                "oom_killed",
                "Last State: Terminated Reason: OOMKilled Exit Code: 137",
                "memory usage 512Mi of 1Gi limit",
            ),
            (
                "java_heap_space",
                "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
                "heap usage after GC 312MB",
            ),
            (
                "dependency_connection_refused",
                "dial tcp 10.96.0.12:5432: connect: connection refused",
                "connection established to 10.96.0.12:5432",
            ),
            (
                "dependency_timeout",
                "redis: dial tcp 10.0.3.4:6379: i/o timeout",
                "request completed in 120ms",
            ),
            (
                "x509_expired",
                "x509: certificate has expired or is not yet valid: current time 2024-05-01T00:00:00Z is after 2024-04-30T23:59:59Z",
                "loaded certificate valid until 2027-01-01",
            ),
            (
                "dns_failure",
                "dial tcp: lookup payments.default.svc.cluster.local on 10.96.0.10:53: no such host",
                "resolved payments.default.svc.cluster.local to 10.0.0.7",
            ),
            (
                "registry_rate_limited",
                "Failed to pull image \"nginx:1.25\": toomanyrequests: You have reached your pull rate limit",
                "Successfully pulled image \"nginx:1.25\" in 2.1s",
            ),
            (
                "auth_failure",
                "pq: password authentication failed for user \"app\"",
                "user app logged in",
            ),
            (
                "disk_full",
                "write /var/lib/postgresql/data/base/16384: no space left on device",
                "disk usage 41% on /var/lib/postgresql",
            ),
        ];
        for (name, bad, benign) in cases {
            let ev = lib.evidence(&line(bad), "ev-1");
            let ev = ev.unwrap_or_else(|| panic!("{name} did not match {bad}"));
            assert_eq!(ev.reason, name, "{bad}");
            assert_eq!(ev.origin, model::Origin::Log);
            assert_eq!(ev.at_ms, 1_000);
            assert!(
                lib.matches(benign).is_empty(),
                "{name} matched benign {benign}"
            );
        }
    }

    #[test]
    fn bad_pattern_is_a_typed_error() {
        let err = PatternLibrary::new([("broken", IncidentType::OomKilled, "(")]).unwrap_err();
        assert!(matches!(err, RcaError::Pattern { ref name, .. } if name == "broken"));
    }
}
