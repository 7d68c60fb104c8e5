//! Held state as candidates: node conditions (disk and memory pressure, not ready), pods that
//! crash-loop, cannot pull their image, were OOM-killed recently or cannot be scheduled, and
//! failed Jobs piling up. Judged on every change and resync; each clears with a healthy signal.

use crate::cache::{ClusterState, Kind};
use crate::config::ClusterSpec;
use crate::events::{EventSignals, job_owner};
use crate::imagepull::{self, PullClass};
use crate::signal::{About, Context, MAX_EVIDENCE, candidate, span};
use model::{IncidentCandidate, IncidentType, Scope, Severity};
use std::collections::BTreeMap;

/// An OOM kill counts for this long after the container died.
const OOM_RECENT_MS: i64 = 15 * 60_000;
/// A node not ready for less than this may be starting.
const NOT_READY_GRACE_MS: i64 = 60_000;

/// The kinds [`evaluate`] reads.
pub const NEEDS: &[Kind] = &[Kind::Nodes, Kind::Pods, Kind::Jobs];

/// Whether `c` is one of the candidates [`evaluate`] judges.
pub fn judges(c: &IncidentCandidate) -> bool {
    c.detector.starts_with("kube_state/")
}

/// Every held condition firing at `now_ms`.
pub fn evaluate(
    state: &ClusterState,
    events: &EventSignals,
    ctx: &Context,
    spec: &ClusterSpec,
    now_ms: i64,
) -> Vec<IncidentCandidate> {
    let mut out = Vec::new();
    if state.synced(&[Kind::Nodes]) {
        nodes(state, ctx, now_ms, &mut out);
    }
    if state.synced(&[Kind::Pods]) {
        pods(state, events, ctx, spec, now_ms, &mut out);
    }
    if state.synced(&[Kind::Jobs]) {
        jobs(state, ctx, spec, now_ms, &mut out);
    }
    out
}

fn nodes(state: &ClusterState, ctx: &Context, now_ms: i64, out: &mut Vec<IncidentCandidate>) {
    for node in state.nodes.values() {
        let name = node.meta.name.as_str();
        let mut raise =
            |t: IncidentType, kind: &str, severity: Severity, message: String, since: i64| {
                let evidence = ctx.evidence(
                    format!("node-{name}-{kind}"),
                    kind,
                    message,
                    since.max(0),
                    [("node", name), ("condition", kind)],
                );
                out.push(candidate(
                    ctx,
                    About::new(t, Scope::Node, None, name),
                    severity,
                    0.95,
                    &format!("kube_state/node_{}", kind.to_ascii_lowercase()),
                    now_ms,
                    vec![evidence],
                    Vec::new(),
                ));
            };
        let held = |since: i64| {
            if since > 0 {
                format!(" for {}", span(now_ms - since))
            } else {
                String::new()
            }
        };
        for (kind, t) in [
            ("DiskPressure", IncidentType::NodeDiskPressure),
            ("MemoryPressure", IncidentType::MemoryPressure),
        ] {
            if let Some(c) = node.condition(kind).filter(|c| c.is_true()) {
                raise(
                    t,
                    kind,
                    Severity::Warning,
                    format!(
                        "node {name} reports {kind}{} ({})",
                        held(c.since_ms),
                        c.message
                    ),
                    c.since_ms,
                );
            }
        }
        if let Some(c) = node.condition("Ready").filter(|c| !c.is_true())
            && now_ms.saturating_sub(c.since_ms) >= NOT_READY_GRACE_MS
        {
            raise(
                IncidentType::NodeNotReady,
                "Ready",
                Severity::Critical,
                format!(
                    "node {name} is not ready (Ready={}){}: {}",
                    c.status,
                    held(c.since_ms),
                    if c.message.is_empty() {
                        &c.reason
                    } else {
                        &c.message
                    }
                ),
                c.since_ms,
            );
        }
    }
}

