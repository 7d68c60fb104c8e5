//! Sources: each sender's writes (a tenant, optionally a label's value) live in a store of
//! their own, with their own watermark, lateness, retention and event-time clock.
//!
//! Why: one global watermark lets the fastest sender decide what is "late" for every other, so
//! a sender that reconnects and resends its backlog, or a recording replayed into a live
//! server, would be dropped. Per source, each clock moves only with its own samples. The
//! series limit holds per source (`max_series_per_source`) and for all sources together
//! (`max_series`); at most `max_sources` sources are held.

use crate::store::{
    AppendOutcome, DropReason, Judge, SeriesBudget, SeriesInfo, Store, StoreConfig, StoreStats,
    WindowQuery,
};
use crate::{Selector, WindowResult};
use model::{MetricMetadata, MetricType, SeriesRef, SeriesVisitor};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a source could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceRefused {
    #[error(
        "source {name:?} would be one more than the {limit} sources held (windows.max_sources)"
    )]
    TooMany { name: String, limit: usize },
    #[error(transparent)]
    Name(model::SourceError),
}

impl model::Classify for SourceRefused {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::InvalidInput
    }
}

/// Every source's store.
#[derive(Debug)]
pub struct Sources {
    /// What each source's store is built with (`max_series` is the per-source limit).
    per_source: StoreConfig,
    /// The `[windows]` section as configured.
    config: StoreConfig,
    total: Arc<SeriesBudget>,
    stores: RwLock<BTreeMap<String, Arc<Store>>>,
}

impl Sources {
    pub fn new(config: StoreConfig) -> Self {
        let per_source = StoreConfig {
            max_series: config
                .max_series_per_source
                .unwrap_or(config.max_series)
                .min(config.max_series),
            ..config.clone()
        };
        Self {
            per_source,
            total: Arc::new(SeriesBudget::new(config.max_series)),
            config,
            stores: RwLock::new(BTreeMap::new()),
        }
    }

    /// The `[windows]` settings (retention and lateness hold per source).
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The store of a source, if it has one yet.
    pub fn get(&self, name: &str) -> Option<Arc<Store>> {
        self.stores.read().get(name).map(Arc::clone)
    }

    /// The store of a source, made on its first write.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Store>, SourceRefused> {
        if let Some(store) = self.get(name) {
            return Ok(store);
        }
        model::check_source(name).map_err(SourceRefused::Name)?;
        let mut stores = self.stores.write();
        if let Some(store) = stores.get(name) {
            return Ok(Arc::clone(store));
        }
        if stores.len() >= self.config.max_sources {
            return Err(SourceRefused::TooMany {
                name: name.to_owned(),
                limit: self.config.max_sources,
            });
        }
        let store = Arc::new(Store::with_budget(
            self.per_source.clone(),
            Arc::clone(&self.total),
        ));
        stores.insert(name.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    /// Every source with its store, in name order.
    pub fn list(&self) -> Vec<(String, Arc<Store>)> {
        self.stores
            .read()
            .iter()
            .map(|(name, store)| (name.clone(), Arc::clone(store)))
            .collect()
    }

    /// The sources a query names: one (when it exists) or all.
    fn scope(&self, source: Option<&str>) -> Vec<(String, Arc<Store>)> {
        match source {
            Some(name) => self
                .get(name)
                .map(|store| vec![(name.to_owned(), store)])
                .unwrap_or_default(),
            None => self.list(),
        }
    }

    /// Series held by every source together, against `max_series`.
    pub fn series_budget(&self) -> &SeriesBudget {
        &self.total
    }

    /// The newest watermark of any source; `None` before the first sample.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.list()
            .iter()
            .filter_map(|(_, store)| store.watermark_ms())
            .max()
    }

    /// What every source holds together: series, samples, bytes and drops summed.
    pub fn stats(&self) -> StoreStats {
        let mut total = StoreStats::default();
        for (_, store) in self.list() {
            let stats = store.stats();
            total.active_series += stats.active_series;
            total.samples += stats.samples;
            total.bytes += stats.bytes;
            total.refused_series += stats.refused_series;
            for (reason, n) in stats.dropped {
                *total.dropped.entry(reason).or_default() += n;
            }
        }
        total
    }

