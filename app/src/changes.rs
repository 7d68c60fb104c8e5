//! Recent changes to an incident's workload, read from the windows as kube-state-metrics
//! exposes them (deploys, scaling, new images, config maps), for the draft's change impact.

use model::Scope;
use model::Target;
use rca::{Change, ChangeKind};
use std::collections::{BTreeMap, BTreeSet};
use windows::{MatchOp, Matcher, Selector, Store};

/// How long before an incident opened a change still counts.
pub const LOOKBACK_MS: i64 = 30 * 60_000;
/// Changes up to this long after the incident opened are kept too (scrapes lag).
const SKEW_MS: i64 = 60_000;
/// History read before the lookback to know the value a change started from.
const CONTEXT_MS: i64 = 15 * 60_000;

/// The deployment's generation bumps (deploys), replica changes (scaling), images first seen
/// in its pods, and changed config maps of its namespace, within [`LOOKBACK_MS`] of
/// `opened_at_ms`, oldest first, with ids `chg-1`, `chg-2`, ….
pub fn recent_changes(store: &Store, target: &Target, opened_at_ms: i64) -> Vec<Change> {
    changes_between(
        store,
        target,
        opened_at_ms - LOOKBACK_MS,
        opened_at_ms + SKEW_MS,
    )
}

/// The deployment's changes (as [`recent_changes`] finds them) from `from` to `to`.
pub fn changes_between(store: &Store, target: &Target, from: i64, to: i64) -> Vec<Change> {
    let (Scope::Deployment, Some(namespace)) = (target.kind, target.namespace.as_deref()) else {
        return Vec::new();
    };
    let name = target.name.as_str();
    let read = |metric: &str, mut matchers: Vec<Matcher>| {
        matchers.push(Matcher::new(model::METRIC_NAME, MatchOp::Equal, metric));
        matchers.push(Matcher::new("namespace", MatchOp::Equal, namespace));
        store.samples(&Selector::from_matchers(matchers), from - CONTEXT_MS, to)
    };
    let mut found: Vec<(i64, ChangeKind, String)> = Vec::new();

    for (kind, metric, what) in [
        (
            ChangeKind::Deploy,
            "kube_deployment_metadata_generation",
            "generation",
        ),
        (
            ChangeKind::Scale,
            "kube_deployment_spec_replicas",
            "replicas",
        ),
    ] {
        for (_, samples) in read(
            metric,
            vec![Matcher::new("deployment", MatchOp::Equal, name)],
        ) {
            for pair in samples.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if b.value != a.value && b.timestamp_ms >= from {
                    found.push((
                        b.timestamp_ms,
                        kind,
                        format!("{what} {} -> {}", a.value, b.value),
                    ));
                }
            }
        }
    }

    // Images: one kube_pod_container_info series per pod, container and image.
    let mut seen_before: BTreeSet<String> = BTreeSet::new();
    let mut first_seen: BTreeMap<String, i64> = BTreeMap::new();
    let pods = format!("{}-.*", regex::escape(name));
    for (labels, samples) in read(
        "kube_pod_container_info",
        vec![Matcher::new("pod", MatchOp::Regex, &pods)],
    ) {
        let (Some(image), Some(first)) = (labels.get("image"), samples.first()) else {
            continue;
        };
        if first.timestamp_ms < from {
            seen_before.insert(image.to_owned());
        } else {
            let at = first_seen
                .entry(image.to_owned())
                .or_insert(first.timestamp_ms);
            *at = (*at).min(first.timestamp_ms);
        }
    }
    for (image, at) in first_seen {
        if !seen_before.contains(&image) {
            found.push((at, ChangeKind::Image, format!("image {image} first seen")));
        }
    }

    for (labels, samples) in read("kube_configmap_metadata_resource_version", Vec::new()) {
        let config_map = labels.get("configmap").unwrap_or("?").to_owned();
        for pair in samples.windows(2) {
            if pair[1].value != pair[0].value && pair[1].timestamp_ms >= from {
                found.push((
                    pair[1].timestamp_ms,
                    ChangeKind::Config,
                    format!("config map {config_map} changed"),
                ));
            }
        }
    }

    found.sort_by_key(|(at, _, _)| *at);
    found
        .into_iter()
        .enumerate()
        .map(|(n, (at_ms, kind, detail))| Change {
            id: format!("chg-{}", n + 1),
            kind,
            target: target.clone(),
            at_ms,
            detail,
        })
        .collect()
}
