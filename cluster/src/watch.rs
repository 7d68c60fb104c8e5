//! The watches of one cluster: a kube-rs watcher per kind (per namespace when the cluster
//! names its namespaces), resuming from the last resource version after a dropped connection
//! and re-listing only when the API server has compacted it away, with backoff on errors.
//!
//! Events are judged as they arrive; held state (conditions, drift, served certificates) is
//! judged after every burst of changes and every `resync`. Candidates go to one bounded
//! channel: a full channel holds the watches back, nothing is dropped.

use crate::cache::{Cache, ClusterState, Key, Kind, WatchStatus};
use crate::config::ClusterSpec;
use crate::events::EventSignals;
use crate::signal::{Context, Levels, now_ms};
use crate::tls::{self, CertObservation};
use crate::views::{
    CronJobView, EndpointSliceView, EventView, HelmReleaseView, IngressView, JobView, MetaView,
    NodeView, PodView, ServiceView, WorkloadView,
};
use crate::{conditions, drift};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use model::IncidentCandidate;
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How long a burst of changes is gathered before held state is judged.
const SETTLE: Duration = Duration::from_millis(250);
/// Most ingress hosts probed at once.
const PROBES_AT_ONCE: usize = 8;
/// How long one certificate probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the tasks of one cluster share.
#[derive(Debug)]
struct Shared {
    spec: ClusterSpec,
    ctx: Context,
    state: Arc<RwLock<ClusterState>>,
    events: Mutex<EventSignals>,
    drift: Mutex<drift::DriftSignals>,
    levels: Mutex<Levels>,
    certs: RwLock<BTreeMap<String, CertObservation>>,
    changed: Notify,
    sink: mpsc::Sender<Vec<IncidentCandidate>>,
    started_ms: i64,
}

/// The watches of one cluster and what they hold. Dropping it stops them.
#[derive(Debug)]
pub struct ClusterWatch {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Watches one kind, turning each object into its view; `cache` picks the kind's cache.
fn spawn_kind<K, V>(
    shared: &Arc<Shared>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    kind: Kind,
    apis: Vec<(Option<String>, Api<K>)>,
    view: fn(&K) -> V,
    cache: fn(&mut ClusterState) -> &mut Cache<V>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    {
        let mut state = shared.state.write();
        cache(&mut state).set_scopes(apis.len());
        state.status.insert(kind, WatchStatus::default());
    }
    for (scope, api) in apis {
        let shared = Arc::clone(shared);
        tasks.push(tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        let mapped = map_event(event, |o| (key_of(o), view(o)));
                        let mut state = shared.state.write();
                        let listing = matches!(mapped, watcher::Event::Init);
                        let c = cache(&mut state);
                        c.apply_scoped(mapped, scope.as_deref());
                        let (synced, objects, refused) = (c.synced, c.len(), c.refused);
                        let status = state.status.entry(kind).or_default();
                        status.synced = synced;
                        status.objects = objects;
                        status.refused = refused;
                        status.lists += u64::from(listing);
                        drop(state);
                        shared.changed.notify_one();
                    }
                    Err(error) => shared.record_error(kind, &error),
                }
            }
        }));
    }
}

fn key_of<K: Resource>(o: &K) -> Key {
    (o.namespace().unwrap_or_default(), o.name_any())
}

