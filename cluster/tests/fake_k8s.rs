//! A loopback fake of the Kubernetes API server, speaking its wire format: recorded core/v1,
//! apps/v1, batch/v1, networking.k8s.io/v1, discovery.k8s.io/v1 and Flux
//! helm.toolkit.fluxcd.io/v2 objects; lists with field and label selectors, metadata-only
//! lists and watches (`Accept: ...;as=PartialObjectMetadataList`), watch streams
//! (`?watch=1`, newline-delimited `{"type","object"}` events from a resource version, `410
//! Expired` once that version is compacted away), merge patches, `dryRun=All`, and a record of
//! every request. Tests add objects, cut open watches, compact history and refuse paths (403)
//! to exercise what a client does. The server's tests include this same file.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: HashMap<String, String>,
    pub(crate) content_type: String,
    pub(crate) accept: String,
    pub(crate) body: Option<Value>,
}

/// One change as a watch reports it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    path: String,
    kind: &'static str,
    object: Value,
}

/// Watch history: the changes after `compacted`, newest last.
#[derive(Debug, Default)]
struct History {
    changes: VecDeque<Change>,
    /// Resource versions at or before this are gone (a watch from them answers 410).
    compacted: u64,
}

/// Most changes the history keeps.
const HISTORY: usize = 10_000;

pub(crate) struct Fake {
    pub(crate) objects: Mutex<BTreeMap<String, Value>>,
    pub(crate) requests: Mutex<Vec<Recorded>>,
    history: Mutex<History>,
    /// The latest resource version, announced to open watches.
    version: tokio::sync::watch::Sender<u64>,
    /// Bumped to end every open watch stream.
    cut: tokio::sync::watch::Sender<u64>,
    /// Path prefixes answered 403, as RBAC would.
    forbidden: Mutex<Vec<String>>,
    /// When set, only requests these RBAC rules grant are served (403 otherwise).
    rules: Mutex<Option<Vec<Rule>>>,
    /// Path prefixes whose next watch from a resource version is answered 410 Expired.
    expiring: Mutex<Vec<String>>,
}

/// One RBAC rule: API groups, resources (`pods`, `pods/eviction`) and verbs.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rule {
    pub(crate) api_groups: Vec<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) verbs: Vec<String>,
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            objects: Mutex::default(),
            requests: Mutex::default(),
            history: Mutex::default(),
            // Above every recorded fixture's resourceVersion.
            version: tokio::sync::watch::channel(200_000).0,
            cut: tokio::sync::watch::channel(0).0,
            forbidden: Mutex::default(),
            rules: Mutex::default(),
            expiring: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fake").finish_non_exhaustive()
    }
}

/// A recorded fixture beside this file, whichever crate's tests include it.
pub(crate) fn fixture(name: &str) -> Value {
    let here = std::path::Path::new(file!())
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(here)
        .join("data/k8s")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";
/// Flux HelmRelease `shop/cart`.
pub(crate) const HELM_RELEASE: &str =
    "/apis/helm.toolkit.fluxcd.io/v2/namespaces/shop/helmreleases/cart";

/// What the fake serves: API prefix, plural, kind, whether namespaced, and the verbs.
const RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("/api/v1", "pods", "Pod", true),
    ("/api/v1", "nodes", "Node", false),
    ("/api/v1", "namespaces", "Namespace", false),
    ("/api/v1", "events", "Event", true),
    ("/api/v1", "services", "Service", true),
    ("/api/v1", "endpoints", "Endpoints", true),
    ("/api/v1", "configmaps", "ConfigMap", true),
    ("/api/v1", "secrets", "Secret", true),
    ("/apis/apps/v1", "deployments", "Deployment", true),
    ("/apis/apps/v1", "replicasets", "ReplicaSet", true),
    ("/apis/apps/v1", "statefulsets", "StatefulSet", true),
    ("/apis/apps/v1", "daemonsets", "DaemonSet", true),
    (
        "/apis/argoproj.io/v1alpha1",
        "applications",
        "Application",
        true,
    ),
    ("/apis/batch/v1", "jobs", "Job", true),
    ("/apis/batch/v1", "cronjobs", "CronJob", true),
    ("/apis/networking.k8s.io/v1", "ingresses", "Ingress", true),
    (
        "/apis/discovery.k8s.io/v1",
        "endpointslices",
        "EndpointSlice",
        true,
    ),
    (
        "/apis/helm.toolkit.fluxcd.io/v2",
        "helmreleases",
        "HelmRelease",
        true,
    ),
];

