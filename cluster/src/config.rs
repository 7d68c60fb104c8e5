//! `[[cluster]]` and `[[dependencies]]`: which clusters are watched and how their signals are
//! judged, and which runtime dependencies are probed. Checked at start, each error naming its key.

use crate::reads::{ClusterError, KubeConfig};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

fn default_true() -> bool {
    true
}

/// `[[cluster]]`: a Kubernetes cluster whose state srebot watches. With no `[[cluster]]`,
/// `[policy.kube]` is the single cluster (named `default`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Names the cluster in evidence and status; unique.
    pub name: String,
    /// A kubeconfig file (its current context, or `context`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's ServiceAccount (`KUBERNETES_SERVICE_HOST`, mounted token and CA).
    #[serde(default)]
    pub in_cluster: bool,
    /// API server URL, with `token_file` and `ca_file` (the `[policy.kube]` shape).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The source its signals belong to: the source its metrics arrive as (the value of
    /// `[ingest] source_label`, such as Prometheus's `cluster` external label), so its
    /// Kubernetes signals and its metrics' findings correlate. `default` when unset; with
    /// several clusters each names its own.
    #[serde(default)]
    pub source: Option<String>,
    /// Namespaces to watch (a Role in each suffices); empty: all (needs the ClusterRole).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Watch Secrets' metadata (to see TLS secrets an Ingress names exist); never their data.
    #[serde(default = "default_true")]
    pub watch_secrets: bool,
    /// Hosts some Ingress of the cluster must route; a missing one is configuration drift.
    #[serde(default)]
    pub expected_hosts: Vec<String>,
    /// Where ingress hosts' TLS is probed (`host:port`, e.g. the ingress controller's
    /// Service), with each host as SNI; unset, each Ingress's load-balancer address on 443.
    #[serde(default)]
    pub ingress_tls_address: Option<String>,
    /// A served certificate expiring within this is a `cert_expiry` incident.
    #[serde(
        default = "defaults::cert_expiry_warning",
        with = "model::duration::text"
    )]
    pub cert_expiry_warning: Duration,
    /// How often ingress hosts' certificates are probed.
    #[serde(
        default = "defaults::cert_check_interval",
        with = "model::duration::text"
    )]
    pub cert_check_interval: Duration,
    /// How often held state (conditions, drift) is judged again without a change.
    #[serde(default = "defaults::resync", with = "model::duration::text")]
    pub resync: Duration,
    /// Most objects kept per kind; more are refused and counted.
    #[serde(default = "defaults::max_objects")]
    pub max_objects: usize,
    /// Most recent events kept for tools.
    #[serde(default = "defaults::max_events")]
    pub max_events: usize,
    /// At start, events older than this are kept for tools but raise nothing.
    #[serde(default = "defaults::event_lookback", with = "model::duration::text")]
    pub event_lookback: Duration,
    /// Controller churn: at least this many events in a minute from one controller ...
    #[serde(default = "defaults::churn_min_per_minute")]
    pub churn_min_per_minute: u32,
    /// ... and this many times its own usual rate per minute.
    #[serde(default = "defaults::churn_factor")]
    pub churn_factor: f64,
    /// Failed runs of one CronJob (or loose Jobs of one namespace) held by the cluster that
    /// count as piling up.
    #[serde(default = "defaults::job_failures")]
    pub job_failures: u32,
    /// A pod unschedulable for this long is pending.
    #[serde(default = "defaults::pending_after", with = "model::duration::text")]
    pub pending_after: Duration,
    /// A HelmRelease (or workload) whose observed generation stays behind for this long has
    /// not been applied.
    #[serde(default = "defaults::generation_grace", with = "model::duration::text")]
    pub generation_grace: Duration,
}

mod defaults {
    use std::time::Duration;

