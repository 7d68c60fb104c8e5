//! The Kubernetes executor: exactly the typed operations, through `kube`, and only for actions
//! carrying an [`Authorization`] (an automatic decision or an approval with a valid token).
//!
//! Rollout restart patches the pod-template annotation as `kubectl rollout restart` does; scale
//! goes through the `/scale` subresource; rollback puts back a previous ReplicaSet's template;
//! jobs are created from a CronJob's template; pods are deleted by finished phase; CronJobs are
//! suspended; nodes are cordoned and drained through the Eviction API; a Flux `HelmRelease` is
//! asked to reconcile with the annotation `flux reconcile helmrelease` sets (the GitOps way: the
//! controller, not the robot, runs Helm). In dry-run mode every mutating request carries
//! `dryRun=All`. Every execution and every refusal is audited.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use model::{Action, ProposedAction};
use policy::{AuditError, AuditKind, AuditLog, AuditRecord, Authorization, LiveObject};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Field manager named on every write.
pub const FIELD_MANAGER: &str = "srebot";
/// Annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation asking Flux to reconcile an object now, as `flux reconcile` sets it.
pub const RECONCILE_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// Annotation asking Flux's helm-controller for a one-off forced install or upgrade; it acts
/// only when its value equals [`RECONCILE_REQUESTED_AT`]'s (`flux reconcile hr --force`).
pub const RECONCILE_FORCE_AT: &str = "reconcile.fluxcd.io/forceAt";

/// Whether the pod has run to its end (`Succeeded` or `Failed`).
fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Flux's `HelmRelease` (`helm.toolkit.fluxcd.io/v2`, plural `helmreleases`).
pub(crate) fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// Argo CD's `Application` (`argoproj.io/v1alpha1`, plural `applications`).
pub(crate) fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Annotation asking Argo CD to refresh an Application (compare with Git now).
pub const ARGO_REFRESH: &str = "argocd.argoproj.io/refresh";

/// The merge patch `argocd app sync` amounts to: a refresh, and a sync operation to the
/// Application's target revision, initiated by srebot, without pruning.
pub fn sync_request_patch(target_revision: &str) -> Value {
    json!({
        "metadata": {"annotations": {ARGO_REFRESH: "normal"}},
        "operation": {
            "initiatedBy": {"username": FIELD_MANAGER},
            "sync": {"revision": target_revision, "prune": false}
        }
    })
}

/// What the audit keeps of an Application: the revision it is synced to, its sync and health
/// status and the last operation's phase.
fn application_summary(app: &DynamicObject) -> Value {
    let status = &app.data["status"];
    json!({
        "target_revision": app.data["spec"]["source"]["targetRevision"],
        "synced_revision": status["sync"]["revision"],
        "sync": status["sync"]["status"],
        "health": status["health"]["status"],
        "operation": status["operationState"]["phase"],
        "requested": app.data["operation"]["sync"]["revision"],
    })
}

/// The live figures for the blast radius of syncing Application `namespace/name`: the
/// resources it manages (each may be rolled by a sync; an over-count, so a person judges).
pub async fn application_live(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<LiveObject, ExecError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &application_resource());
    let app = api.get(name).await.map_err(kube_err("get application"))?;
    let resources = app.data["status"]["resources"]
        .as_array()
        .map_or(1, |r| r.len().max(1));
    Ok(LiveObject {
        pods: u32::try_from(resources).ok(),
        ..LiveObject::default()
    })
}

/// The merge patch asking Flux to reconcile a release at `requested_at`; with `force`, a
/// one-off forced upgrade at the same instant (both annotations carry the same value).
pub fn reconcile_request_patch(requested_at: &str, force: bool) -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(RECONCILE_REQUESTED_AT.to_owned(), json!(requested_at));
    if force {
        annotations.insert(RECONCILE_FORCE_AT.to_owned(), json!(requested_at));
    }
    json!({"metadata": {"annotations": annotations}})
}