/// A request path taken apart: `/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]`, or the same
/// under `/apis/GROUP/VERSION`.
#[derive(Debug, Clone, PartialEq)]
struct ResourcePath {
    prefix: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
}

impl ResourcePath {
    fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (prefix, rest) = match parts.as_slice() {
            ["api", v, rest @ ..] => (format!("/api/{v}"), rest),
            ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
            rest => (None, rest),
        };
        let (plural, name, sub) = match rest {
            [plural] => (*plural, None, None),
            [plural, name] => (*plural, Some(*name), None),
            [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
            _ => return None,
        };
        Some(Self {
            prefix,
            namespace,
            plural: plural.to_owned(),
            name: name.map(str::to_owned),
            sub: sub.map(str::to_owned),
        })
    }

    fn collection(&self) -> Self {
        Self {
            name: None,
            sub: None,
            ..self.clone()
        }
    }

    fn kind(&self) -> Option<&'static str> {
        RESOURCES
            .iter()
            .find(|(p, plural, _, _)| *p == self.prefix && *plural == self.plural)
            .map(|(_, _, kind, _)| *kind)
    }

    fn api_version(&self) -> String {
        let v = self.prefix.trim_start_matches("/api/");
        v.trim_start_matches("/apis/").to_owned()
    }

    /// Whether the object at `object` belongs to this collection.
    fn holds(&self, object: &ResourcePath) -> bool {
        object.prefix == self.prefix
            && object.plural == self.plural
            && object.name.is_some()
            && object.sub.is_none()
            && (self.namespace.is_none() || self.namespace == object.namespace)
    }
}

/// The path an object is stored at, from its apiVersion, kind, namespace and name.
fn path_of(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let (_, plural, _, namespaced) = RESOURCES
        .iter()
        .find(|(p, _, k, _)| *p == prefix && *k == kind)
        .unwrap_or_else(|| panic!("the fake does not serve {api_version} {kind}"));
    let name = object["metadata"]["name"].as_str().unwrap();
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if *namespaced => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
        _ => format!("{prefix}/{plural}/{name}"),
    }
}

/// `field=value`, `field==value` and `field!=value` terms joined by commas, as the API server
/// takes `fieldSelector` (any dotted field path).
fn fields_match(object: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| {
        let (field, want, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, v, true)
        } else {
            let (f, v) = term.split_once('=').unwrap();
            (f, v, true)
        };
        let pointer = format!("/{}", field.replace('.', "/"));
        let have = object
            .pointer(&pointer)
            .and_then(Value::as_str)
            .unwrap_or("");
        (have == want) == equal
    })
}

/// `k=v`, `k!=v`, `k` and `!k` terms joined by commas, as `labelSelector` takes them.
fn labels_match(object: &Value, selector: Option<&String>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k.trim_end_matches('=')].as_str() == Some(v)
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

/// An object as a metadata-only client asks for it.
fn metadata_only(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": object["metadata"].clone()})
}

