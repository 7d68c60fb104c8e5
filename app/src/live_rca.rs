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
    /// Every source's windows: the incident's own source is read when `store` is unset.
    pub windows: Option<&'a windows::Sources>,
    /// Actions that fixed past incidents (incident id → catalogue action names).
    pub fixes: Option<&'a BTreeMap<String, Vec<String>>>,
    /// Loki, asked for the log context when no pushed lines belong to the target.
    pub loki: Option<LokiSource<'a>>,
    /// Call edges of `[[topology.edge]]`, beside those the mesh's metrics show.
    pub topology: Option<&'a rca::Topology>,
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
    let of_source = sources.windows.and_then(|w| w.get(&incident.source));
    if let Some(store) = sources.store.or(of_source.as_deref()) {
        input.changes =
            crate::changes::recent_changes(store, &input.incident.target, incident.opened_at_ms);
        let services = services_of(&incident, &findings);
        let none = rca::Topology::default();
        let configured = sources.topology.unwrap_or(&none);
        input.ranked_services =
            service_ranking(store, &services, incident.opened_at_ms, configured);
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

/// Labels that name the service a series belongs to (a `pod` label names it by its owner).
const SERVICE_LABELS: [&str; 4] = ["service", "app", "deployment", "container"];
/// Most series read per service for ranking.
const MAX_SERIES_PER_SERVICE: usize = 64;
/// Most services ranked for one incident (the involved ones first, then along the graph).
const MAX_SUSPECTS: usize = 40;
/// The anomalous period: from this long before the incident opened ...
const ANOMALOUS_LEAD_MS: i64 = 10 * 60_000;
/// ... to this long after it.
const ANOMALOUS_AFTER_MS: i64 = 5 * 60_000;
/// The normal period: this long, ending where the anomalous one starts.
const NORMAL_SPAN_MS: i64 = 30 * 60_000;

/// The two periods a ranking compares: normal `(normal_from, anomalous_from)`, anomalous
/// `[anomalous_from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankWindow {
    pub normal_from: i64,
    pub anomalous_from: i64,
    pub to: i64,
}

impl RankWindow {
    /// The live periods of an incident opened at `opened_at_ms`: the 10 minutes before it (and
    /// 5 after) against the 30 minutes before that.
    pub fn around(opened_at_ms: i64) -> Self {
        let anomalous_from = opened_at_ms - ANOMALOUS_LEAD_MS;
        Self {
            normal_from: anomalous_from - NORMAL_SPAN_MS,
            anomalous_from,
            to: opened_at_ms + ANOMALOUS_AFTER_MS,
        }
    }
}

/// The services an incident involves: its own target's workload and those of every finding
/// correlated into it, once each (nodes, namespaces and the cluster are not services).
pub fn services_of(incident: &incident::Incident, findings: &[incident::Finding]) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let targets = std::iter::once(incident.target.clone())
        .chain(findings.iter().map(|f| f.candidate.target_ref()));
    for target in targets {
        if matches!(
            target.kind,
            model::Scope::Node | model::Scope::Namespace | model::Scope::Cluster
        ) {
            continue;
        }
        let service = Target::new(
            model::Scope::Service,
            target.namespace.as_deref(),
            target.workload().to_owned(),
        );
        if !out.iter().any(|s| s.same_workload(&service)) {
            out.push(service);
        }
    }
    out
}

/// The call graph the windows show in `window`: every caller → callee a mesh family's request
/// counter names ([`rca::topology::MESH_FAMILIES`]).
pub fn discover_topology(store: &windows::Store, window: &RankWindow) -> rca::Topology {
    let mut graph = rca::Topology::default();
    for family in &rca::topology::MESH_FAMILIES {
        let sel = windows::Selector::from_matchers(vec![windows::Matcher::new(
            model::METRIC_NAME,
            windows::MatchOp::Equal,
            family.requests,
        )]);
        for (labels, samples) in store.samples(&sel, window.normal_from, window.to) {
            if samples.is_empty() {
                continue;
            }
            if let Some((caller, callee)) = family.edge(&labels) {
                graph.add(caller, callee);
            }
        }
    }
    graph
}

