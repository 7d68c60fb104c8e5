//! Drift between what is declared and what runs. Releases: a Flux HelmRelease not Ready, its
//! observed generation behind, images running that differ from its values, or a partial apply
//! (some of its workloads on the new chart version, some on the old). Ingresses: expected hosts
//! no Ingress routes, TLS secrets that do not exist or whose certificate does not cover a host,
//! and served certificates that do not cover their host or expire soon.
//!
//! A drift that clears and comes back after the release changed says so in its evidence, and
//! the correlator reopens its incident (same signature).

use crate::cache::{ClusterState, Kind};
use crate::config::ClusterSpec;
use crate::signal::{About, Context, MAX_EVIDENCE, candidate, span};
use crate::tls::CertObservation;
use crate::views::{HelmReleaseView, IngressView, WorkloadView};
use model::{EventEvidence, IncidentCandidate, IncidentType, Scope, Severity, Target};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The kinds release drift reads.
pub const RELEASE_NEEDS: &[Kind] = &[
    Kind::HelmReleases,
    Kind::Deployments,
    Kind::StatefulSets,
    Kind::DaemonSets,
    Kind::ReplicaSets,
    Kind::Pods,
];
/// The kinds ingress drift reads.
pub const INGRESS_NEEDS: &[Kind] = &[Kind::Ingresses, Kind::Secrets, Kind::HelmReleases];

/// Whether `c` is one of the candidates [`DriftSignals::evaluate`] judges.
pub fn judges(c: &IncidentCandidate) -> bool {
    c.detector.starts_with("release_drift/") || c.detector.starts_with("ingress_drift/")
}

/// What drift detection remembers between evaluations.
#[derive(Debug, Default)]
pub struct DriftSignals {
    /// `(release uid, generation)` → when that generation was first seen unapplied.
    generation_seen: HashMap<(String, i64), i64>,
    /// Release uid → the revision deployed when its drift last cleared.
    cleared_at_revision: HashMap<String, i64>,
    /// Release uid → whether it drifted at the last evaluation.
    drifting: HashMap<String, bool>,
}

impl DriftSignals {
    /// Every drift firing at `now_ms`.
    pub fn evaluate(
        &mut self,
        state: &ClusterState,
        certs: &BTreeMap<String, CertObservation>,
        ctx: &Context,
        spec: &ClusterSpec,
        now_ms: i64,
    ) -> Vec<IncidentCandidate> {
        let mut out = Vec::new();
        if state.synced(RELEASE_NEEDS) {
            for hr in state.helm_releases.values().filter(|hr| !hr.suspended) {
                out.extend(self.release(hr, state, ctx, spec, now_ms));
            }
            let live: BTreeSet<&str> = state
                .helm_releases
                .values()
                .map(|h| h.meta.uid.as_str())
                .collect();
            self.generation_seen
                .retain(|(uid, _), _| live.contains(uid.as_str()));
            self.cleared_at_revision
                .retain(|uid, _| live.contains(uid.as_str()));
            self.drifting.retain(|uid, _| live.contains(uid.as_str()));
        }
        if state.synced(INGRESS_NEEDS) {
            out.extend(ingresses(state, certs, ctx, spec, now_ms));
        }
        out
    }

