//! A playbook rung made concrete: which objects it acts on for this incident, read from the
//! incident, its draft and the watched cluster, and the typed actions that follow.
//!
//! Resolution is deterministic and read-only; an empty answer says in a sentence why nothing
//! fits (no node known, no earlier revision, no ConfigMap key named in the evidence).

use cluster::ClusterState;
use cluster::releases::{self, ReleaseOwner};
use cluster::views::{PodView, WorkloadView};
use incident::Incident;
use model::{Action, ObjectRef, OwnerIndex, Scope, TargetKind};
use policy::playbook::{Condition, Step, StepAction, StepTarget};
use std::collections::BTreeSet;

/// Most objects one rung may act on (a node with many CronJobs gets the first ones).
pub const MAX_TARGETS: usize = 5;

/// The annotation a Deployment's ReplicaSets carry their revision in.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// What one rung resolved to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The typed actions to decide, each on its target.
    Act(Vec<(Action, ObjectRef)>),
    /// Nothing to act on, and why, in a sentence.
    Nothing(String),
}

/// Whether the rung's `when` holds: a change (deploy, image or config) preceded the incident
/// in its draft; `rolled_back` says whether an earlier rung of the climb proposed a rollback.
pub fn condition_holds(
    when: Option<Condition>,
    draft: Option<&rca::Draft>,
    rolled_back: bool,
) -> bool {
    let changed = draft.is_some_and(|d| {
        d.evidence
            .iter()
            .any(|e| e.kind == rca::EvidenceKind::Change)
    });
    match when {
        None => true,
        Some(Condition::ChangePreceded) => changed,
        Some(Condition::NoChangePreceded) => !changed,
        Some(Condition::NotRolledBack) => !rolled_back,
    }
}

/// The actions `step` takes for `incident`.
pub fn resolve(
    step: &Step,
    incident: &Incident,
    draft: Option<&rca::Draft>,
    cluster: Option<&ClusterState>,
    owners: &OwnerIndex,
) -> Resolution {
    let targets = match targets(step.target, incident, draft, cluster, owners) {
        Ok(t) => t,
        Err(why) => return Resolution::Nothing(why),
    };
    let mut out = Vec::new();
    for (target, live_replicas) in targets {
        if !target.kind.cluster_scoped() && !step.namespace_allowed(target.namespace.as_deref()) {
            continue;
        }
        let action = match &step.action {
            StepAction::RollbackPrevious => match previous_revision(cluster, &target) {
                Some(to_revision) if target.kind == TargetKind::Deployment => {
                    Some(Action::RollbackDeployment { to_revision })
                }
                _ => None,
            },
            StepAction::PatchDrifted => drifted_key(draft, &target),
            other => other.for_kind(target.kind, live_replicas),
        };
        if let Some(action) = action
            && !out.iter().any(|(a, t)| *a == action && *t == target)
        {
            out.push((action, target));
        }
        if out.len() == MAX_TARGETS {
            break;
        }
    }
    if out.is_empty() {
        return Resolution::Nothing(match (&step.action, step.target) {
            (StepAction::RollbackPrevious, _) => {
                "no earlier revision of the workload is known to roll back to".to_owned()
            }
            (StepAction::PatchDrifted, _) => {
                "the evidence names no ConfigMap key with its declared value".to_owned()
            }
            (_, t) if !step.namespaces.is_empty() => format!(
                "no {} in {} to act on",
                t.as_str().replace('_', " "),
                step.namespaces.join(", ")
            ),
            (_, t) => format!("no {} to act on", t.as_str().replace('_', " ")),
        });
    }
    Resolution::Act(out)
}

type Targets = Vec<(ObjectRef, Option<u32>)>;

