//! Everything that talks to Kubernetes: the cluster's own state as signals (watches of nodes,
//! pods, events, workloads, ingresses, services, config and secret metadata and Flux
//! HelmReleases), runtime dependency probes, the typed reads a decision's blast radius needs
//! and the executor's typed writes, with the least-privilege RBAC they need beside them
//! (`cluster/rbac.yaml`).
//!
//! Invariants: the watches only get, list and watch (Secrets and ConfigMaps by metadata-only
//! requests: their data never reaches srebot); their caches are bounded per kind; every
//! candidate they raise carries origin `kubernetes` and the evidence it rests on. The
//! executor runs only actions carrying a policy decision record ([`policy::Authorization`]),
//! through exactly the typed operations, and audits every execution and refusal. Tests run
//! against a loopback fake API server speaking the Kubernetes wire format
//! (`tests/fake_k8s.rs`).

pub mod access;
pub mod cache;
pub mod conditions;
pub mod config;
pub mod deps;
pub mod drift;
pub mod events;
pub mod executor;
pub mod imagepull;
pub mod reads;
pub mod releases;
pub mod signal;
pub mod tls;
pub mod views;
pub mod watch;

pub use cache::{ClusterState, Kind, WatchStatus};
pub use config::{ClusterSpec, ConfigError, DependencyKind, DependencySpec};
pub use deps::{DependencyMonitor, DependencyStatus};
pub use executor::{ExecError, Execution, Executor, reconcile_request_patch, release_live};
pub use kube::Client;
pub use reads::{ClusterError, KubeConfig, client, live_object};
pub use watch::ClusterWatch;
