//! What srebot may do in a cluster, asked of the cluster itself: every verb `rbac.yaml`
//! grants, put to a SelfSubjectAccessReview, so `srebot doctor` can name what is missing.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};

/// The RBAC manifest shipped beside the crate (and in `deploy/base/`).
pub const RBAC_YAML: &str = include_str!("../rbac.yaml");

/// One verb on one resource, cluster-wide or in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Access {
    pub group: String,
    pub resource: String,
    pub verb: String,
    /// `None`: cluster-wide (a ClusterRole's grant).
    pub namespace: Option<String>,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group} {}", self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        Ok(())
    }
}

/// The cluster's answer about one [`Access`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewed {
    pub access: Access,
    pub allowed: bool,
    /// The authorizer's reason, or the request's error.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
struct Doc {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
}

/// Every verb the roles of an RBAC manifest grant. A Role's grants are checked in
/// `namespaces` when any are given (the namespaces the policy lets srebot act in), else in
/// the Role's own namespace.
pub fn granted(rbac_yaml: &str, namespaces: &[String]) -> Vec<Access> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(rbac_yaml).unwrap_or_default();
    let mut out = Vec::new();
    for doc in docs {
        let Ok(doc) = serde_json::from_value::<Doc>(doc) else {
            continue;
        };
        let scopes: Vec<Option<String>> = match doc.kind.as_str() {
            "ClusterRole" => vec![None],
            "Role" if !namespaces.is_empty() => namespaces.iter().cloned().map(Some).collect(),
            "Role" => vec![doc.metadata.namespace.clone()],
            _ => continue,
        };
        for rule in &doc.rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        for namespace in &scopes {
                            out.push(Access {
                                group: group.clone(),
                                resource: resource.clone(),
                                verb: verb.clone(),
                                namespace: namespace.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asks the cluster, as the client's identity, about each access (one review each; a
/// failed request counts as not allowed, with its error as the reason).
pub async fn review(client: &kube::Client, wanted: &[Access]) -> Vec<Reviewed> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut out = Vec::with_capacity(wanted.len());
    for access in wanted {
        let (resource, subresource) = match access.resource.split_once('/') {
            Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
            None => (access.resource.clone(), None),
        };
        let ask = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(access.group.clone()),
                    resource: Some(resource),
                    subresource,
                    verb: Some(access.verb.clone()),
                    namespace: access.namespace.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let (allowed, reason) = match api.create(&PostParams::default(), &ask).await {
            Ok(answer) => match answer.status {
                Some(status) => (status.allowed, status.reason.unwrap_or_default()),
                None => (false, "the review came back without a status".to_owned()),
            },
            Err(error) => (false, error.to_string()),
        };
        out.push(Reviewed {
            access: access.clone(),
            allowed,
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_manifest_grants_reads_and_the_executor_writes() {
        let all = granted(RBAC_YAML, &[]);
        let has = |verb: &str, resource: &str, ns: Option<&str>| {
            all.iter()
                .any(|a| a.verb == verb && a.resource == resource && a.namespace.as_deref() == ns)
        };
        assert!(has("watch", "pods", None));
        assert!(has("patch", "nodes", None));
        assert!(has("patch", "deployments", Some("shop")));
        assert!(!all.iter().any(|a| a.verb == "*" || a.resource == "*"));
        let moved = granted(RBAC_YAML, &["payments".to_owned()]);
        assert!(
            moved
                .iter()
                .any(|a| a.resource == "deployments" && a.namespace.as_deref() == Some("payments"))
        );
        assert!(!moved.iter().any(|a| a.namespace.as_deref() == Some("shop")));
        assert_eq!(
            Access {
                group: String::new(),
                resource: "pods/eviction".into(),
                verb: "create".into(),
                namespace: None
            }
            .to_string(),
            "create core pods/eviction"
        );
    }
}