fn targets(
    target: StepTarget,
    incident: &Incident,
    draft: Option<&rca::Draft>,
    cluster: Option<&ClusterState>,
    owners: &OwnerIndex,
) -> Result<Targets, String> {
    let t = &incident.target;
    let ns = t.namespace.as_deref();
    Ok(match target {
        StepTarget::Incident => vec![(
            ObjectRef::new(TargetKind::Incident, None, &incident.id),
            None,
        )],
        StepTarget::Node => vec![(
            ObjectRef::new(
                TargetKind::Node,
                None,
                &node_of(incident, cluster)
                    .ok_or("the incident names no node and no pod on one")?,
            ),
            None,
        )],
        StepTarget::Workload => {
            vec![
                workload_of_incident(incident, cluster, owners)
                    .ok_or("no workload of the incident is known")?,
            ]
        }
        StepTarget::Dependency => {
            let cluster =
                cluster.ok_or("no watched cluster to find the dependency's workload in")?;
            let ns = ns.ok_or("the dependency names no Service namespace")?;
            behind_service(cluster, ns, &t.name)
                .or_else(|| workload_named(cluster, ns, &t.name))
                .map(|w| vec![w])
                .ok_or_else(|| format!("no workload found behind Service {ns}/{}", t.name))?
        }
        StepTarget::NodeCronJobs => {
            let cluster = cluster.ok_or("no watched cluster to find the node's CronJobs in")?;
            let node = node_of(incident, Some(cluster)).ok_or("the incident names no node")?;
            let mut seen = BTreeSet::new();
            cluster
                .pods
                .values()
                .filter(|p| p.node.as_deref() == Some(node.as_str()))
                .filter_map(|p| cron_job_of_pod(cluster, p))
                .filter(|r| seen.insert(r.path()))
                .map(|r| (r, None))
                .collect()
        }
        StepTarget::NodeWorkloads => {
            let cluster = cluster.ok_or("no watched cluster to find the node's workloads in")?;
            let node = node_of(incident, Some(cluster)).ok_or("the incident names no node")?;
            let mut seen = BTreeSet::new();
            cluster
                .pods
                .values()
                .filter(|p| p.node.as_deref() == Some(node.as_str()) && p.phase == "Running")
                .filter_map(|p| workload_of_pod(cluster, p))
                .filter(|(r, _)| r.kind != TargetKind::DaemonSet && seen.insert(r.path()))
                .collect()
        }
        StepTarget::Release => {
            if t.kind == Scope::Release {
                let ns = ns.ok_or("the release names no namespace")?;
                vec![(ObjectRef::new(TargetKind::Release, Some(ns), &t.name), None)]
            } else {
                let cluster = cluster.ok_or("no watched cluster to find the release in")?;
                let (workload, _) = workload_of_incident(incident, Some(cluster), owners)
                    .ok_or("no workload of the incident is known")?;
                let view =
                    view_of(cluster, &workload).ok_or("the workload is not in the cluster")?;
                match releases::owner_of(cluster, &view.meta)
                    .ok_or("no release rendered the workload")?
                {
                    ReleaseOwner::Argo { namespace, name } => vec![(
                        ObjectRef::new(TargetKind::Application, Some(&namespace), &name),
                        None,
                    )],
                    ReleaseOwner::Flux { namespace, name } => vec![(
                        ObjectRef::new(TargetKind::Release, Some(&namespace), &name),
                        None,
                    )],
                    ReleaseOwner::Helm(h) => {
                        return Err(format!(
                            "{}/{} is a plain Helm release (revision {}, {}): srebot reconciles \
                             only through a GitOps controller; to go back by hand: helm \
                             rollback {} {} -n {}",
                            h.namespace,
                            h.name,
                            h.revision,
                            h.status,
                            h.name,
                            h.revision.saturating_sub(1).max(1),
                            h.namespace
                        ));
                    }
                }
            }
        }
        StepTarget::ConfigMap => {
            let (cm, _) = drifted(draft).ok_or("the evidence names no ConfigMap key")?;
            vec![(cm, None)]
        }
        StepTarget::CronJob => {
            let ns = ns.ok_or("the incident names no namespace")?;
            let from_cluster = cluster.and_then(|c| {
                c.cron_jobs
                    .get(Some(ns), &t.name)
                    .map(|cj| ObjectRef::new(TargetKind::CronJob, Some(ns), &cj.meta.name))
                    .or_else(|| {
                        let job = c.jobs.get(Some(ns), &t.name)?;
                        let owner = job.meta.owner.as_ref().filter(|o| o.kind == "CronJob")?;
                        Some(ObjectRef::new(TargetKind::CronJob, Some(ns), &owner.name))
                    })
            });
            vec![(
                from_cluster.ok_or_else(|| format!("no CronJob behind {ns}/{}", t.name))?,
                None,
            )]
        }
    })
}

