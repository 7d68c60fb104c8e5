//! The live root-cause path: one incident's draft from the ledger's findings, the windows'
//! recent changes, pushed or pulled logs and similar past incidents. Every surface (and the
//! robot proposing actions) drafts through here.

use model::Target;
use rca::{Drafter, EvidenceRef};
use std::collections::BTreeMap;

/// Why no draft could be built.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no incident {id:?}")]
    NoIncident { id: String },
    #[error("reading the incident ledger")]
    Ledger {
        #[from]
        source: incident::Error,
    },
}

impl model::Classify for LiveError {
    fn class(&self) -> model::ErrorClass {
        match self {
            LiveError::NoIncident { .. } => model::ErrorClass::NotFound,
            LiveError::Ledger { source } => source.class(),
        }
    }
}

/// Loki, asked for an incident's log context when no pushed lines belong to its target.
#[derive(Debug, Clone, Copy)]
pub struct LokiSource<'a> {
    pub client: &'a rca::loki::LokiClient,
    /// Stream label carrying the workload name.
    pub service_label: &'a str,
    /// Most lines pulled per incident.
    pub max_lines: usize,
}

/// What a draft may draw on beyond the incident's own findings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sources<'a> {
    /// Pushed logs: the incident's log context and known failure signatures.
    pub logs: Option<&'a parking_lot::Mutex<rca::logstore::LogStore>>,
    /// The windows: deploys, scaling, images and config changes before the incident.
    pub store: Option<&'a windows::Store>,
    /// Actions that fixed past incidents (incident id → catalogue action names).
    pub fixes: Option<&'a BTreeMap<String, Vec<String>>>,
    /// Loki, asked for the log context when no pushed lines belong to the target.
    pub loki: Option<LokiSource<'a>>,
}

/// The incident's log context: from pushed lines, else pulled from Loki.
pub async fn log_context(
    sources: &Sources<'_>,
    target: &Target,
    opened_at_ms: i64,
) -> Option<rca::LogContext> {
    let pushed = sources
        .logs
        .and_then(|l| l.lock().context(target, opened_at_ms));
    match (pushed, sources.loki) {
        (Some(context), _) => Some(context),
        (None, Some(loki)) => {
            rca::logstore::pull_context(
                loki.client,
                loki.service_label,
                loki.max_lines,
                target,
                opened_at_ms,
            )
            .await
        }
        (None, None) => None,
    }
}

/// The incident `id` from the ledger.
pub async fn find_incident(
    ledger: &incident::Ledger,
    id: &str,
) -> Result<incident::Incident, LiveError> {
    ledger
        .incident(id)
        .await?
        .ok_or_else(|| LiveError::NoIncident { id: id.to_owned() })
}

/// The deterministic draft of one incident, from its findings and evidence in the ledger and,
/// when given, the log context of pushed logs.
pub async fn draft(
    ledger: &incident::Ledger,
    logs: Option<&parking_lot::Mutex<rca::logstore::LogStore>>,
    id: &str,
) -> Result<rca::Draft, LiveError> {
    let sources = Sources {
        logs,
        ..Sources::default()
    };
    draft_with(ledger, sources, id).await
}

/// Past incidents of the same signature recalled in a draft.
const SIMILAR_RECALLED: u32 = 5;

/// The draft from the incident's findings plus whatever `sources` offers: log context,
/// recent changes to its workload, and similar past incidents with what fixed them.
pub async fn draft_with(
    ledger: &incident::Ledger,
    sources: Sources<'_>,
    id: &str,
) -> Result<rca::Draft, LiveError> {
    let incident = find_incident(ledger, id).await?;
    let findings = ledger.findings(id).await?;
    let mut input = crate::draft_input(&incident, &findings);
    input.log_context = log_context(&sources, &input.incident.target, incident.opened_at_ms).await;
    if let Some(context) = &input.log_context {
        for event in &context.evidence {
            input
                .evidence
                .push(EvidenceRef::from_event(format!("log-{}", event.id), event));
        }
    }
    if let Some(store) = sources.store {
        input.changes =
            crate::changes::recent_changes(store, &input.incident.target, incident.opened_at_ms);
    }
    let similar = ledger
        .similar(&incident.signature, &incident.id, SIMILAR_RECALLED)
        .await?;
    input.similar_past = similar
        .iter()
        .map(|past| past_incident(past, sources.fixes))
        .collect();
    Ok(Drafter::default().draft(&input))
}

/// A past incident as the draft recalls it: how it ended and which actions fixed it.
fn past_incident(
    past: &incident::Incident,
    fixes: Option<&BTreeMap<String, Vec<String>>>,
) -> rca::PastIncident {
    let actions = fixes
        .and_then(|f| f.get(&past.id))
        .cloned()
        .unwrap_or_default();
    let ended = match past.resolved_at_ms {
        Some(at) => format!(
            "resolved {} min after it opened",
            (at - past.opened_at_ms).max(0) / 60_000
        ),
        None => format!("still {}", past.status.as_str()),
    };
    let fix = if actions.is_empty() {
        format!("{} ({ended}) with no recorded action", past.id)
    } else {
        format!("{} ({ended}) after {}", past.id, actions.join(", "))
    };
    rca::PastIncident {
        id: past.id.clone(),
        signature: past.signature.clone(),
        templates: Vec::new(),
        fix,
        actions,
    }
}
