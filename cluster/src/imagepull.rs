//! Image pull failures read from the kubelet's messages: which image, which registry, and why
//! (rate limit, authorisation, a tag that does not exist, an unreachable registry).
//!
//! The kubelet passes the container runtime's error through verbatim, so the class is read
//! from the wording registries and runtimes (containerd, CRI-O) use, most specific first.

use serde::Serialize;

/// Why a pull failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullClass {
    /// The registry throttles pulls (Docker Hub's `toomanyrequests`, HTTP 429).
    RegistryRateLimit,
    /// The registry refused the credentials or has none (401, 403, `unauthorized`,
    /// `denied`).
    RegistryAuth,
    /// The tag or digest does not exist (`manifest unknown`, `not found`).
    ImageTagMissing,
    /// The registry could not be reached (DNS, connection refused, timeouts).
    RegistryUnreachable,
    /// A pull failure whose message says nothing more.
    Unclassified,
}

impl PullClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PullClass::RegistryRateLimit => "registry_rate_limit",
            PullClass::RegistryAuth => "registry_auth",
            PullClass::ImageTagMissing => "image_tag_missing",
            PullClass::RegistryUnreachable => "registry_unreachable",
            PullClass::Unclassified => "unclassified",
        }
    }

    /// What an operator reads.
    pub fn describe(self) -> &'static str {
        match self {
            PullClass::RegistryRateLimit => "the registry is rate-limiting pulls",
            PullClass::RegistryAuth => "the registry refused the pull credentials",
            PullClass::ImageTagMissing => "the image tag does not exist in the registry",
            PullClass::RegistryUnreachable => "the registry cannot be reached",
            PullClass::Unclassified => "the image could not be pulled",
        }
    }
}

/// The concrete fix for a pull failure of `image` from `registry`, with the patch to apply:
/// a mirror or pull secret for a rate limit, a pull secret for refused credentials, the image
/// reference for a missing tag. `None` when the class says nothing actionable.
pub fn suggested_fix(class: &str, registry: &str, image: &str) -> Option<String> {
    let secret_patch =
        r#"{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"regcred"}]}}}}"#;
    Some(match class {
        "registry_rate_limit" => format!(
            "{registry} is rate-limiting pulls of {image}: pull it through a registry mirror \
             (point the image at the mirror, or set the node runtime's mirror for {registry}), or \
             pull authenticated, which raises the limit: create a docker-registry secret `regcred` \
             for {registry} and patch the workload with {secret_patch}."
        ),
        "registry_auth" => format!(
            "{registry} refused the credentials for {image}: create or renew the docker-registry \
             secret `regcred` for {registry} in the workload's namespace and patch the workload \
             with {secret_patch} (or add it to its service account's imagePullSecrets)."
        ),
        "image_tag_missing" => format!(
            "{image} does not exist in {registry}: set the container's image back to a tag that \
             exists (the one the release last ran), e.g. patch \
             {{\"spec\":{{\"template\":{{\"spec\":{{\"containers\":[{{\"name\":\"CONTAINER\",\"image\":\"REPO:EXISTING_TAG\"}}]}}}}}}}}, \
             or publish the missing tag."
        ),
        "registry_unreachable" => format!(
            "{registry} cannot be reached from the nodes: check DNS and egress to {registry}, or \
             pull {image} through a reachable mirror."
        ),
        _ => return None,
    })
}

const RATE_LIMIT: &[&str] = &[
    "toomanyrequests",
    "too many requests",
    "429 ",
    "pull rate limit",
    "rate limit exceeded",
];
const AUTH: &[&str] = &[
    "401 unauthorized",
    "403 forbidden",
    "unauthorized",
    "denied",
    "authentication required",
    "no basic auth credentials",
    "failed to authorize",
    "insufficient_scope",
];
const MISSING: &[&str] = &[
    "manifest unknown",
    "not found",
    "manifest for",
    "no such manifest",
    "name unknown",
];
const UNREACHABLE: &[&str] = &[
    "no such host",
    "i/o timeout",
    "connection refused",
    "tls handshake timeout",
    "network is unreachable",
    "context deadline exceeded",
    "connection reset",
];