/// The node an incident is about: its target, or the node its pod runs on.
fn node_of(incident: &Incident, cluster: Option<&ClusterState>) -> Option<String> {
    let t = &incident.target;
    match t.kind {
        Scope::Node => Some(t.name.clone()),
        Scope::Pod | Scope::Container => {
            let pod = t.name.split_once('/').map_or(t.name.as_str(), |(p, _)| p);
            cluster?
                .pods
                .get(t.namespace.as_deref(), pod)
                .and_then(|p| p.node.clone())
        }
        _ => None,
    }
}

fn kind_of(view: &WorkloadView) -> Option<TargetKind> {
    match view.kind {
        "Deployment" => Some(TargetKind::Deployment),
        "StatefulSet" => Some(TargetKind::StatefulSet),
        "DaemonSet" => Some(TargetKind::DaemonSet),
        _ => None,
    }
}

fn desired(view: &WorkloadView) -> Option<u32> {
    u32::try_from(view.desired).ok()
}

/// The workload view of a Deployment, StatefulSet or DaemonSet reference.
fn view_of<'a>(cluster: &'a ClusterState, r: &ObjectRef) -> Option<&'a WorkloadView> {
    let ns = r.namespace.as_deref();
    match r.kind {
        TargetKind::Deployment => cluster.deployments.get(ns, &r.name),
        TargetKind::StatefulSet => cluster.stateful_sets.get(ns, &r.name),
        TargetKind::DaemonSet => cluster.daemon_sets.get(ns, &r.name),
        _ => None,
    }
}

/// A Deployment, StatefulSet or DaemonSet named `name` in `ns`, in that order.
fn workload_named(
    cluster: &ClusterState,
    ns: &str,
    name: &str,
) -> Option<(ObjectRef, Option<u32>)> {
    [
        &cluster.deployments,
        &cluster.stateful_sets,
        &cluster.daemon_sets,
    ]
    .into_iter()
    .find_map(|cache| cache.get(Some(ns), name))
    .and_then(|v| Some((ObjectRef::new(kind_of(v)?, Some(ns), name), desired(v))))
}

/// The controller of a pod: its StatefulSet or DaemonSet, or its ReplicaSet's Deployment.
fn workload_of_pod(cluster: &ClusterState, pod: &PodView) -> Option<(ObjectRef, Option<u32>)> {
    let ns = pod.meta.namespace.as_deref()?;
    let owner = pod.meta.owner.as_ref()?;
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let rs = cluster.replica_sets.get(Some(ns), &owner.name)?;
            let deploy = rs.meta.owner.as_ref().filter(|o| o.kind == "Deployment")?;
            workload_named(cluster, ns, &deploy.name)
        }
        "StatefulSet" | "DaemonSet" => workload_named(cluster, ns, &owner.name),
        _ => None,
    }
}

/// The CronJob whose Job ran `pod`.
fn cron_job_of_pod(cluster: &ClusterState, pod: &PodView) -> Option<ObjectRef> {
    let ns = pod.meta.namespace.as_deref()?;
    let owner = pod.meta.owner.as_ref().filter(|o| o.kind == "Job")?;
    let job = cluster.jobs.get(Some(ns), &owner.name)?;
    let cron = job.meta.owner.as_ref().filter(|o| o.kind == "CronJob")?;
    Some(ObjectRef::new(TargetKind::CronJob, Some(ns), &cron.name))
}

