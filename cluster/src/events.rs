//! Kubernetes events as candidates: disk pressure and evictions, image pulls classified from
//! their message, restart back-offs, OOM kills, nodes not ready, unschedulable pods, Jobs
//! failing again and again, and a controller flooding the API with events.
//!
//! Each occurrence is raised once (an event's uid and count), with the event as evidence; at
//! start, events older than the lookback are kept for tools and raise nothing.

use crate::cache::ClusterState;
use crate::config::ClusterSpec;
use crate::imagepull::{self, PullClass};
use crate::signal::{About, Context, candidate};
use crate::views::EventView;
use model::{EventEvidence, IncidentCandidate, IncidentType, Scope, Severity};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Most event uids remembered for de-duplication.
const MAX_SEEN: usize = 50_000;
/// Most pods whose last pull failure class is remembered.
const MAX_PULLS: usize = 10_000;
/// Window over which a CronJob's failed runs are counted from events.
const JOB_WINDOW_MS: i64 = 3_600_000;
/// Most controllers whose event rate is followed.
const MAX_CONTROLLERS: usize = 2_000;
/// Weight of the newest minute in a controller's usual rate (about a 15-minute memory).
const CHURN_ALPHA: f64 = 1.0 / 15.0;
const MINUTE_MS: i64 = 60_000;

/// What a Kubernetes event says, as far as incidents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventClass {
    /// The kubelet reclaims disk or cannot free it (EvictionThresholdMet on ephemeral
    /// storage, FreeDiskSpaceFailed, ImageGCFailed, NodeHasDiskPressure).
    DiskPressure,
    /// The kubelet reclaims memory (EvictionThresholdMet on memory, NodeHasInsufficientMemory).
    MemoryPressure,
    /// A pod evicted because its node ran low on `resource`.
    Evicted { disk: bool },
    /// An image pull failed; the class when the message tells it.
    PullFailure(Option<PullClass>),
    /// A container restarts again and again (`BackOff` restarting a failed container).
    RestartBackOff,
    /// The kernel killed a process for memory (OOMKilling, SystemOOM).
    Oom,
    /// The node stopped reporting ready.
    NodeNotReady,
    /// The scheduler found no node for a pod.
    FailedScheduling,
    /// A Job gave up (BackoffLimitExceeded, DeadlineExceeded).
    JobFailed,
}

/// Classifies one event; `None` for events that raise nothing by themselves.
pub fn classify(e: &EventView) -> Option<EventClass> {
    let message = e.message.to_ascii_lowercase();
    let disk_words = ["ephemeral-storage", "nodefs", "imagefs", "disk"];
    let about_disk = disk_words.iter().any(|w| message.contains(w));
    Some(match e.reason.as_str() {
        "EvictionThresholdMet" if message.contains("memory") => EventClass::MemoryPressure,
        "EvictionThresholdMet" if about_disk => EventClass::DiskPressure,
        "FreeDiskSpaceFailed" | "ImageGCFailed" | "NodeHasDiskPressure" => EventClass::DiskPressure,
        "NodeHasInsufficientMemory" => EventClass::MemoryPressure,
        "Evicted" if message.contains("low on resource") => {
            if about_disk {
                EventClass::Evicted { disk: true }
            } else if message.contains("memory") {
                EventClass::Evicted { disk: false }
            } else {
                return None;
            }
        }
        "OOMKilling" | "SystemOOM" => EventClass::Oom,
        "NodeNotReady" => EventClass::NodeNotReady,
        "FailedScheduling" => EventClass::FailedScheduling,
        "BackoffLimitExceeded" | "DeadlineExceeded" if e.involved.kind == "Job" => {
            EventClass::JobFailed
        }
        "BackOff"
            if e.message
                .starts_with("Back-off restarting failed container") =>
        {
            EventClass::RestartBackOff
        }
        reason if imagepull::is_pull_failure(reason, &e.message) => {
            let class = imagepull::classify(&e.message);
            EventClass::PullFailure((class != PullClass::Unclassified).then_some(class))
        }
        _ => return None,
    })
}

/// A controller's event rate: this minute's count and its usual count per minute.
#[derive(Debug, Clone, Default)]
struct Rate {
    minute: i64,
    count: u64,
    usual: f64,
    /// Minutes seen, to know whether `usual` means anything yet.
    minutes: u32,
    raised: bool,
    reasons: BTreeMap<String, u64>,
}

