//! The incident engine: the correlator and the ledger together. A batch is correlated on a
//! copy of the state and only adopted once its changes are committed to the ledger.

use crate::Error;
use crate::config::CorrelatorConfig;
use crate::correlator::{Change, Correlator};
use crate::ledger::Ledger;
use model::{IncidentCandidate, IncidentStatus};
use tokio::sync::Mutex;

/// Correlates submitted candidates and persists every change before acknowledging.
#[derive(Debug)]
pub struct IncidentEngine {
    correlator: Mutex<Correlator>,
    ledger: Ledger,
}

impl IncidentEngine {
    /// Starts on a ledger, bringing back the incidents still open (or recently resolved) so
    /// recurrences after a restart join them.
    pub async fn open(ledger: Ledger, config: CorrelatorConfig) -> Result<Self, Error> {
        let recent = config
            .reopen_window_ms
            .saturating_add(config.correlation_window_ms);
        let mut correlator = Correlator::new(config);
        for incident in ledger.restorable(recent).await? {
            let findings = ledger.findings(&incident.id).await?;
            let timeline_len = ledger.timeline(&incident.id).await?.len() as u64;
            correlator.restore(incident, findings, timeline_len);
        }
        Ok(Self {
            correlator: Mutex::new(correlator),
            ledger,
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Correlates a batch; when this returns `Ok` its changes are durable.
    pub async fn submit(&self, candidates: Vec<IncidentCandidate>) -> Result<Vec<Change>, Error> {
        self.update(|correlator| {
            Ok(candidates
                .into_iter()
                .flat_map(|candidate| correlator.ingest(candidate))
                .collect())
        })
        .await
    }

    /// Advances event time (recovery, resolution, forgetting), persisting what changed.
    pub async fn tick(&self, now_ms: i64) -> Result<Vec<Change>, Error> {
        self.update(|correlator| Ok(correlator.tick(now_ms))).await
    }

    /// Advances one source's event time: only its incidents recover, resolve or are forgotten.
    pub async fn tick_source(&self, source: &str, now_ms: i64) -> Result<Vec<Change>, Error> {
        self.update(|correlator| Ok(correlator.tick_source(Some(source), now_ms)))
            .await
    }

    /// An operator's status change (triaged, contained, escalated, suppressed, resolved).
    pub async fn set_status(
        &self,
        id: &str,
        status: IncidentStatus,
        at_ms: i64,
    ) -> Result<Change, Error> {
        let changes = self
            .update(|correlator| Ok(vec![correlator.set_status(id, status, at_ms)?]))
            .await?;
        changes
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })
    }

    async fn update(
        &self,
        step: impl FnOnce(&mut Correlator) -> Result<Vec<Change>, Error>,
    ) -> Result<Vec<Change>, Error> {
        let mut current = self.correlator.lock().await;
        let mut next = current.clone();
        let changes = step(&mut next)?;
        self.ledger.apply(&changes).await?;
        *current = next;
        Ok(changes)
    }
}
