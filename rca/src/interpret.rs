//! The optional model layer over a draft: prompt, call, ground, and fall back to the draft
//! alone when the model is absent, slow, failing or answers nothing usable.
//!
//! An [`RcaReport`] is what the ledger stores and the API serves: the draft always, the
//! interpretation when there is one, and why there is none otherwise.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::draft::Draft;
use crate::grounding::{Grounder, Interpretation};
use crate::llm::{ChatMessage, LlmClient, LlmConfig, LlmError};
use crate::prompt::PromptBuilder;

/// Why a report carries no interpretation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// Stable failure kind (`timeout`, `status`, `wire`, `answer`, ...).
    pub kind: String,
    pub reason: String,
    pub model: String,
    pub latency_ms: u64,
}

/// The draft and, when a model answered usefully, its grounded interpretation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcaReport {
    pub draft: Draft,
    #[serde(default)]
    pub interpretation: Option<Interpretation>,
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// The read-only tools run for this draft (by its plan, or by the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation: Option<Investigation>,
}

impl RcaReport {
    /// The draft alone (no model configured).
    pub fn draft_only(draft: Draft) -> Self {
        Self {
            draft,
            interpretation: None,
            fallback: None,
            investigation: None,
        }
    }
}

/// What an investigation did: each tool call, and why it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// `draft` (the plan run without a model) or `model`.
    pub by: String,
    pub calls: Vec<ToolRun>,
    /// `done`, `max_tool_calls`, `investigation_timeout`, or the model's failure.
    pub stopped: String,
}

/// One tool call of an investigation: its evidence id, or why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRun {
    /// The catalogue name (`logs.recent`), or what the model asked for when it is none.
    pub tool: String,
    pub arguments: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Asks a model to interpret drafts, within the grounding rules.
#[derive(Debug, Clone)]
pub struct Interpreter {
    client: LlmClient,
    prompts: PromptBuilder,
    grounder: Grounder,
}

/// Full error text with its sources.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

impl Interpreter {
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        Ok(Self {
            client: LlmClient::new(config)?,
            prompts: PromptBuilder::default(),
            grounder: Grounder::default(),
        })
    }

    pub fn with_parts(client: LlmClient, prompts: PromptBuilder, grounder: Grounder) -> Self {
        Self {
            client,
            prompts,
            grounder,
        }
    }

    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    /// Prompts the model with `draft` and grounds its answer.
    pub async fn interpret(&self, draft: &Draft) -> Result<Interpretation, LlmError> {
        let prompt = self.prompts.build(draft);
        let messages = [
            ChatMessage::system(prompt.system),
            ChatMessage::user(prompt.user),
        ];
        let reply = self.client.chat(&messages, &prompt.schema).await?;
        let mut out = self
            .grounder
            .ground(&reply.content, draft)
            .map_err(|source| LlmError::Answer { source })?;
        out.model = reply.model;
        out.latency_ms = reply.latency_ms;
        out.attempts = reply.attempts;
        out.redactions = prompt.redactions;
        Ok(out)
    }

    /// Asks the model an operator's free-form `question` about `draft`'s incident and grounds
    /// its answer like an interpretation: only cited claims survive, and no action ever does
    /// (an answer is words, never something to run).
    pub async fn answer(&self, draft: &Draft, question: &str) -> Result<Interpretation, LlmError> {
        let prompt = self.prompts.build_question(draft, question);
        let messages = [
            ChatMessage::system(prompt.system),
            ChatMessage::user(prompt.user),
        ];
        let reply = self.client.chat(&messages, &prompt.schema).await?;
        let mut out = self
            .grounder
            .ground(&reply.content, draft)
            .map_err(|source| LlmError::Answer { source })?;
        out.dropped_actions += out.actions.len();
        out.actions.clear();
        out.model = reply.model;
        out.latency_ms = reply.latency_ms;
        out.attempts = reply.attempts;
        out.redactions = prompt.redactions;
        Ok(out)
    }

    /// The draft with an interpretation, or with the reason there is none.
    pub async fn report(&self, draft: Draft) -> RcaReport {
        let started = Instant::now();
        match self.interpret(&draft).await {
            Ok(interpretation) => RcaReport {
                draft,
                interpretation: Some(interpretation),
                fallback: None,
                investigation: None,
            },
            Err(e) => {
                tracing::warn!(error = %chain(&e), "model interpretation failed; draft only");
                RcaReport {
                    draft,
                    interpretation: None,
                    fallback: Some(Fallback {
                        kind: e.kind().to_owned(),
                        reason: chain(&e),
                        model: self.client.config().model.clone(),
                        latency_ms: started.elapsed().as_millis() as u64,
                    }),
                    investigation: None,
                }
            }
        }
    }
}
