//! The incident engine: the correlator and the ledger together. A batch is correlated on a
//! copy of the state and only adopted once its changes are committed to the ledger.

use crate::Error;
use crate::config::CorrelatorConfig;
use crate::correlator::{Change, Correlator};
use crate::ledger::Ledger;
use crate::record::{Incident, TimelineKind};
use crate::workspace::Suppression;
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
        self.set_status_by(id, status, at_ms, "operator", "").await
    }

    /// [`IncidentEngine::set_status`] naming who asked and why in the timeline. An incident
    /// the correlator no longer holds is resolved or suppressed already: refused as such.
    pub async fn set_status_by(
        &self,
        id: &str,
        status: IncidentStatus,
        at_ms: i64,
        who: &str,
        why: &str,
    ) -> Result<Change, Error> {
        let held = self.correlator.lock().await.is_tracked(id);
        if !held {
            let stored = self
                .ledger
                .incident(id)
                .await?
                .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
            return Err(Error::InvalidTransition {
                id: id.to_owned(),
                from: stored.status,
                to: status,
            });
        }
        let changes = self
            .update(|correlator| Ok(vec![correlator.set_status_by(id, status, at_ms, who, why)?]))
            .await?;
        changes
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })
    }

    /// Replaces the suppression windows new incidents are checked against.
    pub async fn set_suppressions(&self, suppressions: Vec<Suppression>) {
        self.correlator.lock().await.set_suppressions(suppressions);
    }

    /// An operator's note on an incident (acknowledged, assigned, commented, feedback,
    /// silenced): `edit` changes its fields and one event joins its timeline, through the
    /// correlator when it holds the incident, else straight in the ledger.
    pub async fn annotate(
        &self,
        id: &str,
        kind: TimelineKind,
        at_ms: i64,
        detail: String,
        edit: impl FnOnce(&mut Incident),
    ) -> Result<Change, Error> {
        crate::operator_ledger::check_note("detail", &detail)?;
        let mut current = self.correlator.lock().await;
        if current.is_tracked(id) {
            let mut next = current.clone();
            let change = next.annotate(id, kind, at_ms, detail, edit)?;
            self.ledger.apply(std::slice::from_ref(&change)).await?;
            *current = next;
            return Ok(change);
        }
        drop(current);
        let (incident, event) = self
            .ledger
            .annotate_stored(id, kind, at_ms, detail, edit)
            .await?;
        Ok(Change {
            incident,
            findings: Vec::new(),
            retired_findings: Vec::new(),
            timeline: vec![event],
        })
    }

    /// Merges `absorbed` into `survivor` by hand; both must still be held by the correlator.
    pub async fn merge(
        &self,
        survivor: &str,
        absorbed: &str,
        at_ms: i64,
        who: &str,
    ) -> Result<Vec<Change>, Error> {
        for id in [survivor, absorbed] {
            let held = self.correlator.lock().await.is_tracked(id);
            if !held {
                let stored = self
                    .ledger
                    .incident(id)
                    .await?
                    .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
                return Err(Error::InvalidMerge {
                    id: id.to_owned(),
                    reason: format!("it is {} and no longer followed", stored.status),
                });
            }
        }
        self.update(|correlator| correlator.merge(survivor, absorbed, at_ms, who))
            .await
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
