//! What an incident, a finding or a change is about, and which workload a pod belongs to:
//! the one place that turns Kubernetes' generated pod names back into their owners.
//!
//! Kubernetes names a Deployment's pods `<name>-<pod-template-hash>-<5>`, a StatefulSet's
//! `<name>-<ordinal>` and a DaemonSet's or Job's `<name>-<5>`. [`workload_of`] parses those
//! shapes; an [`OwnerIndex`] built from `kube_pod_owner` / `kube_replicaset_owner` series
//! (kube-state-metrics) answers from the cluster's own records and wins wherever it knows a pod.

use crate::{LabelSet, Scope};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// The object an incident, a finding or a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub kind: Scope,
    /// Namespace where the object has one.
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
}

impl Target {
    pub fn new(kind: Scope, namespace: Option<&str>, name: impl Into<String>) -> Self {
        Self {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }

    /// The workload this target runs as: a pod's or container's owner, anything else itself.
    pub fn workload(&self) -> &str {
        match self.kind {
            Scope::Pod | Scope::Container => workload_of(&self.name).name,
            _ => &self.name,
        }
    }

    /// Whether `other` names the same workload: namespaces agree where both have one, and the
    /// workloads (pods and containers reduced to their owners) have the same name.
    pub fn same_workload(&self, other: &Target) -> bool {
        if let (Some(a), Some(b)) = (&self.namespace, &other.namespace)
            && a != b
        {
            return false;
        }
        self.name == other.name || self.workload() == other.workload()
    }
}

impl fmt::Display for Target {
    /// `kind/namespace/name`, or `kind/name` without a namespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{}/{}", self.kind.as_str(), self.name),
        }
    }
}

/// How a workload owns its pods, as far as the pod's name (or the owner series) tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    /// `<name>-<5>`: a DaemonSet or a Job; the name alone cannot tell which.
    DaemonSetOrJob,
    /// Not a generated name: the pod is its own workload.
    Pod,
}

/// The owner of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload<'a> {
    pub kind: WorkloadKind,
    pub name: &'a str,
}

/// The alphabet Kubernetes draws generated name segments from (`rand.SafeEncodeString`):
/// no vowels, no `0`, `1` or `3`, so generated segments never spell words.
fn is_safe_char(b: u8) -> bool {
    b"bcdfghjklmnpqrstvwxz2456789".contains(&b)
}

/// A ReplicaSet's pod-template hash: up to 10 characters of the safe alphabet (the decimal
/// digits of a 32-bit hash, encoded), or — as older clusters and hand-written names have it —
/// 4 to 10 lower-case alphanumerics with at least one digit.
fn is_template_hash(segment: &str) -> bool {
    let b = segment.as_bytes();
    let safe = (6..=10).contains(&b.len()) && b.iter().all(|&c| is_safe_char(c));
    let loose = (4..=10).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().any(u8::is_ascii_digit);
    safe || loose
}

/// The random suffix of a ReplicaSet's pod: 5 characters (4 to 5 lower-case alphanumerics
/// accepted behind a template hash, which already marks the name as generated).
fn is_replica_suffix(segment: &str) -> bool {
    (4..=5).contains(&segment.len())
        && segment
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The random suffix of a DaemonSet's or Job's pod: exactly 5 characters of the safe alphabet.
fn is_generated_suffix(segment: &str) -> bool {
    segment.len() == 5 && segment.bytes().all(is_safe_char)
}

/// The workload a pod name belongs to, parsed the way Kubernetes forms pod names. A container
/// written `pod/container` is reduced to its pod first. A name that fits no generated shape
/// (`auth-api-proxy`, `web-api`) is its own workload.
pub fn workload_of(pod: &str) -> Workload<'_> {
    let pod = pod.split_once('/').map_or(pod, |(pod, _container)| pod);
    let itself = Workload {
        kind: WorkloadKind::Pod,
        name: pod,
    };
    let Some((rest, last)) = pod.rsplit_once('-') else {
        return itself;
    };
    if rest.is_empty() || last.is_empty() {
        return itself;
    }
    if let Some((base, hash)) = rest.rsplit_once('-')
        && !base.is_empty()
        && is_template_hash(hash)
        && is_replica_suffix(last)
    {
        return Workload {
            kind: WorkloadKind::Deployment,
            name: base,
        };
    }
    if last.bytes().all(|c| c.is_ascii_digit()) && last.len() <= 5 {
        return Workload {
            kind: WorkloadKind::StatefulSet,
            name: rest,
        };
    }
    if is_generated_suffix(last) {
        return Workload {
            kind: WorkloadKind::DaemonSetOrJob,
            name: rest,
        };
    }
    itself
}

