//! Outbound HTTP for every peer srebot calls — webhooks, Loki, the model, scrape targets: one
//! rustls client builder (the `ring` provider, the system roots, an optional CA file and client
//! certificate), a scheme check for configured URLs, capped body reads, and redaction of the
//! secrets a URL or an error can carry before anything is logged.
//!
//! Invariants: the crypto provider is installed before any client is built, so no client can
//! panic for want of one; nothing here formats a full URL or a credential into an error.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Once;

pub use reqwest;

/// How a client proves the peer (and optionally itself): Prometheus's `tls_config` shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM bundle of CA certificates trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for peers that ask for mTLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// Why a client could not be built or a URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("reading {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} holds no usable PEM: {reason}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("a client certificate needs both cert_file and key_file")]
    HalfIdentity,
    #[error("building the HTTP client: {reason}")]
    Build { reason: String },
    #[error("{url} is not a URL: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{url}: scheme {scheme:?} is not spoken (only http and https)")]
    Scheme { url: String, scheme: String },
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("reading the answer from {url}: {reason}")]
    Body { url: String, reason: String },
}

/// Installs the `ring` crypto provider as the process default, once. Every builder here calls
/// it; a binary calls it at start so that other rustls users (the Kubernetes client, the https
/// listener) find the same provider.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means a provider is installed already, which is all this asks for.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest builder that speaks http and https with the system roots plus `tls`.
pub fn client_builder(tls: &TlsConfig) -> Result<reqwest::ClientBuilder, OutboundError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder().tls_backend_rustls();
    if let Some(path) = &tls.ca_file {
        let pem = read(path, "ca_file")?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| pem_error(path, "ca_file", &e))?;
        if certs.is_empty() {
            return Err(OutboundError::Pem {
                what: "ca_file",
                path: path.clone(),
                reason: "no certificate in it".to_owned(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    match (&tls.cert_file, &tls.key_file) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            let mut pem = read(cert, "cert_file")?;
            pem.push(b'\n');
            pem.extend(read(key, "key_file")?);
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|e| pem_error(cert, "cert_file", &e))?;
            builder = builder.identity(identity);
        }
        _ => return Err(OutboundError::HalfIdentity),
    }
    Ok(builder)
}

/// Builds a client from `builder`, reporting the reason without any URL.
pub fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, OutboundError> {
    builder.build().map_err(|error| OutboundError::Build {
        reason: describe(error),
    })
}

/// Checks that `url` parses and uses a scheme these clients speak.
pub fn check_url(url: &str) -> Result<url::Url, OutboundError> {
    let parsed = url::Url::parse(url).map_err(|source| OutboundError::Url {
        url: redact(url),
        source,
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(OutboundError::Scheme {
            url: redact(url),
            scheme: other.to_owned(),
        }),
    }
}

/// `url` fit for a log line: scheme, host, port and the first path segment; user info, the rest
/// of the path (a Slack webhook's secret lives there), the query and the fragment become `…`.
pub fn redact(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "<a URL that does not parse>".to_owned();
    };
    let mut out = format!("{}://", parsed.scheme());
    if !parsed.username().is_empty() || parsed.password().is_some() {
        out.push_str("…@");
    }
    out.push_str(parsed.host_str().unwrap_or(""));
    if let Some(port) = parsed.port() {
        out.push_str(&format!(":{port}"));
    }
    let mut segments = parsed
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    if let Some(first) = segments.next() {
        out.push('/');
        out.push_str(first);
    }
    if segments.next().is_some() || parsed.query().is_some() || parsed.fragment().is_some() {
        out.push_str("/…");
    }
    out
}

/// A reqwest error and its causes, without the URL it carries.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}

/// Reads a response body of at most `limit` bytes, refusing a longer one as it streams.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, OutboundError> {
    let url = redact(response.url().as_str());
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(OutboundError::TooLarge { url, limit });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(OutboundError::TooLarge { url, limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                return Err(OutboundError::Body {
                    url,
                    reason: describe(error),
                });
            }
        }
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, OutboundError> {
    std::fs::read(path).map_err(|source| OutboundError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: &'static str, error: &reqwest::Error) -> OutboundError {
    OutboundError::Pem {
        what,
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_where_not_what() {
        let cases = [
            (
                "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
                "https://hooks.slack.com/services/…",
            ),
            ("http://user:pw@loki:3100/", "http://…@loki:3100"),
            (
                "http://10.0.0.1:9100/metrics",
                "http://10.0.0.1:9100/metrics",
            ),
            (
                "https://api.example/v1/chat?key=SECRET",
                "https://api.example/v1/…",
            ),
            ("not a url", "<a URL that does not parse>"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn schemes_other_than_http_are_refused_with_the_url_redacted() {
        assert!(check_url("https://a.example/x").is_ok());
        let err = check_url("ftp://user:secret@a.example/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"ftp\""), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(check_url("hooks.slack.com/x").is_err());
    }

    #[test]
    fn half_an_identity_is_refused() {
        let tls = TlsConfig {
            cert_file: Some("c.pem".into()),
            ..TlsConfig::default()
        };
        assert!(matches!(
            client_builder(&tls),
            Err(OutboundError::HalfIdentity)
        ));
    }

    #[test]
    fn a_missing_ca_file_names_the_key_and_path() {
        let tls = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = client_builder(&tls).map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("ca_file") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
    }
}
