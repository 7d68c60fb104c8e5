//! The tools that read the cluster: events, nodes, pods, the overview, release drift and the
//! dependency probes from the cluster crate's watch caches, and rollouts from both the watch and
//! kube-state-metrics in the windows.
//!
//! Without a watched cluster (or dependency probes) they answer so plainly; nothing is faked.

use super::{ArgProblem, Args, Outcome, Tool, argument};
use crate::{App, AppError, Caller, Operation, authorize};
use cluster::ClusterWatch;
use cluster::cache::ClusterState;
use cluster::views::{Condition, PodView, WorkloadView};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What a cluster-backed tool answers with no `[[cluster]]` watched.
const NO_CLUSTER: &str = "no cluster configured: add a [[cluster]] (kubeconfig or in_cluster) \
    to the configuration so srebot watches its nodes, pods, events, workloads and releases";

/// What `runtime_health.get` answers with no `[[dependencies]]`.
const NO_DEPENDENCIES: &str = "no dependency probes configured: add [[dependencies]] (name, kind \
    nats/redis/postgres/http/tcp, address) to the configuration";

/// Node conditions that are bad when `True`.
const PRESSURES: &[&str] = &[
    "DiskPressure",
    "MemoryPressure",
    "PIDPressure",
    "NetworkUnavailable",
];

/// How far back the overview counts warning events.
const OVERVIEW_EVENTS_MS: i64 = 15 * 60_000;

fn time(ms: i64) -> String {
    incident::record::rfc3339::format(ms)
}

fn optional_time(ms: Option<i64>) -> Value {
    ms.filter(|ms| *ms > 0)
        .map_or(Value::Null, |ms| json!(time(ms)))
}

/// The watched clusters `source` selects (a cluster's source or its name), every one without it;
/// a source no cluster has is an argument error listing the ones there are.
fn selected<'a>(app: &'a App, tool: Tool, args: &Args) -> Result<Vec<&'a ClusterWatch>, AppError> {
    let watches = &app.signals.watches;
    let Some(wanted) = args.text("source") else {
        return Ok(watches.iter().collect());
    };
    let chosen: Vec<&ClusterWatch> = watches
        .iter()
        .filter(|w| w.source() == wanted || w.name() == wanted)
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = watches.iter().map(ClusterWatch::source).collect();
        return Err(argument(
            tool,
            ArgProblem::new(
                "source",
                format!(
                    "no watched cluster has source or name {wanted:?} (watched: {})",
                    known.join(", ")
                ),
            ),
        ));
    }
    Ok(chosen)
}

fn ready_of(node: &cluster::views::NodeView) -> &str {
    node.condition("Ready")
        .map_or("Unknown", |c| c.status.as_str())
}

fn pressures(conditions: &[Condition]) -> Vec<&str> {
    conditions
        .iter()
        .filter(|c| c.is_true() && PRESSURES.contains(&c.kind.as_str()))
        .map(|c| c.kind.as_str())
        .collect()
}

/// Whether `pod` belongs to `target`: its own name, its controller's, or its workload's.
fn pod_matches(pod: &PodView, target: &str) -> bool {
    pod.meta.name == target
        || pod.meta.owner.as_ref().is_some_and(|o| o.name == target)
        || model::workload_of(&pod.meta.name).name == target
}

/// Whether a pod is not plainly fine: not running or succeeded, a container not ready or
/// waiting.
fn pod_unhealthy(pod: &PodView) -> bool {
    match pod.phase.as_str() {
        "Succeeded" => false,
        "Running" => pod
            .containers
            .iter()
            .any(|c| !c.ready || c.waiting.is_some()),
        _ => true,
    }
}

