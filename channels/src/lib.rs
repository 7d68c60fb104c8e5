//! Operator channels of SRE Smart Bot: where operators hear of incidents and answer them —
//! Telegram, Slack, Teams, email, signed webhooks and the in-app feed (WhatsApp: the contract
//! only) — with approvals and commands from chat.
//!
//! Invariants:
//! - one thread per incident and provider: the first message opens it, later changes edit its
//!   card or reply in it; never a message per candidate;
//! - every delivery goes through a persistent outbox in the incident ledger, keyed by provider
//!   and event, so an event is delivered once per provider across restarts and nothing queued
//!   is lost; failed deliveries are retried with backoff and jitter, never sooner than the
//!   provider asked;
//! - a chat user acts only as the identity they are mapped to, and every command is authorized
//!   by `app::authorize` and carried out by the application layer ([`Operator`]); approval only
//!   by an explicit button or `approve <id>`;
//! - secrets (bot tokens, webhook URLs, signing secrets) never reach a log or an error.
//!
//! Depends on `model`, `incident` (the ledger's pool), `outbound` and `app`; never on the server.

pub mod answer;
pub mod command;
pub mod config;
pub mod error;
pub mod event;
pub mod hub;
pub mod operator;
pub mod outbox;
pub mod providers;
pub mod render;
pub mod retry;
pub mod routing;
pub mod service;
pub mod signature;

pub use command::Command;
pub use config::{ChannelsConfig, Loaded, Provider, ProviderKind};
pub use error::{ChannelError, DeliveryError};
pub use event::{ApprovalBrief, ApprovalStatus, ChannelEvent, EventKind, IncidentBrief};
pub use hub::{ChannelView, Channels, ChatAnswer, Directory};
pub use operator::{
    ChatUser, EvidenceReport, Operator, OperatorError, StatusReport, Story, Summary, WhyReport,
};
