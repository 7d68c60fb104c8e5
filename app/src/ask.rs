//! Free-form questions about an incident, answered by the configured model from the
//! incident's draft: every kept sentence cites the draft's evidence, and nothing is ever run.

pub use rca::Claim;
use serde::Serialize;

use crate::service::{MODEL_CALLS, MODEL_RETRY_AFTER_SECS};
use crate::{App, AppError, Caller, Operation, authorize};

/// Most words of a question looked up as incident ids.
const MAX_ID_WORDS: usize = 12;

/// Incidents looked at when the question names none (the most recently updated first).
const RECENT: u32 = 50;

/// One cited source of an answer: an evidence item of the draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    pub id: String,
    pub summary: String,
}

/// A grounded answer to an operator's question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The incident the answer is about.
    pub incident: String,
    /// The model's direct answer (empty when it was dropped as a command).
    pub text: String,
    /// Supporting sentences, each with the evidence ids it cites.
    pub claims: Vec<Claim>,
    /// Every evidence item cited, once, in order of first citation.
    pub citations: Vec<Citation>,
    /// Sentences and actions dropped by grounding (uncited, unknown evidence, commands,
    /// actions: an answer never carries one).
    pub dropped: usize,
    pub model: String,
    pub latency_ms: u64,
}

impl App {
    /// Answers `question` about `incident` (or the incident it names, or the latest active
    /// one) with the model, grounded in the draft. `Ok(None)` when no model is configured.
    /// Reading a draft is all it needs; the model is the one regenerations share.
    pub async fn ask(
        &self,
        caller: &Caller,
        question: &str,
        incident: Option<&str>,
    ) -> Result<Option<Answer>, AppError> {
        authorize(caller, Operation::GetDraft)?;
        let Some(config) = &self.config.rca.llm else {
            return Ok(None);
        };
        let id = match incident {
            Some(id) => id.to_owned(),
            None => self.incident_asked_about(question).await?,
        };
        let report = self.draft(caller, &id, false).await?;
        let _permit = self
            .model_calls
            .try_acquire()
            .map_err(|_| AppError::ModelBusy {
                calls: MODEL_CALLS,
                retry_after_secs: MODEL_RETRY_AFTER_SECS,
            })?;
        let interpreter = rca::Interpreter::new(config.clone()).map_err(model_failed)?;
        let grounded = interpreter
            .answer(&report.draft, question)
            .await
            .map_err(model_failed)?;
        let mut citations: Vec<Citation> = Vec::new();
        for cited in grounded.claims.iter().flat_map(|c| &c.evidence) {
            if citations.iter().any(|c| &c.id == cited) {
                continue;
            }
            if let Some(e) = report.draft.evidence.iter().find(|e| &e.id == cited) {
                citations.push(Citation {
                    id: e.id.clone(),
                    summary: e.summary.clone(),
                });
            }
        }
        Ok(Some(Answer {
            incident: id,
            text: grounded.summary,
            dropped: grounded.dropped_uncited
                + grounded.dropped_unknown_evidence
                + grounded.dropped_commands
                + grounded.dropped_actions,
            claims: grounded.claims,
            citations,
            model: grounded.model,
            latency_ms: grounded.latency_ms,
        }))
    }

    /// The incident a question is about: one it names by id, else the most recently updated
    /// active one, else the most recently updated one.
    async fn incident_asked_about(&self, question: &str) -> Result<String, AppError> {
        let ledger = self.pipeline.engine.ledger();
        let words = question
            .split(|c: char| c.is_whitespace() || matches!(c, '?' | ',' | '!' | '"' | '\''))
            .map(|w| w.trim_end_matches('.'))
            .filter(|w| w.len() >= 3 && w.chars().any(|c| c.is_ascii_digit()))
            .take(MAX_ID_WORDS);
        for word in words {
            if let Some(found) = ledger.incident(word).await.map_err(ledger_error)? {
                return Ok(found.id);
            }
        }
        let recent = ledger
            .summaries(&incident::IncidentFilter::default(), RECENT)
            .await
            .map_err(ledger_error)?;
        recent
            .iter()
            .find(|i| i.status.is_active())
            .or(recent.first())
            .map(|i| i.id.clone())
            .ok_or_else(|| AppError::NotFound {
                what: "incident",
                id: "to ask about (none is recorded)".to_owned(),
            })
    }
}

fn ledger_error(source: incident::Error) -> AppError {
    AppError::Ledger { source }
}

/// The model did not answer (unreachable, timed out, or not in the answer's shape): the
/// question may be asked again later.
fn model_failed(error: rca::LlmError) -> AppError {
    AppError::Query {
        what: "the model could not answer",
        source: Box::new(error),
        class: model::error::ErrorClass::Unavailable {
            retry_after_secs: MODEL_RETRY_AFTER_SECS,
        },
    }
}