fn map_event<K, T>(event: watcher::Event<K>, f: impl Fn(&K) -> T) -> watcher::Event<T> {
    match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(f(&o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::Apply(o) => watcher::Event::Apply(f(&o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(f(&o)),
    }
}

impl Shared {
    fn record_error(&self, kind: Kind, error: &watcher::Error) {
        let text = describe(kind, error);
        let mut state = self.state.write();
        let status = state.status.entry(kind).or_default();
        status.errors += 1;
        let repeated = status.last_error.as_deref() == Some(text.as_str());
        status.last_error = Some(text.clone());
        drop(state);
        if repeated {
            tracing::debug!(cluster = %self.ctx.cluster, kind = kind.as_str(), "{text}");
        } else {
            tracing::warn!(cluster = %self.ctx.cluster, kind = kind.as_str(), "{text}; retrying with backoff");
        }
    }

    async fn send(&self, candidates: Vec<IncidentCandidate>) {
        if !candidates.is_empty() {
            // A closed channel means nobody takes candidates any more (shutting down).
            let _ = self.sink.send(candidates).await;
        }
    }

    /// Judges held state now; what changed is returned for sending.
    fn evaluate(&self, now: i64) -> Vec<IncidentCandidate> {
        let state = self.state.read();
        let events = self.events.lock();
        let certs = self.certs.read();
        let mut firing = conditions::evaluate(&state, &events, &self.ctx, &self.spec, now);
        firing.extend(
            self.drift
                .lock()
                .evaluate(&state, &certs, &self.ctx, &self.spec, now),
        );
        let refresh = i64::try_from(self.spec.resync.as_millis()).unwrap_or(i64::MAX);
        self.levels.lock().update(firing, |_| true, now, refresh)
    }
}

/// What went wrong, in a sentence naming the grant a 403 lacks and a kind the API does not serve.
fn describe(kind: Kind, error: &watcher::Error) -> String {
    let status = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(s) => Some(s.code),
            _ => None,
        },
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    };
    let group = match kind.group() {
        "" => "core".to_owned(),
        g => g.to_owned(),
    };
    match status {
        Some(403) => format!(
            "watching {} is forbidden: grant get, list and watch on {group} {} (cluster/rbac.yaml)",
            kind.as_str(),
            kind.as_str()
        ),
        Some(404) => format!(
            "the API server does not serve {group} {} (is the CRD installed?)",
            kind.as_str()
        ),
        _ => format!("watching {}: {error}", kind.as_str()),
    }
}

impl ClusterWatch {
    /// Starts every watch of `spec` with `client`; candidates go to `sink`.
    pub fn start(
        spec: ClusterSpec,
        client: kube::Client,
        sink: mpsc::Sender<Vec<IncidentCandidate>>,
    ) -> Self {
        let ctx = Context::new(&spec.name, spec.source());
        let shared = Arc::new(Shared {
            state: Arc::new(RwLock::new(ClusterState::new(
                spec.max_objects,
                spec.max_events,
            ))),
            ctx,
            events: Mutex::default(),
            drift: Mutex::default(),
            levels: Mutex::default(),
            certs: RwLock::default(),
            changed: Notify::new(),
            sink,
            started_ms: now_ms(),
            spec,
        });
        let mut tasks = Vec::new();
        let namespaces = shared.spec.namespaces.clone();
        // One Api per watched namespace (all namespaces when none are named).
        fn apis<K>(client: &kube::Client, namespaces: &[String]) -> Vec<(Option<String>, Api<K>)>
        where
            K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
            K::DynamicType: Default,
        {
            if namespaces.is_empty() {
                vec![(None, Api::all(client.clone()))]
            } else {
                namespaces
                    .iter()
                    .map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns)))
                    .collect()
            }
        }
        let s = &shared;
        let t = &mut tasks;
        spawn_kind(
            s,
            t,
            Kind::Nodes,
            vec![(None, Api::<Node>::all(client.clone()))],
            NodeView::of,
            |st| &mut st.nodes,
        );
        spawn_kind(
            s,
            t,
            Kind::Pods,
            apis::<Pod>(&client, &namespaces),
            PodView::of,
            |st| &mut st.pods,
        );
        spawn_kind(
            s,
            t,
            Kind::Deployments,
            apis::<Deployment>(&client, &namespaces),
            WorkloadView::of_deployment,
            |st| &mut st.deployments,
        );
        spawn_kind(
            s,
            t,
            Kind::ReplicaSets,
            apis::<ReplicaSet>(&client, &namespaces),
            WorkloadView::of_replica_set,
            |st| &mut st.replica_sets,
        );
        spawn_kind(
            s,
            t,
            Kind::StatefulSets,
            apis::<StatefulSet>(&client, &namespaces),
            WorkloadView::of_stateful_set,
            |st| &mut st.stateful_sets,
        );
        spawn_kind(
            s,
            t,
            Kind::DaemonSets,
            apis::<DaemonSet>(&client, &namespaces),
            WorkloadView::of_daemon_set,
            |st| &mut st.daemon_sets,
        );
        spawn_kind(
            s,
            t,
            Kind::Jobs,
            apis::<Job>(&client, &namespaces),
            JobView::of,
            |st| &mut st.jobs,
        );
        spawn_kind(
            s,
            t,
            Kind::CronJobs,
            apis::<CronJob>(&client, &namespaces),
            CronJobView::of,
            |st| &mut st.cron_jobs,
        );
        spawn_kind(
            s,
            t,
            Kind::Ingresses,
            apis::<Ingress>(&client, &namespaces),
            IngressView::of,
            |st| &mut st.ingresses,
        );
        spawn_kind(
            s,
            t,
            Kind::Services,
            apis::<Service>(&client, &namespaces),
            ServiceView::of,
            |st| &mut st.services,
        );
        spawn_kind(
            s,
            t,
            Kind::EndpointSlices,
            apis::<EndpointSlice>(&client, &namespaces),
            EndpointSliceView::of,
            |st| &mut st.endpoint_slices,
        );
        // Config maps and secrets: metadata-only requests; their data never reaches srebot.
        spawn_kind(
            s,
            t,
            Kind::ConfigMaps,
            apis::<PartialObjectMeta<ConfigMap>>(&client, &namespaces),
            |o| MetaView {
                meta: crate::views::Meta::of(&o.metadata),
            },
            |st| &mut st.config_maps,
        );
        if s.spec.watch_secrets {
            spawn_kind(
                s,
                t,
                Kind::Secrets,
                apis::<PartialObjectMeta<Secret>>(&client, &namespaces),
                |o| MetaView {
                    meta: crate::views::Meta::of(&o.metadata),
                },
                |st| &mut st.secrets,
            );
        }
        let resource = crate::executor::helm_release_resource();
        let releases: Vec<(Option<String>, Api<DynamicObject>)> = if namespaces.is_empty() {
            vec![(None, Api::all_with(client.clone(), &resource))]
        } else {
            namespaces
                .iter()
                .map(|ns| {
                    (
                        Some(ns.clone()),
                        Api::namespaced_with(client.clone(), ns, &resource),
                    )
                })
                .collect()
        };
        spawn_kind(
            s,
            t,
            Kind::HelmReleases,
            releases,
            HelmReleaseView::of,
            |st| &mut st.helm_releases,
        );
        spawn_events(s, t, apis::<Event>(&client, &namespaces));
        let shared_eval = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move { judge_loop(shared_eval).await }));
        let shared_certs = Arc::clone(&shared);
        tasks.push(tokio::spawn(
            async move { certificate_loop(shared_certs).await },
        ));
        Self { shared, tasks }
    }

    pub fn name(&self) -> &str {
        &self.shared.spec.name
    }

    pub fn source(&self) -> &str {
        self.shared.spec.source()
    }

    pub fn spec(&self) -> &ClusterSpec {
        &self.shared.spec
    }

    /// What the watches hold, shared (read it briefly; the watches write it).
    pub fn state(&self) -> Arc<RwLock<ClusterState>> {
        Arc::clone(&self.shared.state)
    }

    /// The last probe of every ingress host's certificate, by host.
    pub fn certificates(&self) -> Vec<CertObservation> {
        self.shared.certs.read().values().cloned().collect()
    }

    /// Whether every started watch has a complete list.
    pub fn synced(&self) -> bool {
        self.shared.state.read().status.values().all(|s| s.synced)
    }
}

