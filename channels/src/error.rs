//! The channels crate's errors: configuration refused at start (naming the key), ledger
//! failures of the outbox, refused inbound requests and failed deliveries, each classified once.

use model::{Classify, ErrorClass};
use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong while configuring channels, keeping the outbox or answering chat.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A configuration value is missing or wrong; `key` names it as written in the files.
    #[error("config key {key}: {reason}")]
    Config { key: String, reason: String },
    /// A file a configuration key names cannot be read.
    #[error("config key {key}: cannot read {}", path.display())]
    ConfigFile {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A provider's HTTP client cannot be built (CA file, client certificate, URL).
    #[error("config key {key}")]
    Client {
        key: String,
        #[source]
        source: outbound::OutboundError,
    },
    #[error("no channel provider {id:?}")]
    UnknownProvider { id: String },
    #[error("channel provider {id:?} is disabled")]
    Disabled { id: String },
    /// WhatsApp: the contract is accepted, delivery is not built yet.
    #[error("channel provider {id:?} of kind {kind} is not deliverable yet")]
    NotDeliverable { id: String, kind: &'static str },
    /// A test message could not be delivered.
    #[error("delivering to {id:?} failed")]
    Delivery {
        id: String,
        #[source]
        source: DeliveryError,
    },
    #[error("channel ledger {operation} failed")]
    Ledger {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("outbox row {id} holds invalid JSON")]
    StoredJson {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    /// An inbound chat request whose signature or secret does not verify.
    #[error("inbound request refused: {reason}")]
    Unauthenticated { reason: &'static str },
    /// An inbound chat request that is not what the provider sends.
    #[error("inbound request: {reason}")]
    BadRequest { reason: String },
}

impl ChannelError {
    pub(crate) fn ledger(operation: &'static str) -> impl FnOnce(sqlx::Error) -> ChannelError {
        move |source| ChannelError::Ledger { operation, source }
    }

    pub(crate) fn config(key: impl Into<String>, reason: impl Into<String>) -> ChannelError {
        ChannelError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Classify for ChannelError {
    fn class(&self) -> ErrorClass {
        match self {
            ChannelError::Config { .. }
            | ChannelError::ConfigFile { .. }
            | ChannelError::Client { .. }
            | ChannelError::BadRequest { .. }
            | ChannelError::Disabled { .. }
            | ChannelError::NotDeliverable { .. } => ErrorClass::InvalidInput,
            ChannelError::UnknownProvider { .. } => ErrorClass::NotFound,
            ChannelError::Unauthenticated { .. } => ErrorClass::Unauthenticated,
            ChannelError::Delivery { source, .. } => match source.retry_after {
                Some(after) => ErrorClass::Unavailable {
                    retry_after_secs: u32::try_from(after.as_secs().max(1)).unwrap_or(u32::MAX),
                },
                None => ErrorClass::Unavailable {
                    retry_after_secs: 5,
                },
            },
            ChannelError::Ledger { .. } | ChannelError::StoredJson { .. } => ErrorClass::Internal,
        }
    }
}

/// One failed delivery attempt: why, and when the provider asked us to come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// What went wrong, with no secret in it (URLs redacted).
    pub reason: String,
    /// The provider's own `Retry-After` or Telegram's `parameters.retry_after`.
    pub retry_after: Option<Duration>,
    /// Retrying the same message cannot help (a 400 for the message itself).
    pub permanent: bool,
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry_after: None,
            permanent: false,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry_after: None,
            permanent: true,
        }
    }

    /// A request that never got an answer (connection refused, timeout, TLS).
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        Self::transient(outbound::describe(error))
    }
}
