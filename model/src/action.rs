//! The typed action catalogue: every operation the robot may propose, its target, risk class,
//! family, the signals that should recover and how to undo it. Nothing outside it can run.
//!
//! Risk classes follow the product's table: reading and notifying are read-only; deleting
//! completed/failed pods and suspending a noisy CronJob are auto-eligible; restarts, rollbacks,
//! scaling, jobs, config patches, release reconciliation and cordon/drain need approval; anything
//! destructive to data, credentials or security controls is human only and never executed here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How risky an action is, from least to most; ordered so `max` gives the stricter class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    /// Reads or informs; changes nothing in the cluster.
    ReadOnly,
    /// Low-risk containment or cleanup; may run automatically where policy allows.
    Auto,
    /// Changes a running workload, config or node; needs an approver unless policy says
    /// otherwise in a demo environment.
    Approval,
    /// Destructive to data, credentials or security controls: a human does it by hand.
    HumanOnly,
}

impl RiskClass {
    /// Every class, least risky first.
    pub const ALL: &'static [RiskClass] = &[
        RiskClass::ReadOnly,
        RiskClass::Auto,
        RiskClass::Approval,
        RiskClass::HumanOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::ReadOnly => "read_only",
            RiskClass::Auto => "auto",
            RiskClass::Approval => "approval",
            RiskClass::HumanOnly => "human_only",
        }
    }

    /// Parses the `snake_case` name.
    pub fn from_name(name: &str) -> Option<Self> {
        RiskClass::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Groups of actions that share a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionFamily {
    /// Notify, collect evidence.
    Inform,
    /// Delete finished pods, suspend a CronJob.
    Cleanup,
    /// Restart a Deployment, StatefulSet or DaemonSet, or roll back a Deployment.
    Workload,
    /// Change a Deployment's or StatefulSet's replica count.
    Scale,
    /// Run a Job from a template.
    Job,
    /// Patch config, reconcile a release.
    Config,
    /// Cordon or drain a node.
    Node,
    /// Human-only operations (never executed by the robot).
    Destructive,
}

impl ActionFamily {
    /// Every family.
    pub const ALL: &'static [ActionFamily] = &[
        ActionFamily::Inform,
        ActionFamily::Cleanup,
        ActionFamily::Workload,
        ActionFamily::Scale,
        ActionFamily::Job,
        ActionFamily::Config,
        ActionFamily::Node,
        ActionFamily::Destructive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionFamily::Inform => "inform",
            ActionFamily::Cleanup => "cleanup",
            ActionFamily::Workload => "workload",
            ActionFamily::Scale => "scale",
            ActionFamily::Job => "job",
            ActionFamily::Config => "config",
            ActionFamily::Node => "node",
            ActionFamily::Destructive => "destructive",
        }
    }

    /// Parses the `snake_case` name.
    pub fn from_name(name: &str) -> Option<Self> {
        ActionFamily::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
    }
}

impl fmt::Display for ActionFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which pods [`Action::DeletePods`] removes: only finished ones, never running pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PodPhase {
    Succeeded,
    Failed,
}

impl PodPhase {
    /// The Kubernetes `status.phase` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
        }
    }
}

/// Kind of Kubernetes object (or robot object) an action targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    /// A namespace: pods by phase are deleted inside it, or the namespace itself.
    Namespace,
    /// A Job to create (from a CronJob template).
    Job,
    CronJob,
    Node,
    ConfigMap,
    Secret,
    PersistentVolumeClaim,
    /// A Helm release, by release name and namespace.
    Release,
    /// An Argo CD `Application`, in the namespace Argo CD keeps it (`argocd`).
    Application,
    /// The incident itself (for notify and evidence collection).
    Incident,
}