/// Ranks the services an incident involves as its root cause, when there is more than one
/// candidate; empty otherwise. With a call graph (the mesh's metrics in the windows, merged
/// with `configured` edges) the candidates grow to everything the involved services call,
/// directly or not, and their direct callers, and the ranking walks the graph
/// ([`rca::rank_with_topology`]).
pub fn service_ranking(
    store: &windows::Store,
    services: &[Target],
    opened_at_ms: i64,
    configured: &rca::Topology,
) -> Vec<rca::RankedService> {
    let window = RankWindow::around(opened_at_ms);
    let mut topology = discover_topology(store, &window);
    topology.merge(configured);
    let namespace = services.first().and_then(|s| s.namespace.clone());
    let involved: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut suspects: Vec<Target> = services.to_vec();
    for name in topology.suspects(&involved, MAX_SUSPECTS) {
        if !suspects.iter().any(|s| s.name == name) {
            suspects.push(Target::new(
                model::Scope::Service,
                namespace.as_deref(),
                name,
            ));
        }
    }
    if suspects.len() < 2 {
        return Vec::new();
    }
    rank_window(store, &suspects, &window, &topology)
}

/// Ranks `services` on their series in `window` over `topology` (the live ranking's core; the
/// evaluation of recorded cases calls it with the cases' own periods).
pub fn rank_window(
    store: &windows::Store,
    services: &[Target],
    window: &RankWindow,
    topology: &rca::Topology,
) -> Vec<rca::RankedService> {
    let series: Vec<rca::ServiceSeries> = services
        .iter()
        .flat_map(|s| service_series(store, s, window))
        .collect();
    rca::rank_with_topology(&series, topology, &rca::RankConfig::default())
}

/// Status labels whose value tells a failed request (`5xx`).
const STATUS_LABELS: [&str; 4] = ["code", "status", "status_code", "response_code"];

/// A service's series in `window`, split into the two periods: its own series (by `service`,
/// `app`, `deployment`, `container` label, or pods it owns), counters as per-second rates,
/// histogram and summary `_sum`/`_count` pairs as mean latency, requests answered `5xx` as
/// errors; and, where a mesh reports calls to it, its load, error ratio and latency as its
/// callers see them.
pub fn service_series(
    store: &windows::Store,
    service: &Target,
    window: &RankWindow,
) -> Vec<rca::ServiceSeries> {
    let mesh_metrics: std::collections::BTreeSet<&str> = rca::topology::MESH_FAMILIES
        .iter()
        .flat_map(|f| f.metrics())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    // (selector, whether it matched pods by name prefix and must check their owner)
    let mut selectors: Vec<(windows::Selector, bool)> = SERVICE_LABELS
        .iter()
        .map(|label| {
            let by_label = selector(service, label, windows::MatchOp::Equal, &service.name);
            (by_label, false)
        })
        .collect();
    let pods = format!("{}-.*", regex::escape(&service.name));
    selectors.push((
        selector(service, "pod", windows::MatchOp::Regex, &pods),
        true,
    ));
    let mut raw: Vec<(model::LabelSet, Vec<model::Sample>, bool)> = Vec::new();
    for (sel, by_pod) in &selectors {
        let counters: std::collections::BTreeMap<model::LabelSet, bool> = store
            .select(sel)
            .into_iter()
            .map(|info| (info.labels, info.counter))
            .collect();
        for (labels, samples) in store.samples(sel, window.normal_from, window.to) {
            if seen.len() >= MAX_SERIES_PER_SERVICE {
                break;
            }
            let name = labels.metric_name();
            if mesh_metrics.contains(name)
                || name.ends_with("_bucket")
                || labels.get("le").is_some()
            {
                continue;
            }
            let owned_by_another = labels
                .get("pod")
                .is_some_and(|pod| model::workload_of(pod).name != service.name);
            if *by_pod && owned_by_another {
                continue;
            }
            if !seen.insert(labels.to_string()) {
                continue;
            }
            let counter = counters.get(&labels).copied().unwrap_or(false);
            raw.push((labels, samples, counter));
        }
    }
    let mut out = Vec::new();
    // `_sum` / `_count` pairs of one series become its mean (latency).
    let mut counts: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    let mut sums: Vec<(String, String, Points)> = Vec::new();
    for (labels, samples, counter) in &raw {
        let name = labels.metric_name();
        let points: Vec<(i64, f64)> = if *counter {
            rates(samples)
        } else {
            samples.iter().map(|s| (s.timestamp_ms, s.value)).collect()
        };
        if let Some(family) = name.strip_suffix("_sum") {
            sums.push((family.to_owned(), without_name(labels), points));
            continue;
        }
        if let Some(family) = name.strip_suffix("_count") {
            counts.insert(format!("{family}{}", without_name(labels)), points.clone());
        }
        let failed = STATUS_LABELS
            .iter()
            .find_map(|l| labels.get(l))
            .map(|code| code.starts_with('5'));
        let kind = match failed {
            Some(true) => rca::MetricKind::Errors,
            Some(false) => rca::MetricKind::Load,
            None => rca::MetricKind::of(name),
        };
        let metric = match failed {
            Some(true) => format!("{name} 5xx"),
            _ => name.to_owned(),
        };
        out.push(split(service, metric, Some(kind), &points, window));
    }
    for (family, rest, sum) in sums {
        let Some(count) = counts.get(&format!("{family}{rest}")) else {
            continue;
        };
        let count: std::collections::BTreeMap<i64, f64> = count.iter().copied().collect();
        let mean: Vec<(i64, f64)> = sum
            .iter()
            .filter_map(|&(t, s)| {
                let c = *count.get(&t)?;
                (c > 0.0).then_some((t, s / c))
            })
            .collect();
        out.push(split(
            service,
            format!("{family} mean"),
            Some(rca::MetricKind::of(&family)),
            &mean,
            window,
        ));
    }
    for family in &rca::topology::MESH_FAMILIES {
        out.extend(mesh_series(store, family, service, window));
    }
    out
}

