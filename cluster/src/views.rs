//! What the watches keep of each object: small, serialisable views holding only the fields the
//! signals and the read-only tools use, so the caches stay bounded in bytes as well as count.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Event, Node, NodeCondition, Pod, PodCondition, PodTemplateSpec,
    Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Annotations worth keeping: Helm's release ownership, cert-manager's names, rollout
/// revisions. Everything else (notably `last-applied-configuration`) is dropped.
const KEPT_ANNOTATIONS: &[&str] = &[
    "meta.helm.sh/",
    "cert-manager.io/",
    "deployment.kubernetes.io/revision",
    "argocd.argoproj.io/tracking-id",
];

/// Largest HelmRelease `spec.values` kept (serialised bytes); larger values are not kept and
/// the image check is skipped for that release.
pub const MAX_VALUES_BYTES: usize = 256 * 1024;

/// Longest event message kept (bytes, cut at a character boundary).
pub const MAX_MESSAGE_BYTES: usize = 2048;

pub(crate) fn ms(time: &Time) -> i64 {
    time.0.as_millisecond()
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The owner that controls an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// Identity and the metadata the signals read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    pub created_ms: i64,
    pub generation: i64,
    pub resource_version: String,
}

impl Meta {
    pub fn of(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta
                .annotations
                .iter()
                .flatten()
                .filter(|(k, _)| KEPT_ANNOTATIONS.iter().any(|p| k.starts_with(p)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            owner: meta.owner_references.iter().flatten().find_map(|o| {
                (o.controller == Some(true)).then(|| Owner {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                })
            }),
            created_ms: meta.creation_timestamp.as_ref().map_or(0, ms),
            generation: meta.generation.unwrap_or(0),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
        }
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The Helm release that rendered the object (`meta.helm.sh/release-name` and
    /// `-namespace`, or Flux's `helm.toolkit.fluxcd.io/name` labels), as `(namespace, name)`.
    pub fn helm_release(&self) -> Option<(String, String)> {
        let ns = self
            .annotations
            .get("meta.helm.sh/release-namespace")
            .or_else(|| self.labels.get("helm.toolkit.fluxcd.io/namespace"))
            .or(self.namespace.as_ref())?;
        let name = self
            .annotations
            .get("meta.helm.sh/release-name")
            .or_else(|| self.labels.get("helm.toolkit.fluxcd.io/name"))?;
        Some((ns.clone(), name.clone()))
    }
}

/// A status condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it last changed (ms); 0 when not reported.
    pub since_ms: i64,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    fn of_node(c: &NodeCondition) -> Self {
        Self {
            kind: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            message: truncate(c.message.as_deref().unwrap_or(""), MAX_MESSAGE_BYTES),
            since_ms: c.last_transition_time.as_ref().map_or(0, ms),
        }
    }

    fn of_pod(c: &PodCondition) -> Self {
        Self {
            kind: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            message: truncate(c.message.as_deref().unwrap_or(""), MAX_MESSAGE_BYTES),
            since_ms: c.last_transition_time.as_ref().map_or(0, ms),
        }
    }

    fn of_json(c: &Value) -> Self {
        let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
        Self {
            kind: text("type"),
            status: text("status"),
            reason: text("reason"),
            message: truncate(&text("message"), MAX_MESSAGE_BYTES),
            since_ms: parse_time(c["lastTransitionTime"].as_str()).unwrap_or(0),
        }
    }
}

/// An RFC 3339 timestamp in ms.
pub(crate) fn parse_time(text: Option<&str>) -> Option<i64> {
    let text = text?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub meta: Meta,
    pub conditions: Vec<Condition>,
    pub unschedulable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet_version: Option<String>,
}

impl NodeView {
    pub fn of(node: &Node) -> Self {
        let status = node.status.as_ref();
        Self {
            meta: Meta::of(&node.metadata),
            conditions: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .map(Condition::of_node)
                .collect(),
            unschedulable: node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
            kubelet_version: status
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone()),
        }
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// One container of a pod: what it runs and how it is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restarts: i32,
    /// Why it waits (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_message: Option<String>,
    /// How the previous run ended (`OOMKilled`, `Error`, ...), its exit code and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_terminated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_finished_ms: Option<i64>,
}

impl ContainerView {
    fn of(spec: &Container, status: Option<&ContainerStatus>) -> Self {
        let waiting = status
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.waiting.as_ref());
        let terminated = status
            .and_then(|s| s.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref());
        Self {
            name: spec.name.clone(),
            image: spec.image.clone().unwrap_or_default(),
            ready: status.is_some_and(|s| s.ready),
            restarts: status.map_or(0, |s| s.restart_count),
            waiting: waiting.and_then(|w| w.reason.clone()),
            waiting_message: waiting
                .and_then(|w| w.message.as_deref())
                .map(|m| truncate(m, MAX_MESSAGE_BYTES)),
            last_terminated: terminated.and_then(|t| t.reason.clone()),
            last_exit_code: terminated.map(|t| t.exit_code),
            last_finished_ms: terminated.and_then(|t| t.finished_at.as_ref()).map(ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodView {
    pub meta: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub containers: Vec<ContainerView>,
    /// The `PodScheduled` condition when it is not `True`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unscheduled: Option<Condition>,
}

impl PodView {
    pub fn of(pod: &Pod) -> Self {
        let status = pod.status.as_ref();
        let statuses = status.and_then(|s| s.container_statuses.as_deref());
        let containers = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .map(|c| {
                let st = statuses.into_iter().flatten().find(|cs| cs.name == c.name);
                ContainerView::of(c, st)
            })
            .collect();
        Self {
            meta: Meta::of(&pod.metadata),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".to_owned()),
            reason: status.and_then(|s| s.reason.clone()),
            containers,
            unscheduled: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status != "True")
                .map(Condition::of_pod),
        }
    }
}

/// A Deployment, ReplicaSet, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadView {
    pub kind: &'static str,
    pub meta: Meta,
    pub observed_generation: i64,
    /// Desired pods (replicas, or pods a DaemonSet should run).
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    /// `(container, image)` of the pod template.
    pub images: Vec<(String, String)>,
    /// Labels of the pod template (charts stamp their version on them too).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub template_labels: BTreeMap<String, String>,
}

fn template_parts(
    template: Option<&PodTemplateSpec>,
) -> (Vec<(String, String)>, BTreeMap<String, String>) {
    let images = template
        .and_then(|t| t.spec.as_ref())
        .into_iter()
        .flat_map(|s| &s.containers)
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    let labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    (images, labels)
}

impl WorkloadView {
    pub fn of_deployment(d: &Deployment) -> Self {
        let (images, template_labels) = template_parts(Some(&d.spec.template));
        let st = d.status.as_ref();
        Self {
            kind: "Deployment",
            meta: Meta::of(&d.metadata),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            desired: d.spec.replicas.unwrap_or(1),
            ready: st.and_then(|s| s.ready_replicas).unwrap_or(0),
            updated: st.and_then(|s| s.updated_replicas).unwrap_or(0),
            images,
            template_labels,
        }
    }

    pub fn of_replica_set(r: &ReplicaSet) -> Self {
        let (images, template_labels) = template_parts(r.spec.template.as_ref());
        let st = r.status.as_ref();
        Self {
            kind: "ReplicaSet",
            meta: Meta::of(&r.metadata),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            desired: r.spec.replicas.unwrap_or(1),
            ready: st.and_then(|s| s.ready_replicas).unwrap_or(0),
            updated: st.map_or(0, |s| s.replicas),
            images,
            template_labels,
        }
    }

    pub fn of_stateful_set(s: &StatefulSet) -> Self {
        let (images, template_labels) = template_parts(Some(&s.spec.template));
        let st = s.status.as_ref();
        Self {
            kind: "StatefulSet",
            meta: Meta::of(&s.metadata),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            desired: s.spec.replicas.unwrap_or(1),
            ready: st.and_then(|s| s.ready_replicas).unwrap_or(0),
            updated: st.and_then(|s| s.updated_replicas).unwrap_or(0),
            images,
            template_labels,
        }
    }

    pub fn of_daemon_set(d: &DaemonSet) -> Self {
        let (images, template_labels) = template_parts(Some(&d.spec.template));
        let st = d.status.as_ref();
        Self {
            kind: "DaemonSet",
            meta: Meta::of(&d.metadata),
            observed_generation: st.and_then(|s| s.observed_generation).unwrap_or(0),
            desired: st.map_or(0, |s| s.desired_number_scheduled),
            ready: st.map_or(0, |s| s.number_ready),
            updated: st.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
            images,
            template_labels,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub meta: Meta,
    pub active: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// The `Failed` condition when the Job failed (reason `BackoffLimitExceeded`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Condition>,
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
}

impl JobView {
    pub fn of(job: &Job) -> Self {
        let st = job.status.as_ref();
        let conditions = st.and_then(|s| s.conditions.as_ref());
        let find = |kind: &str| {
            conditions
                .into_iter()
                .flatten()
                .find(|c| c.type_ == kind && c.status == "True")
        };
        Self {
            meta: Meta::of(&job.metadata),
            active: st.and_then(|s| s.active).unwrap_or(0),
            succeeded: st.and_then(|s| s.succeeded).unwrap_or(0),
            failed: st.and_then(|s| s.failed).unwrap_or(0),
            failure: find("Failed").map(|c| Condition {
                kind: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone().unwrap_or_default(),
                message: truncate(c.message.as_deref().unwrap_or(""), MAX_MESSAGE_BYTES),
                since_ms: c.last_transition_time.as_ref().map_or(0, ms),
            }),
            complete: find("Complete").is_some(),
            started_ms: st.and_then(|s| s.start_time.as_ref()).map(ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CronJobView {
    pub meta: Meta,
    pub schedule: String,
    pub suspend: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_schedule_ms: Option<i64>,
}

impl CronJobView {
    pub fn of(c: &CronJob) -> Self {
        Self {
            meta: Meta::of(&c.metadata),
            schedule: c.spec.schedule.clone(),
            suspend: c.spec.suspend.unwrap_or(false),
            last_schedule_ms: c
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(ms),
        }
    }
}

/// A TLS block of an Ingress: the hosts it covers and the Secret holding their certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngressTls {
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngressView {
    pub meta: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Hosts of its rules.
    pub hosts: Vec<String>,
    pub tls: Vec<IngressTls>,
    /// Load-balancer addresses (IP or hostname) from its status.
    pub addresses: Vec<String>,
}

impl IngressView {
    pub fn of(i: &Ingress) -> Self {
        let spec = i.spec.as_ref();
        Self {
            meta: Meta::of(&i.metadata),
            class: spec.and_then(|s| s.ingress_class_name.clone()),
            hosts: spec
                .and_then(|s| s.rules.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|r| r.host.clone())
                .collect(),
            tls: spec
                .and_then(|s| s.tls.as_ref())
                .into_iter()
                .flatten()
                .map(|t| IngressTls {
                    hosts: t.hosts.clone().unwrap_or_default(),
                    secret: t.secret_name.clone(),
                })
                .collect(),
            addresses: i
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|a| a.ip.clone().or_else(|| a.hostname.clone()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub meta: Meta,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<i32>,
}

impl ServiceView {
    pub fn of(s: &Service) -> Self {
        let spec = s.spec.as_ref();
        Self {
            meta: Meta::of(&s.metadata),
            kind: spec
                .and_then(|s| s.type_.clone())
                .unwrap_or_else(|| "ClusterIP".to_owned()),
            cluster_ip: spec.and_then(|s| s.cluster_ip.clone()),
            selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
            ports: spec
                .and_then(|s| s.ports.as_ref())
                .into_iter()
                .flatten()
                .map(|p| p.port)
                .collect(),
        }
    }
}

/// An EndpointSlice: how many of a Service's endpoints are ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointSliceView {
    pub meta: Meta,
    /// The Service it belongs to (`kubernetes.io/service-name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub ready: usize,
    pub not_ready: usize,
}

impl EndpointSliceView {
    pub fn of(e: &EndpointSlice) -> Self {
        // Ready unless a condition says otherwise, as the API documents.
        let (ready, not_ready) = e.endpoints.iter().flatten().fold((0, 0), |(r, n), ep| {
            let is_ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            let count = ep.addresses.len();
            if is_ready {
                (r + count, n)
            } else {
                (r, n + count)
            }
        });
        let meta = Meta::of(&e.metadata);
        Self {
            service: meta.labels.get("kubernetes.io/service-name").cloned(),
            meta,
            ready,
            not_ready,
        }
    }
}

/// A ConfigMap or Secret: metadata only, never its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetaView {
    pub meta: Meta,
}

/// One Helm release revision as Flux records it in `status.history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseRevision {
    pub version: i64,
    pub chart_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_ms: Option<i64>,
}

/// Most revisions of a release's history kept.
const MAX_HISTORY: usize = 5;

/// A Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HelmReleaseView {
    pub meta: Meta,
    pub observed_generation: i64,
    pub suspended: bool,
    pub chart: String,
    /// The chart version the spec asks for (may be a range, `1.4.x`).
    pub chart_version: String,
    /// Name of the Helm release (`spec.releaseName`, else Flux's default).
    pub release_name: String,
    /// Namespace its workloads are installed into.
    pub target_namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<Condition>,
    /// Newest first.
    pub history: Vec<ReleaseRevision>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_attempted_revision: String,
    pub install_failures: i64,
    pub upgrade_failures: i64,
    /// `spec.values` when at most [`MAX_VALUES_BYTES`]; `valuesFrom` is not resolved.
    #[serde(skip)]
    pub values: Option<Value>,
}

impl HelmReleaseView {
    pub fn of(hr: &DynamicObject) -> Self {
        let data = &hr.data;
        let spec = &data["spec"];
        let status = &data["status"];
        let meta = Meta::of(&hr.metadata);
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let target_namespace = spec["targetNamespace"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        // Flux names the release `<targetNamespace>-<name>` when it installs elsewhere.
        let release_name = spec["releaseName"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| match &target_namespace {
                Some(ns) => format!("{ns}-{}", meta.name),
                None => meta.name.clone(),
            });
        let condition = |kind: &str| {
            status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == kind)
                .map(Condition::of_json)
        };
        let values = spec
            .get("values")
            .filter(|v| serde_json::to_vec(v).is_ok_and(|bytes| bytes.len() <= MAX_VALUES_BYTES));
        Self {
            observed_generation: status["observedGeneration"].as_i64().unwrap_or(0),
            suspended: spec["suspend"].as_bool().unwrap_or(false),
            chart: text(&spec["chart"]["spec"]["chart"]),
            chart_version: text(&spec["chart"]["spec"]["version"]),
            release_name,
            target_namespace: target_namespace
                .or_else(|| meta.namespace.clone())
                .unwrap_or_default(),
            ready: condition("Ready"),
            released: condition("Released"),
            history: status["history"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX_HISTORY)
                .map(|h| ReleaseRevision {
                    version: h["version"].as_i64().unwrap_or(0),
                    chart_version: text(&h["chartVersion"]),
                    app_version: text(&h["appVersion"]),
                    status: text(&h["status"]),
                    deployed_ms: parse_time(h["lastDeployed"].as_str()),
                })
                .collect(),
            last_attempted_revision: text(&status["lastAttemptedRevision"]),
            install_failures: status["installFailures"].as_i64().unwrap_or(0),
            upgrade_failures: status["upgradeFailures"].as_i64().unwrap_or(0),
            values: values.cloned(),
            meta,
        }
    }

    /// The revision Helm last deployed, if any.
    pub fn current(&self) -> Option<&ReleaseRevision> {
        self.history.first()
    }
}

/// The object an event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Involved {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// A core/v1 Event, as `kubectl get events` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub reason: String,
    pub message: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    pub involved: Involved,
    /// The component that reported it (`kubelet`, `default-scheduler`, `job-controller`).
    pub component: String,
    /// The node of the reporting kubelet, where it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub count: i32,
    pub first_ms: i64,
    pub last_ms: i64,
}

impl EventView {
    pub fn of(e: &Event) -> Self {
        let series = e.series.as_ref();
        let micro =
            |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime| t.0.as_millisecond();
        let created = e.metadata.creation_timestamp.as_ref().map_or(0, ms);
        let first_ms = e
            .first_timestamp
            .as_ref()
            .map(ms)
            .or_else(|| e.event_time.as_ref().map(micro))
            .unwrap_or(created);
        let last_ms = series
            .and_then(|s| s.last_observed_time.as_ref())
            .map(micro)
            .or_else(|| e.last_timestamp.as_ref().map(ms))
            .or_else(|| e.event_time.as_ref().map(micro))
            .unwrap_or(first_ms);
        let source = e.source.as_ref();
        Self {
            namespace: e.metadata.namespace.clone(),
            name: e.metadata.name.clone().unwrap_or_default(),
            uid: e.metadata.uid.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: truncate(e.message.as_deref().unwrap_or(""), MAX_MESSAGE_BYTES),
            kind: e.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
            involved: Involved {
                kind: e.involved_object.kind.clone().unwrap_or_default(),
                namespace: e.involved_object.namespace.clone(),
                name: e.involved_object.name.clone().unwrap_or_default(),
            },
            component: source
                .and_then(|s| s.component.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| e.reporting_component.clone())
                .unwrap_or_default(),
            host: source
                .and_then(|s| s.host.clone())
                .filter(|h| !h.is_empty())
                .or_else(|| {
                    // A kubelet reports its node as the reporting instance.
                    e.reporting_instance
                        .clone()
                        .filter(|_| e.reporting_component.as_deref() == Some("kubelet"))
                }),
            count: series.and_then(|s| s.count).or(e.count).unwrap_or(1).max(1),
            first_ms,
            last_ms: last_ms.max(first_ms),
        }
    }
}
