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
