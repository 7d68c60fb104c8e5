//! What the draft knows: per incident type, the candidate causes with the evidence signals that
//! support or weigh against each, the read-only tools that check it, and the catalogue actions.
//!
//! Plain constant tables so the draft is deterministic and reviewable; signals are lower-case
//! substrings matched against an evidence item's name, summary and metric name.

use model::IncidentType;

/// The typed action catalogue, by name (the only actions a draft may recommend).
pub const ACTIONS: &[&str] = &[
    "restart_deployment",
    "scale_deployment",
    "rollback_deployment",
    "run_job",
    "delete_pods",
    "suspend_cron_job",
    "cordon_node",
    "drain_node",
    "patch_config",
    "reconcile_release",
    "notify",
    "collect_evidence",
];

/// Whether `name` is an action of the catalogue.
pub fn is_catalogue_action(name: &str) -> bool {
    ACTIONS.contains(&name)
}

/// Read-only investigation tools a plan may name.
pub const TOOLS: &[&str] = &[
    "evidence.list",
    "logs.recent",
    "windows.query",
    "events.list",
    "pods.list",
    "nodes.list",
    "cluster_overview.get",
    "rollout.history",
    "release_drift.summary",
    "http_signals.recent",
    "runtime_health.get",
    "async_backlog.recent",
    "messaging_transport.recent",
];

/// A read-only check: the tool and why it is run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check {
    pub(crate) tool: &'static str,
    pub(crate) why: &'static str,
}

const fn check(tool: &'static str, why: &'static str) -> Check {
    Check { tool, why }
}

/// One candidate cause of an incident type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CauseSpec {
    /// Stable key, e.g. `unbounded_memory_growth`.
    pub(crate) key: &'static str,
    /// Hypothesis text; `{target}` is replaced by the incident target.
    pub(crate) text: &'static str,
    /// Confidence before any evidence.
    pub(crate) prior: f64,
    /// Signals that support the cause.
    pub(crate) supports: &'static [&'static str],
    /// Signals that weigh against it.
    pub(crate) refutes: &'static [&'static str],
    /// What observation would refute it.
    pub(crate) refuted_by: &'static str,
    pub(crate) checks: &'static [Check],
    /// Catalogue actions that address it, most fitting first.
    pub(crate) actions: &'static [&'static str],
}

macro_rules! cause {
    ($key:literal, $text:literal, $prior:literal,
     supports [$($s:literal),*], refutes [$($r:literal),*], $refuted_by:literal,
     checks [$(($tool:literal, $why:literal)),*], actions [$($a:literal),*]) => {
        CauseSpec {
            key: $key,
            text: $text,
            prior: $prior,
            supports: &[$($s),*],
            refutes: &[$($r),*],
            refuted_by: $refuted_by,
            checks: &[$(check($tool, $why)),*],
            actions: &[$($a),*],
        }
    };
}

const DEPENDENCY_DOWN: CauseSpec = cause!(
    "dependency_down",
    "A dependency of {target} is down or refusing connections",
    0.4,
    supports ["connection_refused", "connection refused", "econnrefused", "dependency_unavailable", "no route to host", "upstream connect error"],
    refutes ["connection established", "reconnected"],
    "the dependency answers health checks and {target} reaches it from its own pods",
    checks [("runtime_health.get", "is the dependency itself healthy?"), ("logs.recent", "which host and port is refused?")],
    actions ["collect_evidence", "restart_deployment"]
);

const DEPENDENCY_SLOW: CauseSpec = cause!(
    "dependency_timeout",
    "A dependency of {target} is too slow: calls time out",
    0.35,
    supports ["dependency_timeout", "timed out", "timeout", "deadline exceeded", "etimedout"],
    refutes [],
    "dependency latency stays at its baseline while {target} degrades",
    checks [("runtime_health.get", "latency of the dependency"), ("http_signals.recent", "which calls slow down?")],
    actions ["collect_evidence", "scale_deployment"]
);