/// What the audit keeps of a HelmRelease: the reconcile request, what the controller last
/// handled, the deployed Helm revision (what `helm rollback` would go back to) and readiness.
fn release_summary(hr: &DynamicObject) -> Value {
    let status = &hr.data["status"];
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let latest = &status["history"][0];
    json!({
        "requested_at": hr.annotations().get(RECONCILE_REQUESTED_AT),
        "force_at": hr.annotations().get(RECONCILE_FORCE_AT),
        "last_handled_reconcile_at": status["lastHandledReconcileAt"],
        "revision": latest["version"],
        "chart_version": latest["chartVersion"],
        "ready": ready.map(|c| json!({"status": c["status"], "reason": c["reason"]})),
    })
}

/// The live figures for the blast radius of reconciling HelmRelease `namespace/name`: the
/// pods not yet finished in the namespace its workloads run in (`spec.targetNamespace`, else
/// its own). Every such pod is counted, whether the chart owns it or not: an upgrade may roll
/// any workload the chart renders, and the over-count errs on the side of asking. The release
/// must be readable; when its pods are not, `pods` is `None` (a radius of 1 pod).
pub async fn release_live(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<LiveObject, ExecError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &helm_release_resource());
    let hr = api.get(name).await.map_err(kube_err("get helmrelease"))?;
    let workloads = hr.data["spec"]["targetNamespace"]
        .as_str()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), workloads);
    let running = pods.list(&ListParams::default()).await.ok().map(|list| {
        let n = list.items.iter().filter(|p| !finished(p)).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    });
    Ok(LiveObject {
        pods: running,
        ..LiveObject::default()
    })
}

/// Why an execution did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("refused: {reason}")]
    NotAuthorized { reason: String },
    #[error("{action} is not executed against the Kubernetes API")]
    Unsupported { action: &'static str },
    #[error("Kubernetes API call failed: {operation}")]
    Kube {
        operation: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("{deployment}: no ReplicaSet has revision {revision}")]
    RevisionNotFound { deployment: String, revision: u64 },
    #[error("{object}: {problem}")]
    BadObject {
        object: String,
        problem: &'static str,
    },
    #[error("cannot write the audit log")]
    Audit {
        #[source]
        source: AuditError,
    },
}

impl model::Classify for ExecError {
    fn class(&self) -> model::ErrorClass {
        match self {
            ExecError::NotAuthorized { .. } | ExecError::Unsupported { .. } => {
                model::ErrorClass::InvalidInput
            }
            ExecError::RevisionNotFound { .. } => model::ErrorClass::NotFound,
            ExecError::Kube { .. } => model::ErrorClass::Unavailable {
                retry_after_secs: 10,
            },
            ExecError::BadObject { .. } | ExecError::Audit { .. } => model::ErrorClass::Internal,
        }
    }
}

/// What an execution did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub action: ProposedAction,
    pub dry_run: bool,
    pub before: Value,
    pub after: Value,
    /// Sequence number of the audit entry.
    pub audit_seq: u64,
}

/// Runs authorized actions against one cluster.
#[derive(Clone)]
pub struct Executor {
    client: Client,
    audit: Arc<Mutex<AuditLog>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").finish_non_exhaustive()
    }
}

fn kube_err(operation: &'static str) -> impl FnOnce(kube::Error) -> ExecError {
    move |source| ExecError::Kube { operation, source }
}

fn namespace_of(proposed: &ProposedAction) -> Result<&str, ExecError> {
    proposed
        .target
        .effective_namespace()
        .ok_or_else(|| ExecError::BadObject {
            object: proposed.target.path(),
            problem: "needs a namespace",
        })
}

fn rfc3339(now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What `kubectl rollout restart` does to a workload of any kind: a strategic merge patch of
/// a new `restartedAt` annotation on its pod template, nothing else. Returns the workload's
/// summary before and after.
async fn rollout_restart<K>(
    api: &Api<K>,
    name: &str,
    pp: &PatchParams,
    now_ms: i64,
    (get, patch_op): (&'static str, &'static str),
    summary: fn(&K) -> Value,
) -> Result<(Value, Value), ExecError>
where
    K: Clone + serde::de::DeserializeOwned + Serialize + std::fmt::Debug,
{
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: rfc3339(now_ms)
    }}}}});
    let before = api.get(name).await.map_err(kube_err(get))?;
    let after = api
        .patch(name, pp, &Patch::Strategic(patch))
        .await
        .map_err(kube_err(patch_op))?;
    Ok((summary(&before), summary(&after)))
}