/// The state events are judged with: what was raised, pull classes per pod, failed runs per
/// CronJob and event rates per controller.
#[derive(Debug, Default)]
pub struct EventSignals {
    seen: HashMap<String, i32>,
    seen_order: VecDeque<String>,
    pulls: HashMap<(String, String), (PullClass, String)>,
    pulls_order: VecDeque<(String, String)>,
    job_failures: BTreeMap<(String, String), VecDeque<EventEvidence>>,
    rates: HashMap<String, Rate>,
}

impl EventSignals {
    /// The class of the last classified pull failure of a pod, and its image.
    pub fn pull_class(&self, namespace: &str, pod: &str) -> Option<&(PullClass, String)> {
        self.pulls.get(&(namespace.to_owned(), pod.to_owned()))
    }

    /// Judges one event seen by the watch; `listed` when it came with a (re)list, where
    /// events older than `lookback_ms` before `now_ms` raise nothing.
    pub fn observe(
        &mut self,
        e: &EventView,
        ctx: &Context,
        spec: &ClusterSpec,
        state: &ClusterState,
        listed: bool,
        now_ms: i64,
    ) -> Vec<IncidentCandidate> {
        let previous = self.seen.get(&e.uid).copied();
        let new = e.count - previous.unwrap_or(0);
        self.remember(&e.uid, e.count);
        if new <= 0 {
            return Vec::new();
        }
        let lookback = i64::try_from(spec.event_lookback.as_millis()).unwrap_or(i64::MAX);
        if listed && previous.is_none() && e.last_ms < now_ms.saturating_sub(lookback) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(churn) = self.count_rate(e, new, ctx, spec) {
            out.push(churn);
        }
        let Some(class) = classify(e) else {
            return out;
        };
        let raised = self.raise(e, &class, ctx, spec, state);
        // First seen already repeated: its occurrences span first to last, and the first is
        // when the problem began (correlation links findings by when they were seen). Listed
        // at start, only the part within the lookback counts.
        let span_start = if listed {
            e.first_ms.max(now_ms.saturating_sub(lookback))
        } else {
            e.first_ms
        };
        if previous.is_none() && e.count > 1 && span_start < e.last_ms {
            out.extend(raised.iter().cloned().map(|mut c| {
                c.detected_at_ms = span_start;
                c
            }));
        }
        out.extend(raised);
        out
    }

    fn remember(&mut self, uid: &str, count: i32) {
        if self.seen.insert(uid.to_owned(), count).is_none() {
            self.seen_order.push_back(uid.to_owned());
            if self.seen_order.len() > MAX_SEEN
                && let Some(old) = self.seen_order.pop_front()
            {
                self.seen.remove(&old);
            }
        }
    }