/// The workload behind Service `ns/name`: the controller of the first pod its selector picks.
fn behind_service(
    cluster: &ClusterState,
    ns: &str,
    name: &str,
) -> Option<(ObjectRef, Option<u32>)> {
    let service = cluster.services.get(Some(ns), name)?;
    if service.selector.is_empty() {
        return None;
    }
    cluster
        .pods
        .values()
        .filter(|p| p.meta.namespace.as_deref() == Some(ns))
        .filter(|p| {
            service
                .selector
                .iter()
                .all(|(k, v)| p.meta.labels.get(k) == Some(v))
        })
        .find_map(|p| workload_of_pod(cluster, p))
}

/// The workload an incident is about: the cluster's view when watched, else the pod's
/// recorded or name-derived Deployment.
fn workload_of_incident(
    incident: &Incident,
    cluster: Option<&ClusterState>,
    owners: &OwnerIndex,
) -> Option<(ObjectRef, Option<u32>)> {
    let t = &incident.target;
    // A controller named cluster-wide (controller churn): its Deployment, wherever it runs.
    if t.kind == Scope::Cluster {
        let cluster = cluster?;
        let d = cluster
            .deployments
            .values()
            .find(|d| d.meta.name == t.name)?;
        let ns = d.meta.namespace.as_deref()?;
        return workload_named(cluster, ns, &t.name);
    }
    let ns = t.namespace.as_deref()?;
    if let Some(cluster) = cluster {
        let found = match t.kind {
            Scope::Deployment | Scope::Service => workload_named(cluster, ns, &t.name),
            Scope::Pod | Scope::Container => {
                let pod = t.name.split_once('/').map_or(t.name.as_str(), |(p, _)| p);
                cluster
                    .pods
                    .get(Some(ns), pod)
                    .and_then(|p| workload_of_pod(cluster, p))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    crate::remediation::deployment_of(incident, owners).map(|d| (d, None))
}

/// The revision before a Deployment's current one, from its ReplicaSets.
fn previous_revision(cluster: Option<&ClusterState>, deploy: &ObjectRef) -> Option<u64> {
    let cluster = cluster?;
    let ns = deploy.namespace.as_deref()?;
    let mut revisions: Vec<u64> = cluster
        .replica_sets
        .values()
        .filter(|rs| rs.meta.namespace.as_deref() == Some(ns))
        .filter(|rs| {
            rs.meta
                .owner
                .as_ref()
                .is_some_and(|o| o.kind == "Deployment" && o.name == deploy.name)
        })
        .filter_map(|rs| rs.meta.annotations.get(REVISION)?.parse().ok())
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    let len = revisions.len();
    (len >= 2).then(|| revisions[len - 2])
}

/// The ConfigMap, key and declared value a drift finding names in its evidence labels
/// (`config_map = "ns/name"`, `key`, `declared`).
fn drifted(draft: Option<&rca::Draft>) -> Option<(ObjectRef, (String, String))> {
    draft?.evidence.iter().find_map(|e| {
        let (ns, name) = e.labels.get("config_map")?.split_once('/')?;
        let key = e.labels.get("key")?;
        let declared = e.labels.get("declared")?;
        Some((
            ObjectRef::new(TargetKind::ConfigMap, Some(ns), name),
            (key.to_owned(), declared.to_owned()),
        ))
    })
}

fn drifted_key(draft: Option<&rca::Draft>, target: &ObjectRef) -> Option<Action> {
    let (cm, (key, value)) = drifted(draft)?;
    (cm == *target).then_some(Action::PatchConfig { key, value })
}

/// The concrete fix the incident's image-pull evidence points to (its class, registry and
/// image labels), for a `suggest` rung.
pub fn suggested_fix(incident: &Incident, draft: Option<&rca::Draft>) -> Option<String> {
    if incident.incident_type != model::IncidentType::ImagePullFailure {
        return None;
    }
    draft?.evidence.iter().find_map(|e| {
        cluster::imagepull::suggested_fix(
            e.labels.get("class")?,
            e.labels.get("registry")?,
            e.labels.get("image")?,
        )
    })
}