fn restarted_at(template: &k8s_openapi::api::core::v1::PodTemplateSpec) -> Option<&String> {
    template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT))
}

fn stateful_set_summary(s: &StatefulSet) -> Value {
    json!({
        "replicas": s.spec.replicas,
        "ready": s.status.as_ref().and_then(|st| st.ready_replicas),
        "restarted_at": restarted_at(&s.spec.template),
    })
}

fn daemon_set_summary(d: &DaemonSet) -> Value {
    let status = d.status.as_ref();
    json!({
        "desired": status.map(|st| st.desired_number_scheduled),
        "ready": status.map(|st| st.number_ready),
        "restarted_at": restarted_at(&d.spec.template),
    })
}

fn deployment_summary(d: &Deployment) -> Value {
    let template = &d.spec.template;
    json!({
        "replicas": d.spec.replicas,
        "revision": d.annotations().get(REVISION),
        "restarted_at": template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT)),
        "images": template
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.image.clone()).collect::<Vec<_>>()),
    })
}

impl Executor {
    pub fn new(client: Client, audit: Arc<Mutex<AuditLog>>) -> Self {
        Executor { client, audit }
    }

    fn write_audit(&self, record: AuditRecord) -> Result<u64, ExecError> {
        let mut log = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        log.append(record)
            .map(|e| e.seq)
            .map_err(|source| ExecError::Audit { source })
    }

    /// Executes `proposed` if `authorization` covers exactly it; refuses (and audits the
    /// refusal) otherwise, without any request to the cluster.
    pub async fn execute(
        &self,
        proposed: &ProposedAction,
        authorization: Option<&Authorization>,
        now_ms: i64,
    ) -> Result<Execution, ExecError> {
        let refusal = match authorization {
            None => Some("no policy decision: the action was never decided or approved"),
            Some(auth) if !auth.covers(proposed) => {
                Some("the authorization was given for another action or other parameters")
            }
            Some(_) => None,
        };
        let Some(auth) = authorization.filter(|_| refusal.is_none()) else {
            let reason = refusal.unwrap_or("not authorized").to_owned();
            self.write_audit(AuditRecord {
                at_ms: now_ms,
                who: proposed.proposed_by.clone(),
                kind: AuditKind::Refused,
                incident_id: Some(proposed.incident_id.clone()),
                action: Some(proposed.clone()),
                why: "executor.authorization".into(),
                detail: reason.clone(),
                evidence_ids: proposed.evidence_ids.clone(),
                before: None,
                after: None,
            })?;
            return Err(ExecError::NotAuthorized { reason });
        };
        let dry_run = auth.dry_run();
        let who = match auth.approval() {
            Some(a) => format!("{} ({})", a.approver.name, a.approver.role),
            None => "robot".to_owned(),
        };
        let result = self.run(proposed, dry_run, now_ms).await;
        let decision = auth.decision();
        match result {
            Ok((before, after)) => {
                let audit_seq = self.write_audit(AuditRecord {
                    at_ms: now_ms,
                    who,
                    kind: AuditKind::Executed,
                    incident_id: Some(proposed.incident_id.clone()),
                    action: Some(proposed.clone()),
                    why: decision.clause.clone(),
                    detail: if dry_run {
                        "server-side dry run".into()
                    } else {
                        decision.reason.clone()
                    },
                    evidence_ids: proposed.evidence_ids.clone(),
                    before: Some(before.clone()),
                    after: Some(after.clone()),
                })?;
                Ok(Execution {
                    action: proposed.clone(),
                    dry_run,
                    before,
                    after,
                    audit_seq,
                })
            }
            Err(err) => {
                self.write_audit(AuditRecord {
                    at_ms: now_ms,
                    who,
                    kind: AuditKind::ExecutionFailed,
                    incident_id: Some(proposed.incident_id.clone()),
                    action: Some(proposed.clone()),
                    why: decision.clause.clone(),
                    detail: err.to_string(),
                    evidence_ids: proposed.evidence_ids.clone(),
                    before: None,
                    after: None,
                })?;
                Err(err)
            }
        }
    }