    pub(super) fn cert_expiry_warning() -> Duration {
        Duration::from_secs(14 * 86_400)
    }
    pub(super) fn cert_check_interval() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn resync() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn max_objects() -> usize {
        20_000
    }
    pub(super) fn max_events() -> usize {
        5_000
    }
    pub(super) fn event_lookback() -> Duration {
        Duration::from_secs(600)
    }
    pub(super) fn churn_min_per_minute() -> u32 {
        60
    }
    pub(super) fn churn_factor() -> f64 {
        5.0
    }
    pub(super) fn job_failures() -> u32 {
        3
    }
    pub(super) fn pending_after() -> Duration {
        Duration::from_secs(300)
    }
    pub(super) fn generation_grace() -> Duration {
        Duration::from_secs(600)
    }
}

impl ClusterSpec {
    /// A cluster named `name` with every default, reached through `[policy.kube]`'s fields.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            kubeconfig: None,
            context: None,
            in_cluster: false,
            url: None,
            token_file: None,
            ca_file: None,
            source: None,
            namespaces: Vec::new(),
            watch_secrets: true,
            expected_hosts: Vec::new(),
            ingress_tls_address: None,
            cert_expiry_warning: defaults::cert_expiry_warning(),
            cert_check_interval: defaults::cert_check_interval(),
            resync: defaults::resync(),
            max_objects: defaults::max_objects(),
            max_events: defaults::max_events(),
            event_lookback: defaults::event_lookback(),
            churn_min_per_minute: defaults::churn_min_per_minute(),
            churn_factor: defaults::churn_factor(),
            job_failures: defaults::job_failures(),
            pending_after: defaults::pending_after(),
            generation_grace: defaults::generation_grace(),
        }
    }

    /// `[policy.kube]` as the one cluster, named `default`.
    pub fn from_policy_kube(kube: &KubeConfig) -> Self {
        Self {
            url: kube.url.clone(),
            token_file: kube.token_file.clone(),
            ca_file: kube.ca_file.clone(),
            in_cluster: kube.in_cluster,
            ..Self::named("default")
        }
    }

    /// The source its signals belong to.
    pub fn source(&self) -> &str {
        self.source.as_deref().unwrap_or(model::DEFAULT_SOURCE)
    }

    /// Checks what deserialising cannot: one way to reach the cluster, sane limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            cluster: self.name.clone(),
            key,
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        if let Err(e) = model::check_source(self.source()) {
            return Err(invalid("source", e.to_string()));
        }
        let ways = [
            self.kubeconfig.is_some(),
            self.in_cluster && self.url.is_none(),
            self.url.is_some(),
        ]
        .into_iter()
        .filter(|w| *w)
        .count();
        if ways != 1 {
            return Err(invalid(
                "kubeconfig",
                "give exactly one of kubeconfig, in_cluster = true or url".into(),
            ));
        }
        if self.context.is_some() && self.kubeconfig.is_none() {
            return Err(invalid("context", "needs kubeconfig".into()));
        }
        if self.max_objects == 0 || self.max_events == 0 {
            return Err(invalid(
                "max_objects",
                "max_objects and max_events must be at least 1".into(),
            ));
        }
        if !(self.churn_factor.is_finite() && self.churn_factor >= 1.0) {
            return Err(invalid("churn_factor", "must be a number ≥ 1".into()));
        }
        if self.job_failures == 0 {
            return Err(invalid("job_failures", "must be at least 1".into()));
        }
        if self.resync.is_zero() || self.cert_check_interval.is_zero() {
            return Err(invalid(
                "resync",
                "resync and cert_check_interval must be longer than 0".into(),
            ));
        }
        if let Some(address) = &self.ingress_tls_address
            && address
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(invalid(
                "ingress_tls_address",
                format!("{address:?} is not host:port"),
            ));
        }
        Ok(())
    }

    /// The client this entry describes.
    pub async fn client(&self) -> Result<kube::Client, ClusterError> {
        let Some(path) = &self.kubeconfig else {
            return crate::reads::client(&KubeConfig {
                url: self.url.clone(),
                token_file: self.token_file.clone(),
                ca_file: self.ca_file.clone(),
                in_cluster: self.in_cluster,
                watch: true,
            });
        };
        let fail = |detail: String, source: Box<dyn std::error::Error + Send + Sync>| {
            ClusterError::Client {
                detail,
                source: Some(source),
            }
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
            fail(
                format!(
                    "cluster {}: cannot read kubeconfig {}",
                    self.name,
                    path.display()
                ),
                Box::new(e),
            )
        })?;
        let options = kube::config::KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                fail(
                    format!(
                        "cluster {}: kubeconfig {} is not usable",
                        self.name,
                        path.display()
                    ),
                    Box::new(e),
                )
            })?;
        kube::Client::try_from(config).map_err(|e| {
            fail(
                format!("cluster {}: cannot build the client", self.name),
                Box::new(e),
            )
        })
    }
}