    /// The series a selector matches, in one source or all, each with its source.
    pub fn select(&self, source: Option<&str>, selector: &Selector) -> Vec<(String, SeriesInfo)> {
        self.scope(source)
            .into_iter()
            .flat_map(|(name, store)| {
                store
                    .select(selector)
                    .into_iter()
                    .map(move |info| (name.clone(), info))
            })
            .collect()
    }

    /// A window query over one source or all: each source's rows at its own watermark (or
    /// the query's time), each row naming its source. `watermark` is the source's when one
    /// is named, else the newest of all.
    pub fn window(&self, source: Option<&str>, query: &WindowQuery) -> WindowResult {
        let mut answer = WindowResult {
            watermark: None,
            window: query.window.label(),
            at: query.at_ms,
            series: Vec::new(),
        };
        for (name, store) in self.scope(source) {
            let part = store.window(query);
            answer.watermark = answer.watermark.max(part.watermark);
            answer.at = answer.at.max(part.at);
            answer.series.extend(part.series.into_iter().map(|mut row| {
                row.source = Some(name.clone());
                row
            }));
        }
        answer
    }
}

impl Sources {
    /// A visitor that appends each decoded series of one write to its source's store: the
    /// tenant's, or (with `label`, e.g. `cluster`) the one the series' label value names.
    /// Each store judges the write by its own clock, fixed when the write first reaches it.
    pub fn appender<'a>(&'a self, tenant: &str, label: Option<&'a str>) -> SourcesAppender<'a> {
        SourcesAppender {
            sources: self,
            tenant: tenant.to_owned(),
            label,
            routes: Vec::new(),
            outcome: AppendOutcome {
                max_series: self.per_source.max_series,
                ..AppendOutcome::default()
            },
            refused: None,
        }
    }
}

/// One source a write reached, with the judge fixed when it first did.
#[derive(Debug)]
struct Route {
    /// The source label's value that leads here (`None`: the tenant's own source).
    value: Option<String>,
    name: String,
    store: Arc<Store>,
    judge: Judge,
}

/// Appends a write's series to their sources' stores; see [`Sources::appender`].
#[derive(Debug)]
pub struct SourcesAppender<'a> {
    sources: &'a Sources,
    tenant: String,
    label: Option<&'a str>,
    routes: Vec<Route>,
    outcome: AppendOutcome,
    /// The first source that could not be used.
    refused: Option<SourceRefused>,
}

impl SourcesAppender<'_> {
    /// The route of a series with the source label's `value` (or none): found by the value
    /// without building a name, so a write costs one name per source, not per series.
    fn route_of(&mut self, value: Option<&str>) -> Option<usize> {
        if let Some(i) = self.routes.iter().position(|r| r.value.as_deref() == value) {
            return Some(i);
        }
        let name = model::source_name(Some(&self.tenant), value);
        let i = self.route(&name)?;
        if self.routes[i].value.is_none() && value.is_some() {
            // Another value named the same source (an empty one is the tenant's): keep both.
            let route = &self.routes[i];
            let again = Route {
                value: value.map(str::to_owned),
                name: route.name.clone(),
                store: Arc::clone(&route.store),
                judge: route.judge,
            };
            self.routes.push(again);
            return Some(self.routes.len() - 1);
        }
        Some(i)
    }

    fn route(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.routes.iter().position(|r| r.name == name) {
            return Some(i);
        }
        match self.sources.get_or_create(name) {
            Ok(store) => {
                let judge = store.judge();
                self.routes.push(Route {
                    value: None,
                    name: name.to_owned(),
                    store,
                    judge,
                });
                Some(self.routes.len() - 1)
            }
            Err(refused) => {
                self.refused.get_or_insert(refused);
                None
            }
        }
    }

    /// The summed outcome of every series appended, and the sources the write reached.
    pub fn finish(self) -> (AppendOutcome, Vec<String>) {
        let mut reached: Vec<String> = Vec::new();
        for route in self.routes {
            if !reached.contains(&route.name) {
                route.store.maintain_if_due();
                reached.push(route.name);
            }
        }
        (self.outcome, reached)
    }

    /// The first source the write could not use (a bad name, or too many sources).
    pub fn refused_source(&self) -> Option<&SourceRefused> {
        self.refused.as_ref()
    }

    /// The outcome so far.
    pub fn outcome(&self) -> &AppendOutcome {
        &self.outcome
    }
}

