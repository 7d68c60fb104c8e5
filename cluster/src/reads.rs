//! Typed reads of the cluster: the live figures a decision's blast radius needs (replicas,
//! pods affected, nodes schedulable), and the client built from `[policy.kube]`.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use model::{Action, ProposedAction};
use policy::LiveObject;
use serde::Deserialize;
use std::path::PathBuf;

/// `[policy.kube]`: the Kubernetes API server actions run against.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubeConfig {
    /// API server URL, e.g. `https://10.0.0.1:6443`; unset with `in_cluster`, the pod's own.
    pub url: Option<String>,
    /// File holding the ServiceAccount bearer token.
    pub token_file: Option<PathBuf>,
    /// PEM file of the API server's certificate authority.
    pub ca_file: Option<PathBuf>,
    /// Use the pod's ServiceAccount (`KUBERNETES_SERVICE_HOST`, mounted token and CA).
    pub in_cluster: bool,
    /// Also watch this cluster's state as signals, as the one `[[cluster]]` (named
    /// `default`, source `default`) when the configuration lists none.
    pub watch: bool,
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Kubernetes client: {detail}")]
    Client {
        detail: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl model::Classify for ClusterError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::InvalidInput
    }
}

/// The client `[policy.kube]` describes.
pub fn client(config: &KubeConfig) -> Result<kube::Client, ClusterError> {
    let kube_err = |detail: &str, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
        ClusterError::Client {
            detail: detail.to_owned(),
            source,
        }
    };
    let mut kc = if config.in_cluster {
        kube::Config::incluster()
            .map_err(|e| kube_err("not running in a cluster", Some(Box::new(e))))?
    } else {
        let url = config.url.as_deref().unwrap_or_default();
        kube::Config::new(
            url.parse()
                .map_err(|e| kube_err("policy.kube.url is not a URL", Some(Box::new(e))))?,
        )
    };
    if let (true, Some(url)) = (config.in_cluster, &config.url) {
        kc.cluster_url = url
            .parse()
            .map_err(|e| kube_err("policy.kube.url is not a URL", Some(Box::new(e))))?;
    }
    if let Some(file) = &config.token_file {
        kc.auth_info.token_file = Some(file.display().to_string());
    }
    if let Some(ca) = &config.ca_file {
        kc.root_cert_file = Some(ca.clone());
    }
    kube::Client::try_from(kc).map_err(|e| kube_err("cannot build the client", Some(Box::new(e))))
}

/// The live figures the blast radius of `proposed` needs, read from the cluster; `None` when
/// they cannot be read (the policy then asks a person).
pub async fn live_object(client: &kube::Client, proposed: &ProposedAction) -> Option<LiveObject> {
    let target = &proposed.target;
    match &proposed.action {
        Action::RestartDeployment
        | Action::ScaleDeployment { .. }
        | Action::RollbackDeployment { .. } => {
            let api: Api<Deployment> =
                Api::namespaced(client.clone(), target.namespace.as_deref()?);
            let d = api.get(&target.name).await.ok()?;
            Some(LiveObject {
                replicas: Some(
                    d.spec
                        .replicas
                        .and_then(|r| u32::try_from(r).ok())
                        .unwrap_or(1),
                ),
                ..LiveObject::default()
            })
        }
        Action::RestartStatefulSet | Action::ScaleStatefulSet { .. } => {
            let api: Api<StatefulSet> =
                Api::namespaced(client.clone(), target.namespace.as_deref()?);
            let s = api.get(&target.name).await.ok()?;
            Some(LiveObject {
                replicas: Some(
                    s.spec
                        .replicas
                        .and_then(|r| u32::try_from(r).ok())
                        .unwrap_or(1),
                ),
                ..LiveObject::default()
            })
        }
        Action::RestartDaemonSet => {
            // A DaemonSet restart touches one pod per node it runs on.
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), target.namespace.as_deref()?);
            let d = api.get(&target.name).await.ok()?;
            let desired = d.status.map_or(0, |s| s.desired_number_scheduled);
            Some(LiveObject {
                replicas: u32::try_from(desired).ok(),
                ..LiveObject::default()
            })
        }
        Action::DeletePods { phase } => {
            let ns = target.effective_namespace()?;
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            let lp = ListParams::default().fields(&format!("status.phase={}", phase.as_str()));
            let pods = api.list(&lp).await.ok()?;
            Some(LiveObject {
                pods: u32::try_from(pods.items.len()).ok(),
                ..LiveObject::default()
            })
        }
        Action::DeleteNodePods { phase } => {
            let pods: Api<Pod> = Api::all(client.clone());
            let lp = ListParams::default().fields(&format!(
                "spec.nodeName={},status.phase={}",
                target.name,
                phase.as_str()
            ));
            let list = pods.list(&lp).await.ok()?;
            Some(LiveObject {
                pods: u32::try_from(list.items.len()).ok(),
                ..LiveObject::default()
            })
        }
        Action::CordonNode | Action::DrainNode => {
            let nodes: Api<Node> = Api::all(client.clone());
            let list = nodes.list(&ListParams::default()).await.ok()?;
            let unschedulable = list
                .items
                .iter()
                .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
                .count();
            let pods: Api<Pod> = Api::all(client.clone());
            let on_node = pods
                .list(&ListParams::default().fields(&format!("spec.nodeName={}", target.name)))
                .await
                .ok()?;
            Some(LiveObject {
                replicas: None,
                pods: u32::try_from(on_node.items.len()).ok(),
                nodes_total: u32::try_from(list.items.len()).ok(),
                nodes_unschedulable: u32::try_from(unschedulable).ok(),
            })
        }
        Action::SyncApplication => {
            crate::executor::application_live(client, target.namespace.as_deref()?, &target.name)
                .await
                .ok()
        }
        Action::ReconcileRelease => {
            crate::executor::release_live(client, target.namespace.as_deref()?, &target.name)
                .await
                .ok()
        }
        _ => Some(LiveObject::default()),
    }
}