impl Fake {
    fn seeded() -> Self {
        let fake = Fake::default();
        {
            let mut o = fake.objects.lock().unwrap();
            o.insert(DEPLOY.into(), fixture("deployment-cart.json"));
            o.insert(format!("{DEPLOY}/scale"), fixture("scale-cart.json"));
            o.insert(
                "/apis/batch/v1/namespaces/shop/cronjobs/report".into(),
                fixture("cronjob-report.json"),
            );
            o.insert(
                "/api/v1/nodes/worker-2".into(),
                fixture("node-worker-2.json"),
            );
            o.insert(
                "/api/v1/namespaces/shop/configmaps/cart-config".into(),
                fixture("configmap-cart.json"),
            );
            o.insert(HELM_RELEASE.into(), fixture("helmrelease-cart.json"));
            for (list, prefix) in [
                ("pods-shop.json", "/api/v1/namespaces/shop/pods"),
                (
                    "replicasets-cart.json",
                    "/apis/apps/v1/namespaces/shop/replicasets",
                ),
            ] {
                let list = fixture(list);
                for item in list["items"].as_array().unwrap() {
                    let name = item["metadata"]["name"].as_str().unwrap();
                    o.insert(format!("{prefix}/{name}"), item.clone());
                }
            }
        }
        fake
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests that would change something.
    pub(crate) fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// The object at `path`, or the list a GET of the collection at `path` answers.
    pub(crate) fn object(&self, path: &str) -> Value {
        if let Some(object) = self.objects.lock().unwrap().get(path) {
            return object.clone();
        }
        let at = ResourcePath::parse(path).unwrap();
        self.list(&at, None, None)
    }

    /// The current resource version.
    pub(crate) fn resource_version(&self) -> u64 {
        *self.version.borrow()
    }

    fn list(&self, at: &ResourcePath, fields: Option<&String>, labels: Option<&String>) -> Value {
        // The items and the list's resource version are read as one: a write lands wholly
        // before or after (it holds the history lock from insert to version), so a watch from
        // this version misses nothing and replays nothing.
        let _writes = self.history.lock().unwrap();
        let items: Vec<Value> = self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| ResourcePath::parse(path).is_some_and(|p| at.holds(&p)))
            .map(|(_, object)| object.clone())
            .filter(|o| fields_match(o, fields) && labels_match(o, labels))
            .collect();
        json!({"kind": format!("{}List", at.kind().unwrap_or("")), "apiVersion": at.api_version(),
               "metadata": {"resourceVersion": self.resource_version().to_string()},
               "items": items})
    }

    /// Stores `object` at `path` as a write does: a new resource version, and an ADDED or
    /// MODIFIED event for open watches.
    fn store(&self, path: &str, mut object: Value) -> Value {
        let mut history = self.history.lock().unwrap();
        let rv = self.resource_version() + 1;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let kind = if self
            .objects
            .lock()
            .unwrap()
            .insert(path.to_owned(), object.clone())
            .is_some()
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        history.record(Change {
            rv,
            path: path.to_owned(),
            kind,
            object: object.clone(),
        });
        self.version.send_replace(rv);
        object
    }

    fn remove(&self, path: &str) -> Option<Value> {
        let mut history = self.history.lock().unwrap();
        let mut object = self.objects.lock().unwrap().remove(path)?;
        let rv = self.resource_version() + 1;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        history.record(Change {
            rv,
            path: path.to_owned(),
            kind: "DELETED",
            object: object.clone(),
        });
        self.version.send_replace(rv);
        Some(object)
    }

    /// Adds or replaces an object (or every item of a `...List`) as the cluster would; open
    /// watches see it. Returns the stored path of each.
    pub(crate) fn apply(&self, object: Value) -> Vec<String> {
        if let Some(items) = object["items"].as_array() {
            // A typed list's items carry no kind; a `List`'s carry their own.
            let api_version = object["apiVersion"].clone();
            let kind = object["kind"].as_str().unwrap().trim_end_matches("List");
            return items
                .iter()
                .flat_map(|item| {
                    let mut item = item.clone();
                    if !kind.is_empty() {
                        item["apiVersion"] = api_version.clone();
                        item["kind"] = json!(kind);
                    }
                    self.apply(item)
                })
                .collect();
        }
        let path = path_of(&object);
        self.store(&path, object);
        vec![path]
    }

