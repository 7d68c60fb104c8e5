//! Integration tests of the rca crate: the deterministic draft, redaction, the fenced prompt,
//! grounding, the model clients against wire-exact stub servers, and an optional real model.
#![allow(clippy::unwrap_used)]

mod fixtures;

mod draft;
mod grounding;
mod llm_stub;
mod loki_query;
mod loki_support;
mod prompt;
mod real_model;
mod redact;