const DNS: CauseSpec = cause!(
    "dns_resolution",
    "Name resolution fails for {target} (cluster DNS or a missing record)",
    0.35,
    supports ["dns_failure", "no such host", "nxdomain", "servfail", "could not resolve", "coredns", "name resolution", "enotfound"],
    refutes [],
    "the same names resolve from {target}'s pods and CoreDNS shows no errors",
    checks [("pods.list", "are the CoreDNS pods ready?"), ("logs.recent", "which names fail to resolve?")],
    actions ["restart_deployment", "collect_evidence"]
);

const CPU_THROTTLING: CauseSpec = cause!(
    "cpu_saturation",
    "{target} is CPU-bound or throttled at its CPU limit",
    0.35,
    supports ["cpu", "throttl", "load average"],
    refutes [],
    "CPU stays well below request and limit while the symptom lasts",
    checks [("windows.query", "CPU usage and throttled periods against the limit"), ("pods.list", "requests, limits and placement")],
    actions ["scale_deployment", "patch_config"]
);

const LOAD_SURGE: CauseSpec = cause!(
    "load_surge",
    "A surge of traffic or work overloads {target}",
    0.3,
    supports ["request_rate", "requests_total", "rps", "traffic", "qps", "throughput"],
    refutes [],
    "request rate stays at its baseline",
    checks [("http_signals.recent", "request volume before and during the incident")],
    actions ["scale_deployment"]
);

const MEMORY_LIMIT: CauseSpec = cause!(
    "memory_limit_exceeded",
    "{target} exceeds its memory limit and is OOM-killed (limit too low for the load or a leak)",
    0.5,
    supports ["oom", "oomkilled", "exit code 137", "memory cgroup", "working_set", "memory_usage", "memory_near_limit", "memory_limit"],
    refutes [],
    "the container was not terminated with reason OOMKilled and memory stayed below its limit",
    checks [("events.list", "termination reason and exit code of the restarted containers"), ("windows.query", "working set against the memory limit before each kill")],
    actions ["patch_config", "restart_deployment", "scale_deployment"]
);

const JVM_HEAP: CauseSpec = cause!(
    "jvm_heap_exhausted",
    "The JVM heap of {target} is exhausted (heap too small or objects retained)",
    0.35,
    supports ["java_heap_space", "outofmemoryerror", "heap space", "gc overhead"],
    refutes [],
    "no OutOfMemoryError in the logs and GC time stays normal",
    checks [("logs.recent", "OutOfMemoryError and GC pauses")],
    actions ["patch_config", "restart_deployment"]
);

const CRASH_ON_START: CauseSpec = cause!(
    "crash_on_start",
    "{target} crashes on start: bad configuration, a missing secret or a bug in the running version",
    0.4,
    supports ["crashloop", "backoff", "back-off", "restart", "panic", "fatal", "exit code", "segfault"],
    refutes [],
    "the pods start and stay ready after a restart with the same version and configuration",
    checks [("logs.recent", "the last lines before each exit"), ("events.list", "exit codes and back-off events"), ("rollout.history", "what changed in the running revision")],
    actions ["rollback_deployment", "patch_config"]
);

const NODE_DISK: CauseSpec = cause!(
    "node_disk_filling",
    "A filesystem on the node fills up (images, logs or emptyDir volumes)",
    0.5,
    supports ["disk_full", "disk", "filesystem", "no space", "enospc", "diskpressure", "inodes"],
    refutes [],
    "filesystem usage on the node is stable and well below its threshold",
    checks [("nodes.list", "disk pressure condition and allocatable storage"), ("windows.query", "filesystem usage trend per mount")],
    actions ["run_job", "delete_pods", "cordon_node", "drain_node"]
);

const NODE_FAILURE: CauseSpec = cause!(
    "node_failure",
    "The node stopped reporting (kubelet down, node crashed or partitioned)",
    0.5,
    supports ["notready", "not_ready", "kubelet", "heartbeat", "unreachable", "node_lease"],
    refutes [],
    "the kubelet heartbeats and the node answers on the network",
    checks [("nodes.list", "node conditions and last heartbeat"), ("cluster_overview.get", "how many nodes are affected")],
    actions ["cordon_node", "drain_node"]
);