    /// Applies a recorded fixture file (one object or a list).
    pub(crate) fn load(&self, name: &str) -> Vec<String> {
        self.apply(fixture(name))
    }

    /// Deletes the object at `path`; open watches see it go.
    pub(crate) fn delete(&self, path: &str) -> Option<Value> {
        self.remove(path)
    }

    /// Merges `patch` into the object at `path` (as a merge patch from a controller would).
    pub(crate) fn patch(&self, path: &str, patch: &Value) -> Value {
        let mut object = self.objects.lock().unwrap()[path].clone();
        merge(&mut object, patch);
        self.store(path, object)
    }

    /// Ends every open watch stream, as an API server restart or a dropped connection does.
    pub(crate) fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Forgets the watch history: a watch resuming from an older version gets 410 Expired.
    pub(crate) fn compact(&self) {
        let mut history = self.history.lock().unwrap();
        history.changes.clear();
        history.compacted = self.resource_version();
    }

    /// Answers 403 to every request under `prefix`, as RBAC without the grant does.
    pub(crate) fn forbid(&self, prefix: &str) {
        self.forbidden.lock().unwrap().push(prefix.to_owned());
    }

    /// Ends the open watches under `prefix` and answers their resumption 410 Expired, as an
    /// API server whose watch cache has moved past their version does: they must list again.
    pub(crate) fn expire(&self, prefix: &str) {
        self.expiring.lock().unwrap().push(prefix.to_owned());
        self.cut_watches();
    }

    /// Serves only what `rules` grant, as the API server's RBAC authorizer does.
    pub(crate) fn enforce(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap() = Some(rules);
    }

    /// Every `(group, resource, verb)` requested, as RBAC names them.
    pub(crate) fn verbs_used(&self) -> std::collections::BTreeSet<(String, String, String)> {
        self.requests()
            .iter()
            .filter_map(|r| {
                let at = ResourcePath::parse(&r.path)?;
                Some(rbac_request(&at, &r.method, &r.query))
            })
            .collect()
    }

    /// Adds (or replaces) Deployment `shop/<name>` with `replicas`, shaped like the recorded one
    /// (the server's tests seed theirs with it).
    pub(crate) fn deployment(&self, name: &str, replicas: u32) {
        let mut d = fixture("deployment-cart.json");
        d["metadata"]["name"] = json!(name);
        d["metadata"]["labels"]["app"] = json!(name);
        d["spec"]["replicas"] = json!(replicas);
        self.store(
            &format!("/apis/apps/v1/namespaces/shop/deployments/{name}"),
            d,
        );
    }