/// A service's load, error ratio and latency from one mesh's metrics of calls to it.
fn mesh_series(
    store: &windows::Store,
    family: &rca::topology::MeshFamily,
    service: &Target,
    window: &RankWindow,
) -> Vec<rca::ServiceSeries> {
    let callee = |metric: &str| {
        let mut matchers = vec![
            windows::Matcher::new(model::METRIC_NAME, windows::MatchOp::Equal, metric),
            windows::Matcher::new(family.callee_label, windows::MatchOp::Equal, &service.name),
        ];
        if let (Some(label), Some(ns)) = (family.callee_namespace_label, &service.namespace) {
            matchers.push(windows::Matcher::new(label, windows::MatchOp::Equal, ns));
        }
        windows::Selector::from_matchers(matchers)
    };
    // Per-bin sums of per-second rates: total, failed, latency sum, latency count. Istio
    // reports each call twice; the caller's side (`reporter="source"`) is what callers see,
    // a delay on the wire included, so it wins where both are there.
    let mut bins: std::collections::BTreeMap<i64, [f64; 4]> = Default::default();
    let mut step = 0;
    let sourced = !store
        .select(&callee(family.requests))
        .iter()
        .all(|s| s.labels.get("reporter") != Some("source"));
    let mut add = |metric: &str, slot: usize, only_failed: bool| {
        for (labels, samples) in store.samples(&callee(metric), window.normal_from, window.to) {
            let reporter = labels.get("reporter");
            if !family.counts(&labels) || (sourced && reporter.is_some_and(|r| r != "source")) {
                continue;
            }
            if only_failed && !family.is_failed(&labels) {
                continue;
            }
            if step == 0 {
                step = median_step(&samples);
            }
            for (t, r) in rates(&samples) {
                bins.entry(t / step.max(1)).or_default()[slot] += r;
            }
        }
    };
    add(family.requests, 0, false);
    match family.failed {
        rca::topology::Failed::Label(..) => add(family.requests, 1, true),
        rca::topology::Failed::Metric(metric) => add(metric, 1, false),
    }
    add(family.latency_sum, 2, false);
    add(family.latency_count, 3, false);
    if bins.is_empty() {
        return Vec::new();
    }
    let step = step.max(1);
    let mut load = Vec::new();
    let mut errors = Vec::new();
    let mut latency = Vec::new();
    for (bin, [total, failed, sum, count]) in bins {
        let t = bin * step;
        load.push((t, total));
        if total > 0.0 {
            errors.push((t, (failed / total).clamp(0.0, 1.0)));
        }
        if count > 0.0 {
            latency.push((t, sum / count * family.latency_unit_s));
        }
    }
    let name = family.name;
    vec![
        split(
            service,
            format!("{name} requests/s"),
            Some(rca::MetricKind::Load),
            &load,
            window,
        ),
        split(
            service,
            format!("{name} error ratio"),
            Some(rca::MetricKind::Errors),
            &errors,
            window,
        ),
        split(
            service,
            format!("{name} latency s"),
            Some(rca::MetricKind::Latency),
            &latency,
            window,
        ),
    ]
}

/// The labels but the metric name, as text (to pair `_sum` with `_count`).
fn without_name(labels: &model::LabelSet) -> String {
    labels
        .iter()
        .filter(|(n, _)| *n != model::METRIC_NAME)
        .map(|(n, v)| format!("{n}={v:?},"))
        .collect()
}

/// The median spacing of samples (ms), at least 1.
fn median_step(samples: &[model::Sample]) -> i64 {
    let mut gaps: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].timestamp_ms - w[0].timestamp_ms)
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(1).max(1)
}