const NODE_MEMORY: CauseSpec = cause!(
    "node_memory_overcommit",
    "Pods on the node use more memory than it has (overcommitted limits), causing evictions",
    0.45,
    supports ["memorypressure", "memory_pressure", "evict", "memavailable", "node_memory", "memory"],
    refutes [],
    "node available memory stays above the eviction threshold",
    checks [("nodes.list", "memory pressure condition"), ("pods.list", "largest memory users on the node")],
    actions ["delete_pods", "cordon_node", "drain_node"]
);

const REGISTRY_RATE_LIMIT: CauseSpec = cause!(
    "registry_rate_limited",
    "The image registry rate-limits pulls for {target}",
    0.35,
    supports ["registry_rate_limited", "toomanyrequests", "rate limit", "429"],
    refutes [],
    "pulls fail with another reason than 429 / toomanyrequests",
    checks [("events.list", "Failed to pull image messages")],
    actions ["patch_config", "notify"]
);

const REGISTRY_AUTH: CauseSpec = cause!(
    "registry_auth",
    "Pulling {target}'s image is denied: missing or expired pull credentials",
    0.3,
    supports ["unauthorized", "401", "authentication required", "denied", "imagepullsecret", "auth_failure"],
    refutes [],
    "the same image pulls with the pod's pull secret",
    checks [("events.list", "pull errors naming authentication")],
    actions ["patch_config"]
);

const IMAGE_MISSING: CauseSpec = cause!(
    "image_tag_missing",
    "{target} references an image or tag that does not exist",
    0.3,
    supports ["manifest unknown", "not found", "errimagepull", "imagepullbackoff", "image"],
    refutes [],
    "the referenced tag exists in the registry",
    checks [("rollout.history", "which image the current revision references"), ("events.list", "pull errors")],
    actions ["rollback_deployment"]
);

const LEAK: CauseSpec = cause!(
    "unbounded_memory_growth",
    "Memory of {target} grows without bound (a leak or an unbounded cache) and will reach its limit",
    0.5,
    supports ["memory_leak", "slope", "working_set", "memory_growth", "predict"],
    refutes ["gc reclaimed", "memory released"],
    "memory levels off or falls back after garbage collection at steady traffic",
    checks [("windows.query", "memory trend against request rate"), ("rollout.history", "when growth began against the last rollout")],
    actions ["restart_deployment", "rollback_deployment", "scale_deployment"]
);

const ROLLOUT_STUCK: CauseSpec = cause!(
    "rollout_stuck",
    "The rollout of {target} does not progress: new pods never become ready",
    0.4,
    supports ["unavailable", "replicas", "progressdeadline", "rollout", "readiness", "not ready"],
    refutes [],
    "the new ReplicaSet's pods are ready and the old one has scaled down",
    checks [("rollout.history", "revisions and their readiness"), ("pods.list", "pods of the new ReplicaSet"), ("events.list", "scheduling and probe failures")],
    actions ["rollback_deployment", "restart_deployment"]
);

const SCHEDULING_CAPACITY: CauseSpec = cause!(
    "scheduling_capacity",
    "Pods of {target} cannot be scheduled: no node has the requested resources or tolerates its taints",
    0.45,
    supports ["failedscheduling", "insufficient", "unschedulable", "taint", "pending", "nodes are available"],
    refutes [],
    "a node with enough allocatable resources and matching taints and selectors exists",
    checks [("nodes.list", "allocatable resources, taints and conditions"), ("events.list", "the scheduler's reasons per pod")],
    actions ["delete_pods", "scale_deployment", "cordon_node"]
);

const JOB_FAILING: CauseSpec = cause!(
    "job_keeps_failing",
    "Runs of {target} keep failing (backoff limit or deadline reached) and pile up",
    0.45,
    supports ["backofflimitexceeded", "deadlineexceeded", "failed", "job"],
    refutes [],
    "the latest runs complete and failed runs stop accumulating",
    checks [("events.list", "job controller events"), ("logs.recent", "the failing run's last lines")],
    actions ["suspend_cron_job", "delete_pods"]
);

