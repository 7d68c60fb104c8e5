//! rca: the evidence an incident's root-cause draft rests on.
//!
//! - [`miner`] learns log templates online (Drain-style tree over masked tokens) so millions of
//!   lines become a few templates with parameters; [`mask`] holds the generic masking and
//!   [`format`] splits raw lines into header fields and content.
//! - [`context`] de-noises, collapses, ranks and budgets log lines for an incident window;
//!   [`patterns`] turns known failure signatures into `model::EventEvidence`.
//! - [`ranking`] ranks candidate root-cause services from normal-vs-anomalous metric series,
//!   walking the call graph of [`topology`] (mesh metrics or configured edges) when known.
//! - [`draft`] builds the deterministic root-cause draft from the [`catalogue`] of causes;
//!   [`interpret`] optionally asks a model ([`llm`]) to rephrase it, through a fenced,
//!   [`redact`]ed [`prompt`], keeping only [`grounding`]-checked claims.
//!
//! Invariants: one miner configuration for every log source (no per-source regexes); template
//! ids, once returned, stay valid (joined templates alias the older id); everything here is
//! deterministic for the same input order, and nothing panics on input. A draft cites only its
//! own evidence bundle; a model can never add an action or an uncited claim.

pub mod catalogue;
pub mod context;
pub mod draft;
pub mod error;
pub mod format;
pub mod grounding;
mod header;
mod intern;
pub mod interpret;
pub mod llm;
pub mod logstore;
pub mod loki;
pub mod mask;
pub mod miner;
pub mod patterns;
pub mod prompt;
pub mod ranking;
pub mod redact;
pub mod topology;

pub use context::{
    CollapsedEntry, ContextChunk, ContextConfig, Level, LogContext, LogContextBuilder, LogLine,
};
pub use draft::{
    Change, ChangeKind, Draft, DraftConfig, DraftInput, Drafter, EvidenceKind, EvidenceRef,
    Hypothesis, IncidentView, InvestigationStep, PastIncident, RecommendedAction, SimilarIncident,
};
pub use error::RcaError;
pub use format::LogFormat;
pub use grounding::{AnswerError, Claim, Grounder, Interpretation};
pub use interpret::{Fallback, Interpreter, Investigation, RcaReport, ToolRun};
pub use llm::{
    Backend, ChatMessage, ChatReply, FunctionSpec, JsonMode, JsonSchema, LlmClient, LlmConfig,
    LlmError, Role, ToolCall, ToolTurn, tool_message,
};
pub use miner::{MinerConfig, ParsedLine, TemplateId, TemplateInfo, TemplateMiner};
pub use patterns::{KnownPattern, PatternLibrary};
pub use prompt::{Prompt, PromptBuilder};
pub use ranking::{
    MetricKind, RankConfig, RankedService, ServiceSeries, rank_services, rank_services_with,
    rank_with_topology, series_score, series_score_with,
};
pub use redact::{Redacted, Redactor};
pub use topology::{Topology, TopologyConfig};