impl SeriesVisitor for SourcesAppender<'_> {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error> {
        let value = self.label.and_then(|label| {
            series
                .labels
                .iter()
                .find(|(name, _)| *name == label)
                .map(|(_, value)| *value)
        });
        match self.route_of(value) {
            Some(i) => {
                let route = &self.routes[i];
                route
                    .store
                    .append_judged(series, route.judge, &mut self.outcome);
            }
            None => {
                let n = series.samples.len();
                if n > 0 {
                    self.outcome.dropped_by_reason[DropReason::CardinalityLimit.index()] += n;
                    if self.outcome.first_dropped.is_none() {
                        let name = model::source_name(Some(&self.tenant), value);
                        self.outcome.first_dropped =
                            Some((format!("source {name:?}"), DropReason::CardinalityLimit));
                    }
                }
            }
        }
        Ok(())
    }

    fn metadata(
        &mut self,
        family: &str,
        metric_type: MetricType,
        unit: &str,
        help: &str,
    ) -> Result<(), Self::Error> {
        let metadata = MetricMetadata {
            metric_type,
            unit: unit.to_owned(),
            help: help.to_owned(),
        };
        // Metadata comes apart from its series: every store of the tenant learns it.
        let tenant = model::source_name(Some(&self.tenant), None);
        if self.label.is_none() {
            if let Some(i) = self.route(&tenant) {
                self.routes[i].store.set_metadata(family, metadata);
            }
            return Ok(());
        }
        let prefix = format!("{tenant}/");
        for (name, store) in self.sources.list() {
            let of_tenant = if tenant == model::DEFAULT_SOURCE {
                !name.contains('/')
            } else {
                name == tenant || name.starts_with(&prefix)
            };
            if of_tenant {
                store.set_metadata(family, metadata.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{MetricType, Sample, SeriesRef};

    fn write(store: &Store, name: &str, at: i64) -> crate::AppendOutcome {
        store.append(SeriesRef {
            labels: &[("__name__", name)],
            samples: &[Sample {
                timestamp_ms: at,
                value: 1.0,
            }],
            metric_type: MetricType::Gauge,
            unit: "",
            help: "",
            created_timestamp_ms: 0,
        })
    }

    #[test]
    fn each_source_keeps_its_own_clock_and_all_share_the_series_limit() {
        let sources = Sources::new(StoreConfig {
            max_series: 3,
            max_series_per_source: Some(2),
            max_sources: 2,
            lateness_ms: 1_000,
            ..StoreConfig::default()
        });
        let now = 1_700_000_000_000;
        let live = sources.get_or_create("default").unwrap();
        let replay = sources.get_or_create("replay").unwrap();
        assert_eq!(write(&live, "a", now).appended, 1);
        // Six years behind the live source: its own clock, so stored.
        assert_eq!(write(&replay, "a", now - 200_000_000_000).appended, 1);
        assert_eq!(write(&replay, "b", now - 200_000_000_000).appended, 1);
        // The source's own limit (2), then the shared one (3).
        assert_eq!(write(&replay, "c", now - 200_000_000_000).refused_series, 1);
        assert_eq!(write(&live, "b", now).refused_series, 1);
        assert_eq!(sources.series_budget().used(), 3);
        assert!(matches!(
            sources.get_or_create("third"),
            Err(SourceRefused::TooMany { limit: 2, .. })
        ));
        assert!(matches!(
            sources.get_or_create("bad name"),
            Err(SourceRefused::Name(_))
        ));
        let selector = Selector::parse("a").unwrap();
        let found: Vec<String> = sources
            .select(None, &selector)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(found, ["default", "replay"]);
        assert_eq!(sources.select(Some("replay"), &selector).len(), 1);
        assert_eq!(sources.select(Some("nowhere"), &selector).len(), 0);
    }
}