fn pods(
    state: &ClusterState,
    events: &EventSignals,
    ctx: &Context,
    spec: &ClusterSpec,
    now_ms: i64,
    out: &mut Vec<IncidentCandidate>,
) {
    let pending_ms = i64::try_from(spec.pending_after.as_millis()).unwrap_or(i64::MAX);
    for pod in state.pods.values() {
        let ns = pod.meta.namespace.as_deref().unwrap_or("");
        let name = pod.meta.name.as_str();
        let about = |t: IncidentType| {
            About::new(t, Scope::Pod, Some(ns), name).on_node(pod.node.as_deref())
        };
        let node = pod.node.as_deref().unwrap_or("");
        for c in &pod.containers {
            let base = [
                ("namespace", ns),
                ("pod", name),
                ("container", c.name.as_str()),
                ("node", node),
            ];
            match c.waiting.as_deref() {
                Some("CrashLoopBackOff") => {
                    let last = match (&c.last_terminated, c.last_exit_code) {
                        (Some(reason), Some(code)) => {
                            format!("; it last ended {reason} (exit {code})")
                        }
                        _ => String::new(),
                    };
                    let evidence = ctx.evidence(
                        format!("pod-{name}-{}-crashloop", c.name),
                        "CrashLoopBackOff",
                        format!(
                            "container {} of pod {ns}/{name} is in CrashLoopBackOff after {} restarts{last}",
                            c.name, c.restarts
                        ),
                        now_ms,
                        base,
                    );
                    out.push(candidate(
                        ctx,
                        about(IncidentType::CrashLoop),
                        Severity::Warning,
                        0.9,
                        "kube_state/crash_loop",
                        now_ms,
                        vec![evidence],
                        Vec::new(),
                    ));
                }
                Some(reason @ ("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")) => {
                    let message = c.waiting_message.as_deref().unwrap_or("");
                    let mut class = imagepull::classify(message);
                    if class == PullClass::Unclassified
                        && let Some((known, _)) = events.pull_class(ns, name)
                    {
                        class = *known;
                    }
                    let registry = imagepull::registry_of(&c.image);
                    let evidence = ctx.evidence(
                        format!("pod-{name}-{}-pull", c.name),
                        reason,
                        format!(
                            "container {} of pod {ns}/{name} cannot pull {}: {}{}",
                            c.name,
                            c.image,
                            class.describe(),
                            if message.is_empty() {
                                String::new()
                            } else {
                                format!(" ({message})")
                            }
                        ),
                        now_ms,
                        base.into_iter().chain([
                            ("class", class.as_str()),
                            ("image", c.image.as_str()),
                            ("registry", registry),
                        ]),
                    );
                    out.push(candidate(
                        ctx,
                        about(IncidentType::ImagePullFailure),
                        Severity::Warning,
                        if class == PullClass::Unclassified {
                            0.7
                        } else {
                            0.9
                        },
                        &format!("kube_state/image_pull/{}", class.as_str()),
                        now_ms,
                        vec![evidence],
                        Vec::new(),
                    ));
                }
                _ => {}
            }
            if c.last_terminated.as_deref() == Some("OOMKilled")
                && let Some(at) = c.last_finished_ms
                && now_ms.saturating_sub(at) < OOM_RECENT_MS
            {
                let evidence = ctx.evidence(
                    format!("pod-{name}-{}-oom-{}", c.name, c.restarts),
                    "OOMKilled",
                    format!(
                        "container {} of pod {ns}/{name} was OOM-killed {} ago (exit {}; {} restarts)",
                        c.name,
                        span(now_ms - at),
                        c.last_exit_code.unwrap_or(137),
                        c.restarts
                    ),
                    at,
                    base,
                );
                out.push(candidate(
                    ctx,
                    about(IncidentType::OomKilled),
                    Severity::Warning,
                    0.95,
                    "kube_state/oom_killed",
                    now_ms,
                    vec![evidence],
                    Vec::new(),
                ));
            }
        }
        if pod.phase == "Pending"
            && let Some(c) = &pod.unscheduled
            && c.reason == "Unschedulable"
            && now_ms.saturating_sub(c.since_ms.max(pod.meta.created_ms)) >= pending_ms
        {
            let evidence = ctx.evidence(
                format!("pod-{name}-unschedulable"),
                "Unschedulable",
                format!(
                    "pod {ns}/{name} has waited {} for a node: {}",
                    span(now_ms - c.since_ms.max(pod.meta.created_ms)),
                    c.message
                ),
                c.since_ms,
                [("namespace", ns), ("pod", name)],
            );
            out.push(candidate(
                ctx,
                about(IncidentType::PodsPending),
                Severity::Warning,
                0.9,
                "kube_state/pods_pending",
                now_ms,
                vec![evidence],
                Vec::new(),
            ));
        }
    }
}

fn jobs(
    state: &ClusterState,
    ctx: &Context,
    spec: &ClusterSpec,
    now_ms: i64,
    out: &mut Vec<IncidentCandidate>,
) {
    let mut failed: BTreeMap<(String, String), Vec<&crate::views::JobView>> = BTreeMap::new();
    for job in state.jobs.values().filter(|j| j.failure.is_some()) {
        let ns = job.meta.namespace.clone().unwrap_or_default();
        let owner = job_owner(state, &ns, &job.meta.name);
        failed.entry((ns, owner)).or_default().push(job);
    }
    for ((ns, owner), mut runs) in failed {
        if runs.len() < spec.job_failures as usize {
            continue;
        }
        runs.sort_by_key(|j| j.failure.as_ref().map_or(0, |f| f.since_ms));
        let total = runs.len();
        let evidence = runs
            .iter()
            .rev()
            .take(MAX_EVIDENCE)
            .rev()
            .map(|j| {
                let f = j.failure.as_ref();
                let reason = f.map_or("Failed", |f| f.reason.as_str());
                ctx.evidence(
                    format!("job-{}", j.meta.name),
                    reason,
                    format!(
                        "job {ns}/{} failed ({reason}): {}",
                        j.meta.name,
                        f.map_or("", |f| f.message.as_str())
                    ),
                    f.map_or(now_ms, |f| f.since_ms),
                    [
                        ("namespace", ns.as_str()),
                        ("job", j.meta.name.as_str()),
                        ("owner", owner.as_str()),
                    ],
                )
            })
            .collect();
        out.push(candidate(
            ctx,
            About::new(IncidentType::JobFailures, Scope::Job, Some(&ns), &owner),
            if total >= 3 * spec.job_failures as usize {
                Severity::Critical
            } else {
                Severity::Warning
            },
            0.9,
            "kube_state/job_failures",
            now_ms,
            evidence,
            Vec::new(),
        ));
    }
}