fn pod_row(cluster: &str, pod: &PodView) -> Value {
    let ready = pod.containers.iter().filter(|c| c.ready).count();
    let restarts: i64 = pod.containers.iter().map(|c| i64::from(c.restarts)).sum();
    let waiting: Vec<Value> = pod
        .containers
        .iter()
        .filter_map(|c| {
            c.waiting.as_ref().map(|reason| {
                json!({"container": c.name, "reason": reason, "message": c.waiting_message})
            })
        })
        .collect();
    let terminated: Vec<Value> = pod
        .containers
        .iter()
        .filter_map(|c| {
            c.last_terminated.as_ref().map(|reason| {
                json!({
                    "container": c.name,
                    "reason": reason,
                    "exit_code": c.last_exit_code,
                    "at": optional_time(c.last_finished_ms),
                })
            })
        })
        .collect();
    json!({
        "cluster": cluster,
        "namespace": pod.meta.namespace,
        "name": pod.meta.name,
        "owner": pod.meta.owner.as_ref().map(|o| format!("{} {}", o.kind, o.name)),
        "node": pod.node,
        "phase": pod.phase,
        "reason": pod.reason,
        "ready": format!("{ready}/{}", pod.containers.len()),
        "restarts": restarts,
        "waiting": waiting,
        "last_terminated": terminated,
        "images": pod.containers.iter().map(|c| c.image.as_str()).collect::<Vec<_>>(),
        "unscheduled": pod.unscheduled.as_ref().map(|c| &c.message),
        "created": optional_time(Some(pod.meta.created_ms)),
    })
}

/// Reads the watch caches for events, nodes, pods, the overview and release drift.
/// `range`: the `since`/`until` of `events.list`.
pub(super) fn read(
    app: &App,
    caller: &Caller,
    tool: Tool,
    args: &Args,
    max: usize,
    range: Option<(i64, i64)>,
) -> Result<Outcome, AppError> {
    authorize(caller, Operation::Status)?;
    if app.signals.watches.is_empty() {
        return Ok(Outcome::unavailable(NO_CLUSTER));
    }
    let watches = selected(app, tool, args)?;
    let now = super::now_ms();
    match tool {
        Tool::NodesList => Ok(nodes(&watches, args, max)),
        Tool::PodsList => Ok(pods(&watches, args, max)),
        Tool::EventsList => {
            let (since, until) = range.unwrap_or((now - 3_600_000, now));
            Ok(events(&watches, args, since, until, max))
        }
        Tool::ClusterOverviewGet => Ok(overview(app, &watches, args, now)),
        Tool::ReleaseDriftSummary => Ok(release_drift(&watches, args, max, now)),
        _ => Ok(Outcome::unavailable(format!(
            "{} does not read the cluster watch",
            tool.name()
        ))),
    }
}

/// Rows of every cluster, then cut to `limit`.
fn cut(mut rows: Vec<Value>, limit: usize) -> (Vec<Value>, usize, bool) {
    let total = rows.len();
    rows.truncate(limit);
    (rows, total, total > limit)
}

fn not_synced(watches: &[&ClusterWatch]) -> Vec<String> {
    watches
        .iter()
        .filter(|w| !w.synced())
        .map(|w| w.name().to_owned())
        .collect()
}

fn nodes(watches: &[&ClusterWatch], args: &Args, max: usize) -> Outcome {
    let mut rows = Vec::new();
    for watch in watches {
        let state = watch.state();
        let state = state.read();
        for node in state.nodes.values() {
            if args.text("node").is_some_and(|n| n != node.meta.name) {
                continue;
            }
            let ready = node.condition("Ready");
            rows.push(json!({
                "cluster": watch.name(),
                "name": node.meta.name,
                "ready": ready_of(node),
                "ready_since": optional_time(ready.map(|c| c.since_ms)),
                "pressure": pressures(&node.conditions),
                "unschedulable": node.unschedulable,
                "kubelet_version": node.kubelet_version,
                "conditions": node.conditions.iter().filter(|c| c.kind == "Ready" && !c.is_true() || c.is_true() && c.kind != "Ready").collect::<Vec<_>>(),
            }));
        }
    }
    // Not ready first, then under pressure, then by name.
    rows.sort_by_key(|r| {
        (
            r["ready"] == "True",
            r["pressure"].as_array().is_none_or(Vec::is_empty),
            r["name"].as_str().unwrap_or_default().to_owned(),
        )
    });
    let (rows, total, truncated) = cut(rows, args.limit(100, max));
    let not_ready: Vec<&str> = rows
        .iter()
        .filter(|r| r["ready"] != "True")
        .filter_map(|r| r["name"].as_str())
        .collect();
    let pressed: Vec<String> = rows
        .iter()
        .filter(|r| r["pressure"].as_array().is_some_and(|p| !p.is_empty()))
        .map(|r| {
            let kinds: Vec<&str> = r["pressure"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "{} ({})",
                r["name"].as_str().unwrap_or("?"),
                kinds.join(", ")
            )
        })
        .collect();
    let mut summary = format!("{total} nodes, {} not ready", not_ready.len());
    if !not_ready.is_empty() {
        summary.push_str(&format!(" ({})", not_ready.join(", ")));
    }
    if !pressed.is_empty() {
        summary.push_str(&format!("; under pressure: {}", pressed.join(", ")));
    }
    let mut outcome = Outcome::new(
        summary,
        json!({ "nodes": rows, "not_synced": not_synced(watches) }),
    );
    outcome.cut = truncated;
    outcome
}

