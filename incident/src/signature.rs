//! Stable candidate signatures and topology keys: what makes two findings "the same", and
//! which node, namespace or workload a finding touches. Never reads free-text fields.

use model::{IncidentCandidate, Scope};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// A stable, hex-encoded hash of the identifying fields of a candidate: type, scope,
/// namespace and target. Detector names, confidence, severity, times and evidence (all of
/// which may vary between two sightings of the same problem) are deliberately left out. The
/// source joins the hash only when it is not the default one, so signatures of the default
/// source stay what they always were, and the same target in two sources never matches.
pub fn signature(candidate: &IncidentCandidate) -> String {
    let mut parts = vec![
        "sig/v1",
        candidate.incident_type.as_str(),
        candidate.scope.as_str(),
        candidate.namespace.as_deref().unwrap_or(""),
        &candidate.target,
    ];
    if candidate.source != model::DEFAULT_SOURCE {
        parts.push(&candidate.source);
    }
    hash_hex(&parts)
}

/// Hashes parts (NUL-separated, so `["a","bc"]` and `["ab","c"]` differ) to 16 bytes of hex.
pub(crate) fn hash_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(32);
    for byte in &digest[..16] {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// How broad a scope is; broader findings are more likely the cause than the symptom.
pub(crate) fn scope_breadth(scope: Scope) -> u8 {
    match scope {
        Scope::Cluster => 10,
        Scope::Node => 9,
        Scope::Namespace => 8,
        Scope::Service => 7,
        Scope::Ingress => 6,
        Scope::Release => 5,
        Scope::Deployment => 4,
        Scope::Job => 3,
        Scope::Pod => 2,
        Scope::Container => 1,
        Scope::Series => 0,
    }
}

/// The workload a finding's target runs as: pods and containers reduced to their owner by
/// [`model::workload_of`], anything else itself.
pub(crate) fn workload_name(scope: Scope, target: &str) -> &str {
    match scope {
        Scope::Pod | Scope::Container => model::workload_of(target).name,
        _ => target,
    }
}

/// A topology key: findings link when one offers a key the other seeks, close in time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    /// A workload (deployment, service, job, stateful set) in a namespace.
    Workload { namespace: String, name: String },
    /// A problem of the node itself.
    NodeAnchor(String),
    /// Anything running on (or being) the node.
    OnNode(String),
    /// A problem of the namespace itself.
    NamespaceAnchor(String),
    /// Anything in the namespace.
    InNamespace(String),
}

/// Keys a candidate is found by.
pub(crate) fn offers(candidate: &IncidentCandidate) -> Vec<Key> {
    let mut keys = Vec::with_capacity(4);
    if let Some(key) = workload_key(candidate) {
        keys.push(key);
    }
    keys.extend(affected_keys(candidate));
    if let Some(node) = node_anchor(candidate) {
        keys.push(Key::NodeAnchor(node.to_owned()));
    }
    if let Some(node) = on_node(candidate) {
        keys.push(Key::OnNode(node.to_owned()));
    }
    if let Some(namespace) = namespace_anchor(candidate) {
        keys.push(Key::NamespaceAnchor(namespace.to_owned()));
    }
    if let Some(namespace) = in_namespace(candidate) {
        keys.push(Key::InNamespace(namespace.to_owned()));
    }
    keys
}

/// Keys a candidate looks for in existing incidents. The relation is symmetric: `a` seeks
/// a key `b` offers exactly when `b` seeks a key `a` offers.
pub(crate) fn seeks(candidate: &IncidentCandidate) -> Vec<Key> {
    let mut keys = Vec::with_capacity(4);
    if let Some(key) = workload_key(candidate) {
        keys.push(key);
    }
    keys.extend(affected_keys(candidate));
    if let Some(node) = node_anchor(candidate) {
        keys.push(Key::OnNode(node.to_owned()));
    } else if let Some(node) = on_node(candidate) {
        keys.push(Key::NodeAnchor(node.to_owned()));
    }
    if let Some(namespace) = namespace_anchor(candidate) {
        keys.push(Key::InNamespace(namespace.to_owned()));
    } else if let Some(namespace) = in_namespace(candidate) {
        keys.push(Key::NamespaceAnchor(namespace.to_owned()));
    }
    keys
}

fn workload_key(candidate: &IncidentCandidate) -> Option<Key> {
    target_key(
        candidate.scope,
        candidate.namespace.as_deref(),
        &candidate.target,
    )
}

/// The workload key of an object; a release shares its name with the workloads it renders.
fn target_key(scope: Scope, namespace: Option<&str>, target: &str) -> Option<Key> {
    let name = match scope {
        Scope::Node | Scope::Namespace => return None,
        Scope::Cluster => format!("cluster:{target}"),
        Scope::Series => format!("series:{target}"),
        Scope::Ingress => format!("ingress:{target}"),
        scope => workload_name(scope, target).to_owned(),
    };
    Some(Key::Workload {
        namespace: namespace.unwrap_or_default().to_owned(),
        name,
    })
}

/// Keys of the workloads a candidate affects besides its target (a dependency's dependents):
/// offered and sought alike, so the relation stays symmetric.
fn affected_keys(candidate: &IncidentCandidate) -> impl Iterator<Item = Key> + '_ {
    candidate
        .affects
        .iter()
        .filter_map(|t| target_key(t.kind, t.namespace.as_deref(), &t.name))
}

fn node_anchor(candidate: &IncidentCandidate) -> Option<&str> {
    (candidate.scope == Scope::Node).then_some(candidate.target.as_str())
}

fn on_node(candidate: &IncidentCandidate) -> Option<&str> {
    node_anchor(candidate).or(candidate.node.as_deref())
}

fn namespace_anchor(candidate: &IncidentCandidate) -> Option<&str> {
    (candidate.scope == Scope::Namespace).then_some(candidate.target.as_str())
}

fn in_namespace(candidate: &IncidentCandidate) -> Option<&str> {
    namespace_anchor(candidate).or(candidate.namespace.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_reduce_to_their_workload() {
        let workload_of = workload_name;
        assert_eq!(
            workload_of(Scope::Pod, "payments-api-7d9c5b0f-x0q0"),
            "payments-api"
        );
        assert_eq!(
            workload_of(Scope::Pod, "checkout-5f6d8c7b9-abc12"),
            "checkout"
        );
        assert_eq!(
            workload_of(Scope::Container, "checkout-5f6d8c7b9-abc12/app"),
            "checkout"
        );
        // A StatefulSet's pod is `<name>-<ordinal>`: `redis-0` belongs to `redis`.
        assert_eq!(workload_of(Scope::Pod, "redis-0"), "redis");
        assert_eq!(workload_of(Scope::Pod, "web-api"), "web-api");
        assert_eq!(workload_of(Scope::Deployment, "a-1234-x1y2"), "a-1234-x1y2");
    }

    #[test]
    fn hash_separates_parts() {
        assert_ne!(hash_hex(&["a", "bc"]), hash_hex(&["ab", "c"]));
        assert_eq!(hash_hex(&["x"]).len(), 32);
    }
}