fn spawn_events(
    shared: &Arc<Shared>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    apis: Vec<(Option<String>, Api<Event>)>,
) {
    let scopes = apis.len();
    shared
        .state
        .write()
        .status
        .insert(Kind::Events, WatchStatus::default());
    let done = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    for (scope, api) in apis {
        let shared = Arc::clone(shared);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default()).default_backoff();
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let event = match item {
                    Ok(event) => event,
                    Err(error) => {
                        shared.record_error(Kind::Events, &error);
                        continue;
                    }
                };
                let (object, listed) = match event {
                    watcher::Event::Init => {
                        shared
                            .state
                            .write()
                            .status
                            .entry(Kind::Events)
                            .or_default()
                            .lists += 1;
                        continue;
                    }
                    watcher::Event::InitDone => {
                        done.lock().insert(scope.clone());
                        let synced = done.lock().len() >= scopes;
                        shared
                            .state
                            .write()
                            .status
                            .entry(Kind::Events)
                            .or_default()
                            .synced = synced;
                        continue;
                    }
                    watcher::Event::Delete(_) => continue,
                    watcher::Event::InitApply(o) => (o, true),
                    watcher::Event::Apply(o) => (o, false),
                };
                let view = EventView::of(&object);
                let candidates = {
                    let mut state = shared.state.write();
                    state.events.push(view.clone());
                    let held = state.events.len();
                    state.status.entry(Kind::Events).or_default().objects = held;
                    let now = now_ms().max(shared.started_ms);
                    shared.events.lock().observe(
                        &view,
                        &shared.ctx,
                        &shared.spec,
                        &state,
                        listed,
                        now,
                    )
                };
                shared.send(candidates).await;
            }
        }));
    }
}