impl TargetKind {
    /// Every kind.
    pub const ALL: &'static [TargetKind] = &[
        TargetKind::Deployment,
        TargetKind::StatefulSet,
        TargetKind::DaemonSet,
        TargetKind::Namespace,
        TargetKind::Job,
        TargetKind::CronJob,
        TargetKind::Node,
        TargetKind::ConfigMap,
        TargetKind::Secret,
        TargetKind::PersistentVolumeClaim,
        TargetKind::Release,
        TargetKind::Application,
        TargetKind::Incident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Deployment => "deployment",
            TargetKind::StatefulSet => "stateful_set",
            TargetKind::DaemonSet => "daemon_set",
            TargetKind::Namespace => "namespace",
            TargetKind::Job => "job",
            TargetKind::CronJob => "cron_job",
            TargetKind::Node => "node",
            TargetKind::ConfigMap => "config_map",
            TargetKind::Secret => "secret",
            TargetKind::PersistentVolumeClaim => "persistent_volume_claim",
            TargetKind::Release => "release",
            TargetKind::Application => "application",
            TargetKind::Incident => "incident",
        }
    }

    /// Parses the `snake_case` name.
    pub fn from_name(name: &str) -> Option<Self> {
        TargetKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// Whether objects of this kind live outside namespaces.
    pub fn cluster_scoped(self) -> bool {
        matches!(
            self,
            TargetKind::Node | TargetKind::Namespace | TargetKind::Incident
        )
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    pub kind: TargetKind,
    /// Namespace for namespaced kinds; `None` for nodes, namespaces and incidents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: TargetKind, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// `kind/namespace/name`, or `kind/name` for cluster-scoped objects: the form policy
    /// allowlists match against.
    pub fn path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The namespace an action is confined to: its own namespace, or the namespace's name for a
    /// namespace target.
    pub fn effective_namespace(&self) -> Option<&str> {
        match (self.kind, &self.namespace) {
            (TargetKind::Namespace, _) => Some(self.name.as_str()),
            (_, Some(ns)) => Some(ns.as_str()),
            (_, None) => None,
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// One typed operation with its parameters. The target is carried beside it in
/// [`ProposedAction`]; [`Action::target_kind`] names the kind it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Rollout restart: bumps the pod-template `restartedAt` annotation.
    RestartDeployment,
    /// Rolling restart of a StatefulSet (pods replaced one at a time, highest ordinal first),
    /// by the same annotation.
    RestartStatefulSet,
    /// Rolling restart of a DaemonSet's pods, node by node, by the same annotation.
    RestartDaemonSet,
    /// Sets the replica count through the `/scale` subresource.
    ScaleDeployment { replicas: u32 },
    /// Sets a StatefulSet's replica count through its `/scale` subresource.
    ScaleStatefulSet { replicas: u32 },
    /// Puts back the pod template of the ReplicaSet with this revision.
    RollbackDeployment { to_revision: u64 },
    /// Creates the target Job from the `jobTemplate` of the CronJob named `template` (same
    /// namespace), as `kubectl create job --from=cronjob/...` does.
    RunJob { template: String },
    /// Deletes the namespace's pods in the given finished phase.
    DeletePods { phase: PodPhase },
    /// Deletes the pods in the given finished phase that ran on the target node, whatever
    /// their namespace (what fills a node's disk with logs and writable layers).
    DeleteNodePods { phase: PodPhase },
    /// Sets `spec.suspend = true` on a CronJob.
    SuspendCronJob,
    /// Marks a node unschedulable.
    CordonNode,
    /// Cordons a node and evicts its pods (respecting disruption budgets).
    DrainNode,
    /// Sets one key of a ConfigMap.
    PatchConfig { key: String, value: String },
    /// Brings a Helm release back to its declared state.
    ReconcileRelease,
    /// Asks Argo CD to refresh an `Application` and sync it to its target revision, as
    /// `argocd app sync` does (no prune).
    SyncApplication,
    /// Sends the incident to its channels.
    Notify,
    /// Gathers more evidence for the incident (read-only queries).
    CollectEvidence,
    /// Deletes a namespace and everything in it (human only).
    DeleteNamespace,
    /// Deletes a persistent volume claim and its data (human only).
    DeleteVolume,
    /// Rotates a credential held in a Secret (human only).
    RotateCredential,
    /// Turns off a named security control (human only).
    DisableSecurityControl { control: String },
}

/// Words in a ConfigMap key that make a patch touch credentials or security controls.
const SENSITIVE_CONFIG_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "apikey",
    "private_key",
    "tls",
    "cert",
    "auth",
    "rbac",
    "security",
    "network_policy",
    "networkpolicy",
    "firewall",
];

impl Action {
    /// Every action name (the serde `type` tag), in catalogue order.
    pub const NAMES: &'static [&'static str] = &[
        "restart_deployment",
        "restart_stateful_set",
        "restart_daemon_set",
        "scale_deployment",
        "scale_stateful_set",
        "rollback_deployment",
        "run_job",
        "delete_pods",
        "delete_node_pods",
        "suspend_cron_job",
        "cordon_node",
        "drain_node",
        "patch_config",
        "reconcile_release",
        "sync_application",
        "notify",
        "collect_evidence",
        "delete_namespace",
        "delete_volume",
        "rotate_credential",
        "disable_security_control",
    ];

    /// The serde `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Action::RestartDeployment => "restart_deployment",
            Action::RestartStatefulSet => "restart_stateful_set",
            Action::RestartDaemonSet => "restart_daemon_set",
            Action::ScaleDeployment { .. } => "scale_deployment",
            Action::ScaleStatefulSet { .. } => "scale_stateful_set",
            Action::RollbackDeployment { .. } => "rollback_deployment",
            Action::RunJob { .. } => "run_job",
            Action::DeletePods { .. } => "delete_pods",
            Action::DeleteNodePods { .. } => "delete_node_pods",
            Action::SuspendCronJob => "suspend_cron_job",
            Action::CordonNode => "cordon_node",
            Action::DrainNode => "drain_node",
            Action::PatchConfig { .. } => "patch_config",
            Action::ReconcileRelease => "reconcile_release",
            Action::SyncApplication => "sync_application",
            Action::Notify => "notify",
            Action::CollectEvidence => "collect_evidence",
            Action::DeleteNamespace => "delete_namespace",
            Action::DeleteVolume => "delete_volume",
            Action::RotateCredential => "rotate_credential",
            Action::DisableSecurityControl { .. } => "disable_security_control",
        }
    }

    /// The class an action name belongs to regardless of parameters (the floor; see
    /// [`Action::risk`] for the parameter-aware class).
    pub fn class_of_name(name: &str) -> Option<RiskClass> {
        Some(match name {
            "notify" | "collect_evidence" => RiskClass::ReadOnly,
            "delete_pods" | "delete_node_pods" | "suspend_cron_job" => RiskClass::Auto,
            "restart_deployment"
            | "restart_stateful_set"
            | "restart_daemon_set"
            | "scale_deployment"
            | "scale_stateful_set"
            | "rollback_deployment"
            | "run_job"
            | "cordon_node"
            | "drain_node"
            | "patch_config"
            | "reconcile_release"
            | "sync_application" => RiskClass::Approval,
            "delete_namespace"
            | "delete_volume"
            | "rotate_credential"
            | "disable_security_control" => RiskClass::HumanOnly,
            _ => return None,
        })
    }

    /// Risk class of this action with these parameters: a config patch whose key touches
    /// credentials or security controls is human only.
    pub fn risk(&self) -> RiskClass {
        match self {
            Action::PatchConfig { key, .. } => {
                let key = key.to_ascii_lowercase().replace(['-', '.'], "_");
                if SENSITIVE_CONFIG_WORDS.iter().any(|w| key.contains(w)) {
                    RiskClass::HumanOnly
                } else {
                    RiskClass::Approval
                }
            }
            other => Action::class_of_name(other.name()).unwrap_or(RiskClass::HumanOnly),
        }
    }

    /// Whether the action interrupts serving workloads or nodes (restart, rollback, scale,
    /// drain, cordon, config, release): such actions are never automatic outside demo.
    pub fn disruptive(&self) -> bool {
        self.risk() >= RiskClass::Approval && !matches!(self, Action::RunJob { .. })
    }

    pub fn family(&self) -> ActionFamily {
        match self {
            Action::Notify | Action::CollectEvidence => ActionFamily::Inform,
            Action::DeletePods { .. } | Action::DeleteNodePods { .. } | Action::SuspendCronJob => {
                ActionFamily::Cleanup
            }
            Action::RestartDeployment
            | Action::RestartStatefulSet
            | Action::RestartDaemonSet
            | Action::RollbackDeployment { .. } => ActionFamily::Workload,
            Action::ScaleDeployment { .. } | Action::ScaleStatefulSet { .. } => ActionFamily::Scale,
            Action::RunJob { .. } => ActionFamily::Job,
            Action::PatchConfig { .. } | Action::ReconcileRelease | Action::SyncApplication => {
                ActionFamily::Config
            }
            Action::CordonNode | Action::DrainNode => ActionFamily::Node,
            Action::DeleteNamespace
            | Action::DeleteVolume
            | Action::RotateCredential
            | Action::DisableSecurityControl { .. } => ActionFamily::Destructive,
        }
    }

    /// The kind of target this action applies to.
    pub fn target_kind(&self) -> TargetKind {
        match self {
            Action::RestartDeployment
            | Action::ScaleDeployment { .. }
            | Action::RollbackDeployment { .. } => TargetKind::Deployment,
            Action::RestartStatefulSet | Action::ScaleStatefulSet { .. } => TargetKind::StatefulSet,
            Action::RestartDaemonSet => TargetKind::DaemonSet,
            Action::RunJob { .. } => TargetKind::Job,
            Action::DeletePods { .. } | Action::DeleteNamespace => TargetKind::Namespace,
            Action::SuspendCronJob => TargetKind::CronJob,
            Action::CordonNode | Action::DrainNode | Action::DeleteNodePods { .. } => {
                TargetKind::Node
            }
            Action::PatchConfig { .. } => TargetKind::ConfigMap,
            Action::ReconcileRelease => TargetKind::Release,
            Action::SyncApplication => TargetKind::Application,
            Action::Notify | Action::CollectEvidence => TargetKind::Incident,
            Action::DeleteVolume => TargetKind::PersistentVolumeClaim,
            Action::RotateCredential => TargetKind::Secret,
            Action::DisableSecurityControl { .. } => TargetKind::Namespace,
        }
    }

    /// Metric and event signals that should return to healthy if the action worked.
    pub fn recovery_signals(&self) -> &'static [&'static str] {
        match self {
            Action::RestartDeployment | Action::RollbackDeployment { .. } => &[
                "kube_pod_container_status_restarts_total",
                "kube_deployment_status_replicas_unavailable",
                "http_requests_errors_ratio",
            ],
            Action::RestartStatefulSet | Action::ScaleStatefulSet { .. } => &[
                "kube_statefulset_status_replicas_ready",
                "kube_pod_container_status_restarts_total",
                "up",
            ],
            Action::RestartDaemonSet => &[
                "kube_daemonset_status_number_unavailable",
                "kube_pod_container_status_restarts_total",
            ],
            Action::ScaleDeployment { .. } => &[
                "kube_deployment_status_replicas_available",
                "http_request_duration_seconds",
                "container_cpu_usage_seconds_total",
            ],
            Action::RunJob { .. } => &["kube_job_status_succeeded", "kube_job_status_failed"],
            Action::DeletePods { .. } | Action::DeleteNodePods { .. } => &[
                "kube_pod_status_phase",
                "kubelet_evictions",
                "node_filesystem_avail_bytes",
            ],
            Action::SuspendCronJob => &["kube_job_status_failed", "kube_pod_status_phase"],
            Action::CordonNode | Action::DrainNode => &[
                "kube_node_status_condition",
                "kube_pod_status_ready",
                "node_filesystem_avail_bytes",
            ],
            Action::PatchConfig { .. } | Action::ReconcileRelease | Action::SyncApplication => &[
                "kube_deployment_status_replicas_unavailable",
                "http_requests_errors_ratio",
            ],
            Action::Notify
            | Action::CollectEvidence
            | Action::DeleteNamespace
            | Action::DeleteVolume
            | Action::RotateCredential
            | Action::DisableSecurityControl { .. } => &[],
        }
    }

    /// How to undo the action (or why nothing needs undoing).
    pub fn rollback_instructions(&self) -> &'static str {
        match self {
            Action::RestartDeployment => {
                "Nothing to undo: pods are recreated from the same template. If new pods fail, \
                 roll back to the previous revision (kubectl rollout undo deployment/NAME)."
            }
            Action::RestartStatefulSet => {
                "Nothing to undo: pods are recreated one by one from the same template and keep \
                 their volumes. If a new pod fails, the rollout stops there; fix forward or roll \
                 the template back (kubectl rollout undo statefulset/NAME)."
            }
            Action::RestartDaemonSet => {
                "Nothing to undo: each node's pod is recreated from the same template. If new \
                 pods fail, roll the template back (kubectl rollout undo daemonset/NAME)."
            }
            Action::ScaleDeployment { .. } => {
                "Scale back to the replica count recorded in the audit entry's before state \
                 (kubectl scale deployment/NAME --replicas=N)."
            }
            Action::ScaleStatefulSet { .. } => {
                "Scale back to the replica count recorded in the audit entry's before state \
                 (kubectl scale statefulset/NAME --replicas=N); volumes of removed ordinals are \
                 kept and reattach."
            }
            Action::RollbackDeployment { .. } => {
                "Roll forward to the revision recorded in the audit entry's before state \
                 (kubectl rollout undo deployment/NAME --to-revision=N)."
            }
            Action::RunJob { .. } => {
                "Delete the created Job and its pods (kubectl delete job NAME); the CronJob is \
                 unchanged."
            }
            Action::DeletePods { .. } | Action::DeleteNodePods { .. } => {
                "Nothing to restore: only Succeeded/Failed pods are deleted; their controllers \
                 keep the record. Logs are in the evidence collected before deletion."
            }
            Action::SuspendCronJob => {
                "Resume the CronJob (kubectl patch cronjob NAME -p '{\"spec\":{\"suspend\":false}}')."
            }
            Action::CordonNode => "Uncordon the node (kubectl uncordon NODE).",
            Action::DrainNode => {
                "Uncordon the node (kubectl uncordon NODE); evicted pods are rescheduled by their \
                 controllers and return once the node is schedulable."
            }
            Action::PatchConfig { .. } => {
                "Set the key back to the value recorded in the audit entry's before state, then \
                 restart the consumers if they read config only at start."
            }
            Action::ReconcileRelease => {
                "Roll the release back to the revision recorded in the audit entry's before \
                 state (helm rollback RELEASE REVISION)."
            }
            Action::SyncApplication => {
                "Sync the Application back to the revision recorded in the audit entry's before \
                 state (argocd app rollback APP, or revert the commit in Git and sync)."
            }
            Action::Notify | Action::CollectEvidence => "Nothing to undo: read-only.",
            Action::DeleteNamespace
            | Action::DeleteVolume
            | Action::RotateCredential
            | Action::DisableSecurityControl { .. } => {
                "Human only: the robot never executes this; follow the owning team's runbook."
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::ScaleDeployment { replicas } => {
                write!(f, "scale_deployment(replicas={replicas})")
            }
            Action::ScaleStatefulSet { replicas } => {
                write!(f, "scale_stateful_set(replicas={replicas})")
            }
            Action::RollbackDeployment { to_revision } => {
                write!(f, "rollback_deployment(to_revision={to_revision})")
            }
            Action::RunJob { template } => write!(f, "run_job(template={template})"),
            Action::DeletePods { phase } => write!(f, "delete_pods(phase={})", phase.as_str()),
            Action::DeleteNodePods { phase } => {
                write!(f, "delete_node_pods(phase={})", phase.as_str())
            }
            Action::PatchConfig { key, .. } => write!(f, "patch_config(key={key})"),
            Action::DisableSecurityControl { control } => {
                write!(f, "disable_security_control(control={control})")
            }
            other => f.write_str(other.name()),
        }
    }
}

