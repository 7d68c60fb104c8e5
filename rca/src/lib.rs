//! rca: the evidence an incident's root-cause draft rests on.
//!
//! - [`miner`] learns log templates online (Drain-style tree over masked tokens) so millions of
//!   lines become a few templates with parameters; [`mask`] holds the generic masking and
//!   [`format`] splits raw lines into header fields and content.
//! - [`context`] de-noises, collapses, ranks and budgets log lines for an incident window;
//!   [`patterns`] turns known failure signatures into `model::EventEvidence`.
//! - [`ranking`] ranks candidate root-cause services from normal-vs-anomalous metric series.
//!
//! Invariants: one miner configuration for every log source (no per-source regexes); template
//! ids, once returned, stay valid (joined templates alias the older id); everything here is
//! deterministic for the same input order, and nothing panics on input.

pub mod context;
pub mod error;
pub mod format;
pub mod mask;
pub mod miner;
pub mod patterns;
pub mod ranking;

pub use context::{
    CollapsedEntry, ContextChunk, ContextConfig, Level, LogContext, LogContextBuilder, LogLine,
};
pub use error::RcaError;
pub use format::LogFormat;
pub use miner::{MinerConfig, ParsedLine, TemplateId, TemplateInfo, TemplateMiner};
pub use patterns::{KnownPattern, PatternLibrary};
pub use ranking::{
    RankConfig, RankedService, ServiceSeries, rank_services, rank_services_with, series_score,
    series_score_with,
};