    fn release(
        &mut self,
        hr: &HelmReleaseView,
        state: &ClusterState,
        ctx: &Context,
        spec: &ClusterSpec,
        now_ms: i64,
    ) -> Vec<IncidentCandidate> {
        let ns = hr.meta.namespace.as_deref().unwrap_or("");
        let name = hr.meta.name.as_str();
        let current = hr.current();
        let revision = current.map_or(0, |r| r.version);
        let labels = [("namespace", ns), ("helmrelease", name)];
        let mut drift: Vec<EventEvidence> = Vec::new();
        let mut regression: Vec<EventEvidence> = Vec::new();

        // Ready: a failed install or upgrade is a regression; any other not-ready state drift.
        if let Some(ready) = hr.ready.as_ref().filter(|c| !c.is_true()) {
            let failed = ready.reason.contains("Failed")
                || hr
                    .released
                    .as_ref()
                    .is_some_and(|r| r.status == "False" && r.reason.contains("Failed"));
            let held = now_ms.saturating_sub(ready.since_ms);
            let grace = i64::try_from(spec.generation_grace.as_millis()).unwrap_or(i64::MAX);
            let evidence = ctx.evidence(
                format!("hr-{name}-ready"),
                if ready.reason.is_empty() {
                    "NotReady"
                } else {
                    &ready.reason
                },
                format!(
                    "HelmRelease {ns}/{name} is not Ready ({}) for {}: {}",
                    ready.status,
                    span(held),
                    ready.message
                ),
                ready.since_ms,
                labels,
            );
            if failed {
                regression.push(evidence);
            } else if ready.status == "False" || held >= grace {
                drift.push(evidence);
            }
        }

        // Observed generation behind for longer than the grace.
        if hr.observed_generation < hr.meta.generation {
            let first = *self
                .generation_seen
                .entry((hr.meta.uid.clone(), hr.meta.generation))
                .or_insert(now_ms);
            let grace = i64::try_from(spec.generation_grace.as_millis()).unwrap_or(i64::MAX);
            if now_ms.saturating_sub(first) >= grace {
                drift.push(ctx.evidence(
                    format!("hr-{name}-generation"),
                    "GenerationNotApplied",
                    format!(
                        "HelmRelease {ns}/{name}: generation {} has not been applied for {} (Flux last applied {})",
                        hr.meta.generation,
                        span(now_ms - first),
                        hr.observed_generation
                    ),
                    first,
                    labels,
                ));
            }
        }

        let workloads = release_workloads(hr, state);
        // Partial apply: workloads of the release on different chart versions.
        if let Some(current) = current {
            let want = format!("{}-{}", hr.chart, current.chart_version);
            let mut on: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for w in &workloads {
                if let Some(chart) = w.meta.labels.get("helm.sh/chart") {
                    on.entry(chart.as_str())
                        .or_default()
                        .push(format!("{} {}", w.kind, w.meta.name));
                }
            }
            let stale: Vec<(&str, &Vec<String>)> = on
                .iter()
                .filter(|(c, _)| **c != want)
                .map(|(c, w)| (*c, w))
                .collect();
            if !stale.is_empty() {
                let fresh = on.get(want.as_str()).map_or(0, Vec::len);
                let stale_text = stale
                    .iter()
                    .map(|(chart, ws)| format!("{} on {chart}", ws.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ");
                let (reason, message) = if fresh > 0 {
                    (
                        "PartialApply",
                        format!(
                            "release {ns}/{name} revision {revision} ({want}) is partly applied: {fresh} workload(s) on {want}, {stale_text}"
                        ),
                    )
                } else {
                    (
                        "ChartVersionMismatch",
                        format!(
                            "release {ns}/{name} revision {revision} is {want}, but {stale_text}"
                        ),
                    )
                };
                drift.push(ctx.evidence(
                    format!("hr-{name}-chart"),
                    reason,
                    message,
                    current.deployed_ms.unwrap_or(now_ms),
                    labels,
                ));
            }
        }

        // Images running that differ from the release's values.
        if let Some(values) = &hr.values {
            let expected = expected_images(values, current.map(|c| c.app_version.as_str()));
            for (workload, container, image) in running_images(&workloads, state) {
                let (repo, tag) = split_image(&image);
                if let Some(want) = expected.get(&normalise(repo))
                    && !want.contains(&tag.to_owned())
                    && drift.len() < MAX_EVIDENCE
                {
                    drift.push(ctx.evidence(
                        format!("hr-{name}-image-{}-{container}", workload.replace(' ', "-").to_ascii_lowercase()),
                        "ImageDiffersFromValues",
                        format!(
                            "{workload} ({container}) runs {image}, but the values of release {ns}/{name} say tag {}",
                            want.iter().cloned().collect::<Vec<_>>().join(" or ")
                        ),
                        current.and_then(|c| c.deployed_ms).unwrap_or(now_ms),
                        labels,
                    ));
                }
            }
        }

        // Remember whether it drifted, and say when it came back after a release change.
        let drifting = !drift.is_empty() || !regression.is_empty();
        let was = self.drifting.insert(hr.meta.uid.clone(), drifting);
        if !drifting {
            if was == Some(true) {
                self.cleared_at_revision
                    .insert(hr.meta.uid.clone(), revision);
            }
            return Vec::new();
        }
        if let Some(&cleared) = self.cleared_at_revision.get(&hr.meta.uid)
            && revision != cleared
        {
            let note = ctx.evidence(
                format!("hr-{name}-reappeared-{revision}"),
                "DriftReappeared",
                format!(
                    "the drift of release {ns}/{name} had cleared at revision {cleared} and is back after the change to revision {revision}"
                ),
                now_ms,
                labels,
            );
            drift.push(note);
        }
        let affects: Vec<Target> = workloads
            .iter()
            .map(|w| {
                Target::new(
                    Scope::Deployment,
                    w.meta.namespace.as_deref(),
                    w.meta.name.clone(),
                )
            })
            .collect();
        let about = |t| About::new(t, Scope::Release, Some(ns), name);
        let mut out = Vec::new();
        if !drift.is_empty() {
            out.push(candidate(
                ctx,
                about(IncidentType::ConfigDrift),
                Severity::Warning,
                0.85,
                "release_drift/config",
                now_ms,
                drift,
                affects.clone(),
            ));
        }
        if !regression.is_empty() {
            out.push(candidate(
                ctx,
                about(IncidentType::DeployRegression),
                Severity::Critical,
                0.85,
                "release_drift/failed",
                now_ms,
                regression,
                affects,
            ));
        }
        out
    }
}

/// The workloads Helm rendered for the release: those whose release annotations (or Flux's
/// labels) name it.
pub fn release_workloads<'a>(
    hr: &HelmReleaseView,
    state: &'a ClusterState,
) -> Vec<&'a WorkloadView> {
    state
        .workloads()
        .filter(|w| {
            w.meta.helm_release().is_some_and(|(ns, name)| {
                ns == hr.target_namespace && (name == hr.release_name || name == hr.meta.name)
            })
        })
        .collect()
}

