//! What certificate an ingress host actually serves: a TLS handshake with the host as SNI,
//! the leaf certificate read with `x509-parser` (names and `notAfter`).
//!
//! Why a handshake and not the TLS Secret: a Secret's data holds the private key, and RBAC
//! cannot grant its certificate without its key, so srebot watches Secrets' metadata only. The
//! handshake sees what clients get (a stale Secret, a controller serving its default
//! certificate) and needs no credential. It accepts any certificate, since it only reads it:
//! nothing is sent over the connection.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateInfo {
    /// DNS names of its Subject Alternative Names, else its subject's common names.
    pub names: Vec<String>,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub issuer: String,
}

/// One probe of one host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertObservation {
    pub host: String,
    /// `host:port` the handshake went to.
    pub address: String,
    pub at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads a DER certificate.
pub fn inspect(der: &[u8]) -> Result<CertificateInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
    }
    let validity = cert.validity();
    Ok(CertificateInfo {
        names,
        not_before_ms: validity.not_before.timestamp().saturating_mul(1000),
        not_after_ms: validity.not_after.timestamp().saturating_mul(1000),
        issuer: cert.issuer().to_string(),
    })
}

/// Accepts whatever the server presents (signatures still checked): the probe reads the
/// certificate and sends nothing.
#[derive(Debug)]
struct ReadOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The TLS client the probes share.
pub fn connector() -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ReadOnly(algorithms)))
            .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Handshakes with `address` as `host` and reads the certificate it serves.
pub async fn probe(
    connector: &tokio_rustls::TlsConnector,
    host: &str,
    address: &str,
    timeout: Duration,
    at_ms: i64,
) -> CertObservation {
    let result = tokio::time::timeout(timeout, async {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host:?} is not a server name: {e}"))?;
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {address} as {host} failed: {e}"))?;
        let (_, session) = tls.get_ref();
        let leaf = session
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| format!("{address} presented no certificate"))?;
        inspect(leaf.as_ref())
    })
    .await
    .unwrap_or_else(|_| Err(format!("no TLS answer from {address} within {timeout:?}")));
    let (certificate, error) = match result {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    CertObservation {
        host: host.to_owned(),
        address: address.to_owned(),
        at_ms,
        certificate,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_reads_back_its_names_and_expiry() {
        let mut params =
            rcgen::CertificateParams::new(vec!["shop.example.com".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = inspect(cert.der()).unwrap();
        assert_eq!(info.names, ["shop.example.com"]);
        assert_eq!(info.not_after_ms, 1_925_078_400_000);
        assert!(inspect(b"nope").unwrap_err().contains("X.509"));
    }
}