    async fn run(
        &self,
        proposed: &ProposedAction,
        dry_run: bool,
        now_ms: i64,
    ) -> Result<(Value, Value), ExecError> {
        let name = proposed.target.name.as_str();
        let mut pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let mut post = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        let mut dp = DeleteParams::default();
        if dry_run {
            pp = pp.dry_run();
            post.dry_run = true;
            dp = dp.dry_run();
        }
        match &proposed.action {
            Action::RestartDeployment => {
                let api: Api<Deployment> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                rollout_restart(
                    &api,
                    name,
                    &pp,
                    now_ms,
                    ("get deployment", "patch deployment"),
                    deployment_summary,
                )
                .await
            }
            Action::RestartStatefulSet => {
                let api: Api<StatefulSet> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                rollout_restart(
                    &api,
                    name,
                    &pp,
                    now_ms,
                    ("get statefulset", "patch statefulset"),
                    stateful_set_summary,
                )
                .await
            }
            Action::RestartDaemonSet => {
                let api: Api<DaemonSet> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                rollout_restart(
                    &api,
                    name,
                    &pp,
                    now_ms,
                    ("get daemonset", "patch daemonset"),
                    daemon_set_summary,
                )
                .await
            }
            Action::ScaleStatefulSet { replicas } => {
                let api: Api<StatefulSet> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                let before = api.get_scale(name).await.map_err(kube_err("get scale"))?;
                let patch = json!({"spec": {"replicas": replicas}});
                let after = api
                    .patch_scale(name, &pp, &Patch::Merge(patch))
                    .await
                    .map_err(kube_err("patch scale"))?;
                Ok((
                    json!({"replicas": before.spec.and_then(|s| s.replicas)}),
                    json!({"replicas": after.spec.and_then(|s| s.replicas)}),
                ))
            }
            Action::ScaleDeployment { replicas } => {
                let api: Api<Deployment> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                let before = api.get_scale(name).await.map_err(kube_err("get scale"))?;
                let patch = json!({"spec": {"replicas": replicas}});
                let after = api
                    .patch_scale(name, &pp, &Patch::Merge(patch))
                    .await
                    .map_err(kube_err("patch scale"))?;
                Ok((
                    json!({"replicas": before.spec.and_then(|s| s.replicas)}),
                    json!({"replicas": after.spec.and_then(|s| s.replicas)}),
                ))
            }
            Action::RollbackDeployment { to_revision } => {
                let ns = namespace_of(proposed)?;
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                let mut deployment = api.get(name).await.map_err(kube_err("get deployment"))?;
                let before = deployment_summary(&deployment);
                let selector = deployment
                    .spec
                    .selector
                    .match_labels
                    .as_ref()
                    .filter(|labels| !labels.is_empty())
                    .ok_or_else(|| ExecError::BadObject {
                        object: proposed.target.path(),
                        problem: "has no matchLabels selector",
                    })?;
                let selector = selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let rs_api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
                let sets = rs_api
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(kube_err("list replicasets"))?;
                let uid = deployment.uid();
                let wanted = to_revision.to_string();
                let found = sets.items.into_iter().find(|rs| {
                    let owned = rs.owner_references().iter().any(|o| {
                        o.kind == "Deployment"
                            && o.name == name
                            && uid.as_ref().is_none_or(|u| *u == o.uid)
                    });
                    owned && rs.annotations().get(REVISION) == Some(&wanted)
                });
                let Some(mut template) = found.and_then(|rs| rs.spec.template) else {
                    return Err(ExecError::RevisionNotFound {
                        deployment: proposed.target.path(),
                        revision: *to_revision,
                    });
                };
                if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                    labels.remove("pod-template-hash");
                }
                deployment.spec.template = template;
                deployment.metadata.managed_fields = None;
                let after = api
                    .replace(name, &post, &deployment)
                    .await
                    .map_err(kube_err("replace deployment"))?;
                Ok((before, deployment_summary(&after)))
            }
            Action::RunJob { template } => {
                let ns = namespace_of(proposed)?;
                let cron_api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
                let cron = cron_api
                    .get(template)
                    .await
                    .map_err(kube_err("get cronjob"))?;
                let job_template = cron.spec.job_template.clone();
                let template_meta = job_template.metadata.unwrap_or_default();
                let mut annotations = template_meta.annotations.unwrap_or_default();
                annotations.insert("cronjob.kubernetes.io/instantiate".into(), "manual".into());
                let job = Job {
                    metadata: ObjectMeta {
                        name: Some(name.to_owned()),
                        namespace: Some(ns.to_owned()),
                        labels: template_meta.labels,
                        annotations: Some(annotations),
                        owner_references: cron.uid().map(|uid| {
                            vec![OwnerReference {
                                api_version: "batch/v1".into(),
                                kind: "CronJob".into(),
                                name: template.clone(),
                                uid,
                                controller: Some(true),
                                block_owner_deletion: None,
                            }]
                        }),
                        ..ObjectMeta::default()
                    },
                    spec: job_template.spec,
                    status: None,
                };
                let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
                let created = api
                    .create(&post, &job)
                    .await
                    .map_err(kube_err("create job"))?;
                Ok((
                    json!({"cron_job": template, "job": null}),
                    json!({"job": created.name_any(), "uid": created.uid()}),
                ))
            }
            Action::DeletePods { phase } => {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                let lp = ListParams::default().fields(&format!("status.phase={}", phase.as_str()));
                let pods = api.list(&lp).await.map_err(kube_err("list pods"))?;
                let names: Vec<String> = pods.items.iter().map(|p| p.name_any()).collect();
                let deleted = api
                    .delete_collection(&dp, &lp)
                    .await
                    .map_err(kube_err("delete pods"))?;
                let deleted: Vec<String> = deleted
                    .left()
                    .map(|list| list.items.iter().map(|p| p.name_any()).collect())
                    .unwrap_or_else(|| names.clone());
                Ok((
                    json!({"phase": phase.as_str(), "pods": names}),
                    json!({"deleted": deleted}),
                ))
            }
            Action::DeleteNodePods { phase } => {
                // Only the node's finished pods: listed across namespaces, then deleted per
                // namespace with the same field selector (a pod that started running again in
                // between no longer matches and stays).
                let fields = format!("spec.nodeName={name},status.phase={}", phase.as_str());
                let lp = ListParams::default().fields(&fields);
                let all: Api<Pod> = Api::all(self.client.clone());
                let pods = all.list(&lp).await.map_err(kube_err("list pods"))?;
                let mut by_namespace: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for pod in &pods.items {
                    if let Some(ns) = pod.namespace() {
                        by_namespace.entry(ns).or_default().push(pod.name_any());
                    }
                }
                let mut deleted = Vec::new();
                for (ns, names) in &by_namespace {
                    let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
                    let gone = api
                        .delete_collection(&dp, &lp)
                        .await
                        .map_err(kube_err("delete pods"))?;
                    match gone.left() {
                        Some(list) => deleted
                            .extend(list.items.iter().map(|p| format!("{ns}/{}", p.name_any()))),
                        None => deleted.extend(names.iter().map(|n| format!("{ns}/{n}"))),
                    }
                }
                let listed: Vec<String> = by_namespace
                    .iter()
                    .flat_map(|(ns, names)| names.iter().map(move |n| format!("{ns}/{n}")))
                    .collect();
                Ok((
                    json!({"node": name, "phase": phase.as_str(), "pods": listed}),
                    json!({"deleted": deleted}),
                ))
            }
            Action::SuspendCronJob => {
                let api: Api<CronJob> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                let before = api.get(name).await.map_err(kube_err("get cronjob"))?;
                let after = api
                    .patch(name, &pp, &Patch::Merge(json!({"spec": {"suspend": true}})))
                    .await
                    .map_err(kube_err("patch cronjob"))?;
                let suspend = |c: &CronJob| c.spec.suspend;
                Ok((
                    json!({"suspend": suspend(&before)}),
                    json!({"suspend": suspend(&after)}),
                ))
            }
            Action::CordonNode => {
                let (before, after) = self.cordon(name, &pp).await?;
                Ok((
                    json!({"unschedulable": before}),
                    json!({"unschedulable": after}),
                ))
            }
            Action::DrainNode => {
                let (before, after) = self.cordon(name, &pp).await?;
                let all: Api<Pod> = Api::all(self.client.clone());
                let pods = all
                    .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
                    .await
                    .map_err(kube_err("list pods on node"))?;
                let mut evicted = Vec::new();
                let mut skipped = Vec::new();
                for pod in &pods.items {
                    let ns = pod.namespace().unwrap_or_default();
                    let id = format!("{ns}/{}", pod.name_any());
                    let daemon = pod.owner_references().iter().any(|o| o.kind == "DaemonSet");
                    let mirror = pod
                        .annotations()
                        .contains_key("kubernetes.io/config.mirror");
                    if daemon || mirror || finished(pod) {
                        skipped.push(id);
                        continue;
                    }
                    let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                    // A policy/v1 Eviction as kubectl drain sends it (respects disruption
                    // budgets); dry-run rides in both the query and deleteOptions.
                    let mut eviction = json!({
                        "apiVersion": "policy/v1",
                        "kind": "Eviction",
                        "metadata": {"name": pod.name_any(), "namespace": ns},
                    });
                    if dry_run {
                        eviction["deleteOptions"] = json!({"dryRun": ["All"]});
                    }
                    let _: kube::core::Status = api
                        .create_subresource("eviction", &pod.name_any(), &post, &eviction)
                        .await
                        .map_err(kube_err("evict pod"))?;
                    evicted.push(id);
                }
                Ok((
                    json!({"unschedulable": before, "pods": pods.items.len()}),
                    json!({"unschedulable": after, "evicted": evicted, "skipped": skipped}),
                ))
            }
            Action::PatchConfig { key, value } => {
                let api: Api<ConfigMap> =
                    Api::namespaced(self.client.clone(), namespace_of(proposed)?);
                let before = api.get(name).await.map_err(kube_err("get configmap"))?;
                let mut data = BTreeMap::new();
                data.insert(key.clone(), value.clone());
                let after = api
                    .patch(name, &pp, &Patch::Merge(json!({"data": data})))
                    .await
                    .map_err(kube_err("patch configmap"))?;
                let get = |c: &ConfigMap| c.data.as_ref().and_then(|d| d.get(key)).cloned();
                Ok((json!({ key: get(&before) }), json!({ key: get(&after) })))
            }
            Action::ReconcileRelease => {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    self.client.clone(),
                    namespace_of(proposed)?,
                    &helm_release_resource(),
                );
                let before = api.get(name).await.map_err(kube_err("get helmrelease"))?;
                if before.data["spec"]["suspend"].as_bool() == Some(true) {
                    return Err(ExecError::BadObject {
                        object: proposed.target.path(),
                        problem: "is suspended: Flux ignores reconcile requests until it is resumed",
                    });
                }
                // The action carries no force flag: a plain reconcile request.
                let patch = reconcile_request_patch(&rfc3339(now_ms), false);
                let after = api
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map_err(kube_err("patch helmrelease"))?;
                Ok((release_summary(&before), release_summary(&after)))
            }
            Action::SyncApplication => {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    self.client.clone(),
                    namespace_of(proposed)?,
                    &application_resource(),
                );
                let before = api.get(name).await.map_err(kube_err("get application"))?;
                if before.data["status"]["operationState"]["phase"] == "Running" {
                    return Err(ExecError::BadObject {
                        object: proposed.target.path(),
                        problem: "has a sync running: Argo CD takes one operation at a time",
                    });
                }
                let revision = before.data["spec"]["source"]["targetRevision"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .unwrap_or("HEAD")
                    .to_owned();
                let after = api
                    .patch(name, &pp, &Patch::Merge(sync_request_patch(&revision)))
                    .await
                    .map_err(kube_err("patch application"))?;
                Ok((application_summary(&before), application_summary(&after)))
            }
            other => Err(ExecError::Unsupported {
                action: other.name(),
            }),
        }
    }

    async fn cordon(
        &self,
        name: &str,
        pp: &PatchParams,
    ) -> Result<(Option<bool>, Option<bool>), ExecError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let before = api.get(name).await.map_err(kube_err("get node"))?;
        let after = api
            .patch(
                name,
                pp,
                &Patch::Merge(json!({"spec": {"unschedulable": true}})),
            )
            .await
            .map_err(kube_err("patch node"))?;
        let flag = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable);
        Ok((flag(&before), flag(&after)))
    }
}