    fn raise(
        &mut self,
        e: &EventView,
        class: &EventClass,
        ctx: &Context,
        spec: &ClusterSpec,
        state: &ClusterState,
    ) -> Vec<IncidentCandidate> {
        let ns = e.involved.namespace.as_deref();
        let name = e.involved.name.as_str();
        let on_pod = e.involved.kind == "Pod";
        // The node: the involved Node, the reporting kubelet's host, or the pod's node.
        let node = if e.involved.kind == "Node" {
            Some(name.to_owned())
        } else {
            e.host.clone().or_else(|| {
                on_pod
                    .then(|| state.pods.get(ns, name).and_then(|p| p.node.clone()))
                    .flatten()
            })
        };
        let mut labels: Vec<(&str, &str)> = vec![
            ("kind", e.involved.kind.as_str()),
            ("name", name),
            ("component", e.component.as_str()),
        ];
        if let Some(ns) = ns {
            labels.push(("namespace", ns));
        }
        if let Some(node) = &node {
            labels.push(("node", node));
        }
        let evidence_with = |extra: &[(&str, &str)]| {
            let all = labels.iter().chain(extra.iter()).copied();
            let times = if e.count > 1 {
                format!(" ({} times since the first)", e.count)
            } else {
                String::new()
            };
            ctx.evidence(
                evidence_id(e),
                &e.reason,
                format!("{}{times}", e.message),
                e.last_ms,
                all,
            )
        };
        let evidence = evidence_with(&[]);
        let detector = format!("kube_event/{}", e.reason);
        let node_about =
            |t: IncidentType| node.as_deref().map(|n| About::new(t, Scope::Node, None, n));
        let pod_about = |t: IncidentType| {
            on_pod.then(|| About::new(t, Scope::Pod, ns, name).on_node(node.as_deref()))
        };
        let one =
            |about: Option<About>, severity: Severity, confidence: f64, evidence: EventEvidence| {
                about
                    .map(|a| {
                        candidate(
                            ctx,
                            a,
                            severity,
                            confidence,
                            &detector,
                            e.last_ms,
                            vec![evidence],
                            Vec::new(),
                        )
                    })
                    .into_iter()
                    .collect::<Vec<_>>()
            };
        match class {
            EventClass::DiskPressure => one(
                node_about(IncidentType::NodeDiskPressure),
                Severity::Warning,
                0.9,
                evidence,
            ),
            EventClass::MemoryPressure => one(
                node_about(IncidentType::MemoryPressure),
                Severity::Warning,
                0.85,
                evidence,
            ),
            EventClass::Evicted { disk } => {
                let t = if *disk {
                    IncidentType::NodeDiskPressure
                } else {
                    IncidentType::MemoryPressure
                };
                one(node_about(t), Severity::Critical, 0.95, evidence)
            }
            EventClass::PullFailure(found) => {
                let key = (ns.unwrap_or("").to_owned(), name.to_owned());
                let image = imagepull::image_in(&e.message)
                    .map(str::to_owned)
                    .or_else(|| self.pulls.get(&key).map(|(_, i)| i.clone()))
                    .unwrap_or_default();
                let class = match found {
                    Some(class) => {
                        self.remember_pull(key, *class, &image);
                        *class
                    }
                    None => self
                        .pulls
                        .get(&key)
                        .map_or(PullClass::Unclassified, |(c, _)| *c),
                };
                let registry = if image.is_empty() {
                    ""
                } else {
                    imagepull::registry_of(&image)
                };
                let evidence = evidence_with(&[
                    ("class", class.as_str()),
                    ("image", &image),
                    ("registry", registry),
                ]);
                let confidence = if class == PullClass::Unclassified {
                    0.6
                } else {
                    0.85
                };
                pod_about(IncidentType::ImagePullFailure)
                    .map(|a| {
                        candidate(
                            ctx,
                            a,
                            Severity::Warning,
                            confidence,
                            &format!("kube_image_pull/{}", class.as_str()),
                            e.last_ms,
                            vec![evidence],
                            Vec::new(),
                        )
                    })
                    .into_iter()
                    .collect()
            }
            EventClass::RestartBackOff => one(
                pod_about(IncidentType::CrashLoop),
                Severity::Warning,
                0.85,
                evidence,
            ),
            EventClass::Oom => {
                let about = pod_about(IncidentType::OomKilled)
                    .or_else(|| node_about(IncidentType::OomKilled));
                one(about, Severity::Warning, 0.85, evidence)
            }
            EventClass::NodeNotReady => one(
                node_about(IncidentType::NodeNotReady),
                Severity::Critical,
                0.9,
                evidence,
            ),
            EventClass::FailedScheduling => {
                // Brief scheduling failures are normal while capacity arrives: raise once the
                // pod has waited `pending_after`; until then the pod's own state is watched.
                let wait = i64::try_from(spec.pending_after.as_millis()).unwrap_or(i64::MAX);
                let created = state
                    .pods
                    .get(ns, name)
                    .map_or(e.first_ms, |p| p.meta.created_ms.min(e.first_ms));
                if e.last_ms.saturating_sub(created) < wait {
                    return Vec::new();
                }
                one(
                    pod_about(IncidentType::PodsPending),
                    Severity::Warning,
                    0.8,
                    evidence,
                )
            }
            EventClass::JobFailed => {
                let Some(ns) = ns else {
                    return Vec::new();
                };
                let owner = job_owner(state, ns, name);
                let runs = self
                    .job_failures
                    .entry((ns.to_owned(), owner.clone()))
                    .or_default();
                runs.retain(|r| r.at_ms > e.last_ms.saturating_sub(JOB_WINDOW_MS));
                if !runs.iter().any(|r| r.id == evidence.id) {
                    runs.push_back(evidence);
                }
                while runs.len() > crate::signal::MAX_EVIDENCE {
                    runs.pop_front();
                }
                if runs.len() < spec.job_failures as usize {
                    return Vec::new();
                }
                vec![candidate(
                    ctx,
                    About::new(IncidentType::JobFailures, Scope::Job, Some(ns), &owner),
                    Severity::Warning,
                    0.85,
                    "kube_event/job_failures",
                    e.last_ms,
                    runs.iter().cloned().collect(),
                    Vec::new(),
                )]
            }
        }
    }