/// An action someone (a rule, the RCA draft, an operator) proposes for an incident. It carries
/// no authority: only a policy decision can let it run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedAction {
    pub action: Action,
    pub target: ObjectRef,
    /// Incident the action is for.
    pub incident_id: String,
    /// Evidence ids the proposal rests on.
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    /// Who proposed it (`rule:…`, `rca`, `operator:…`).
    #[serde(default)]
    pub proposed_by: String,
    /// How sure the proposer is (the draft hypothesis' confidence, 0 to 1); a policy's
    /// `min_confidence` reads it. Absent in records made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
}

/// A confidence between 0 and 1, kept to the thousandth so proposals stay comparable and
/// hashable; written as a number (`0.82`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Confidence(u16);

impl Confidence {
    /// `value` clamped to [0, 1], to the thousandth.
    pub fn new(value: f64) -> Self {
        let v = if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        };
        Self((v * 1000.0).round() as u16)
    }

    pub fn value(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl Serialize for Confidence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for Confidence {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Confidence::new)
    }
}

impl ProposedAction {
    /// Whether the target is of the kind the action applies to and names what it must
    /// (a namespace for namespaced kinds, none for cluster-scoped ones, a non-empty name).
    pub fn target_fits(&self) -> bool {
        let kind = self.action.target_kind();
        self.target.kind == kind
            && !self.target.name.is_empty()
            && (kind.cluster_scoped() == self.target.namespace.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_actions() -> Vec<Action> {
        vec![
            Action::RestartDeployment,
            Action::RestartStatefulSet,
            Action::RestartDaemonSet,
            Action::ScaleDeployment { replicas: 3 },
            Action::ScaleStatefulSet { replicas: 2 },
            Action::RollbackDeployment { to_revision: 4 },
            Action::RunJob {
                template: "db-check".into(),
            },
            Action::DeletePods {
                phase: PodPhase::Failed,
            },
            Action::DeleteNodePods {
                phase: PodPhase::Succeeded,
            },
            Action::SuspendCronJob,
            Action::CordonNode,
            Action::DrainNode,
            Action::PatchConfig {
                key: "log_level".into(),
                value: "debug".into(),
            },
            Action::ReconcileRelease,
            Action::SyncApplication,
            Action::Notify,
            Action::CollectEvidence,
            Action::DeleteNamespace,
            Action::DeleteVolume,
            Action::RotateCredential,
            Action::DisableSecurityControl {
                control: "admission".into(),
            },
        ]
    }

    #[test]
    fn serde_uses_the_type_tag_and_names_match() {
        let actions = all_actions();
        assert_eq!(actions.len(), Action::NAMES.len());
        for (action, name) in actions.iter().zip(Action::NAMES) {
            assert_eq!(action.name(), *name);
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json["type"], *name);
            let back: Action = serde_json::from_value(json).unwrap();
            assert_eq!(&back, action);
            assert!(Action::class_of_name(name).is_some());
        }
        let scale: Action =
            serde_json::from_str(r#"{"type":"scale_deployment","replicas":2}"#).unwrap();
        assert_eq!(scale, Action::ScaleDeployment { replicas: 2 });
        let pods: Action =
            serde_json::from_str(r#"{"type":"delete_pods","phase":"Succeeded"}"#).unwrap();
        assert_eq!(
            pods,
            Action::DeletePods {
                phase: PodPhase::Succeeded
            }
        );
        assert!(
            serde_json::from_str::<Action>(r#"{"type":"delete_pods","phase":"Running"}"#).is_err()
        );
        assert!(serde_json::from_str::<Action>(r#"{"type":"exec","command":"rm"}"#).is_err());
        assert!(
            serde_json::from_str::<Action>(
                r#"{"type":"scale_deployment","replicas":1,"command":"sh"}"#
            )
            .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn risk_classes_follow_the_table() {
        assert_eq!(Action::Notify.risk(), RiskClass::ReadOnly);
        assert_eq!(
            Action::DeletePods {
                phase: PodPhase::Succeeded
            }
            .risk(),
            RiskClass::Auto
        );
        assert_eq!(Action::SuspendCronJob.risk(), RiskClass::Auto);
        assert_eq!(Action::RestartDeployment.risk(), RiskClass::Approval);
        assert_eq!(Action::DrainNode.risk(), RiskClass::Approval);
        assert_eq!(Action::ReconcileRelease.risk(), RiskClass::Approval);
        assert_eq!(Action::DeleteNamespace.risk(), RiskClass::HumanOnly);
        let secret_patch = Action::PatchConfig {
            key: "DB-Password".into(),
            value: "x".into(),
        };
        assert_eq!(secret_patch.risk(), RiskClass::HumanOnly);
        assert!(RiskClass::HumanOnly > RiskClass::Approval);
        for action in all_actions() {
            assert!(action.risk() >= Action::class_of_name(action.name()).unwrap());
            assert!(!action.rollback_instructions().is_empty());
            if action.risk() <= RiskClass::Auto {
                assert!(!action.disruptive(), "{action}");
            }
        }
    }

    #[test]
    fn proposal_round_trips_and_checks_its_target() {
        let proposal = ProposedAction {
            action: Action::ScaleDeployment { replicas: 4 },
            target: ObjectRef::new(TargetKind::Deployment, Some("shop"), "cart"),
            incident_id: "inc-1".into(),
            evidence_ids: vec!["ev-1".into()],
            proposed_by: "rca".into(),
            confidence: None,
        };
        let json = serde_json::to_string(&proposal).unwrap();
        assert!(json.contains(r#""action":{"type":"scale_deployment","replicas":4}"#));
        assert!(
            json.contains(r#""target":{"kind":"deployment","namespace":"shop","name":"cart"}"#)
        );
        let back: ProposedAction = serde_json::from_str(&json).unwrap();
        assert_eq!(back, proposal);
        assert!(proposal.target_fits());
        assert_eq!(proposal.target.path(), "deployment/shop/cart");

        let mut wrong = proposal.clone();
        wrong.target = ObjectRef::new(TargetKind::Node, None, "worker-1");
        assert!(!wrong.target_fits());
        let mut missing_ns = proposal;
        missing_ns.target.namespace = None;
        assert!(!missing_ns.target_fits());
        let node = ObjectRef::new(TargetKind::Node, None, "worker-1");
        assert_eq!(node.path(), "node/worker-1");
        assert_eq!(
            ObjectRef::new(TargetKind::Namespace, None, "shop").effective_namespace(),
            Some("shop")
        );
    }
}
