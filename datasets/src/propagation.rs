//! Root-cause ranking on the microservice families: each draw's recording into a window store,
//! the call graph found the way the live draft finds it, the live ranking, the root's rank.
//!
//! The ranking runs [`app::live_rca::discover_topology`] and [`app::live_rca::rank_window`],
//! the two steps `GET /api/v1/incidents/{id}/rca` takes, over every service of the draw, with
//! the draw's own normal and faulty periods. Beside it, the same series ranked without the
//! graph show what the walk adds.

use app::live_rca::{RankWindow, discover_topology, rank_window};
use app::microservices::{Delivery, Draw, draw};
use model::{Sample, Scope, SeriesRef, SeriesVisitor, Target};
use serde::Serialize;
use std::collections::BTreeMap;

/// One draw's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct DrawResult {
    pub name: String,
    pub delivery: &'static str,
    pub fault: &'static str,
    pub root: String,
    pub services: usize,
    pub step_s: i64,
    /// 1-based rank of the root with the graph the metrics or config carry.
    pub rank: Option<usize>,
    /// 1-based rank of the root on deviation alone.
    pub rank_without_graph: Option<usize>,
    /// 1-based rank of the root by robust z alone (the BARO-style baseline).
    pub rank_by_z: Option<usize>,
    /// Edges found in the metrics or config.
    pub edges_found: usize,
    pub top: Vec<String>,
}

/// Top-1 / top-3 of some draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TopK {
    pub draws: usize,
    pub top1: f64,
    pub top3: f64,
    pub top1_without_graph: f64,
    pub top1_by_z: f64,
}

impl TopK {
    fn of(results: &[&DrawResult]) -> Self {
        let share = |f: &dyn Fn(&DrawResult) -> bool| {
            if results.is_empty() {
                0.0
            } else {
                results.iter().filter(|r| f(r)).count() as f64 / results.len() as f64
            }
        };
        Self {
            draws: results.len(),
            top1: share(&|r| r.rank == Some(1)),
            top3: share(&|r| r.rank.is_some_and(|k| k <= 3)),
            top1_without_graph: share(&|r| r.rank_without_graph == Some(1)),
            top1_by_z: share(&|r| r.rank_by_z == Some(1)),
        }
    }
}

/// The families' report: overall, by fault kind and by how the graph was delivered.
#[derive(Debug, Clone, Serialize)]
pub struct PropagationReport {
    pub seed: u64,
    pub overall: TopK,
    pub by_fault: BTreeMap<&'static str, TopK>,
    pub by_delivery: BTreeMap<&'static str, TopK>,
    pub draws: Vec<DrawResult>,
}

impl PropagationReport {
    pub fn table(&self) -> String {
        let mut s = format!(
            "microservice families, seed {}, {} draws (root cause rank with the graph / on deviation alone)\n",
            self.seed, self.overall.draws
        );
        s.push_str(&format!(
            "{:<16} {:>6} {:>7} {:>7} {:>14} {:>10}\n",
            "", "draws", "top-1", "top-3", "top-1 no graph", "top-1 by z"
        ));
        let row = |name: &str, t: &TopK| {
            format!(
                "{:<16} {:>6} {:>7.3} {:>7.3} {:>14.3} {:>10.3}\n",
                name, t.draws, t.top1, t.top3, t.top1_without_graph, t.top1_by_z
            )
        };
        for (fault, t) in &self.by_fault {
            s.push_str(&row(fault, t));
        }
        s.push('\n');
        for (delivery, t) in &self.by_delivery {
            s.push_str(&row(delivery, t));
        }
        s.push_str(&row("all", &self.overall));
        s
    }