    /// Adds (or replaces) StatefulSet `<namespace>/<name>` with `replicas`, its `/scale` and
    /// its ready pods `<name>-0..` (labelled `app=<name>`, owned by it, on `worker-1`).
    pub(crate) fn stateful_set(&self, namespace: &str, name: &str, replicas: u32) {
        let base = format!("/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}");
        self.store(
            &base,
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-sts-{name}"),
                             "generation": 1, "labels": {"app": name},
                             "creationTimestamp": "2026-10-01T12:00:00Z"},
                "spec": {"replicas": replicas, "serviceName": name,
                         "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": name, "image": "redis:7.4"}]}}},
                "status": {"replicas": replicas, "readyReplicas": replicas,
                           "currentReplicas": replicas, "updatedReplicas": replicas,
                           "observedGeneration": 1}
            }),
        );
        self.store(
            &format!("{base}/scale"),
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"replicas": replicas}, "status": {"replicas": replicas}}),
        );
        for i in 0..replicas {
            let pod = format!("{name}-{i}");
            self.store(
                &format!("/api/v1/namespaces/{namespace}/pods/{pod}"),
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": namespace, "uid": format!("uid-{pod}"),
                                 "labels": {"app": name, "app.kubernetes.io/name": name},
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                     "name": name, "uid": format!("uid-sts-{name}"), "controller": true}],
                                 "creationTimestamp": "2026-10-01T12:00:00Z"},
                    "spec": {"nodeName": "worker-1", "containers": [{"name": name, "image": "redis:7.4"}]},
                    "status": {"phase": "Running"}
                }),
            );
        }
    }

    /// Adds (or replaces) DaemonSet `<namespace>/<name>` running on `nodes` nodes.
    pub(crate) fn daemon_set(&self, namespace: &str, name: &str, nodes: u32) {
        self.store(
            &format!("/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"),
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-ds-{name}"),
                             "generation": 1, "labels": {"app": name},
                             "creationTimestamp": "2026-10-01T12:00:00Z"},
                "spec": {"selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": name, "image": "fluent-bit:3.2"}]}}},
                "status": {"desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
                           "numberReady": nodes, "numberMisscheduled": 0, "observedGeneration": 1}
            }),
        );
    }

    /// Adds a finished pod `<namespace>/<name>` in `phase` that ran on `node`.
    pub(crate) fn finished_pod(&self, namespace: &str, name: &str, node: &str, phase: &str) {
        self.store(
            &format!("/api/v1/namespaces/{namespace}/pods/{name}"),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"),
                             "creationTimestamp": "2026-10-01T12:00:00Z"},
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox:1.36"}]},
                "status": {"phase": phase}
            }),
        );
    }

    /// The changes a watch of `at` from version `from` must send and the version they bring
    /// it to (read under the same lock as the changes, so no write falls between), or `Err`
    /// when `from` is compacted away.
    fn changes_after(
        &self,
        at: &ResourcePath,
        from: u64,
        query: &HashMap<String, String>,
    ) -> Result<(Vec<Change>, u64), u64> {
        let history = self.history.lock().unwrap();
        if from < history.compacted {
            return Err(history.compacted);
        }
        let changes = history
            .changes
            .iter()
            .filter(|c| c.rv > from)
            .filter(|c| ResourcePath::parse(&c.path).is_some_and(|p| at.holds(&p)))
            .filter(|c| {
                fields_match(&c.object, query.get("fieldSelector"))
                    && labels_match(&c.object, query.get("labelSelector"))
            })
            .cloned()
            .collect();
        Ok((changes, self.resource_version()))
    }
}

impl History {
    fn record(&mut self, change: Change) {
        if self.changes.len() == HISTORY
            && let Some(gone) = self.changes.pop_front()
        {
            self.compacted = gone.rv;
        }
        self.changes.push_back(change);
    }
}

