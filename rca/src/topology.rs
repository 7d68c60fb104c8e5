//! The service call graph root-cause ranking walks: edges caller → callee, from the service
//! mesh's own metrics (Istio, Linkerd, OpenTelemetry service graphs) or `[[topology.edge]]`.
//!
//! A mesh metric names both ends of a call in two labels; [`MESH_FAMILIES`] lists them, with
//! how each family tells a failed call and where its latency is, so the live path can read a
//! callee's load, error ratio and latency as its callers see them.

use model::LabelSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One call edge of `[[topology.edge]]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// The calling service (workload name).
    pub caller: String,
    /// The service it calls.
    pub callee: String,
}

/// `[topology]`: call edges known without a service mesh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// `[[topology.edge]]` tables, `caller = "frontend"`, `callee = "orders"`.
    pub edge: Vec<EdgeConfig>,
}

impl TopologyConfig {
    /// The configured edges as a graph.
    pub fn topology(&self) -> Topology {
        let mut graph = Topology::default();
        for edge in &self.edge {
            graph.add(&edge.caller, &edge.callee);
        }
        graph
    }
}

/// A directed call graph between services (no self-loops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    callees: BTreeMap<String, BTreeSet<String>>,
    callers: BTreeMap<String, BTreeSet<String>>,
}

/// Workload names a mesh uses for "outside the mesh" or "not known".
const NOT_A_SERVICE: [&str; 3] = ["", "unknown", "user"];

impl Topology {
    /// Adds `caller → callee`; false when it was there, a self-loop or an unknown end.
    pub fn add(&mut self, caller: &str, callee: &str) -> bool {
        if caller == callee || NOT_A_SERVICE.contains(&caller) || NOT_A_SERVICE.contains(&callee) {
            return false;
        }
        self.callers
            .entry(callee.to_owned())
            .or_default()
            .insert(caller.to_owned());
        self.callees
            .entry(caller.to_owned())
            .or_default()
            .insert(callee.to_owned())
    }

    /// Every edge of `other` added to this graph.
    pub fn merge(&mut self, other: &Topology) {
        for (caller, callee) in other.edges() {
            self.add(caller, callee);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.callees.is_empty()
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.callees.values().map(BTreeSet::len).sum()
    }

    /// Every edge `(caller, callee)` in name order.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.callees
            .iter()
            .flat_map(|(a, bs)| bs.iter().map(move |b| (a.as_str(), b.as_str())))
    }

    /// The services `service` calls.
    pub fn callees(&self, service: &str) -> impl Iterator<Item = &str> {
        self.callees
            .get(service)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// The services that call `service`.
    pub fn callers(&self, service: &str) -> impl Iterator<Item = &str> {
        self.callers
            .get(service)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// The services a fault seen at `involved` may come from: the involved ones, everything
    /// they call directly or through others, and their direct callers; at most `max`, nearest
    /// first (breadth-first, names in order within a level).
    pub fn suspects(&self, involved: &[&str], max: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut level: Vec<&str> = Vec::new();
        for s in involved {
            if seen.insert(s) {
                out.push((*s).to_owned());
                level.push(s);
            }
        }
        for s in involved {
            for caller in self.callers(s) {
                if seen.insert(caller) {
                    out.push(caller.to_owned());
                }
            }
        }
        while !level.is_empty() && out.len() < max {
            let mut next = Vec::new();
            for s in level {
                for callee in self.callees(s) {
                    if seen.insert(callee) {
                        out.push(callee.to_owned());
                        next.push(callee);
                    }
                }
            }
            level = next;
        }
        out.truncate(max);
        out
    }
}

/// How one service mesh's metrics name a call and its outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshFamily {
    /// The mesh, for evidence text.
    pub name: &'static str,
    /// The counter of calls, one series per caller, callee and outcome.
    pub requests: &'static str,
    /// The label naming the caller.
    pub caller_label: &'static str,
    /// The label naming the callee.
    pub callee_label: &'static str,
    /// The label naming the callee's namespace, if the mesh has one.
    pub callee_namespace_label: Option<&'static str>,
    /// How a failed call is told: a label and the prefix its value starts with, or a metric of
    /// its own counting failed calls.
    pub failed: Failed,
    /// Latency histogram `_sum` and `_count` counters as the caller sees the call (client
    /// side: a delay on the wire shows), in `latency_unit_s` seconds.
    pub latency_sum: &'static str,
    pub latency_count: &'static str,
    /// Seconds per unit of the latency sum (0.001 for milliseconds).
    pub latency_unit_s: f64,
    /// A label/value a series must carry to count (Linkerd's outbound side), if any.
    pub only: Option<(&'static str, &'static str)>,
}

/// How a mesh marks failed calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// A label whose value starts with this prefix (`response_code` `5`).
    Label(&'static str, &'static str),
    /// A counter of its own.
    Metric(&'static str),
}

/// The meshes whose metrics carry the call graph.
pub const MESH_FAMILIES: [MeshFamily; 3] = [
    MeshFamily {
        name: "istio",
        requests: "istio_requests_total",
        caller_label: "source_workload",
        callee_label: "destination_workload",
        callee_namespace_label: Some("destination_workload_namespace"),
        failed: Failed::Label("response_code", "5"),
        latency_sum: "istio_request_duration_milliseconds_sum",
        latency_count: "istio_request_duration_milliseconds_count",
        latency_unit_s: 0.001,
        only: None,
    },
    MeshFamily {
        name: "linkerd",
        requests: "response_total",
        caller_label: "deployment",
        callee_label: "dst_deployment",
        callee_namespace_label: Some("dst_namespace"),
        failed: Failed::Label("classification", "failure"),
        latency_sum: "response_latency_ms_sum",
        latency_count: "response_latency_ms_count",
        latency_unit_s: 0.001,
        only: Some(("direction", "outbound")),
    },
    MeshFamily {
        name: "service graph",
        requests: "traces_service_graph_request_total",
        caller_label: "client",
        callee_label: "server",
        callee_namespace_label: None,
        failed: Failed::Metric("traces_service_graph_request_failed_total"),
        latency_sum: "traces_service_graph_request_client_seconds_sum",
        latency_count: "traces_service_graph_request_client_seconds_count",
        latency_unit_s: 1.0,
        only: None,
    },
];

impl MeshFamily {
    /// Whether a series of this family counts (Linkerd: outbound only).
    pub fn counts(&self, labels: &LabelSet) -> bool {
        self.only
            .is_none_or(|(label, value)| labels.get(label) == Some(value))
    }

    /// The `(caller, callee)` a series of this family names.
    pub fn edge<'a>(&self, labels: &'a LabelSet) -> Option<(&'a str, &'a str)> {
        if !self.counts(labels) {
            return None;
        }
        Some((
            labels.get(self.caller_label)?,
            labels.get(self.callee_label)?,
        ))
    }

    /// Whether a series of the requests counter counts failed calls.
    pub fn is_failed(&self, labels: &LabelSet) -> bool {
        match self.failed {
            Failed::Label(label, prefix) => {
                labels.get(label).is_some_and(|v| v.starts_with(prefix))
            }
            Failed::Metric(metric) => labels.metric_name() == metric,
        }
    }

    /// Every metric of this family the live path reads.
    pub fn metrics(&self) -> Vec<&'static str> {
        let mut out = vec![self.requests, self.latency_sum, self.latency_count];
        if let Failed::Metric(m) = self.failed {
            out.push(m);
        }
        out
    }
}

/// The call edge a series names, if it is a mesh family's request counter.
pub fn mesh_edge(labels: &LabelSet) -> Option<(&str, &str)> {
    MESH_FAMILIES
        .iter()
        .filter(|f| f.requests == labels.metric_name())
        .find_map(|f| f.edge(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied()).expect("valid labels")
    }

    #[test]
    fn each_mesh_names_its_edge() {
        let istio = labels(&[
            ("__name__", "istio_requests_total"),
            ("destination_workload", "orders"),
            ("response_code", "503"),
            ("source_workload", "frontend"),
        ]);
        assert_eq!(mesh_edge(&istio), Some(("frontend", "orders")));
        assert!(MESH_FAMILIES[0].is_failed(&istio));
        let linkerd_in = labels(&[
            ("__name__", "response_total"),
            ("deployment", "orders"),
            ("direction", "inbound"),
        ]);
        assert_eq!(mesh_edge(&linkerd_in), None);
        let linkerd_out = labels(&[
            ("__name__", "response_total"),
            ("deployment", "frontend"),
            ("direction", "outbound"),
            ("dst_deployment", "orders"),
        ]);
        assert_eq!(mesh_edge(&linkerd_out), Some(("frontend", "orders")));
        let otel = labels(&[
            ("__name__", "traces_service_graph_request_total"),
            ("client", "frontend"),
            ("server", "orders"),
        ]);
        assert_eq!(mesh_edge(&otel), Some(("frontend", "orders")));
    }

    #[test]
    fn suspects_are_the_involved_their_callees_and_callers() {
        let config: TopologyConfig = toml::from_str(
            r#"
            [[edge]]
            caller = "frontend"
            callee = "orders"
            [[edge]]
            caller = "orders"
            callee = "payment"
            [[edge]]
            caller = "payment"
            callee = "bank"
            [[edge]]
            caller = "frontend"
            callee = "catalogue"
            "#,
        )
        .expect("parses");
        let graph = config.topology();
        assert_eq!(graph.len(), 4);
        assert_eq!(
            graph.suspects(&["orders"], 10),
            ["orders", "frontend", "payment", "bank"]
        );
        assert_eq!(graph.suspects(&["orders"], 2), ["orders", "frontend"]);
        let mut g = Topology::default();
        assert!(!g.add("a", "a"));
        assert!(!g.add("unknown", "a"));
        assert!(g.add("a", "b"));
        assert!(!g.add("a", "b"));
    }
}