fn pods(watches: &[&ClusterWatch], args: &Args, max: usize) -> Outcome {
    let mut rows = Vec::new();
    for watch in watches {
        let state = watch.state();
        let state = state.read();
        for pod in state.pods.values() {
            if args
                .text("namespace")
                .is_some_and(|ns| pod.meta.namespace.as_deref() != Some(ns))
                || args.text("target").is_some_and(|t| !pod_matches(pod, t))
                || args
                    .text("node")
                    .is_some_and(|n| pod.node.as_deref() != Some(n))
            {
                continue;
            }
            let mut row = pod_row(watch.name(), pod);
            row["unhealthy"] = json!(pod_unhealthy(pod));
            rows.push(row);
        }
    }
    // Unhealthy first, then most restarts, then by name.
    rows.sort_by_key(|r| {
        (
            r["unhealthy"] != true,
            std::cmp::Reverse(r["restarts"].as_i64().unwrap_or(0)),
            r["namespace"].as_str().unwrap_or_default().to_owned(),
            r["name"].as_str().unwrap_or_default().to_owned(),
        )
    });
    let (rows, total, truncated) = cut(rows, args.limit(100, max));
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *phases
            .entry(r["phase"].as_str().unwrap_or("Unknown").to_owned())
            .or_default() += 1;
    }
    let unhealthy: Vec<String> = rows
        .iter()
        .filter(|r| r["unhealthy"] == true)
        .take(5)
        .map(|r| {
            let why = r["waiting"][0]["reason"]
                .as_str()
                .or(r["reason"].as_str())
                .or(r["phase"].as_str().filter(|p| *p != "Running"))
                .unwrap_or("not ready");
            format!(
                "{}/{} ({why})",
                r["namespace"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let phase_text: Vec<String> = phases.iter().map(|(p, n)| format!("{n} {p}")).collect();
    let mut summary = format!("{total} pods ({})", phase_text.join(", "));
    if !unhealthy.is_empty() {
        summary.push_str(&format!("; not healthy: {}", unhealthy.join(", ")));
    }
    let mut outcome = Outcome::new(
        summary,
        json!({ "pods": rows, "not_synced": not_synced(watches) }),
    );
    outcome.cut = truncated;
    outcome
}

fn events(watches: &[&ClusterWatch], args: &Args, since: i64, until: i64, max: usize) -> Outcome {
    let mut rows = Vec::new();
    for watch in watches {
        let state = watch.state();
        let state = state.read();
        for event in state.events.iter() {
            let at = event.last_ms.max(event.first_ms);
            if at < since || at > until {
                continue;
            }
            let involved = &event.involved;
            let namespace = event.namespace.as_deref().or(involved.namespace.as_deref());
            if args
                .text("namespace")
                .is_some_and(|ns| namespace != Some(ns))
                || args.text("reason").is_some_and(|r| r != event.reason)
                || args.text("target").is_some_and(|t| {
                    involved.name != t && model::workload_of(&involved.name).name != t
                })
                || args.text("node").is_some_and(|n| {
                    !(involved.kind == "Node" && involved.name == n)
                        && event.host.as_deref() != Some(n)
                })
            {
                continue;
            }
            rows.push(json!({
                "cluster": watch.name(),
                "at": time(at),
                "first": time(event.first_ms),
                "type": event.kind,
                "reason": event.reason,
                "message": event.message,
                "object": format!("{} {}", involved.kind, involved.name),
                "namespace": namespace,
                "component": event.component,
                "host": event.host,
                "count": event.count,
            }));
        }
    }
    rows.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    let (rows, total, truncated) = cut(rows, args.limit(50, max));
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *reasons
            .entry(r["reason"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    let mut top: Vec<(&str, usize)> = reasons.into_iter().collect();
    top.sort_by_key(|(reason, n)| (std::cmp::Reverse(*n), *reason));
    let top: Vec<String> = top
        .iter()
        .take(5)
        .map(|(r, n)| format!("{r} ×{n}"))
        .collect();
    let warnings = rows.iter().filter(|r| r["type"] == "Warning").count();
    let mut summary = format!(
        "{total} events between {} and {}, {warnings} warnings",
        time(since),
        time(until)
    );
    if !top.is_empty() {
        summary.push_str(&format!(": {}", top.join(", ")));
    }
    let mut outcome = Outcome::new(
        summary,
        json!({ "events": rows, "not_synced": not_synced(watches) }),
    );
    outcome.cut = truncated;
    outcome
}

fn workload_row(w: &WorkloadView) -> Value {
    json!({
        "kind": w.kind,
        "namespace": w.meta.namespace,
        "name": w.meta.name,
        "desired": w.desired,
        "ready": w.ready,
        "updated": w.updated,
        "generation": w.meta.generation,
        "observed_generation": w.observed_generation,
        "images": w.images.iter().map(|(c, i)| json!({"container": c, "image": i})).collect::<Vec<_>>(),
    })
}

fn overview(app: &App, watches: &[&ClusterWatch], args: &Args, now: i64) -> Outcome {
    let node_filter = args.text("node");
    let mut clusters = Vec::new();
    let mut sentences = Vec::new();
    for watch in watches {
        let state = watch.state();
        let state = state.read();
        let nodes: Vec<_> = state
            .nodes
            .values()
            .filter(|n| node_filter.is_none_or(|f| f == n.meta.name))
            .collect();
        let not_ready: Vec<&str> = nodes
            .iter()
            .filter(|n| ready_of(n) != "True")
            .map(|n| n.meta.name.as_str())
            .collect();
        let pressed: Vec<Value> = nodes
            .iter()
            .filter(|n| !pressures(&n.conditions).is_empty())
            .map(|n| json!({"node": n.meta.name, "pressure": pressures(&n.conditions)}))
            .collect();
        let pods: Vec<&PodView> = state
            .pods
            .values()
            .filter(|p| node_filter.is_none_or(|f| p.node.as_deref() == Some(f)))
            .collect();
        let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
        let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
        for pod in &pods {
            *phases.entry(pod.phase.as_str()).or_default() += 1;
            for c in &pod.containers {
                if let Some(reason) = &c.waiting {
                    *waiting.entry(reason.as_str()).or_default() += 1;
                }
            }
        }
        let unavailable: Vec<Value> = state
            .workloads()
            .filter(|w| w.ready < w.desired)
            .take(20)
            .map(workload_row)
            .collect();
        let releases_not_ready: Vec<String> = state
            .helm_releases
            .values()
            .filter(|hr| hr.ready.as_ref().is_some_and(|c| !c.is_true()))
            .map(|hr| hr.meta.key())
            .collect();
        let mut warnings: BTreeMap<&str, usize> = BTreeMap::new();
        for e in state.events.iter().filter(|e| {
            e.kind == "Warning"
                && e.last_ms >= now - OVERVIEW_EVENTS_MS
                && node_filter.is_none_or(|f| {
                    e.host.as_deref() == Some(f)
                        || (e.involved.kind == "Node" && e.involved.name == f)
                })
        }) {
            *warnings.entry(e.reason.as_str()).or_default() += 1;
        }
        let mut sentence = format!(
            "{}: {} nodes ({} not ready), {} pods",
            watch.name(),
            nodes.len(),
            not_ready.len(),
            pods.len()
        );
        if !waiting.is_empty() {
            let w: Vec<String> = waiting.iter().map(|(r, n)| format!("{n} {r}")).collect();
            sentence.push_str(&format!(" ({} waiting)", w.join(", ")));
        }
        if !unavailable.is_empty() {
            sentence.push_str(&format!(
                ", {} workloads below their desired replicas",
                unavailable.len()
            ));
        }
        if !warnings.is_empty() {
            let total: usize = warnings.values().sum();
            sentence.push_str(&format!(", {total} warning events in the last 15 min"));
        }
        sentences.push(sentence);
        clusters.push(json!({
            "cluster": watch.name(),
            "source": watch.source(),
            "synced": watch.synced(),
            "nodes": {
                "total": nodes.len(),
                "not_ready": not_ready,
                "under_pressure": pressed,
            },
            "pods": {
                "total": pods.len(),
                "by_phase": phases,
                "waiting": waiting,
            },
            "workloads_below_desired": unavailable,
            "releases_not_ready": releases_not_ready,
            "warning_events_15m": warnings,
            "objects": state.status.iter().map(|(k, s)| (k.as_str(), s.objects)).collect::<BTreeMap<_, _>>(),
        }));
    }
    let dependencies: Vec<Value> = app
        .signals
        .dependencies
        .as_ref()
        .map(cluster::DependencyMonitor::statuses)
        .unwrap_or_default()
        .iter()
        .map(|d| json!({"name": d.name, "kind": d.kind, "up": d.up, "unavailable": d.unavailable}))
        .collect();
    let down: Vec<&str> = dependencies
        .iter()
        .filter(|d| d["unavailable"] == true)
        .filter_map(|d| d["name"].as_str())
        .collect();
    let mut summary = sentences.join("; ");
    if !down.is_empty() {
        summary.push_str(&format!("; dependencies unavailable: {}", down.join(", ")));
    }
    Outcome::new(
        summary,
        json!({ "clusters": clusters, "dependencies": dependencies }),
    )
}

fn release_drift(watches: &[&ClusterWatch], args: &Args, max: usize, now: i64) -> Outcome {
    let mut rows = Vec::new();
    for watch in watches {
        let certs: BTreeMap<String, cluster::tls::CertObservation> = watch
            .certificates()
            .into_iter()
            .map(|c| (c.host.clone(), c))
            .collect();
        let state = watch.state();
        let state = state.read();
        let ctx = cluster::signal::Context::new(watch.name(), watch.source());
        // The drift judges, fresh: what drifts now (a generation behind shows as a fact below,
        // since its grace needs memory the watch's own judge keeps).
        let drifts = cluster::drift::DriftSignals::default().evaluate(
            &state,
            &certs,
            &ctx,
            watch.spec(),
            now,
        );
        for hr in state.helm_releases.values() {
            let ns = hr.meta.namespace.as_deref().unwrap_or("");
            if args
                .text("namespace")
                .is_some_and(|n| n != ns && n != hr.target_namespace)
                || args
                    .text("target")
                    .is_some_and(|t| t != hr.meta.name && t != hr.release_name)
            {
                continue;
            }
            let findings: Vec<Value> = drifts
                .iter()
                .filter(|c| {
                    c.detector.starts_with("release_drift/")
                        && c.target == hr.meta.name
                        && c.namespace.as_deref().is_none_or(|n| n == ns)
                })
                .map(|c| {
                    json!({
                        "type": c.incident_type,
                        "severity": c.severity,
                        "detector": c.detector,
                        "evidence": c.evidence.events.iter().map(|e| &e.message).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let workloads: Vec<Value> = cluster::drift::release_workloads(hr, &state)
                .into_iter()
                .map(workload_row)
                .collect();
            let generation_behind = hr.meta.generation > hr.observed_generation;
            let ready = hr.ready.as_ref();
            let drifting =
                !findings.is_empty() || generation_behind || ready.is_some_and(|c| !c.is_true());
            rows.push(json!({
                "cluster": watch.name(),
                "namespace": ns,
                "name": hr.meta.name,
                "drifting": drifting,
                "suspended": hr.suspended,
                "ready": ready.map(|c| json!({"status": c.status, "reason": c.reason, "message": c.message, "since": optional_time(Some(c.since_ms))})),
                "generation": hr.meta.generation,
                "observed_generation": hr.observed_generation,
                "generation_behind": generation_behind,
                "chart": hr.chart,
                "chart_version": hr.chart_version,
                "revision": hr.current().map(|r| r.version),
                "last_attempted_revision": hr.last_attempted_revision,
                "failures": {"install": hr.install_failures, "upgrade": hr.upgrade_failures},
                "workloads": workloads,
                "drift": findings,
            }));
        }
        drop(state);
    }
    rows.sort_by_key(|r| {
        (
            r["drifting"] != true,
            r["namespace"].as_str().unwrap_or_default().to_owned(),
            r["name"].as_str().unwrap_or_default().to_owned(),
        )
    });
    let (rows, total, truncated) = cut(rows, args.limit(50, max));
    let drifting: Vec<String> = rows
        .iter()
        .filter(|r| r["drifting"] == true)
        .map(|r| {
            let why = r["drift"][0]["evidence"][0]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    r["generation_behind"]
                        .as_bool()
                        .filter(|b| *b)
                        .map(|_| "generation not yet applied".to_owned())
                })
                .or_else(|| {
                    r["ready"]["reason"]
                        .as_str()
                        .map(|s| format!("not Ready: {s}"))
                })
                .unwrap_or_else(|| "drifting".to_owned());
            format!(
                "{}/{} ({why})",
                r["namespace"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let summary = if drifting.is_empty() {
        format!("{total} Helm releases, none drifting")
    } else {
        format!(
            "{total} Helm releases, {} drifting: {}",
            drifting.len(),
            drifting.join("; ")
        )
    };
    let mut outcome = Outcome::new(
        summary,
        json!({ "releases": rows, "not_synced": not_synced(watches) }),
    );
    outcome.cut = truncated;
    outcome
}

pub(super) fn runtime_health(app: &App, caller: &Caller, args: &Args) -> Result<Outcome, AppError> {
    authorize(caller, Operation::Status)?;
    let Some(monitor) = &app.signals.dependencies else {
        return Ok(Outcome::unavailable(NO_DEPENDENCIES));
    };
    let all = monitor.statuses();
    let chosen: Vec<&cluster::DependencyStatus> = all
        .iter()
        .filter(|d| args.text("name").is_none_or(|n| n == d.name))
        .collect();
    if let Some(name) = args.text("name")
        && chosen.is_empty()
    {
        let known: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        return Err(argument(
            Tool::RuntimeHealthGet,
            ArgProblem::new(
                "name",
                format!(
                    "no dependency is named {name:?} (probed: {})",
                    known.join(", ")
                ),
            ),
        ));
    }
    let now = super::now_ms();
    let rows: Vec<Value> = chosen
        .iter()
        .map(|d| {
            let state = match (d.up, d.unavailable) {
                (_, true) => "unavailable",
                (None, false) => "not probed yet",
                (Some(true), false) => "up",
                (Some(false), false) => "failing",
            };
            json!({
                "name": d.name,
                "kind": d.kind,
                "address": d.address,
                "state": state,
                "up": d.up,
                "unavailable": d.unavailable,
                "consecutive_failures": d.consecutive_failures,
                "detail": d.detail,
                "latency_ms": d.latency_ms,
                "last_probe": optional_time(Some(d.last_probe_ms)),
                "last_ok": optional_time(d.last_ok_ms),
                "failing_since": optional_time(d.failing_since_ms),
                "endpoints": d.endpoints.map(|(ready, not_ready)| json!({"ready": ready, "not_ready": not_ready})),
            })
        })
        .collect();
    let sentences: Vec<String> = chosen
        .iter()
        .map(|d| match (d.up, d.unavailable) {
            (_, true) => {
                let since = d
                    .failing_since_ms
                    .map(|at| format!(" for {}", super::args::span_words(now - at)))
                    .unwrap_or_default();
                format!("{} ({}) unavailable{since}: {}", d.name, d.kind, d.detail)
            }
            (None, false) => format!("{} ({}) not probed yet", d.name, d.kind),
            (Some(true), false) => format!("{} ({}) up: {}", d.name, d.kind, d.detail),
            (Some(false), false) => format!(
                "{} ({}) failed {} probes in a row: {}",
                d.name, d.kind, d.consecutive_failures, d.detail
            ),
        })
        .collect();
    Ok(Outcome::new(
        sentences.join("; "),
        json!({ "dependencies": rows }),
    ))
}

/// Rollouts of a deployment: its ReplicaSets' revisions and the Helm release that rendered it
/// from the watch, and the changes kube-state-metrics recorded in the windows.
pub(super) fn rollout_history(
    app: &App,
    caller: &Caller,
    args: &Args,
    since: i64,
    until: i64,
    max: usize,
) -> Result<Outcome, AppError> {
    authorize(caller, Operation::Windows)?;
    let (Some(namespace), Some(name)) = (args.text("namespace"), args.text("target")) else {
        return Err(argument(
            Tool::RolloutHistory,
            ArgProblem::new(
                if args.text("namespace").is_none() {
                    "namespace"
                } else {
                    "target"
                },
                "give namespace and target (the deployment) to read its rollouts",
            ),
        ));
    };
    let workload = model::workload_of(name).name.to_owned();
    let target = model::Target::new(model::Scope::Deployment, Some(namespace), workload.clone());
    let limit = args.limit(50, max);
    let mut changes: Vec<Value> = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    let watched = if app.signals.watches.is_empty() {
        Vec::new()
    } else {
        selected(app, Tool::RolloutHistory, args)?
    };
    for watch in &watched {
        let state = watch.state();
        let state = state.read();
        watch_rollouts(
            watch.name(),
            &state,
            namespace,
            &workload,
            (since, until),
            &mut changes,
            &mut current,
        );
    }
    let stores = match args.text("source") {
        Some(source) => app.sources.get(source).into_iter().collect::<Vec<_>>(),
        None => app.sources.list().into_iter().map(|(_, s)| s).collect(),
    };
    for store in stores {
        for change in crate::changes::changes_between(&store, &target, since, until) {
            changes.push(json!({
                "at": time(change.at_ms),
                "kind": change.kind,
                "detail": change.detail,
                "from": "kube-state-metrics",
            }));
        }
    }
    changes.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    let total = changes.len();
    changes.truncate(limit);
    let from = if watched.is_empty() {
        "kube-state-metrics; no cluster watched"
    } else {
        "the cluster watch and kube-state-metrics"
    };
    let mut summary = format!(
        "{total} changes of {namespace}/{workload} between {} and {} ({from})",
        time(since),
        time(until)
    );
    if let Some(now) = current.first() {
        summary.push_str(&format!(
            "; now at revision {} running {}",
            now["revision"],
            now["images"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut result = json!({ "changes": changes, "current": current });
    if watched.is_empty() {
        result["cluster"] = json!(NO_CLUSTER);
    }
    let mut outcome = Outcome::new(summary, result);
    outcome.cut = total > limit;
    Ok(outcome)
}

/// The watch's view of a workload's rollouts: a Deployment's ReplicaSets by revision (the one
/// with replicas is current), and the revisions of the Helm release that rendered it.
fn watch_rollouts(
    cluster: &str,
    state: &ClusterState,
    namespace: &str,
    workload: &str,
    (since, until): (i64, i64),
    changes: &mut Vec<Value>,
    current: &mut Vec<Value>,
) {
    let Some(deployment) = state
        .workloads()
        .find(|w| w.meta.namespace.as_deref() == Some(namespace) && w.meta.name == workload)
    else {
        return;
    };
    let images =
        |w: &WorkloadView| -> Vec<String> { w.images.iter().map(|(_, i)| i.clone()).collect() };
    let mut sets: Vec<&WorkloadView> = state
        .replica_sets
        .values()
        .filter(|rs| {
            rs.meta.namespace.as_deref() == Some(namespace)
                && rs
                    .meta
                    .owner
                    .as_ref()
                    .is_some_and(|o| o.kind == deployment.kind && o.name == workload)
        })
        .collect();
    let revision = |w: &WorkloadView| -> i64 {
        w.meta
            .annotations
            .get("deployment.kubernetes.io/revision")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    };
    sets.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    for rs in &sets {
        if rs.meta.created_ms >= since && rs.meta.created_ms <= until {
            changes.push(json!({
                "at": time(rs.meta.created_ms),
                "kind": "rollout",
                "detail": format!(
                    "revision {} (ReplicaSet {}) with {}; {} of {} ready",
                    revision(rs),
                    rs.meta.name,
                    images(rs).join(", "),
                    rs.ready,
                    rs.desired
                ),
                "from": "cluster watch",
            }));
        }
    }
    current.push(json!({
        "cluster": cluster,
        "workload": workload_row(deployment),
        "revision": sets.iter().find(|rs| rs.desired > 0).map_or(0, |rs| revision(rs)),
        "images": images(deployment),
    }));
    let Some((hr_ns, hr_name)) = deployment.meta.helm_release() else {
        return;
    };
    let release = state.helm_releases.values().find(|hr| {
        (hr.release_name == hr_name || hr.meta.name == hr_name) && hr.target_namespace == hr_ns
    });
    for revision in release.into_iter().flat_map(|hr| &hr.history) {
        let Some(at) = revision
            .deployed_ms
            .filter(|at| *at >= since && *at <= until)
        else {
            continue;
        };
        changes.push(json!({
            "at": time(at),
            "kind": "helm_release",
            "detail": format!(
                "Helm release {hr_ns}/{hr_name} revision {} (chart {}, app {}): {}",
                revision.version, revision.chart_version, revision.app_version, revision.status
            ),
            "from": "cluster watch",
        }));
    }
}