const CONTROLLER_LOOP: CauseSpec = cause!(
    "controller_hot_loop",
    "The controller {target} reconciles in a hot loop and floods the API server with events",
    0.45,
    supports ["churn", "events per minute", "reconcile", "controller"],
    refutes [],
    "the controller's event rate is back at its usual level",
    checks [("events.list", "what the controller reports, by object"), ("cluster_overview.get", "API load and object counts")],
    actions ["scale_deployment", "restart_deployment"]
);

const CONSUMER_SLOW: CauseSpec = cause!(
    "consumer_stalled",
    "The consumers of {target}'s queue are down, stalled or too few",
    0.4,
    supports ["backlog", "queue", "lag", "pending", "outbox", "consumer", "depth"],
    refutes [],
    "consumers process at their usual rate while the backlog grows (a producer surge instead)",
    checks [("async_backlog.recent", "queue depth and processing rate"), ("messaging_transport.recent", "disconnects and reconnect storms")],
    actions ["scale_deployment", "restart_deployment"]
);

const BACKEND_5XX: CauseSpec = cause!(
    "backend_unhealthy",
    "The backends behind {target} fail or are unavailable, so the ingress answers 5xx",
    0.4,
    supports ["5xx", "502", "503", "504", "upstream", "bad gateway", "no healthy", "error_rate"],
    refutes [],
    "backend pods answer 2xx directly while the ingress returns 5xx",
    checks [("http_signals.recent", "status codes per backend"), ("pods.list", "ready endpoints of the backend service")],
    actions ["restart_deployment", "scale_deployment", "rollback_deployment"]
);

const CERT: CauseSpec = cause!(
    "certificate_expired",
    "A TLS certificate used by {target} has expired or is about to",
    0.55,
    supports ["x509", "certificate", "expire", "cert_"],
    refutes [],
    "the served certificate's notAfter is in the future and the chain validates",
    checks [("events.list", "cert-manager issuance and renewal events"), ("logs.recent", "x509 errors naming the host")],
    actions ["run_job", "reconcile_release"]
);

const CREDENTIALS: CauseSpec = cause!(
    "credential_failure",
    "Authentication against {target} fails: rotated or expired credentials, or an attack",
    0.4,
    supports ["auth_failure", "401", "unauthorized", "login", "credential", "authentication failed", "access denied"],
    refutes [],
    "failures come from one client with a known bad password, or the rate matches the usual baseline",
    checks [("http_signals.recent", "401 rate by client"), ("logs.recent", "which users and sources fail")],
    actions ["notify", "collect_evidence"]
);

const PRIVILEGED: CauseSpec = cause!(
    "privileged_workload",
    "{target} runs a privileged container or escalates privileges against policy",
    0.5,
    supports ["privileged", "securitycontext", "hostpath", "capabilit", "allowprivilegeescalation"],
    refutes [],
    "the pod spec has no privileged container and no added capabilities",
    checks [("pods.list", "security contexts of the pods"), ("rollout.history", "who introduced the spec change")],
    actions ["notify", "rollback_deployment"]
);

const DRIFT: CauseSpec = cause!(
    "config_drift",
    "The live configuration of {target} drifted from the released one",
    0.45,
    supports ["drift", "config", "configmap", "mismatch", "out of sync", "outofsync"],
    refutes [],
    "the live objects match the release manifest",
    checks [("release_drift.summary", "which fields differ from the release"), ("rollout.history", "manual edits since the release")],
    actions ["reconcile_release", "patch_config"]
);

const REGRESSION: CauseSpec = cause!(
    "release_regression",
    "The running release of {target} regressed (a code or configuration change)",
    0.4,
    supports ["deploy", "rollout", "version", "revision", "release", "image"],
    refutes [],
    "the previous revision shows the same symptom under the same load",
    checks [("rollout.history", "revisions and when each went live"), ("release_drift.summary", "what differs from the previous release")],
    actions ["rollback_deployment"]
);