/// Classifies a pull failure message; `Unclassified` when it names no known cause.
pub fn classify(message: &str) -> PullClass {
    let text = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(RATE_LIMIT) {
        PullClass::RegistryRateLimit
    } else if has(AUTH) {
        PullClass::RegistryAuth
    } else if has(MISSING) {
        PullClass::ImageTagMissing
    } else if has(UNREACHABLE) {
        PullClass::RegistryUnreachable
    } else {
        PullClass::Unclassified
    }
}

/// Whether an event is about pulling an image: the kubelet's `Failed` with `Failed to pull
/// image`, `Error: ErrImagePull` or `Error: ImagePullBackOff`, and its `BackOff` with
/// `Back-off pulling image`.
pub fn is_pull_failure(reason: &str, message: &str) -> bool {
    match reason {
        "Failed" => {
            message.starts_with("Failed to pull image")
                || message.contains("ErrImagePull")
                || message.contains("ImagePullBackOff")
        }
        "BackOff" => message.starts_with("Back-off pulling image"),
        "ErrImagePull" | "ImagePullBackOff" => true,
        _ => false,
    }
}

/// The image a kubelet message names: the first quoted reference after `image`.
pub fn image_in(message: &str) -> Option<&str> {
    let at = message.find("image \"")? + "image \"".len();
    let rest = &message[at..];
    let end = rest.find('"')?;
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// The registry host of an image reference, as the container runtime resolves it: the first
/// path component when it looks like a host (has a `.` or `:`, or is `localhost`), else
/// Docker Hub (`docker.io`).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_images_are_read_as_the_runtime_resolves_them() {
        assert_eq!(registry_of("nginx:1.27"), "docker.io");
        assert_eq!(registry_of("bitnami/redis:7.2"), "docker.io");
        assert_eq!(registry_of("ghcr.io/example/cart:1.5.0"), "ghcr.io");
        assert_eq!(registry_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(
            registry_of("registry.gitlab.com/acme/builder:2.1"),
            "registry.gitlab.com"
        );
        assert_eq!(
            image_in("Back-off pulling image \"nginx:1.27\""),
            Some("nginx:1.27")
        );
        assert_eq!(image_in("Error: ErrImagePull"), None);
    }

    use PullClass::{
        ImageTagMissing as Missing, RegistryAuth as Auth, RegistryRateLimit as Rate,
        RegistryUnreachable as Unreachable,
    };

    /// The containerd messages of the recorded events the rules were written from.
    const TUNED: &[(&str, PullClass)] = &[
        (
            "failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:6a59: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.",
            Rate,
        ),
        (
            "failed to resolve reference \"registry.gitlab.com/acme/builder:2.1\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://gitlab.com/jwt/auth?scope=repository%3Aacme%2Fbuilder%3Apull&service=container_registry: 403 Forbidden",
            Auth,
        ),
        (
            "failed to resolve reference \"ghcr.io/acme/api:3.2\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token: 401 Unauthorized",
            Auth,
        ),
        (
            "failed to resolve reference \"docker.io/acme/private:1.0\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
            Auth,
        ),
        (
            "rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/example/cart:1.5.0-rc9\": failed to resolve reference \"ghcr.io/example/cart:1.5.0-rc9\": ghcr.io/example/cart:1.5.0-rc9: not found",
            Missing,
        ),
        (
            "rpc error: code = Unknown desc = reading manifest 9 in quay.io/acme/ledger: manifest unknown: manifest unknown",
            Missing,
        ),
        (
            "failed to do request: Head \"https://registry.internal:5000/v2/acme/mirror/manifests/1\": dial tcp: lookup registry.internal on 10.96.0.10:53: no such host",
            Unreachable,
        ),
    ];

    /// Wordings of other runtimes (Docker engine, CRI-O) and registries (ECR, Artifact
    /// Registry, Harbor, GHCR, Quay), never looked at while writing the rules.
    const HELD_OUT: &[(&str, PullClass)] = &[
        (
            "rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
            Rate,
        ),
        (
            "rpc error: code = Unknown desc = Error response from daemon: pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            Auth,
        ),
        (
            "rpc error: code = Unknown desc = Error response from daemon: manifest for nginx:1.99 not found: manifest unknown: manifest unknown",
            Missing,
        ),
        (
            "rpc error: code = Unknown desc = Error response from daemon: Get \"https://registry.internal/v2/\": dial tcp 10.0.0.9:443: i/o timeout",
            Unreachable,
        ),
        (
            "initializing source docker://quay.io/acme/ledger:9: reading manifest 9 in quay.io/acme/ledger: unauthorized: access to the requested resource is not authorized",
            Auth,
        ),
        (
            "initializing source docker://busybox:latest: reading manifest latest in docker.io/library/busybox: toomanyrequests: You have reached your pull rate limit",
            Rate,
        ),
        (
            "failed to resolve reference \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:7\": pulling from host 123456789012.dkr.ecr.eu-west-1.amazonaws.com failed with status code [manifests 7]: 403 Forbidden",
            Auth,
        ),
        (
            "failed to resolve reference \"europe-docker.pkg.dev/p/r/app:3\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to https://europe-docker.pkg.dev/v2/token: 403 Forbidden",
            Auth,
        ),
        (
            "failed to resolve reference \"harbor.acme.io/lib/app:2\": unexpected status from HEAD request to https://harbor.acme.io/v2/lib/app/manifests/2: 404 Not Found",
            Missing,
        ),
        (
            "failed to copy: httpReadSeeker: failed open: unexpected status code https://ghcr.io/v2/acme/api/blobs/sha256:9f: 429 Too Many Requests",
            Rate,
        ),
        (
            "failed to do request: Head \"https://registry.acme.internal/v2/app/manifests/1\": dial tcp: lookup registry.acme.internal: Temporary failure in name resolution",
            Unreachable,
        ),
        (
            "reading manifest 4 in quay.io/acme/x: StatusCode: 429, \"Slow down\"",
            Rate,
        ),
    ];

    fn accuracy(cases: &[(&str, PullClass)]) -> (usize, usize) {
        let right = cases
            .iter()
            .filter(|(m, want)| classify(m) == *want)
            .count();
        (right, cases.len())
    }

    #[test]
    fn pull_messages_classify_on_the_recorded_wording_and_on_wording_held_out() {
        let (tuned, n_tuned) = accuracy(TUNED);
        let (held, n_held) = accuracy(HELD_OUT);
        println!("image pull classes: recorded {tuned}/{n_tuned}, held out {held}/{n_held}");
        assert_eq!(tuned, n_tuned);
        assert!(held * 4 >= n_held * 3, "held out {held}/{n_held}");
        for (message, want) in HELD_OUT {
            let got = classify(message);
            if got != *want {
                println!("held out, missed: {want:?} read as {got:?}: {message}");
            }
        }
    }

    #[test]
    fn pull_events_are_told_from_other_failures() {
        assert!(is_pull_failure(
            "Failed",
            "Failed to pull image \"x\": boom"
        ));
        assert!(is_pull_failure("Failed", "Error: ErrImagePull"));
        assert!(is_pull_failure("BackOff", "Back-off pulling image \"x\""));
        assert!(!is_pull_failure(
            "BackOff",
            "Back-off restarting failed container app in pod app-1_shop(uid)"
        ));
        assert!(!is_pull_failure(
            "Failed",
            "Error: failed to create containerd task"
        ));
    }
}
