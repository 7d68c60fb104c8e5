//! The incident crate's errors: bad Alertmanager payloads, unknown incidents, invalid status
//! changes and ledger failures, each classified once for the HTTP layer.

use model::{Classify, ErrorClass, IncidentStatus};

/// Everything that can go wrong while correlating, parsing alerts or using the ledger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Alertmanager webhook body is not the JSON it should be.
    #[error("alertmanager webhook body is not valid webhook JSON")]
    AlertmanagerJson {
        #[source]
        source: serde_json::Error,
    },
    /// The webhook declares a payload version other than "4".
    #[error("alertmanager webhook version {version:?} is not supported (expected \"4\")")]
    AlertmanagerVersion { version: String },
    /// An alert carries a timestamp that is not RFC 3339.
    #[error("alert {alertname:?} has an invalid {field} timestamp {value:?}")]
    AlertTimestamp {
        alertname: String,
        field: &'static str,
        value: String,
        #[source]
        source: chrono::ParseError,
    },
    /// No incident has this id.
    #[error("incident {id:?} not found")]
    NotFound { id: String },
    /// The requested status cannot be set by hand from the current one.
    #[error("incident {id:?} cannot move from {from} to {to}")]
    InvalidTransition {
        id: String,
        from: IncidentStatus,
        to: IncidentStatus,
    },
    /// Two incidents that cannot be merged.
    #[error("incident {id:?} cannot be merged: {reason}")]
    InvalidMerge { id: String, reason: String },
    /// A posted finding (`POST /api/v1/findings`) that breaks the contract; `at` names it
    /// (`findings[3].type`).
    #[error("{at}: {reason}")]
    InvalidFinding { at: String, reason: String },
    /// An operator's input that cannot be stored (empty, too long).
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// A list filter names no known status, severity or domain.
    #[error("unknown {field} filter value {value:?}")]
    InvalidFilter { field: &'static str, value: String },
    /// The ledger URL names no supported database.
    #[error("ledger URL {url:?} is neither sqlite: nor postgres:")]
    UnsupportedUrl { url: String },
    /// The data directory for the SQLite ledger cannot be created.
    #[error("cannot create ledger directory {path}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A database operation failed.
    #[error("ledger {operation} failed")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Migrating the ledger schema failed.
    #[error("ledger migration failed")]
    Migrate {
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A stored JSON column does not decode.
    #[error("ledger row {id:?} holds invalid {column} JSON")]
    StoredJson {
        id: String,
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored enumeration column holds an unknown name.
    #[error("ledger row {id:?} holds unknown {column} value {value:?}")]
    StoredValue {
        id: String,
        column: &'static str,
        value: String,
    },
}

impl Error {
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Database { operation, source }
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::AlertmanagerJson { .. }
            | Error::AlertmanagerVersion { .. }
            | Error::AlertTimestamp { .. }
            | Error::InvalidTransition { .. }
            | Error::InvalidMerge { .. }
            | Error::InvalidInput { .. }
            | Error::InvalidFinding { .. }
            | Error::InvalidFilter { .. } => ErrorClass::InvalidInput,
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::Database { source, .. } => match source {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    ErrorClass::Unavailable {
                        retry_after_secs: 1,
                    }
                }
                _ => ErrorClass::Internal,
            },
            Error::UnsupportedUrl { .. }
            | Error::DataDir { .. }
            | Error::Migrate { .. }
            | Error::StoredJson { .. }
            | Error::StoredValue { .. } => ErrorClass::Internal,
        }
    }
}