/// Per-second rates of a counter between successive samples (a fall is a reset: the new
/// value is the increase), stamped at the later sample.
fn rates(samples: &[model::Sample]) -> Vec<(i64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = (w[1].timestamp_ms - w[0].timestamp_ms) as f64 / 1000.0;
            if dt <= 0.0 {
                return None;
            }
            let dv = if w[1].value >= w[0].value {
                w[1].value - w[0].value
            } else {
                w[1].value
            };
            Some((w[1].timestamp_ms, dv / dt))
        })
        .collect()
}

/// One timestamped value, and a series of them.
type Point = (i64, f64);
type Points = Vec<Point>;

/// Points split at the window's anomalous start into one ranking series.
fn split(
    service: &Target,
    metric: String,
    kind: Option<rca::MetricKind>,
    points: &[(i64, f64)],
    window: &RankWindow,
) -> rca::ServiceSeries {
    let (normal, anomalous): (Vec<&Point>, Vec<&Point>) =
        points.iter().partition(|(t, _)| *t < window.anomalous_from);
    rca::ServiceSeries {
        service: service.name.clone(),
        metric,
        normal: normal.iter().map(|p| p.1).collect(),
        anomalous: anomalous.iter().map(|p| p.1).collect(),
        kind,
    }
}

fn selector(service: &Target, label: &str, op: windows::MatchOp, value: &str) -> windows::Selector {
    let mut matchers = vec![windows::Matcher::new(label, op, value)];
    if let Some(ns) = &service.namespace {
        matchers.push(windows::Matcher::new(
            "namespace",
            windows::MatchOp::Equal,
            ns,
        ));
    }
    windows::Selector::from_matchers(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{MetricType, Sample, SeriesRef, SeriesVisitor};

    const OPENED: i64 = 1_700_000_000_000;

    type Series<'a> = (&'a [(&'a str, &'a str)], &'a dyn Fn(i64) -> f64);

    /// Appends every series in one batch (the store's watermark is event time: a second batch
    /// of the same hour would be late).
    fn push(store: &windows::Store, all: &[Series<'_>]) {
        let mut appender = store.appender();
        for (labels, value) in all {
            let samples: Vec<Sample> = (0..60)
                .map(|i| {
                    let timestamp_ms = OPENED - 40 * 60_000 + i * 60_000;
                    Sample {
                        timestamp_ms,
                        value: value(timestamp_ms),
                    }
                })
                .collect();
            let Ok(()) = appender.series(SeriesRef {
                labels,
                samples: &samples,
                metric_type: MetricType::Gauge,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            });
        }
        assert!(appender.finish().dropped_total() == 0);
    }

    #[test]
    fn the_service_that_moved_ranks_first() {
        let store = windows::Store::new(windows::StoreConfig {
            retention_ms: 24 * 3_600_000,
            ..windows::StoreConfig::default()
        });
        let wobble = |t: i64| 100.0 + ((t / 60_000) % 3) as f64;
        let front = |t: i64| wobble(t) + if t >= OPENED - 8 * 60_000 { 20.0 } else { 0.0 };
        let carts = |t: i64| wobble(t) + if t >= OPENED - 8 * 60_000 { 400.0 } else { 0.0 };
        let elsewhere = |t: i64| wobble(t) * 50.0;
        push(
            &store,
            &[
                (
                    &[
                        ("__name__", "latency_ms"),
                        ("namespace", "shop"),
                        ("service", "front"),
                    ],
                    &front,
                ),
                (
                    &[
                        ("__name__", "cpu"),
                        ("namespace", "shop"),
                        ("pod", "carts-6c9f7d8b5-x2x1k"),
                    ],
                    &carts,
                ),
                // Another namespace's front does not count.
                (
                    &[
                        ("__name__", "cpu"),
                        ("namespace", "ops"),
                        ("service", "front"),
                    ],
                    &elsewhere,
                ),
            ],
        );
        let services = [
            Target::new(model::Scope::Service, Some("shop"), "front"),
            Target::new(model::Scope::Service, Some("shop"), "carts"),
        ];
        let none = rca::Topology::default();
        let ranked = service_ranking(&store, &services, OPENED, &none);
        assert_eq!(ranked.len(), 2, "{ranked:?}");
        assert_eq!(ranked[0].service, "carts", "{ranked:?}");
        assert_eq!(ranked[0].metric, "cpu");
        // One service alone is not ranked.
        assert!(service_ranking(&store, &services[..1], OPENED, &none).is_empty());
    }
}