/// `(workload, container, image)` of the pods each workload runs (Deployments through their
/// ReplicaSets), or its template when it runs none.
fn running_images(
    workloads: &[&WorkloadView],
    state: &ClusterState,
) -> Vec<(String, String, String)> {
    let mut out = BTreeSet::new();
    for w in workloads {
        let ns = w.meta.namespace.as_deref();
        let owners: BTreeSet<(&str, String)> = if w.kind == "Deployment" {
            state
                .replica_sets
                .values()
                .filter(|rs| {
                    rs.meta.namespace.as_deref() == ns
                        && rs
                            .meta
                            .owner
                            .as_ref()
                            .is_some_and(|o| o.kind == "Deployment" && o.name == w.meta.name)
                })
                .map(|rs| ("ReplicaSet", rs.meta.name.clone()))
                .collect()
        } else {
            BTreeSet::from([(w.kind, w.meta.name.clone())])
        };
        let label = format!("{} {}", w.kind, w.meta.name);
        let mut any = false;
        for pod in state.pods.values().filter(|p| {
            p.meta.namespace.as_deref() == ns
                && p.phase != "Succeeded"
                && p.phase != "Failed"
                && p.meta
                    .owner
                    .as_ref()
                    .is_some_and(|o| owners.contains(&(o.kind.as_str(), o.name.clone())))
        }) {
            any = true;
            for c in &pod.containers {
                out.insert((label.clone(), c.name.clone(), c.image.clone()));
            }
        }
        if !any {
            for (container, image) in &w.images {
                out.insert((label.clone(), container.clone(), image.clone()));
            }
        }
    }
    out.into_iter().collect()
}

