//! The clusters' own state and the runtime dependencies as signals: the watches of every
//! `[[cluster]]` and the `[[dependencies]]` probes, their candidates fed to the same correlation
//! as the rules'.

use crate::App;
use cluster::{ClusterSpec, ClusterWatch, DependencyMonitor, DependencySpec};
use model::IncidentCandidate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Weak;
use tokio::sync::mpsc;

/// Batches of candidates waiting for the incident engine; a full queue holds the watches and
/// probes back, nothing is dropped.
const QUEUE: usize = 256;

/// How often the incidents of a source without windows follow the wall clock.
const IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Most candidates committed to the ledger at once.
const MAX_PER_COMMIT: usize = 1_000;

/// Why the clusters or dependencies could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    #[error("building the client of cluster {cluster:?}")]
    Client {
        cluster: String,
        #[source]
        source: cluster::ClusterError,
    },
    #[error(transparent)]
    Dependency(cluster::deps::DependencyError),
}

/// The running watches and probes.
#[derive(Debug)]
pub struct ClusterSignals {
    pub watches: Vec<ClusterWatch>,
    pub dependencies: Option<DependencyMonitor>,
    receiver: parking_lot::Mutex<Option<mpsc::Receiver<Vec<IncidentCandidate>>>>,
}

/// How one cluster's watches are doing.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub source: String,
    pub synced: bool,
    pub kinds: BTreeMap<cluster::Kind, cluster::WatchStatus>,
}

impl ClusterSignals {
    /// Starts a watch per cluster and the dependency probes (needs a tokio runtime).
    pub async fn start(
        clusters: Vec<ClusterSpec>,
        dependencies: Vec<DependencySpec>,
    ) -> Result<Self, SignalsError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut watches = Vec::new();
        for spec in clusters {
            let client = spec.client().await.map_err(|source| SignalsError::Client {
                cluster: spec.name.clone(),
                source,
            })?;
            tracing::info!(cluster = %spec.name, source = %spec.source(), "watching the cluster");
            watches.push(ClusterWatch::start(spec, client, tx.clone()));
        }
        let dependencies = if dependencies.is_empty() {
            None
        } else {
            let states = watches
                .iter()
                .map(|w| (w.name().to_owned(), w.source().to_owned(), w.state()))
                .collect();
            Some(
                DependencyMonitor::start(dependencies, states, tx)
                    .map_err(SignalsError::Dependency)?,
            )
        };
        Ok(Self {
            watches,
            dependencies,
            receiver: parking_lot::Mutex::new(Some(rx)),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.watches.is_empty() && self.dependencies.is_none()
    }

    /// Feeds what the watches and probes raise to the app's pipeline while the app lives; a
    /// ledger error is retried, so nothing raised is lost. Only the first call gets the queue.
    pub fn forward(&self, app: Weak<App>) {
        let Some(mut rx) = self.receiver.lock().take() else {
            return;
        };
        // The sources the signals belong to: incidents of one no metrics arrive for follow the
        // wall clock, so they still recover and resolve.
        let mut sources: Vec<String> = self.watches.iter().map(|w| w.source().to_owned()).collect();
        if self.dependencies.is_some() && self.watches.is_empty() {
            sources.push(model::DEFAULT_SOURCE.to_owned());
        }
        sources.sort();
        sources.dedup();
        let clock = Weak::clone(&app);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(IDLE_TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(app) = clock.upgrade() else {
                    return;
                };
                for source in &sources {
                    let now = cluster::signal::now_ms();
                    if let Err(error) = app
                        .pipeline
                        .tick_without_windows(&app.sources, source, now)
                        .await
                    {
                        tracing::error!(error = %model::error::chain(&error), source = %source, "incident lifecycle tick failed; retrying");
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(mut batch) = rx.recv().await {
                // What queued meanwhile goes in the same commit (an event storm is not a
                // ledger transaction per event).
                while batch.len() < MAX_PER_COMMIT
                    && let Ok(more) = rx.try_recv()
                {
                    batch.extend(more);
                }
                loop {
                    let Some(app) = app.upgrade() else {
                        return;
                    };
                    match app.pipeline.submit(batch.clone()).await {
                        Ok(_) => break,
                        Err(error) => {
                            tracing::error!(error = %model::error::chain(&error), "cluster signals not committed; retrying");
                            drop(app);
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
    }

    /// Each cluster's watches, and each dependency.
    pub fn status(&self) -> (Vec<ClusterStatus>, Vec<cluster::DependencyStatus>) {
        let clusters = self
            .watches
            .iter()
            .map(|w| {
                let state = w.state();
                let kinds = state.read().status.clone();
                ClusterStatus {
                    name: w.name().to_owned(),
                    source: w.source().to_owned(),
                    synced: kinds.values().all(|s| s.synced),
                    kinds,
                }
            })
            .collect();
        let deps = self
            .dependencies
            .as_ref()
            .map(DependencyMonitor::statuses)
            .unwrap_or_default();
        (clusters, deps)
    }
}
