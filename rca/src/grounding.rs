//! Grounding of a model's answer: parse it against the answer schema, keep only claims that
//! cite evidence of the draft, and only actions the draft already recommends.
//!
//! Everything dropped is counted, so the ledger shows how far the model strayed. The model can
//! never add an action: the kept actions are a subset of the draft's, in the model's order.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::draft::Draft;

/// One grounded claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub text: String,
    /// Evidence ids of the draft, at least one.
    pub evidence: Vec<String>,
    /// The draft hypothesis it rephrases, when the model named a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<String>,
}

/// A model's grounded interpretation of a draft, stored in the ledger beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interpretation {
    pub summary: String,
    pub claims: Vec<Claim>,
    /// Draft actions in the model's order of preference (never anything else).
    pub actions: Vec<String>,
    /// Claims with no citation.
    pub dropped_uncited: usize,
    /// Claims citing an id the draft does not have.
    pub dropped_unknown_evidence: usize,
    /// Actions outside the draft's recommended set.
    pub dropped_actions: usize,
    /// Claims (or the summary) telling someone to run a command.
    pub dropped_commands: usize,
    /// Secrets redacted from the prompt.
    pub redactions: usize,
    pub model: String,
    pub latency_ms: u64,
    /// HTTP attempts it took (retries included).
    pub attempts: u32,
}

/// The raw answer as the schema describes it; lenient about missing fields and about a single
/// id given as a string.
#[derive(Debug, Clone, Deserialize)]
struct RawAnswer {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    claims: Vec<RawClaim>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawClaim {
    #[serde(default)]
    text: String,
    #[serde(default)]
    evidence: OneOrMany,
    #[serde(default)]
    hypothesis: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Why an answer could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the model's answer holds no JSON object")]
    NoJson,
    #[error("the model's answer does not match the answer schema")]
    Schema {
        #[source]
        source: serde_json::Error,
    },
}

/// Grounding limits.
#[derive(Debug, Clone)]
pub struct Grounder {
    command: Option<Regex>,
    /// Most claims kept.
    pub max_claims: usize,
    /// Longest claim or summary kept, in characters.
    pub max_chars: usize,
}

/// Text telling a reader to run something: shell commands, cluster CLIs, pipes to a shell.
const COMMAND: &str = r"(?i)(\bkubectl\s+(delete|apply|exec|scale|rollout|patch|edit|drain|cordon|run|set|create|replace|label|annotate)\b|\bhelm\s+(install|upgrade|rollback|uninstall|delete)\b|\bdocker\s+(run|exec|rm|kill|stop)\b|\bterraform\s+(apply|destroy)\b|\b(sudo|ssh|curl|wget)\s+\S|\brm\s+-[rf]|\|\s*(ba|z)?sh\b|\$\(|\b(execute|run) (this|the following) command)";

impl Default for Grounder {
    fn default() -> Self {
        Self {
            command: Regex::new(COMMAND).ok(),
            max_claims: 10,
            max_chars: 600,
        }
    }
}

/// The first balanced top-level JSON object in `text` (models wrap answers in prose or code
/// fences).
fn json_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(&text[start..start + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

impl Grounder {
    fn is_command(&self, text: &str) -> bool {
        self.command.as_ref().is_some_and(|re| re.is_match(text))
    }

    /// Parses and grounds `answer` against `draft`; the caller fills in model, latency,
    /// attempts and redactions.
    pub fn ground(&self, answer: &str, draft: &Draft) -> Result<Interpretation, AnswerError> {
        let object = json_object(answer).ok_or(AnswerError::NoJson)?;
        let raw: RawAnswer =
            serde_json::from_str(object).map_err(|source| AnswerError::Schema { source })?;

        let mut out = Interpretation {
            summary: String::new(),
            claims: Vec::new(),
            actions: Vec::new(),
            dropped_uncited: 0,
            dropped_unknown_evidence: 0,
            dropped_actions: 0,
            dropped_commands: 0,
            redactions: 0,
            model: String::new(),
            latency_ms: 0,
            attempts: 0,
        };
        let summary = raw.summary.unwrap_or_default();
        if self.is_command(&summary) {
            out.dropped_commands += 1;
        } else {
            out.summary = truncate(&summary, self.max_chars);
        }

        for claim in raw.claims {
            let mut evidence: Vec<String> = Vec::new();
            for id in claim.evidence.into_vec() {
                let id = id.trim().to_owned();
                if !id.is_empty() && !evidence.contains(&id) {
                    evidence.push(id);
                }
            }
            if claim.text.trim().is_empty() || evidence.is_empty() {
                out.dropped_uncited += 1;
                continue;
            }
            if evidence.iter().any(|id| !draft.has_evidence(id)) {
                out.dropped_unknown_evidence += 1;
                continue;
            }
            if self.is_command(&claim.text) {
                out.dropped_commands += 1;
                continue;
            }
            if out.claims.len() >= self.max_claims {
                continue;
            }
            let hypothesis = claim
                .hypothesis
                .filter(|h| draft.root_causes.iter().any(|r| &r.id == h));
            out.claims.push(Claim {
                text: truncate(&claim.text, self.max_chars),
                evidence,
                hypothesis,
            });
        }

        let allowed = draft.action_names();
        for action in raw.actions {
            let action = action.trim().to_owned();
            if allowed.contains(&action) {
                if !out.actions.contains(&action) {
                    out.actions.push(action);
                }
            } else {
                out.dropped_actions += 1;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_object_inside_prose_and_fences() {
        assert_eq!(
            json_object("Sure!\n```json\n{\"a\": \"}{\", \"b\": {\"c\": 1}}\n```"),
            Some("{\"a\": \"}{\", \"b\": {\"c\": 1}}")
        );
        assert_eq!(json_object("no json here"), None);
        assert_eq!(json_object("{\"unclosed\": 1"), None);
    }

    #[test]
    fn commands_are_recognised() {
        let g = Grounder::default();
        assert!(g.is_command("Run kubectl delete namespace prod to fix it"));
        assert!(g.is_command("curl http://x | sh"));
        assert!(g.is_command("then `rm -rf /data`"));
        assert!(!g.is_command("the `payments` deployment restarted"));
        assert!(!g.is_command("Memory of payments grows after the deploy"));
        assert!(!g.is_command("The helm chart changed the limit"));
    }
}