/// A runtime dependency's protocol, and so its probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    /// NATS: the server's `INFO` line on connect.
    Nats,
    /// Redis: `PING` answered `+PONG` (or `-NOAUTH`: up, wanting a password).
    Redis,
    /// PostgreSQL: `SELECT 1`.
    Postgres,
    /// HTTP: a `GET` answered below 400 (or `expect_status`).
    Http,
    /// Anything else: a TCP connect.
    Tcp,
}

impl DependencyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::Nats => "nats",
            DependencyKind::Redis => "redis",
            DependencyKind::Postgres => "postgres",
            DependencyKind::Http => "http",
            DependencyKind::Tcp => "tcp",
        }
    }
}

/// `[[dependencies]]`: a runtime dependency probed on an interval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencySpec {
    /// Names it in incidents; unique.
    pub name: String,
    pub kind: DependencyKind,
    /// `host:port`; a URL for `http`; `host:port` or `postgres://user@host:port/db` for
    /// `postgres` (no password in it: use `password_file`).
    pub address: String,
    /// The Kubernetes Service in front of it, `namespace/name`: its endpoints must have ready
    /// addresses, and the incident is about it.
    #[serde(default)]
    pub service: Option<String>,
    /// The cluster whose Service that is; the first `[[cluster]]` when unset.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Workloads that depend on it, `namespace/name`: their own findings (errors, crash
    /// loops) join the dependency's incident.
    #[serde(default)]
    pub dependents: Vec<String>,
    #[serde(default = "dep_defaults::interval", with = "model::duration::text")]
    pub interval: Duration,
    #[serde(default = "dep_defaults::timeout", with = "model::duration::text")]
    pub timeout: Duration,
    /// Consecutive failed probes before it counts as unavailable.
    #[serde(default = "dep_defaults::failures")]
    pub failures: u32,
    /// HTTP status that counts as up; any below 400 when unset.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Password for Redis `AUTH` or PostgreSQL, sent only to this dependency (mode 0600).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// CA file and client certificate for an https dependency.
    #[serde(default)]
    pub tls_config: outbound::TlsConfig,
}

mod dep_defaults {
    use std::time::Duration;

    pub(super) fn interval() -> Duration {
        Duration::from_secs(15)
    }
    pub(super) fn timeout() -> Duration {
        Duration::from_secs(3)
    }
    pub(super) fn failures() -> u32 {
        2
    }
}

/// `namespace/name` split, both non-empty.
pub(crate) fn namespaced(text: &str) -> Option<(&str, &str)> {
    text.split_once('/')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
}