/// Pod owners as the cluster records them: kube-state-metrics' `kube_pod_owner` (pod →
/// ReplicaSet, StatefulSet, DaemonSet, Job) and `kube_replicaset_owner` (ReplicaSet →
/// Deployment). Preferred over parsing names wherever it knows a pod.
#[derive(Debug, Clone, Default)]
pub struct OwnerIndex {
    /// (namespace, pod) → (owner kind, owner name).
    pods: HashMap<(String, String), (String, String)>,
    /// (namespace, replicaset) → deployment.
    replicasets: HashMap<(String, String), String>,
}

/// The metric naming each pod's owner.
pub const POD_OWNER_METRIC: &str = "kube_pod_owner";
/// The metric naming each ReplicaSet's owner.
pub const REPLICASET_OWNER_METRIC: &str = "kube_replicaset_owner";

impl OwnerIndex {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.replicasets.is_empty()
    }

    /// Adds one `kube_pod_owner` or `kube_replicaset_owner` series; other series are ignored.
    pub fn observe(&mut self, labels: &LabelSet) {
        let get = |name: &str| labels.get(name).filter(|v| !v.is_empty());
        let (Some(ns), Some(kind), Some(owner)) =
            (get("namespace"), get("owner_kind"), get("owner_name"))
        else {
            return;
        };
        match labels.metric_name() {
            POD_OWNER_METRIC => {
                if let Some(pod) = get("pod") {
                    self.pods.insert(
                        (ns.to_owned(), pod.to_owned()),
                        (kind.to_owned(), owner.to_owned()),
                    );
                }
            }
            REPLICASET_OWNER_METRIC if kind == "Deployment" => {
                if let Some(rs) = get("replicaset") {
                    self.replicasets
                        .insert((ns.to_owned(), rs.to_owned()), owner.to_owned());
                }
            }
            _ => {}
        }
    }

    /// The recorded owner of a pod, following a ReplicaSet to its Deployment.
    pub fn owner(&self, namespace: &str, pod: &str) -> Option<Workload<'_>> {
        let (kind, name) = self.pods.get(&(namespace.to_owned(), pod.to_owned()))?;
        fn workload(kind: WorkloadKind, name: &str) -> Option<Workload<'_>> {
            Some(Workload { kind, name })
        }
        match kind.as_str() {
            "ReplicaSet" => match self.replicasets.get(&(namespace.to_owned(), name.clone())) {
                Some(deployment) => workload(WorkloadKind::Deployment, deployment),
                // A bare ReplicaSet, or its owner series not scraped: the hash is its last part.
                None => workload(
                    WorkloadKind::Deployment,
                    name.rsplit_once('-')
                        .map_or(name.as_str(), |(base, _)| base),
                ),
            },
            "StatefulSet" => workload(WorkloadKind::StatefulSet, name),
            "DaemonSet" | "Job" => workload(WorkloadKind::DaemonSetOrJob, name),
            _ => None,
        }
    }

    /// The owner of a pod: the recorded one when known, else parsed from its name.
    pub fn workload_of<'a>(&'a self, namespace: Option<&str>, pod: &'a str) -> Workload<'a> {
        let bare = pod.split_once('/').map_or(pod, |(pod, _)| pod);
        namespace
            .and_then(|ns| self.owner(ns, bare))
            .unwrap_or_else(|| workload_of(pod))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_pods_lose_hash_and_suffix() {
        let cases = [
            ("payments-api-7d9c5b0f-x0q0", "payments-api"),
            ("checkout-5f6d7c8b9-abcde", "checkout"),
            ("checkout-5f6d8c7b9-abc12", "checkout"),
            ("checkout-5f6d8c7b9-abc12/app", "checkout"),
            ("auth-api-proxy-6c9f7d8b5-x2x1k", "auth-api-proxy"),
            ("payments-7d9f-x2k4q", "payments"),
            ("coredns-bcdfghjkl-wxz29", "coredns"),
        ];
        for (pod, want) in cases {
            let w = workload_of(pod);
            assert_eq!((w.kind, w.name), (WorkloadKind::Deployment, want), "{pod}");
        }
    }

    #[test]
    fn other_owners_and_plain_names() {
        assert_eq!(workload_of("redis-0").name, "redis");
        assert_eq!(workload_of("redis-0").kind, WorkloadKind::StatefulSet);
        assert_eq!(
            workload_of("fluentd-x2x9k").kind,
            WorkloadKind::DaemonSetOrJob
        );
        assert_eq!(workload_of("fluentd-x2x9k").name, "fluentd");
        for plain in [
            "auth-api-proxy",
            "web-api",
            "standalone",
            "web-proxy",
            "-x2x9k",
        ] {
            assert_eq!(workload_of(plain).name, plain);
            assert_eq!(workload_of(plain).kind, WorkloadKind::Pod);
        }
    }

    #[test]
    fn targets_compare_by_workload() {
        let d = Target::new(Scope::Deployment, Some("shop"), "payments");
        let p = Target::new(Scope::Pod, Some("shop"), "payments-7d9f-x2k4q");
        let other_ns = Target::new(Scope::Pod, Some("ops"), "payments-7d9f-x2k4q");
        let other = Target::new(Scope::Pod, Some("shop"), "paymentsx-1");
        let proxy = Target::new(Scope::Pod, Some("shop"), "payments-proxy-6c9f7d8b5-x2x1k");
        assert!(d.same_workload(&p) && p.same_workload(&d));
        assert!(!d.same_workload(&other_ns));
        assert!(!d.same_workload(&other));
        assert!(!d.same_workload(&proxy));
        assert_eq!(p.to_string(), "pod/shop/payments-7d9f-x2k4q");
    }

    #[test]
    fn recorded_owners_win() {
        let series = |pairs: &[(&str, &str)]| {
            LabelSet::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .expect("labels")
        };
        let mut index = OwnerIndex::default();
        index.observe(&series(&[
            ("__name__", POD_OWNER_METRIC),
            ("namespace", "shop"),
            ("pod", "cart-7f9c8d6b5-x2x1k"),
            ("owner_kind", "ReplicaSet"),
            ("owner_name", "cart-v2-7f9c8d6b5"),
        ]));
        index.observe(&series(&[
            ("__name__", REPLICASET_OWNER_METRIC),
            ("namespace", "shop"),
            ("replicaset", "cart-v2-7f9c8d6b5"),
            ("owner_kind", "Deployment"),
            ("owner_name", "cart-v2"),
        ]));
        index.observe(&series(&[
            ("__name__", POD_OWNER_METRIC),
            ("namespace", "shop"),
            ("pod", "web-proxy"),
            ("owner_kind", "StatefulSet"),
            ("owner_name", "web"),
        ]));
        let cart = index.workload_of(Some("shop"), "cart-7f9c8d6b5-x2x1k");
        assert_eq!(
            (cart.kind, cart.name),
            (WorkloadKind::Deployment, "cart-v2")
        );
        assert_eq!(index.workload_of(Some("shop"), "web-proxy").name, "web");
        // Unknown pods, or the same pod in another namespace, fall back to the name.
        assert_eq!(
            index.workload_of(Some("ops"), "web-proxy").name,
            "web-proxy"
        );
        assert_eq!(index.workload_of(None, "api-6c9f7d8b5-x2x1k").name, "api");
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        /// Words as people name workloads: lower case, each with a vowel, so no word is
        /// mistaken for a generated segment.
        fn base() -> impl Strategy<Value = String> {
            proptest::collection::vec("[bcdfgklmnprstvwz][aeiou][a-z]{0,6}", 1..4)
                .prop_map(|words| words.join("-"))
        }

        fn safe(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
            proptest::collection::vec(
                proptest::sample::select(b"bcdfghjklmnpqrstvwxz2456789".to_vec()),
                len,
            )
            .prop_map(|b| String::from_utf8(b).unwrap_or_default())
        }

        proptest! {
            #[test]
            fn deployment_pods(name in base(), hash in safe(1..=10), suffix in safe(5..=5)) {
                // Short hashes (a 32-bit hash with leading zeros) are rare; the parser needs 4+
                // characters with a digit, or 6+ of the safe alphabet.
                prop_assume!(is_template_hash(&hash));
                let pod = format!("{name}-{hash}-{suffix}");
                let w = workload_of(&pod);
                prop_assert_eq!((w.kind, w.name), (WorkloadKind::Deployment, name.as_str()));
                let container = format!("{pod}/app");
                prop_assert_eq!(workload_of(&container).name, name.as_str());
            }

            #[test]
            fn stateful_set_pods(name in base(), ordinal in 0u32..10_000) {
                let pod = format!("{name}-{ordinal}");
                let w = workload_of(&pod);
                prop_assert_eq!((w.kind, w.name), (WorkloadKind::StatefulSet, name.as_str()));
            }

            #[test]
            fn daemon_set_and_job_pods(name in base(), suffix in safe(5..=5)) {
                // An all-digit suffix reads as a StatefulSet ordinal: the name cannot tell.
                prop_assume!(!suffix.bytes().all(|b| b.is_ascii_digit()));
                let pod = format!("{name}-{suffix}");
                let w = workload_of(&pod);
                prop_assert_eq!((w.kind, w.name), (WorkloadKind::DaemonSetOrJob, name.as_str()));
            }

            #[test]
            fn plain_names_are_their_own_workload(name in base()) {
                let w = workload_of(&name);
                prop_assert_eq!((w.kind, w.name), (WorkloadKind::Pod, name.as_str()));
            }
        }
    }
}