const CHANNEL: CauseSpec = cause!(
    "channel_unreachable",
    "The notification channel {target} rejects or cannot be reached",
    0.45,
    supports ["webhook", "slack", "telegram", "smtp", "delivery", "channel", "429", "timeout"],
    refutes [],
    "a test message through the channel is delivered",
    checks [("runtime_health.get", "delivery errors per channel")],
    actions ["notify", "collect_evidence"]
);

const UNEXPLAINED: CauseSpec = cause!(
    "unexplained_deviation",
    "{target} deviates from its learned baseline with no known signature yet",
    0.25,
    supports ["anomaly", "score", "deviation", "zscore", "baseline"],
    refutes [],
    "the deviation matches a known seasonal pattern or a planned change",
    checks [("windows.query", "the deviating series against the previous weeks"), ("logs.recent", "new log templates in the window")],
    actions ["collect_evidence"]
);

/// Candidate causes of an incident type, most likely first.
pub(crate) fn causes(t: IncidentType) -> &'static [CauseSpec] {
    use IncidentType as T;
    match t {
        T::NodeDiskPressure => &[NODE_DISK],
        T::NodeNotReady => &[NODE_FAILURE, NODE_MEMORY, NODE_DISK],
        T::MemoryPressure => &[NODE_MEMORY, LEAK],
        T::CpuSaturation => &[CPU_THROTTLING, LOAD_SURGE],
        T::PodsPending => &[SCHEDULING_CAPACITY, NODE_DISK],
        T::ControllerChurn => &[CONTROLLER_LOOP],
        T::DependencyUnavailable => &[DEPENDENCY_DOWN, DEPENDENCY_SLOW, DNS],
        T::ImagePullFailure => &[REGISTRY_RATE_LIMIT, REGISTRY_AUTH, IMAGE_MISSING],
        T::CrashLoop => &[CRASH_ON_START, MEMORY_LIMIT, DEPENDENCY_DOWN, DNS],
        T::OomKilled => &[MEMORY_LIMIT, JVM_HEAP, LEAK],
        T::MemoryLeak => &[LEAK, LOAD_SURGE],
        T::LatencySpike => &[DEPENDENCY_SLOW, CPU_THROTTLING, LOAD_SURGE, JVM_HEAP],
        T::ErrorRateSpike => &[DEPENDENCY_DOWN, DEPENDENCY_SLOW, CRASH_ON_START, LOAD_SURGE],
        T::DeploymentDegraded => &[ROLLOUT_STUCK, IMAGE_MISSING, CRASH_ON_START],
        T::BacklogGrowth => &[CONSUMER_SLOW, LOAD_SURGE, DEPENDENCY_DOWN],
        T::JobFailures => &[JOB_FAILING, DEPENDENCY_DOWN],
        T::MetricAnomaly => &[UNEXPLAINED, LOAD_SURGE],
        T::Ingress5xx => &[BACKEND_5XX, DEPENDENCY_DOWN, CERT],
        T::CertExpiry => &[CERT],
        T::DnsFailure => &[DNS],
        T::LoginErrorSpike => &[CREDENTIALS],
        T::PrivilegedContainer => &[PRIVILEGED],
        T::ConfigDrift => &[DRIFT],
        T::DeployRegression => &[REGRESSION, CRASH_ON_START],
        T::ChannelDeliveryFailure => &[CHANNEL],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_causes_with_catalogue_actions_and_known_tools() {
        for &t in IncidentType::ALL {
            let list = causes(t);
            assert!(!list.is_empty(), "{t}");
            for c in list {
                assert!(!c.supports.is_empty(), "{}", c.key);
                assert!((0.0..1.0).contains(&c.prior), "{}", c.key);
                for a in c.actions {
                    assert!(is_catalogue_action(a), "{} names {a}", c.key);
                }
                for ch in c.checks {
                    assert!(TOOLS.contains(&ch.tool), "{} names {}", c.key, ch.tool);
                }
            }
        }
    }
}