/// `(group, resource, verb)` of a request, as RBAC sees it.
fn rbac_request(
    at: &ResourcePath,
    method: &str,
    query: &HashMap<String, String>,
) -> (String, String, String) {
    let group = at
        .prefix
        .strip_prefix("/apis/")
        .and_then(|gv| gv.split('/').next())
        .unwrap_or("")
        .to_owned();
    let resource = match &at.sub {
        Some(sub) => format!("{}/{sub}", at.plural),
        None => at.plural.clone(),
    };
    let collection = at.name.is_none();
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match method {
        "GET" if collection && watching => "watch",
        "GET" if collection => "list",
        "GET" => "get",
        "PATCH" => "patch",
        "PUT" => "update",
        "POST" => "create",
        "DELETE" if collection => "deletecollection",
        "DELETE" => "delete",
        other => other,
    };
    (group, resource, verb.to_owned())
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 {"Success"} else {"Failure"}, "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

/// One watch event line.
fn event_line(kind: &str, object: &Value, metadata: bool) -> Bytes {
    let object = if metadata {
        metadata_only(object)
    } else {
        object.clone()
    };
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    line.push(b'\n');
    Bytes::from(line)
}

/// What an open watch stream still has to do.
struct Watching {
    fake: Arc<Fake>,
    at: ResourcePath,
    query: HashMap<String, String>,
    metadata: bool,
    sent_through: u64,
    pending: VecDeque<Bytes>,
    version: tokio::sync::watch::Receiver<u64>,
    cut: tokio::sync::watch::Receiver<u64>,
    deadline: tokio::time::Instant,
    done: bool,
}

/// A watch: newline-delimited events after the requested resource version (every current
/// object as ADDED when none or `0` is given), until `timeoutSeconds`, a cut, or 410.
fn watch(
    fake: Arc<Fake>,
    at: ResourcePath,
    query: HashMap<String, String>,
    metadata: bool,
) -> Response {
    let mut pending = VecDeque::new();
    let requested = query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&v| v != 0);
    let expired = requested.is_some() && {
        let mut expiring = fake.expiring.lock().unwrap();
        let before = expiring.len();
        let path = format!("{}/", at.prefix);
        let full = match &at.namespace {
            Some(ns) => format!("{path}namespaces/{ns}/{}", at.plural),
            None => format!("{path}{}", at.plural),
        };
        expiring.retain(|p| !full.starts_with(p.as_str()));
        expiring.len() < before
    };
    if expired {
        let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": "Expired", "code": 410, "message": "too old resource version"});
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(event_line("ERROR", &gone, false)))
            .unwrap();
    }
    let sent_through = match requested {
        Some(from) => from,
        None => {
            let list = fake.list(&at, query.get("fieldSelector"), query.get("labelSelector"));
            for item in list["items"].as_array().unwrap() {
                pending.push_back(event_line("ADDED", item, metadata));
            }
            // The version the items were read at, not a later one.
            list["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or_default()
        }
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1800);
    let mut cut = fake.cut.subscribe();
    cut.mark_unchanged();
    let state = Watching {
        version: fake.version.subscribe(),
        cut,
        fake,
        at,
        query,
        metadata,
        sent_through,
        pending,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.pending.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(line), st));
            }
            if st.done {
                return None;
            }
            st.version.mark_unchanged();
            match st.fake.changes_after(&st.at, st.sent_through, &st.query) {
                Err(compacted) => {
                    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "reason": "Expired", "code": 410,
                        "message": format!("too old resource version: {} ({compacted})", st.sent_through)});
                    st.pending.push_back(event_line("ERROR", &gone, false));
                    st.done = true;
                    continue;
                }
                Ok((changes, through)) => {
                    st.sent_through = st.sent_through.max(through);
                    for c in &changes {
                        st.pending
                            .push_back(event_line(c.kind, &c.object, st.metadata));
                    }
                    if !changes.is_empty() {
                        continue;
                    }
                }
            }
            tokio::select! {
                _ = st.version.changed() => {}
                _ = st.cut.changed() => st.done = true,
                () = tokio::time::sleep_until(st.deadline) => st.done = true,
            }
        }
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// A SelfSubjectAccessReview answered from the enforced rules (everything is allowed when
/// none are), in the API server's shape: the request echoed with `status.allowed`.
fn access_review(fake: &Fake, mut review: Value) -> Response {
    let attrs = review["spec"]["resourceAttributes"].clone();
    let field = |name: &str| attrs[name].as_str().unwrap_or_default().to_owned();
    let resource = match field("subresource").as_str() {
        "" => field("resource"),
        sub => format!("{}/{sub}", field("resource")),
    };
    let (group, verb) = (field("group"), field("verb"));
    let allowed = match fake.rules.lock().unwrap().as_ref() {
        None => true,
        Some(rules) => rules.iter().any(|r| {
            r.api_groups.contains(&group)
                && r.resources.contains(&resource)
                && r.verbs.contains(&verb)
        }),
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed by the fake's rules"})
    } else {
        json!({"allowed": false})
    };
    (axum::http::StatusCode::CREATED, axum::Json(review)).into_response()
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, accept) = (header("content-type"), header("accept"));
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    fake.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type,
        accept: accept.clone(),
        body: parsed.clone(),
    });
    if let Some(doc) = discovery(&path) {
        return axum::Json(doc).into_response();
    }
    if method == Method::POST && path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
        return access_review(&fake, parsed.unwrap_or_default());
    }
    if fake
        .forbidden
        .lock()
        .unwrap()
        .iter()
        .any(|p| path.starts_with(p.as_str()))
    {
        return status(403, "Forbidden", &format!("{path} is forbidden"));
    }
    let Some(at) = ResourcePath::parse(&path) else {
        return status(404, "NotFound", &format!("{path} not found"));
    };
    if at.kind().is_none() {
        return status(
            404,
            "NotFound",
            &format!("the server could not find {path}"),
        );
    }
    if let Some(rules) = fake.rules.lock().unwrap().as_ref() {
        let (group, resource, verb) = rbac_request(&at, method.as_str(), &query);
        let granted = rules.iter().any(|r| {
            r.api_groups.contains(&group)
                && r.resources.contains(&resource)
                && r.verbs.contains(&verb)
        });
        if !granted {
            let message = format!(
                "{resource} is forbidden: User \"system:serviceaccount:srebot:srebot-executor\" cannot {verb} resource \"{resource}\" in API group \"{group}\""
            );
            return status(403, "Forbidden", &message);
        }
    }
    // Delete requests carry DeleteOptions in the body; everything else uses the query.
    let dry = query.get("dryRun").map(String::as_str) == Some("All")
        || parsed.as_ref().and_then(|b| b.get("dryRun")) == Some(&json!(["All"]));
    let metadata = accept.contains("as=PartialObjectMetadata");
    let collection = at.name.is_none();
    match method.as_str() {
        "GET"
            if collection
                && matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            watch(Arc::clone(&fake), at, query, metadata)
        }
        "GET" if collection => {
            let mut list = fake.list(&at, query.get("fieldSelector"), query.get("labelSelector"));
            if metadata {
                let items: Vec<Value> = list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(metadata_only)
                    .collect();
                list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                              "metadata": list["metadata"].clone(), "items": items});
            }
            axum::Json(list).into_response()
        }
        "GET" => match fake.objects.lock().unwrap().get(&path) {
            Some(v) if metadata => axum::Json(metadata_only(v)).into_response(),
            Some(v) => axum::Json(v.clone()).into_response(),
            None => status(404, "NotFound", &format!("{path} not found")),
        },
        "PATCH" => {
            let Some(current) = fake.objects.lock().unwrap().get(&path).cloned() else {
                return status(404, "NotFound", &format!("{path} not found"));
            };
            let mut next = current;
            let patch = parsed.as_ref().unwrap();
            merge(&mut next, patch);
            // As the API server does: only a spec change is a new generation.
            if let Some(g) = next
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .filter(|_| patch.get("spec").is_some())
            {
                next["metadata"]["generation"] = json!(g + 1);
            }
            if dry {
                return axum::Json(next).into_response();
            }
            let next = fake.store(&path, next);
            if let Some(deploy) = path.strip_suffix("/scale") {
                let replicas = next["spec"]["replicas"].clone();
                let current = fake.objects.lock().unwrap().get(deploy).cloned();
                if let Some(mut d) = current {
                    d["spec"]["replicas"] = replicas;
                    fake.store(deploy, d);
                }
            }
            axum::Json(next).into_response()
        }
        "PUT" => {
            if !fake.objects.lock().unwrap().contains_key(&path) {
                return status(404, "NotFound", &format!("{path} not found"));
            }
            let next = parsed.unwrap();
            if dry {
                return axum::Json(next).into_response();
            }
            axum::Json(fake.store(&path, next)).into_response()
        }
        "POST" if at.sub.as_deref() == Some("eviction") => status(201, "", ""),
        "POST" if at.plural == "jobs" && collection => {
            let mut job = parsed.unwrap();
            job["metadata"]["uid"] = json!("f6f6f6f6-0000-4000-8000-000000000001");
            job["metadata"]["resourceVersion"] = json!("184600");
            job["apiVersion"] = json!("batch/v1");
            job["kind"] = json!("Job");
            if !dry {
                let name = job["metadata"]["name"].as_str().unwrap().to_owned();
                job = fake.store(&format!("{path}/{name}"), job);
            }
            (StatusCode::CREATED, axum::Json(job)).into_response()
        }
        "DELETE" if collection => {
            let deleted = fake.list(&at, query.get("fieldSelector"), query.get("labelSelector"));
            if !dry {
                for item in deleted["items"].as_array().unwrap() {
                    let name = item["metadata"]["name"].as_str().unwrap();
                    fake.remove(&format!("{path}/{name}"));
                }
            }
            axum::Json(deleted).into_response()
        }
        _ => status(405, "MethodNotAllowed", "not served by the fake"),
    }
}