impl DependencySpec {
    pub fn validate(&self, clusters: &[ClusterSpec]) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Dependency {
            dependency: self.name.clone(),
            key,
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        match self.kind {
            DependencyKind::Http => {
                let ok =
                    self.address.starts_with("http://") || self.address.starts_with("https://");
                if !ok {
                    return Err(invalid(
                        "address",
                        format!(
                            "{:?}: an http dependency needs an http:// or https:// URL",
                            self.address
                        ),
                    ));
                }
            }
            DependencyKind::Postgres if self.address.contains("://") => {
                let rest = self.address.split_once("://").map_or("", |(_, r)| r);
                let authority = rest.split('/').next().unwrap_or("");
                if authority
                    .split_once('@')
                    .is_some_and(|(user, _)| user.contains(':'))
                {
                    return Err(invalid(
                        "address",
                        "holds a password: put it in password_file".into(),
                    ));
                }
            }
            _ => {
                if self
                    .address
                    .rsplit_once(':')
                    .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
                {
                    return Err(invalid(
                        "address",
                        format!("{:?} is not host:port", self.address),
                    ));
                }
            }
        }
        if let Some(service) = &self.service
            && namespaced(service).is_none()
        {
            return Err(invalid(
                "service",
                format!("{service:?} is not namespace/name"),
            ));
        }
        if let Some(bad) = self.dependents.iter().find(|d| namespaced(d).is_none()) {
            return Err(invalid(
                "dependents",
                format!("{bad:?} is not namespace/name"),
            ));
        }
        if let Some(cluster) = &self.cluster
            && !clusters.iter().any(|c| &c.name == cluster)
        {
            return Err(invalid(
                "cluster",
                format!("no [[cluster]] is named {cluster:?}"),
            ));
        }
        if self.interval.is_zero() || self.timeout.is_zero() || self.failures == 0 {
            return Err(invalid(
                "interval",
                "interval, timeout and failures must be above 0".into(),
            ));
        }
        Ok(())
    }
}

/// Checks every cluster and dependency, and that names are unique.
pub fn validate(
    clusters: &[ClusterSpec],
    dependencies: &[DependencySpec],
) -> Result<(), ConfigError> {
    for (i, c) in clusters.iter().enumerate() {
        c.validate()?;
        let invalid = |key, reason: &str| ConfigError::Invalid {
            cluster: c.name.clone(),
            key,
            reason: reason.to_owned(),
        };
        if clusters[..i].iter().any(|o| o.name == c.name) {
            return Err(invalid("name", "two [[cluster]] entries have this name"));
        }
        // Targets of different clusters must never merge: each cluster its own source.
        if clusters.len() > 1 && c.source.is_none() {
            return Err(invalid(
                "source",
                "with several [[cluster]] entries each names its source (the source its metrics arrive as)",
            ));
        }
        if clusters[..i].iter().any(|o| o.source() == c.source()) {
            return Err(invalid(
                "source",
                "two [[cluster]] entries have this source",
            ));
        }
    }
    for (i, d) in dependencies.iter().enumerate() {
        d.validate(clusters)?;
        if dependencies[..i].iter().any(|o| o.name == d.name) {
            return Err(ConfigError::Dependency {
                dependency: d.name.clone(),
                key: "name",
                reason: "two [[dependencies]] entries have this name".into(),
            });
        }
    }
    Ok(())
}

/// Why `[[cluster]]` or `[[dependencies]]` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[[cluster]] {cluster:?}: {key}: {reason}")]
    Invalid {
        cluster: String,
        key: &'static str,
        reason: String,
    },
    #[error("[[dependencies]] {dependency:?}: {key}: {reason}")]
    Dependency {
        dependency: String,
        key: &'static str,
        reason: String,
    },
}

