//! Bounded caches the watches keep, reflector-style: a list replaces the cache when it
//! completes, watch events update it, and each kind holds at most `max_objects` views.
//!
//! Over the bound, new objects are refused and counted (updates of held ones still apply), so
//! memory stays bounded on any cluster; the count says what the cache could not hold.

use crate::views::{
    CronJobView, EndpointSliceView, EventView, HelmReleaseView, IngressView, JobView, MetaView,
    NodeView, PodView, ServiceView, WorkloadView,
};
use kube::runtime::watcher;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// `(namespace or "", name)`.
pub type Key = (String, String);

/// One kind's objects, bounded. Several watches may feed one cache, one per namespace
/// (`scope`); a list replaces only its own namespace's objects.
#[derive(Debug, Clone)]
pub struct Cache<V> {
    items: BTreeMap<Key, V>,
    /// The lists being received, per scope, with the room each has, swapped in when each
    /// completes.
    listing: BTreeMap<String, (usize, BTreeMap<Key, V>)>,
    max: usize,
    /// Objects not held because the cache was full.
    pub refused: u64,
    /// Whether every scope has delivered a complete list.
    pub synced: bool,
    scopes: usize,
    synced_scopes: std::collections::BTreeSet<String>,
}

impl<V> Cache<V> {
    pub fn new(max: usize) -> Self {
        Self {
            items: BTreeMap::new(),
            listing: BTreeMap::new(),
            max,
            refused: 0,
            synced: false,
            scopes: 1,
            synced_scopes: std::collections::BTreeSet::new(),
        }
    }

    /// How many watches (namespaces) feed the cache; it is synced once each has listed.
    pub fn set_scopes(&mut self, scopes: usize) {
        self.scopes = scopes.max(1);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<&V> {
        self.items
            .get(&(namespace.unwrap_or("").to_owned(), name.to_owned()))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.values()
    }

    /// Applies one watcher event of the whole cluster's watch.
    pub fn apply(&mut self, event: watcher::Event<(Key, V)>) {
        self.apply_scoped(event, None);
    }

    /// Applies one watcher event, the object already turned into its view by key, from the
    /// watch of namespace `scope` (`None`: all namespaces).
    pub fn apply_scoped(&mut self, event: watcher::Event<(Key, V)>, scope: Option<&str>) {
        let scope_key = scope.unwrap_or("").to_owned();
        match event {
            watcher::Event::Init => {
                // What the other namespaces hold stays; this list gets the rest of the bound.
                let others = scope.map_or(0, |s| self.items.keys().filter(|k| k.0 != s).count());
                let budget = self.max.saturating_sub(others);
                self.listing.insert(scope_key, (budget, BTreeMap::new()));
            }
            watcher::Event::InitApply((key, view)) => {
                let max = self.max;
                let (budget, listing) = self
                    .listing
                    .entry(scope_key)
                    .or_insert_with(|| (max, BTreeMap::new()));
                if listing.len() < *budget || listing.contains_key(&key) {
                    listing.insert(key, view);
                } else {
                    self.refused += 1;
                }
            }
            watcher::Event::InitDone => {
                if let Some((_, listing)) = self.listing.remove(&scope_key) {
                    self.items.retain(|k, _| scope.is_some_and(|s| k.0 != s));
                    self.items.extend(listing);
                }
                self.synced_scopes.insert(scope_key);
                self.synced = self.synced_scopes.len() >= self.scopes;
            }
            watcher::Event::Apply((key, view)) => {
                if self.items.len() < self.max || self.items.contains_key(&key) {
                    self.items.insert(key, view);
                } else {
                    self.refused += 1;
                }
            }
            watcher::Event::Delete((key, _)) => {
                self.items.remove(&key);
            }
        }
    }
}

/// The most recent events, oldest first, bounded.
#[derive(Debug, Clone)]
pub struct EventRing {
    events: VecDeque<EventView>,
    max: usize,
}

impl EventRing {
    pub fn new(max: usize) -> Self {
        Self {
            events: VecDeque::new(),
            max,
        }
    }

    /// Adds or updates (same uid) an event.
    pub fn push(&mut self, event: EventView) {
        if let Some(held) = self.events.iter_mut().rev().find(|e| e.uid == event.uid) {
            *held = event;
            return;
        }
        if self.events.len() == self.max {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &EventView> {
        self.events.iter()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// A watched kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Nodes,
    Pods,
    Events,
    Deployments,
    ReplicaSets,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
    Ingresses,
    Services,
    EndpointSlices,
    ConfigMaps,
    Secrets,
    HelmReleases,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Nodes,
        Kind::Pods,
        Kind::Events,
        Kind::Deployments,
        Kind::ReplicaSets,
        Kind::StatefulSets,
        Kind::DaemonSets,
        Kind::Jobs,
        Kind::CronJobs,
        Kind::Ingresses,
        Kind::Services,
        Kind::EndpointSlices,
        Kind::ConfigMaps,
        Kind::Secrets,
        Kind::HelmReleases,
    ];

    /// The resource's plural name, as RBAC and `kubectl` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Nodes => "nodes",
            Kind::Pods => "pods",
            Kind::Events => "events",
            Kind::Deployments => "deployments",
            Kind::ReplicaSets => "replicasets",
            Kind::StatefulSets => "statefulsets",
            Kind::DaemonSets => "daemonsets",
            Kind::Jobs => "jobs",
            Kind::CronJobs => "cronjobs",
            Kind::Ingresses => "ingresses",
            Kind::Services => "services",
            Kind::EndpointSlices => "endpointslices",
            Kind::ConfigMaps => "configmaps",
            Kind::Secrets => "secrets",
            Kind::HelmReleases => "helmreleases",
        }
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Nodes
            | Kind::Pods
            | Kind::Events
            | Kind::Services
            | Kind::ConfigMaps
            | Kind::Secrets => "",
            Kind::Deployments | Kind::ReplicaSets | Kind::StatefulSets | Kind::DaemonSets => "apps",
            Kind::Jobs | Kind::CronJobs => "batch",
            Kind::Ingresses => "networking.k8s.io",
            Kind::EndpointSlices => "discovery.k8s.io",
            Kind::HelmReleases => "helm.toolkit.fluxcd.io",
        }
    }

