//! Who owns a workload's release — Argo CD (its tracking annotation), Flux (a `HelmRelease`)
//! or plain Helm (its release Secrets, read by their labels only) — and how a Helm release
//! stands. srebot reconciles through a GitOps controller only, never by running Helm.

use crate::cache::ClusterState;
use crate::views::Meta;
use serde::Serialize;

/// The annotation Argo CD stamps on what it manages: `APP:GROUP/KIND:NAMESPACE/NAME`, where
/// `APP` is `NAMESPACE_NAME` for an Application outside Argo CD's own namespace.
pub const ARGO_TRACKING: &str = "argocd.argoproj.io/tracking-id";

/// Where Argo CD keeps its Applications unless the tracking id names another namespace.
pub const ARGO_NAMESPACE: &str = "argocd";

/// A plain Helm release as its newest release Secret's labels tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmStatus {
    pub namespace: String,
    pub name: String,
    pub revision: u64,
    /// `deployed`, `failed`, `pending-upgrade`, `superseded`, ...
    pub status: String,
}

/// What owns a release, as `(namespace, name)` of the object to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOwner {
    /// An Argo CD Application.
    Argo { namespace: String, name: String },
    /// A Flux HelmRelease.
    Flux { namespace: String, name: String },
    /// A release Helm installed directly: read only.
    Helm(HelmStatus),
}

/// The Argo CD Application tracking an object, from its annotation.
pub fn argo_application(meta: &Meta) -> Option<(String, String)> {
    let id = meta.annotations.get(ARGO_TRACKING)?;
    let app = id.split(':').next().filter(|a| !a.is_empty())?;
    Some(match app.split_once('_') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => (ns.to_owned(), name.to_owned()),
        _ => (ARGO_NAMESPACE.to_owned(), app.to_owned()),
    })
}

/// The newest revision of Helm release `namespace/name`, from its `sh.helm.release.v1.*`
/// Secrets' `owner=helm`, `name`, `version` and `status` labels (their data is never read).
pub fn helm_status(state: &ClusterState, namespace: &str, name: &str) -> Option<HelmStatus> {
    state
        .secrets
        .values()
        .filter(|s| s.meta.namespace.as_deref() == Some(namespace))
        .filter(|s| {
            s.meta.labels.get("owner").map(String::as_str) == Some("helm")
                && s.meta.labels.get("name").map(String::as_str) == Some(name)
        })
        .filter_map(|s| {
            let revision = s.meta.labels.get("version")?.parse::<u64>().ok()?;
            Some(HelmStatus {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                revision,
                status: s.meta.labels.get("status").cloned().unwrap_or_default(),
            })
        })
        .max_by_key(|h| h.revision)
}

/// Who owns the release that rendered an object: Argo CD when it tracks it, else the Flux
/// HelmRelease or plain Helm release its Helm annotations name.
pub fn owner_of(state: &ClusterState, meta: &Meta) -> Option<ReleaseOwner> {
    if let Some((namespace, name)) = argo_application(meta) {
        return Some(ReleaseOwner::Argo { namespace, name });
    }
    let (namespace, name) = meta.helm_release()?;
    let flux = state.helm_releases.get(Some(&namespace), &name).is_some()
        || state
            .helm_releases
            .values()
            .any(|hr| hr.release_name == name && hr.target_namespace == namespace);
    if flux {
        let hr = state
            .helm_releases
            .values()
            .find(|hr| hr.release_name == name && hr.target_namespace == namespace)
            .map(|hr| {
                (
                    hr.meta.namespace.clone().unwrap_or_default(),
                    hr.meta.name.clone(),
                )
            });
        let (namespace, name) = hr.unwrap_or((namespace, name));
        return Some(ReleaseOwner::Flux { namespace, name });
    }
    match helm_status(state, &namespace, &name) {
        Some(status) => Some(ReleaseOwner::Helm(status)),
        // Flux may not be watched: its name is the best guess, and the executor checks it.
        None => Some(ReleaseOwner::Flux { namespace, name }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::MetaView;
    use kube::runtime::watcher;
    use std::collections::BTreeMap;

    fn meta(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Meta {
        let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Meta {
            namespace: Some("shop".into()),
            name: name.into(),
            labels: map(labels),
            annotations: map(annotations),
            ..Meta::default()
        }
    }

    fn with_secret(state: &mut ClusterState, name: &str, labels: &[(&str, &str)]) {
        let view = MetaView {
            meta: meta(name, labels, &[]),
        };
        state.secrets.apply(watcher::Event::Apply((
            ("shop".to_owned(), name.to_owned()),
            view,
        )));
    }

    #[test]
    fn argo_tracking_ids_name_the_application_and_its_namespace() {
        let tracked = |id: &str| argo_application(&meta("cart", &[], &[(ARGO_TRACKING, id)]));
        assert_eq!(
            tracked("shop-cart:apps/Deployment:shop/cart"),
            Some(("argocd".into(), "shop-cart".into()))
        );
        assert_eq!(
            tracked("team-a_cart:apps/Deployment:shop/cart"),
            Some(("team-a".into(), "cart".into()))
        );
        assert_eq!(tracked(":apps/Deployment:shop/cart"), None);
        assert_eq!(argo_application(&meta("cart", &[], &[])), None);
    }

    #[test]
    fn a_plain_helm_release_is_read_from_its_newest_secret_labels() {
        let mut state = ClusterState::new(100, 10);
        for (v, status) in [("6", "superseded"), ("7", "failed"), ("5", "superseded")] {
            with_secret(
                &mut state,
                &format!("sh.helm.release.v1.cart.v{v}"),
                &[
                    ("owner", "helm"),
                    ("name", "cart"),
                    ("version", v),
                    ("status", status),
                ],
            );
        }
        with_secret(
            &mut state,
            "unrelated",
            &[("name", "cart"), ("version", "9")],
        );
        let status = helm_status(&state, "shop", "cart").unwrap();
        assert_eq!((status.revision, status.status.as_str()), (7, "failed"));
        assert_eq!(helm_status(&state, "other", "cart"), None);

        let rendered = meta(
            "cart",
            &[],
            &[
                ("meta.helm.sh/release-name", "cart"),
                ("meta.helm.sh/release-namespace", "shop"),
            ],
        );
        assert_eq!(
            owner_of(&state, &rendered),
            Some(ReleaseOwner::Helm(status))
        );
        // Argo CD's tracking wins over the Helm annotations it also leaves.
        let mut argo = rendered.clone();
        argo.annotations.insert(
            ARGO_TRACKING.into(),
            "shop-cart:apps/Deployment:shop/cart".into(),
        );
        assert_eq!(
            owner_of(&state, &argo),
            Some(ReleaseOwner::Argo {
                namespace: "argocd".into(),
                name: "shop-cart".into()
            })
        );
        // No release Secrets: Flux's release of that name, for the executor to check.
        let empty = ClusterState::new(100, 10);
        assert_eq!(
            owner_of(&empty, &rendered),
            Some(ReleaseOwner::Flux {
                namespace: "shop".into(),
                name: "cart".into()
            })
        );
    }
}
