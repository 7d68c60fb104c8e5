//! A loopback fake of the Kubernetes API server for executor tests: it serves recorded apps/v1,
//! batch/v1, v1 and Flux helm.toolkit.fluxcd.io/v2 objects, applies merge patches, honours
//! `dryRun=All`, records every request (method, path, query, content type, body), and takes
//! added Deployments by name. The server's tests include this same file.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: HashMap<String, String>,
    pub(crate) content_type: String,
    pub(crate) body: Option<Value>,
}

#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) objects: Mutex<BTreeMap<String, Value>>,
    pub(crate) requests: Mutex<Vec<Recorded>>,
}

fn fixture(name: &str) -> Value {
    // The fixtures beside this file, whichever crate's tests include it.
    let here = std::path::Path::new(file!())
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(here)
        .join("data/k8s")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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

impl Fake {
    fn seeded() -> Self {
        let fake = Fake::default();
        {
            let mut o = fake.objects.lock().unwrap();
            o.insert(DEPLOY.into(), fixture("deployment-cart.json"));
            o.insert(format!("{DEPLOY}/scale"), fixture("scale-cart.json"));
            o.insert(
                "/apis/apps/v1/namespaces/shop/replicasets".into(),
                fixture("replicasets-cart.json"),
            );
            o.insert(
                "/apis/batch/v1/namespaces/shop/cronjobs/report".into(),
                fixture("cronjob-report.json"),
            );
            o.insert(
                "/api/v1/namespaces/shop/pods".into(),
                fixture("pods-shop.json"),
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

    pub(crate) fn object(&self, path: &str) -> Value {
        self.objects.lock().unwrap()[path].clone()
    }

    /// Adds (or replaces) Deployment `shop/<name>` with `replicas`, shaped like the recorded one
    /// (the server's tests seed theirs with it).
    #[allow(dead_code)]
    pub(crate) fn deployment(&self, name: &str, replicas: u32) {
        let mut d = fixture("deployment-cart.json");
        d["metadata"]["name"] = json!(name);
        d["metadata"]["labels"]["app"] = json!(name);
        d["spec"]["replicas"] = json!(replicas);
        self.objects.lock().unwrap().insert(
            format!("/apis/apps/v1/namespaces/shop/deployments/{name}"),
            d,
        );
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 {"Success"} else {"Failure"}, "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn filter_pods(list: &Value, field_selector: Option<&String>) -> Value {
    let mut list = list.clone();
    if let (Some(sel), Some(items)) = (field_selector, list["items"].as_array_mut()) {
        let (field, want) = sel.split_once('=').unwrap();
        let pointer = match field {
            "status.phase" => "/status/phase",
            "spec.nodeName" => "/spec/nodeName",
            other => panic!("unexpected field selector {other}"),
        };
        items.retain(|p| p.pointer(pointer).and_then(Value::as_str) == Some(want));
    }
    list
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
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
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
        body: parsed.clone(),
    });
    // Delete requests carry DeleteOptions in the body; everything else uses the query.
    let dry = query.get("dryRun").map(String::as_str) == Some("All")
        || parsed.as_ref().and_then(|b| b.get("dryRun")) == Some(&json!(["All"]));
    let mut objects = fake.objects.lock().unwrap();
    if let Some(doc) = discovery(&path) {
        return axum::Json(doc).into_response();
    }
    match method.as_str() {
        "GET" => {
            if path == "/api/v1/pods" {
                let all = objects["/api/v1/namespaces/shop/pods"].clone();
                return axum::Json(filter_pods(&all, query.get("fieldSelector"))).into_response();
            }
            match objects.get(&path) {
                Some(v) if path.ends_with("/pods") => {
                    axum::Json(filter_pods(v, query.get("fieldSelector"))).into_response()
                }
                Some(v) => axum::Json(v.clone()).into_response(),
                None => status(404, "NotFound", &format!("{path} not found")),
            }
        }
        "PATCH" => {
            let Some(current) = objects.get(&path).cloned() else {
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
            if !dry {
                objects.insert(path.clone(), next.clone());
                if let Some(deploy) = path.strip_suffix("/scale") {
                    let replicas = next["spec"]["replicas"].clone();
                    if let Some(d) = objects.get_mut(deploy) {
                        d["spec"]["replicas"] = replicas;
                    }
                }
            }
            axum::Json(next).into_response()
        }
        "PUT" => {
            if !objects.contains_key(&path) {
                return status(404, "NotFound", &format!("{path} not found"));
            }
            let next = parsed.unwrap();
            if !dry {
                objects.insert(path.clone(), next.clone());
            }
            axum::Json(next).into_response()
        }
        "POST" if path.ends_with("/eviction") => status(201, "", ""),
        "POST" if path.ends_with("/jobs") => {
            let mut job = parsed.unwrap();
            job["metadata"]["uid"] = json!("f6f6f6f6-0000-4000-8000-000000000001");
            job["metadata"]["resourceVersion"] = json!("184600");
            job["apiVersion"] = json!("batch/v1");
            job["kind"] = json!("Job");
            if !dry {
                let name = job["metadata"]["name"].as_str().unwrap().to_owned();
                objects.insert(format!("{path}/{name}"), job.clone());
            }
            (StatusCode::CREATED, axum::Json(job)).into_response()
        }
        "DELETE" if path.ends_with("/pods") => {
            let all = objects[&path].clone();
            let deleted = filter_pods(&all, query.get("fieldSelector"));
            if !dry {
                let gone: Vec<Value> = deleted["items"].as_array().unwrap().clone();
                if let Some(items) = objects
                    .get_mut(&path)
                    .and_then(|l| l["items"].as_array_mut())
                {
                    items.retain(|p| !gone.contains(p));
                }
            }
            axum::Json(deleted).into_response()
        }
        _ => status(405, "MethodNotAllowed", "not served by the fake"),
    }
}

/// Legacy discovery documents, enough for `kubectl` to find the served resources.
fn discovery(path: &str) -> Option<Value> {
    let res = |name: &str, kind: &str, namespaced: bool, verbs: &[&str]| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs});
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
    let group_at = |name: &str, version: &str| {
        json!({"name": name, "versions": [{"groupVersion": format!("{name}/{version}"), "version": version}],
               "preferredVersion": {"groupVersion": format!("{name}/{version}"), "version": version}})
    };
    let group = |name: &str| group_at(name, "v1");
    Some(match path {
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
        }
        "/apis" => {
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group("apps"), group("batch"), group("policy"), group_at("helm.toolkit.fluxcd.io", "v2")]})
        }
        "/api/v1" => json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            res("pods", "Pod", true, &rw), res("pods/eviction", "Eviction", true, &["create"]),
            res("nodes", "Node", false, &rw), res("configmaps", "ConfigMap", true, &rw),
            res("namespaces", "Namespace", false, &rw)]}),
        "/apis/apps/v1" => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
            res("deployments", "Deployment", true, &rw), res("deployments/scale", "Scale", true, &["get", "patch", "update"]),
            res("replicasets", "ReplicaSet", true, &rw)]})
        }
        "/apis/batch/v1" => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "batch/v1", "resources": [
            res("jobs", "Job", true, &rw), res("cronjobs", "CronJob", true, &rw)]})
        }
        "/apis/helm.toolkit.fluxcd.io/v2" => {
            let mut hr = res("helmreleases", "HelmRelease", true, &rw);
            hr["singularName"] = json!("helmrelease");
            hr["shortNames"] = json!(["hr"]);
            hr["categories"] = json!(["all", "flux"]);
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "helm.toolkit.fluxcd.io/v2", "resources": [
            hr, res("helmreleases/status", "HelmRelease", true, &["get", "patch", "update"])]})
        }
        "/apis/policy/v1" => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1", "resources": []})
        }
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