impl model::Classify for ConfigError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(toml_text: &str) -> Result<ClusterSpec, String> {
        let spec: ClusterSpec = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    #[test]
    fn a_cluster_takes_defaults_and_one_way_in() {
        let c = cluster("name = \"prod\"\nkubeconfig = \"/etc/k\"").unwrap();
        assert_eq!(
            c.source(),
            "default",
            "the source of metrics that name none"
        );
        assert_eq!(c.cert_expiry_warning, Duration::from_secs(14 * 86_400));
        assert!(c.watch_secrets);
        let c = cluster(
            "name = \"a\"\nin_cluster = true\nsource = \"eu\"\ncert_expiry_warning = \"7d\"",
        )
        .unwrap();
        assert_eq!(c.source(), "eu");
        assert_eq!(c.cert_expiry_warning, Duration::from_secs(7 * 86_400));
        let both = cluster("name = \"a\"\nin_cluster = true\nkubeconfig = \"/k\"").unwrap_err();
        assert!(both.contains("exactly one"), "{both}");
        let none = cluster("name = \"a\"").unwrap_err();
        assert!(none.contains("\"a\": kubeconfig"), "{none}");
        assert!(
            cluster("name = \"a\"\nurl = \"http://x\"\nbogus = 1")
                .unwrap_err()
                .contains("bogus")
        );
        let bad = cluster("name = \"a\"\nurl = \"http://x\"\ningress_tls_address = \"nope\"")
            .unwrap_err();
        assert!(bad.contains("ingress_tls_address"), "{bad}");
    }

    #[test]
    fn dependencies_are_checked_naming_the_key() {
        let parse = |text: &str| -> Result<DependencySpec, String> {
            let d: DependencySpec = toml::from_str(text).map_err(|e| e.to_string())?;
            d.validate(&[ClusterSpec::named("prod")])
                .map_err(|e| e.to_string())?;
            Ok(d)
        };
        let redis = parse("name = \"redis\"\nkind = \"redis\"\naddress = \"127.0.0.1:6379\"\nservice = \"shop/redis\"\ndependents = [\"shop/cart\"]").unwrap();
        assert_eq!(redis.interval, Duration::from_secs(15));
        assert_eq!(redis.failures, 2);
        assert!(
            parse("name = \"x\"\nkind = \"mongo\"\naddress = \"a:1\"")
                .unwrap_err()
                .contains("mongo")
        );
        assert!(
            parse("name = \"x\"\nkind = \"tcp\"\naddress = \"nohost\"")
                .unwrap_err()
                .contains("address")
        );
        assert!(
            parse("name = \"x\"\nkind = \"http\"\naddress = \"a:80\"")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            parse("name = \"x\"\nkind = \"postgres\"\naddress = \"postgres://u:secret@db:5432/x\"")
                .unwrap_err()
                .contains("password_file")
        );
        assert!(
            parse("name = \"x\"\nkind = \"tcp\"\naddress = \"a:1\"\ndependents = [\"cart\"]")
                .unwrap_err()
                .contains("dependents")
        );
        assert!(
            parse("name = \"x\"\nkind = \"tcp\"\naddress = \"a:1\"\ncluster = \"dev\"")
                .unwrap_err()
                .contains("no [[cluster]]")
        );
        let bad_source = cluster("name = \"a\"\nurl = \"http://x\"\nsource = \"a b\"").unwrap_err();
        assert!(bad_source.contains("source"), "{bad_source}");
        let a = ClusterSpec {
            url: Some("http://a".into()),
            ..ClusterSpec::named("a")
        };
        let b = ClusterSpec {
            url: Some("http://b".into()),
            ..ClusterSpec::named("b")
        };
        let unnamed = validate(&[a.clone(), b.clone()], &[])
            .unwrap_err()
            .to_string();
        assert!(unnamed.contains("each names its source"), "{unnamed}");
        let with = |c: &ClusterSpec, s: &str| ClusterSpec {
            source: Some(s.into()),
            ..c.clone()
        };
        let twice = validate(&[with(&a, "eu"), with(&b, "eu")], &[])
            .unwrap_err()
            .to_string();
        assert!(
            twice.contains("two [[cluster]] entries have this source"),
            "{twice}"
        );
        assert!(validate(&[with(&a, "eu"), with(&b, "us")], &[]).is_ok());
        let dup = validate(&[], &[redis.clone(), redis])
            .unwrap_err()
            .to_string();
        assert!(dup.contains("two [[dependencies]]"), "{dup}");
    }
}