/// Repository → tags the values ask for: every object with a string `repository` (and
/// optionally `registry` and `tag`), the chart convention; a missing tag means the app version.
pub fn expected_images(
    values: &Value,
    app_version: Option<&str>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![values];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(repo) = map.get("repository").and_then(Value::as_str) {
                    let repo = match map.get("registry").and_then(Value::as_str) {
                        Some(registry) if !registry.is_empty() => format!("{registry}/{repo}"),
                        _ => repo.to_owned(),
                    };
                    let tag = match map.get("tag") {
                        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => app_version.filter(|a| !a.is_empty()).map(str::to_owned),
                    };
                    if let Some(tag) = tag {
                        out.entry(normalise(&repo)).or_default().insert(tag);
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// `repo:tag` (digests and tags split off the last path component).
fn split_image(image: &str) -> (&str, &str) {
    let image = image.split_once('@').map_or(image, |(i, _)| i);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => (&image[..slash + colon], &image[slash + colon + 1..]),
        None => (image, "latest"),
    }
}

/// A repository as the runtime resolves it: Docker Hub's implicit host and `library/` dropped.
fn normalise(repo: &str) -> String {
    let repo = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    repo.strip_prefix("library/").unwrap_or(repo).to_owned()
}

/// Hosts a release's values route (`ingress.hosts`: strings or `{host: ...}`), when its
/// ingress is enabled.
fn values_hosts(values: &Value) -> Vec<String> {
    let ingress = &values["ingress"];
    if ingress["enabled"] == Value::Bool(false) {
        return Vec::new();
    }
    ingress["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().or_else(|| h["host"].as_str()))
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a certificate name (possibly `*.example.com`) covers `host`.
pub fn covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    match name.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => name == host,
    }
}

fn ingresses(
    state: &ClusterState,
    certs: &BTreeMap<String, CertObservation>,
    ctx: &Context,
    spec: &ClusterSpec,
    now_ms: i64,
) -> Vec<IncidentCandidate> {
    let mut out = Vec::new();
    let routed: BTreeSet<String> = state
        .ingresses
        .values()
        .flat_map(|i| i.hosts.iter().map(|h| h.to_ascii_lowercase()))
        .collect();
    // Expected hosts: the configuration's, and those releases' values route.
    let mut expected: Vec<(String, Option<&HelmReleaseView>)> = spec
        .expected_hosts
        .iter()
        .map(|h| (h.clone(), None))
        .collect();
    for hr in state.helm_releases.values().filter(|h| !h.suspended) {
        for host in hr.values.as_ref().map(values_hosts).unwrap_or_default() {
            expected.push((host, Some(hr)));
        }
    }
    for (host, hr) in expected {
        if routed.contains(&host.to_ascii_lowercase()) {
            continue;
        }
        let (about, why) = match hr {
            Some(hr) => (
                About::new(
                    IncidentType::ConfigDrift,
                    Scope::Release,
                    hr.meta.namespace.as_deref(),
                    &hr.meta.name,
                ),
                format!("the values of release {} route {host}", hr.meta.key()),
            ),
            None => (
                About::new(IncidentType::ConfigDrift, Scope::Ingress, None, &host),
                format!("{host} is an expected host of cluster {}", ctx.cluster),
            ),
        };
        let evidence = ctx.evidence(
            format!("host-missing-{host}"),
            "ExpectedHostMissing",
            format!("no Ingress routes {host}: {why}"),
            now_ms,
            [("host", host.as_str())],
        );
        out.push(candidate(
            ctx,
            about,
            Severity::Warning,
            0.85,
            "ingress_drift/host_missing",
            now_ms,
            vec![evidence],
            Vec::new(),
        ));
    }
    let warning_ms = i64::try_from(spec.cert_expiry_warning.as_millis()).unwrap_or(i64::MAX);
    for ing in state.ingresses.values() {
        let (drift, expiry) = ingress_tls(ing, state, certs, ctx, now_ms, warning_ms);
        let about = |t| {
            About::new(
                t,
                Scope::Ingress,
                ing.meta.namespace.as_deref(),
                &ing.meta.name,
            )
        };
        if !drift.is_empty() {
            out.push(candidate(
                ctx,
                about(IncidentType::ConfigDrift),
                Severity::Warning,
                0.85,
                "ingress_drift/tls",
                now_ms,
                drift,
                Vec::new(),
            ));
        }
        if let Some((severity, evidence)) = expiry {
            out.push(candidate(
                ctx,
                about(IncidentType::CertExpiry),
                severity,
                0.95,
                "ingress_drift/cert_expiry",
                now_ms,
                evidence,
                Vec::new(),
            ));
        }
    }
    out
}

/// The TLS drift of one Ingress, and its certificate expiry (severity and evidence).
fn ingress_tls(
    ing: &IngressView,
    state: &ClusterState,
    certs: &BTreeMap<String, CertObservation>,
    ctx: &Context,
    now_ms: i64,
    warning_ms: i64,
) -> (Vec<EventEvidence>, Option<(Severity, Vec<EventEvidence>)>) {
    let ns = ing.meta.namespace.as_deref();
    let name = ing.meta.name.as_str();
    let mut drift = Vec::new();
    let mut expiring = Vec::new();
    let mut severity = Severity::Warning;
    let labels = |host: &str| -> Vec<(String, String)> {
        vec![
            ("namespace".into(), ns.unwrap_or("").to_owned()),
            ("ingress".into(), name.to_owned()),
            ("host".into(), host.to_owned()),
        ]
    };
    let ev = |id: String, reason: &str, message: String, at: i64, host: &str| {
        let pairs = labels(host);
        ctx.evidence(
            id,
            reason,
            message,
            at,
            pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
    };
    for tls in &ing.tls {
        let secret = tls.secret.as_deref();
        // The secret's metadata: that it exists, and cert-manager's record of the names.
        if let Some(secret) = secret
            && state.status.contains_key(&Kind::Secrets)
        {
            match state.secrets.get(ns, secret) {
                None => drift.push(ev(
                    format!("tls-secret-missing-{secret}"),
                    "TLSSecretMissing",
                    format!(
                        "Ingress {}/{name} serves TLS from Secret {secret}, which does not exist",
                        ns.unwrap_or("")
                    ),
                    now_ms,
                    tls.hosts.first().map_or("", String::as_str),
                )),
                Some(s) => {
                    let names: Vec<&str> = s
                        .meta
                        .annotations
                        .get("cert-manager.io/alt-names")
                        .map(|a| {
                            a.split(',')
                                .map(str::trim)
                                .filter(|n| !n.is_empty())
                                .collect()
                        })
                        .unwrap_or_default();
                    if !names.is_empty() {
                        for host in tls
                            .hosts
                            .iter()
                            .filter(|h| !names.iter().any(|n| covers(n, h)))
                        {
                            drift.push(ev(
                                format!("tls-secret-names-{secret}-{host}"),
                                "TLSSecretMismatch",
                                format!(
                                    "the certificate in Secret {secret} is for {}, not {host} (Ingress {}/{name})",
                                    names.join(", "),
                                    ns.unwrap_or("")
                                ),
                                now_ms,
                                host,
                            ));
                        }
                    }
                }
            }
        }
        // What is actually served for each host.
        for host in &tls.hosts {
            let Some(obs) = certs.get(&host.to_ascii_lowercase()) else {
                continue;
            };
            let Some(cert) = &obs.certificate else {
                continue;
            };
            if !cert.names.iter().any(|n| covers(n, host)) {
                drift.push(ev(
                    format!("tls-served-{host}"),
                    "CertificateNotForHost",
                    format!(
                        "{host} is served a certificate for {} (probed at {}), which does not cover it",
                        cert.names.join(", "),
                        obs.address
                    ),
                    obs.at_ms,
                    host,
                ));
            }
            let left = cert.not_after_ms - now_ms;
            if left <= warning_ms {
                let message = if left <= 0 {
                    severity = Severity::Critical;
                    format!(
                        "the certificate served for {host} expired {} ago (not after {})",
                        span(-left),
                        rfc3339(cert.not_after_ms)
                    )
                } else {
                    if left <= warning_ms / 4 {
                        severity = Severity::Critical;
                    }
                    format!(
                        "the certificate served for {host} expires in {} (not after {}), within the {} warning",
                        span(left),
                        rfc3339(cert.not_after_ms),
                        span(warning_ms)
                    )
                };
                expiring.push(ev(
                    format!("cert-{host}-{}", cert.not_after_ms / 1000),
                    "CertificateExpiring",
                    message,
                    obs.at_ms,
                    host,
                ));
            }
        }
    }
    let expiry = (!expiring.is_empty()).then_some((severity, expiring));
    (drift, expiry)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn certificate_names_cover_hosts_as_tls_does() {
        assert!(covers("shop.example.com", "SHOP.example.com"));
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("cart.example.com", "shop.example.com"));
    }

    #[test]
    fn images_and_values_compare_as_the_runtime_resolves_them() {
        assert_eq!(
            split_image("ghcr.io/example/cart:1.4.2"),
            ("ghcr.io/example/cart", "1.4.2")
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(split_image("nginx@sha256:abc"), ("nginx", "latest"));
        assert_eq!(normalise("docker.io/library/redis"), "redis");
        let values = json!({
            "image": {"repository": "ghcr.io/example/cart", "tag": "1.5.0"},
            "worker": {"image": {"registry": "ghcr.io", "repository": "example/cart-worker"}},
            "redis": {"image": {"repository": "docker.io/library/redis", "tag": 7}},
        });
        let expected = expected_images(&values, Some("1.5.0"));
        assert_eq!(
            expected["ghcr.io/example/cart"],
            BTreeSet::from(["1.5.0".to_owned()])
        );
        assert_eq!(
            expected["ghcr.io/example/cart-worker"],
            BTreeSet::from(["1.5.0".to_owned()])
        );
        assert_eq!(expected["redis"], BTreeSet::from(["7".to_owned()]));
        assert_eq!(
            values_hosts(
                &json!({"ingress": {"hosts": ["a.example.com", {"host": "b.example.com"}]}})
            ),
            ["a.example.com", "b.example.com"]
        );
        assert!(values_hosts(&json!({"ingress": {"enabled": false, "hosts": ["a"]}})).is_empty());
    }
}
