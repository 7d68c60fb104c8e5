//! Everything that talks to Kubernetes: the typed reads a decision's blast radius needs and
//! the executor's typed writes, with the least-privilege RBAC they need beside them
//! (`cluster/rbac.yaml`).
//!
//! Invariants: the executor runs only actions carrying a policy decision record
//! ([`policy::Authorization`]), through exactly the typed operations, and audits every
//! execution and refusal; reads never write. Tests run against a loopback fake API server
//! speaking the Kubernetes wire format (`tests/fake_k8s.rs`).

pub mod executor;
pub mod reads;

pub use executor::{ExecError, Execution, Executor, reconcile_request_patch, release_live};
pub use kube::Client;
pub use reads::{ClusterError, KubeConfig, client, live_object};