/// Judges held state after each burst of changes and on every resync.
async fn judge_loop(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.changed.notified() => tokio::time::sleep(SETTLE).await,
            () = tokio::time::sleep(shared.spec.resync) => {}
        }
        let out = shared.evaluate(now_ms());
        shared.send(out).await;
    }
}

/// Probes the certificate every TLS host of every Ingress serves, every `cert_check_interval`.
async fn certificate_loop(shared: Arc<Shared>) {
    let connector = match tls::connector() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(cluster = %shared.ctx.cluster, "certificates will not be probed: {e}");
            return;
        }
    };
    loop {
        // Wait for the Ingresses to be listed.
        while !shared.state.read().synced(&[Kind::Ingresses]) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let targets: Vec<(String, String)> = {
            let state = shared.state.read();
            let mut hosts = BTreeMap::new();
            for ing in state.ingresses.values() {
                let address = match (&shared.spec.ingress_tls_address, ing.addresses.first()) {
                    (Some(a), _) => a.clone(),
                    (None, Some(ip)) if ip.contains(':') => format!("[{ip}]:443"),
                    (None, Some(host)) => format!("{host}:443"),
                    (None, None) => continue,
                };
                for host in ing.tls.iter().flat_map(|t| &t.hosts) {
                    if !host.contains('*') {
                        hosts.insert(host.to_ascii_lowercase(), address.clone());
                    }
                }
            }
            hosts.into_iter().collect()
        };
        let now = now_ms();
        let seen: BTreeMap<String, CertObservation> = futures::stream::iter(targets)
            .map(|(host, address)| {
                let connector = connector.clone();
                async move {
                    let obs = tls::probe(&connector, &host, &address, PROBE_TIMEOUT, now).await;
                    Ok::<_, std::convert::Infallible>((host, obs))
                }
            })
            .buffer_unordered(PROBES_AT_ONCE)
            .try_collect()
            .await
            .unwrap_or_default();
        for obs in seen.values().filter(|o| o.error.is_some()) {
            tracing::debug!(cluster = %shared.ctx.cluster, host = %obs.host, "certificate probe: {}", obs.error.as_deref().unwrap_or(""));
        }
        *shared.certs.write() = seen;
        shared.changed.notify_one();
        tokio::time::sleep(shared.spec.cert_check_interval).await;
    }
}