    /// `{"seed":S,"draws":N,"top1":X,"top3":X,"top1_without_graph":X,"by_fault":{...}}`.
    pub fn json_line(&self) -> String {
        let by = |m: &BTreeMap<&'static str, TopK>| -> serde_json::Value {
            m.iter()
                .map(|(k, t)| {
                    (
                        (*k).to_owned(),
                        serde_json::json!({"top1": t.top1, "top3": t.top3}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        serde_json::json!({
            "seed": self.seed,
            "draws": self.overall.draws,
            "top1": self.overall.top1,
            "top3": self.overall.top3,
            "top1_without_graph": self.overall.top1_without_graph,
            "by_fault": by(&self.by_fault),
            "by_delivery": by(&self.by_delivery),
        })
        .to_string()
    }
}

/// A store holding one recording whole.
pub fn store_of(scenario: &app::demo::Scenario) -> windows::Store {
    let span = scenario.meta.end_ms - scenario.meta.start_ms;
    let store = windows::Store::new(windows::StoreConfig {
        retention_ms: span + 3_600_000,
        lateness_ms: span + 3_600_000,
        ..windows::StoreConfig::default()
    });
    let mut appender = store.appender();
    for series in &scenario.series {
        let samples: Vec<Sample> = series.samples().collect();
        let labels: Vec<(&str, &str)> = series.labels.iter().collect();
        // A series the store refuses is counted in its outcome; the ranking reads what it kept.
        let _ = appender.series(SeriesRef {
            labels: &labels,
            samples: &samples,
            metric_type: series.metric_type,
            unit: "",
            help: "",
            created_timestamp_ms: 0,
        });
    }
    appender.finish();
    store
}

/// One draw's ranking with the graph, as the live draft does it.
pub fn ranking_of(d: &Draw) -> Vec<rca::RankedService> {
    let store = store_of(&d.scenario);
    let (window, topology, services) = setup(d, &store);
    rank_window(&store, &services, &window, &topology)
}

fn setup(d: &Draw, store: &windows::Store) -> (RankWindow, rca::Topology, Vec<Target>) {
    let window = RankWindow {
        normal_from: d.scenario.meta.start_ms - 1,
        anomalous_from: d.fault_start_ms,
        to: d.scenario.meta.end_ms,
    };
    let mut topology = discover_topology(store, &window);
    if d.delivery == Delivery::Config {
        topology.merge(&d.topology_config().topology());
    }
    let services: Vec<Target> = d
        .services
        .iter()
        .map(|s| Target::new(Scope::Service, Some("shop"), s.clone()))
        .collect();
    (window, topology, services)
}

/// Ranks one draw's services as the live draft does and finds the root.
pub fn rank_draw(d: &Draw) -> DrawResult {
    let store = store_of(&d.scenario);
    let (window, topology, services) = setup(d, &store);
    let ranked = rank_window(&store, &services, &window, &topology);
    let plain = rank_window(&store, &services, &window, &rca::Topology::default());
    let rank_of =
        |r: &[rca::RankedService]| r.iter().position(|s| s.service == d.root).map(|p| p + 1);
    let mut by_z = plain.clone();
    by_z.sort_by(|a, b| b.score.total_cmp(&a.score));
    DrawResult {
        name: d.scenario.meta.name.clone(),
        delivery: d.delivery.as_str(),
        fault: d.fault.as_str(),
        root: d.root.clone(),
        services: d.services.len(),
        step_s: d.step_ms / 1000,
        rank: rank_of(&ranked),
        rank_without_graph: rank_of(&plain),
        rank_by_z: rank_of(&by_z),
        edges_found: topology.len(),
        top: ranked.iter().take(3).map(|r| r.service.clone()).collect(),
    }
}

/// `draws` draws of the families under `seed`, ranked.
pub fn evaluate(draws: usize, seed: u64) -> PropagationReport {
    let results: Vec<DrawResult> = (0..draws).map(|i| rank_draw(&draw(seed, i))).collect();
    let mut by_fault: BTreeMap<&'static str, Vec<&DrawResult>> = BTreeMap::new();
    let mut by_delivery: BTreeMap<&'static str, Vec<&DrawResult>> = BTreeMap::new();
    for r in &results {
        by_fault.entry(r.fault).or_default().push(r);
        by_delivery.entry(r.delivery).or_default().push(r);
    }
    let all: Vec<&DrawResult> = results.iter().collect();
    PropagationReport {
        seed,
        overall: TopK::of(&all),
        by_fault: by_fault.iter().map(|(k, v)| (*k, TopK::of(v))).collect(),
        by_delivery: by_delivery.iter().map(|(k, v)| (*k, TopK::of(v))).collect(),
        draws: results,
    }
}
