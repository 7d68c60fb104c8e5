//! The tools that read the cluster: events, nodes, pods, the overview, release drift and the
//! dependency probes from the cluster crate's watch caches, and rollouts from both the watch and
//! kube-state-metrics in the windows.
//!
//! Without a watched cluster (or dependency probes) they answer so plainly; nothing is faked.

use super::{Args, Outcome, Tool};
use crate::{App, AppError, Caller, Operation, authorize};
use serde_json::json;

/// What a cluster-backed tool answers with no `[[cluster]]` watched.
const NO_CLUSTER: &str = "no cluster configured: add a [[cluster]] (kubeconfig or in_cluster) \
    to the configuration so srebot watches its nodes, pods, events, workloads and releases";

/// What `runtime_health.get` answers with no `[[dependencies]]`.
const NO_DEPENDENCIES: &str = "no dependency probes configured: add [[dependencies]] (name, kind \
    nats/redis/postgres/http/tcp, address) to the configuration";

pub(super) fn read(
    _app: &App,
    caller: &Caller,
    _tool: Tool,
    _args: &Args,
    _max: usize,
) -> Result<Outcome, AppError> {
    authorize(caller, Operation::Status)?;
    Ok(Outcome::unavailable(NO_CLUSTER))
}

pub(super) fn runtime_health(
    _app: &App,
    caller: &Caller,
    _args: &Args,
) -> Result<Outcome, AppError> {
    authorize(caller, Operation::Status)?;
    Ok(Outcome::unavailable(NO_DEPENDENCIES))
}

/// Rollouts, scaling, images and config changes of a deployment from kube-state-metrics in
/// the windows (`kube_deployment_metadata_generation`, `kube_deployment_spec_replicas`,
/// `kube_pod_container_info`, `kube_configmap_metadata_resource_version`).
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
        return Ok(Outcome::new(
            "give namespace and target (the deployment) to read its rollouts",
            json!({
                "changes": [],
                "cluster": NO_CLUSTER,
            }),
        ));
    };
    let target = model::Target::new(
        model::Scope::Deployment,
        Some(namespace),
        model::workload_of(name).name,
    );
    let stores = match args.text("source") {
        Some(source) => app.sources.get(source).into_iter().collect::<Vec<_>>(),
        None => app.sources.list().into_iter().map(|(_, s)| s).collect(),
    };
    let mut changes: Vec<serde_json::Value> = Vec::new();
    for store in stores {
        for change in crate::changes::changes_between(&store, &target, since, until) {
            changes.push(json!({
                "at": incident::record::rfc3339::format(change.at_ms),
                "kind": change.kind,
                "detail": change.detail,
                "from": "kube-state-metrics",
            }));
        }
    }
    changes.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    let limit = args.limit(50, max);
    let total = changes.len();
    changes.truncate(limit);
    let mut outcome = Outcome::new(
        format!(
            "{total} changes of deployment {namespace}/{} between {} and {} (kube-state-metrics; no cluster watched)",
            target.name,
            incident::record::rfc3339::format(since),
            incident::record::rfc3339::format(until)
        ),
        json!({ "changes": changes, "cluster": NO_CLUSTER }),
    );
    outcome.cut = total > limit;
    Ok(outcome)
}