/// Legacy discovery documents, enough for `kubectl` to find the served resources.
fn discovery(path: &str) -> Option<Value> {
    let rw = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let res = |name: &str, kind: &str, namespaced: bool, verbs: &[&str]| json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": verbs});
    let group_at = |name: &str, version: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/{version}"), "version": version}],
               "preferredVersion": {"groupVersion": format!("{name}/{version}"), "version": version}})
    };
    let served = |prefix: &str| -> Vec<Value> {
        RESOURCES
            .iter()
            .filter(|(p, ..)| *p == prefix)
            .map(|(_, plural, kind, namespaced)| res(plural, kind, *namespaced, &rw))
            .collect()
    };
    let resource_list = |group_version: &str, mut resources: Vec<Value>, extra: Vec<Value>| {
        resources.extend(extra);
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
    };
    Some(match path {
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
        }
        "/apis" => {
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                group_at("apps", "v1"), group_at("batch", "v1"), group_at("policy", "v1"),
                group_at("networking.k8s.io", "v1"), group_at("discovery.k8s.io", "v1"),
                group_at("helm.toolkit.fluxcd.io", "v2")]})
        }
        "/api/v1" => resource_list(
            "v1",
            served("/api/v1"),
            vec![res("pods/eviction", "Eviction", true, &["create"])],
        ),
        "/apis/apps/v1" => resource_list(
            "apps/v1",
            served("/apis/apps/v1"),
            vec![res(
                "deployments/scale",
                "Scale",
                true,
                &["get", "patch", "update"],
            )],
        ),
        "/apis/batch/v1" => resource_list("batch/v1", served("/apis/batch/v1"), vec![]),
        "/apis/networking.k8s.io/v1" => resource_list(
            "networking.k8s.io/v1",
            served("/apis/networking.k8s.io/v1"),
            vec![],
        ),
        "/apis/discovery.k8s.io/v1" => resource_list(
            "discovery.k8s.io/v1",
            served("/apis/discovery.k8s.io/v1"),
            vec![],
        ),
        "/apis/helm.toolkit.fluxcd.io/v2" => {
            let mut hr = res("helmreleases", "HelmRelease", true, &rw);
            hr["shortNames"] = json!(["hr"]);
            hr["categories"] = json!(["all", "flux"]);
            resource_list(
                "helm.toolkit.fluxcd.io/v2",
                vec![hr],
                vec![res(
                    "helmreleases/status",
                    "HelmRelease",
                    true,
                    &["get", "patch", "update"],
                )],
            )
        }
        // Non-empty, as a real server's: kubectl's discovery treats an empty group as an error.
        "/apis/policy/v1" => resource_list(
            "policy/v1",
            vec![res(
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
                &["get", "list", "watch"],
            )],
            vec![],
        ),
        "/version" => {
            json!({"major": "1", "minor": "34", "gitVersion": "v1.34.1", "platform": "linux/amd64"})
        }
        _ => return None,
    })
}

/// Starts the fake on a loopback port; returns it and its base URL.
pub(crate) async fn start() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::seeded());
    let app = Router::new().fallback(handle).with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (fake, format!("http://{addr}"))
}

pub(crate) fn client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().unwrap());
    kube::Client::try_from(config).unwrap()
}