    /// Whether objects of the kind live in namespaces.
    pub fn namespaced(self) -> bool {
        self != Kind::Nodes
    }
}

/// How one kind's watch is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WatchStatus {
    /// A complete list has been received.
    pub synced: bool,
    pub objects: usize,
    /// Objects not held because the cache was full.
    pub refused: u64,
    /// Errors since start (the watch retries with backoff and resumes where it left off).
    pub errors: u64,
    /// Lists since start: one at start, another only when the watch could not resume.
    pub lists: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Everything the watches of one cluster hold.
#[derive(Debug, Clone)]
pub struct ClusterState {
    pub nodes: Cache<NodeView>,
    pub pods: Cache<PodView>,
    pub deployments: Cache<WorkloadView>,
    pub replica_sets: Cache<WorkloadView>,
    pub stateful_sets: Cache<WorkloadView>,
    pub daemon_sets: Cache<WorkloadView>,
    pub jobs: Cache<JobView>,
    pub cron_jobs: Cache<CronJobView>,
    pub ingresses: Cache<IngressView>,
    pub services: Cache<ServiceView>,
    pub endpoint_slices: Cache<EndpointSliceView>,
    pub config_maps: Cache<MetaView>,
    pub secrets: Cache<MetaView>,
    pub helm_releases: Cache<HelmReleaseView>,
    /// The most recent events.
    pub events: EventRing,
    pub status: BTreeMap<Kind, WatchStatus>,
}

impl ClusterState {
    pub fn new(max_objects: usize, max_events: usize) -> Self {
        Self {
            nodes: Cache::new(max_objects),
            pods: Cache::new(max_objects),
            deployments: Cache::new(max_objects),
            replica_sets: Cache::new(max_objects),
            stateful_sets: Cache::new(max_objects),
            daemon_sets: Cache::new(max_objects),
            jobs: Cache::new(max_objects),
            cron_jobs: Cache::new(max_objects),
            ingresses: Cache::new(max_objects),
            services: Cache::new(max_objects),
            endpoint_slices: Cache::new(max_objects),
            config_maps: Cache::new(max_objects),
            secrets: Cache::new(max_objects),
            helm_releases: Cache::new(max_objects),
            events: EventRing::new(max_events),
            status: BTreeMap::new(),
        }
    }

    /// Whether every kind in `kinds` has a complete list (unwatched kinds count as synced
    /// only when nobody watches them: a check needing them then sees nothing).
    pub fn synced(&self, kinds: &[Kind]) -> bool {
        kinds
            .iter()
            .all(|k| self.status.get(k).is_none_or(|s| s.synced))
    }

    /// The workload caches, Deployments first.
    pub fn workloads(&self) -> impl Iterator<Item = &WorkloadView> {
        self.deployments
            .values()
            .chain(self.stateful_sets.values())
            .chain(self.daemon_sets.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        (String::new(), name.to_owned())
    }

    #[test]
    fn a_list_replaces_the_cache_and_the_bound_refuses_new_objects() {
        let mut cache: Cache<u32> = Cache::new(2);
        cache.apply(watcher::Event::Apply((key("stale"), 0)));
        cache.apply(watcher::Event::Init);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            cache.apply(watcher::Event::InitApply((key(name), i as u32)));
        }
        assert!(!cache.synced);
        assert_eq!(
            cache.get(None, "stale"),
            Some(&0),
            "held until the list completes"
        );
        cache.apply(watcher::Event::InitDone);
        assert!(cache.synced);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.refused, 1);
        assert_eq!(cache.get(None, "stale"), None, "gone from the new list");
        // Updates of held objects apply; new ones over the bound do not.
        cache.apply(watcher::Event::Apply((key("a"), 7)));
        cache.apply(watcher::Event::Apply((key("d"), 9)));
        assert_eq!(cache.get(None, "a"), Some(&7));
        assert_eq!(cache.refused, 2);
        cache.apply(watcher::Event::Delete((key("a"), 7)));
        cache.apply(watcher::Event::Apply((key("d"), 9)));
        assert_eq!(cache.get(None, "d"), Some(&9));
    }

    #[test]
    fn the_event_ring_updates_by_uid_and_forgets_the_oldest() {
        let mut ring = EventRing::new(2);
        let event = |uid: &str, count| EventView {
            uid: uid.to_owned(),
            count,
            ..EventView::default()
        };
        ring.push(event("a", 1));
        ring.push(event("b", 1));
        ring.push(event("a", 2));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.iter().next().map(|e| e.count), Some(2));
        ring.push(event("c", 1));
        let uids: Vec<&str> = ring.iter().map(|e| e.uid.as_str()).collect();
        assert_eq!(uids, ["b", "c"]);
    }
}