    fn remember_pull(&mut self, key: (String, String), class: PullClass, image: &str) {
        if self
            .pulls
            .insert(key.clone(), (class, image.to_owned()))
            .is_none()
        {
            self.pulls_order.push_back(key);
            if self.pulls_order.len() > MAX_PULLS
                && let Some(old) = self.pulls_order.pop_front()
            {
                self.pulls.remove(&old);
            }
        }
    }

    /// Counts `new` occurrences against the reporting controller's minute; raises
    /// `controller_churn` the first time in a minute it passes both the floor and
    /// `churn_factor` times its usual rate.
    fn count_rate(
        &mut self,
        e: &EventView,
        new: i32,
        ctx: &Context,
        spec: &ClusterSpec,
    ) -> Option<IncidentCandidate> {
        if e.component.is_empty() {
            return None;
        }
        let controller = match &e.host {
            Some(host) if e.component == "kubelet" => format!("kubelet@{host}"),
            _ => e.component.clone(),
        };
        if !self.rates.contains_key(&controller) && self.rates.len() >= MAX_CONTROLLERS {
            return None;
        }
        let minute = e.last_ms.div_euclid(MINUTE_MS);
        let rate = self
            .rates
            .entry(controller.clone())
            .or_insert_with(|| Rate {
                minute,
                ..Rate::default()
            });
        if minute > rate.minute {
            // Close the minute (and the empty ones after it) into the usual rate.
            let gap = i32::try_from(minute - rate.minute - 1).unwrap_or(i32::MAX);
            rate.usual = if rate.minutes == 0 {
                rate.count as f64
            } else {
                rate.usual + CHURN_ALPHA * (rate.count as f64 - rate.usual)
            };
            rate.usual *= (1.0 - CHURN_ALPHA).powi(gap.min(10_000));
            rate.minutes = rate.minutes.saturating_add(1);
            rate.minute = minute;
            rate.count = 0;
            rate.raised = false;
            rate.reasons.clear();
        } else if minute < rate.minute {
            // A late event of a closed minute: it was already judged.
            return None;
        }
        rate.count += u64::try_from(new).unwrap_or(0);
        *rate.reasons.entry(e.reason.clone()).or_default() += u64::try_from(new).unwrap_or(0);
        let usual = if rate.minutes == 0 { 0.0 } else { rate.usual };
        let threshold = (f64::from(spec.churn_min_per_minute)).max(spec.churn_factor * usual);
        if rate.raised || (rate.count as f64) < threshold {
            return None;
        }
        rate.raised = true;
        let mut top: Vec<(&String, &u64)> = rate.reasons.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let reasons = top
            .iter()
            .take(5)
            .map(|(r, n)| format!("{r} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "{controller} reported {} events in one minute, against a usual {:.0} per minute ({reasons})",
            rate.count, usual
        );
        let evidence = ctx.evidence(
            format!("churn-{}-{minute}", short(&controller)),
            "ControllerChurn",
            message,
            e.last_ms,
            [("controller", controller.as_str())],
        );
        let severity = if rate.count as f64 >= 4.0 * threshold {
            Severity::Critical
        } else {
            Severity::Warning
        };
        Some(candidate(
            ctx,
            About::new(
                IncidentType::ControllerChurn,
                Scope::Cluster,
                None,
                &controller,
            ),
            severity,
            0.8,
            "kube_event/controller_churn",
            e.last_ms,
            vec![evidence],
            Vec::new(),
        ))
    }
}

/// The evidence id of one occurrence of an event: a short hash of its uid, and its count.
pub fn evidence_id(e: &EventView) -> String {
    format!("k8s-{}-{}", short(&e.uid), e.count)
}

/// Eight hex digits of FNV-1a over `text`: short, stable ids.
fn short(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// The CronJob that runs a Job (from the Job's owner, else its `<cronjob>-<minutes>` name), or
/// the Job's name without its generated suffix.
pub fn job_owner(state: &ClusterState, namespace: &str, job: &str) -> String {
    if let Some(owner) = state
        .jobs
        .get(Some(namespace), job)
        .and_then(|j| j.meta.owner.as_ref())
        .filter(|o| o.kind == "CronJob")
    {
        return owner.name.clone();
    }
    match job.rsplit_once('-') {
        Some((base, suffix))
            if !base.is_empty()
                && (suffix.len() >= 5 && suffix.chars().all(|c| c.is_ascii_digit())) =>
        {
            base.to_owned()
        }
        _ => model::workload_of(job).name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::Involved;

    fn event(reason: &str, kind: &str, message: &str) -> EventView {
        EventView {
            reason: reason.to_owned(),
            message: message.to_owned(),
            involved: Involved {
                kind: kind.to_owned(),
                namespace: Some("shop".into()),
                name: "x".into(),
            },
            ..EventView::default()
        }
    }

    #[test]
    fn events_classify_by_reason_and_message() {
        use EventClass as C;
        let cases = [
            (
                "EvictionThresholdMet",
                "Node",
                "Attempting to reclaim ephemeral-storage",
                Some(C::DiskPressure),
            ),
            (
                "EvictionThresholdMet",
                "Node",
                "Attempting to reclaim memory",
                Some(C::MemoryPressure),
            ),
            (
                "FreeDiskSpaceFailed",
                "Node",
                "Failed to garbage collect required amount of images. Attempted to free 6731340595 bytes, but only found 0 bytes eligible to free.",
                Some(C::DiskPressure),
            ),
            (
                "NodeHasDiskPressure",
                "Node",
                "Node worker-2 status is now: NodeHasDiskPressure",
                Some(C::DiskPressure),
            ),
            (
                "Evicted",
                "Pod",
                "The node was low on resource: ephemeral-storage. Threshold quantity: 4331010076, available: 3855896Ki.",
                Some(C::Evicted { disk: true }),
            ),
            (
                "Evicted",
                "Pod",
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 88Mi.",
                Some(C::Evicted { disk: false }),
            ),
            (
                "Evicted",
                "Pod",
                "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi.",
                None,
            ),
            (
                "BackOff",
                "Pod",
                "Back-off restarting failed container cart in pod cart-7d9f8b6c5d-h5vnm_shop(a1a1)",
                Some(C::RestartBackOff),
            ),
            (
                "BackOff",
                "Pod",
                "Back-off pulling image \"nginx:1.27\"",
                Some(C::PullFailure(None)),
            ),
            (
                "Failed",
                "Pod",
                "Error: failed to create containerd task: OCI runtime create failed",
                None,
            ),
            (
                "OOMKilling",
                "Node",
                "Memory cgroup out of memory: Killed process 2716 (java)",
                Some(C::Oom),
            ),
            (
                "NodeNotReady",
                "Node",
                "Node worker-3 status is now: NodeNotReady",
                Some(C::NodeNotReady),
            ),
            (
                "FailedScheduling",
                "Pod",
                "0/3 nodes are available: 3 Insufficient memory.",
                Some(C::FailedScheduling),
            ),
            (
                "BackoffLimitExceeded",
                "Job",
                "Job has reached the specified backoff limit",
                Some(C::JobFailed),
            ),
            (
                "Scheduled",
                "Pod",
                "Successfully assigned shop/cart to worker-1",
                None,
            ),
        ];
        for (reason, kind, message, want) in cases {
            assert_eq!(
                classify(&event(reason, kind, message)),
                want,
                "{reason}: {message}"
            );
        }
    }

    #[test]
    fn job_owners_come_from_the_owner_or_the_generated_name() {
        let state = ClusterState::new(10, 10);
        assert_eq!(job_owner(&state, "shop", "report-29391235"), "report");
        assert_eq!(job_owner(&state, "shop", "migrate-x7k2p"), "migrate");
        assert_eq!(job_owner(&state, "shop", "backup"), "backup");
    }
}
