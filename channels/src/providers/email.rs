//! Email over SMTP (`lettre`, STARTTLS or TLS with the system roots plus an optional CA file,
//! SMTP AUTH): one mail per event of an incident, threaded with `In-Reply-To`/`References` to
//! the incident's first mail, and the executive summary digest to the admins.

use crate::config::{EmailSettings, SmtpSecurity};
use crate::error::{ChannelError, DeliveryError};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Clone)]
pub struct EmailClient {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    digest_to: Vec<Mailbox>,
    /// The domain of the `Message-ID`s we make.
    domain: String,
    pub digest_every: Option<Duration>,
}

impl std::fmt::Debug for EmailClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailClient")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn mailboxes(list: &[String], key: &str) -> Result<Vec<Mailbox>, ChannelError> {
    list.iter()
        .map(|a| {
            a.parse::<Mailbox>()
                .map_err(|e| ChannelError::config(key.to_owned(), format!("{a:?}: {e}")))
        })
        .collect()
}

impl EmailClient {
    pub fn new(s: &EmailSettings, key: &str) -> Result<Self, ChannelError> {
        let tls_params = || -> Result<TlsParameters, ChannelError> {
            let mut builder = TlsParameters::builder(s.smtp_host.clone());
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path).map_err(|source| ChannelError::ConfigFile {
                    key: format!("{key} ca_file"),
                    path: path.clone(),
                    source,
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| ChannelError::config(format!("{key} ca_file"), e.to_string()))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| ChannelError::config(format!("{key} security"), e.to_string()))
        };
        outbound::install_crypto_provider();
        let tls = match s.security {
            SmtpSecurity::Starttls => Tls::Required(tls_params()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_params()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.smtp_host.clone())
                .port(s.smtp_port)
                .tls(tls)
                .timeout(Some(Duration::from_secs(20)));
        if let Some((user, password)) = &s.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| ChannelError::config(format!("{key} from"), format!("{e}")))?;
        let domain = from.email.domain().to_owned();
        let to = mailboxes(&s.to, &format!("{key} to"))?;
        let digest_to = mailboxes(&s.digest_to, &format!("{key} digest_to"))?;
        Ok(Self {
            transport: builder.build(),
            digest_to: if digest_to.is_empty() {
                to.clone()
            } else {
                digest_to
            },
            to,
            from,
            domain,
            digest_every: s.digest_every,
        })
    }

    /// A `Message-ID` for a thread: stable per incident, so replies can point at it.
    pub fn thread_id(&self, thread_key: &str) -> String {
        format!("<{thread_key}.srebot@{}>", self.domain)
    }

    /// Sends one mail to the incident recipients; `reply_to` threads it under the first.
    pub async fn send(
        &self,
        subject: &str,
        body: &str,
        message_id: Option<String>,
        reply_to: Option<&str>,
    ) -> Result<(), DeliveryError> {
        self.send_to(&self.to, subject, body, message_id, reply_to)
            .await
    }

    /// Sends the digest to the admins.
    pub async fn send_digest(&self, subject: &str, body: &str) -> Result<(), DeliveryError> {
        self.send_to(&self.digest_to, subject, body, None, None)
            .await
    }

    async fn send_to(
        &self,
        to: &[Mailbox],
        subject: &str,
        body: &str,
        message_id: Option<String>,
        reply_to: Option<&str>,
    ) -> Result<(), DeliveryError> {
        if to.is_empty() {
            return Err(DeliveryError::permanent("no recipient configured"));
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .message_id(message_id);
        for m in to {
            builder = builder.to(m.clone());
        }
        if let Some(root) = reply_to {
            builder = builder
                .in_reply_to(root.to_owned())
                .references(root.to_owned());
        }
        let message = builder
            .body(body.to_owned())
            .map_err(|e| DeliveryError::permanent(format!("building the mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let permanent = e.is_permanent();
                let mut reason = format!("SMTP: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    let text = inner.to_string();
                    if !reason.contains(&text) {
                        reason.push_str(": ");
                        reason.push_str(&text);
                    }
                    source = inner.source();
                }
                Err(DeliveryError {
                    reason,
                    retry_after: None,
                    permanent,
                })
            }
        }
    }
}
