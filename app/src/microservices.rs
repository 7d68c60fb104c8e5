//! Microservice scenario families: a random call graph, traffic flowing from the entry down
//! the calls, and one fault in one service whose latency and errors travel up to its callers.
//!
//! Each draw picks the graph (5–12 services, one or two callers each, calls per request and
//! share of requests per edge), traffic (2–300 requests/s), per-service latency, error ratio,
//! cpu and memory with their noise, the resolution (15 s to 5 min) and the fault: a delay, an
//! error burst, a cpu hog (slower too), a memory leak (a little slower) or a bad configuration
//! (fails fast, stops calling its callees). A delay is on the wire into the root, as chaos tools
//! inject it: the root's own (server-side) latency does not show it, its callers' does, and so
//! does a mesh's latency of calls to it; with application metrics alone it cannot be told from
//! a delay in the caller, and the families keep such draws as they are. The graph reaches the metrics the way a real
//! platform carries it: Istio, Linkerd or OpenTelemetry service-graph series, `[[topology.edge]]`
//! config, or not at all. The same seed and index write the same recording.

use crate::demo::{RecordedSeries, Scenario, ScenarioMeta};
use model::{LabelSet, MetricType};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::BTreeMap;

const NAMESPACE: &str = "shop";
/// Draws start at 2026-01-05 00:00 UTC.
const START_MS: i64 = 1_767_571_200_000;
/// Service names a graph draws from (the entry is always `frontend`).
const NAMES: [&str; 16] = [
    "orders",
    "checkout",
    "payment",
    "cart",
    "catalogue",
    "user",
    "shipping",
    "inventory",
    "recommend",
    "search",
    "auth",
    "currency",
    "email",
    "reviews",
    "pricing",
    "ledger",
];

/// How the call graph reaches the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// `istio_requests_total{source_workload,destination_workload}` and its duration.
    Istio,
    /// Linkerd's `response_total{deployment,dst_deployment}` and `response_latency_ms`.
    Linkerd,
    /// OpenTelemetry / Tempo `traces_service_graph_request_total{client,server}`.
    ServiceGraph,
    /// Application metrics only; the edges are `[[topology.edge]]` config.
    Config,
    /// Application metrics only, no graph anywhere.
    None,
}

impl Delivery {
    pub const ALL: [Delivery; 5] = [
        Delivery::Istio,
        Delivery::Linkerd,
        Delivery::ServiceGraph,
        Delivery::Config,
        Delivery::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Istio => "istio",
            Delivery::Linkerd => "linkerd",
            Delivery::ServiceGraph => "service-graph",
            Delivery::Config => "config-edges",
            Delivery::None => "no-graph",
        }
    }
}

/// The fault a draw injects into its root-cause service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    Delay,
    Errors,
    Cpu,
    Memory,
    Config,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Delay,
        FaultKind::Errors,
        FaultKind::Cpu,
        FaultKind::Memory,
        FaultKind::Config,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Delay => "delay",
            FaultKind::Errors => "errors",
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "memory",
            FaultKind::Config => "config",
        }
    }
}

/// One service's values at every step as it measures them itself (what a
/// `<service>_<metric>` CSV would hold; a delay on the wire into it is not in its latency).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceTruth {
    /// Requests per second it serves.
    pub load: Vec<f64>,
    /// Mean latency it answers in, in seconds (its own work plus its calls).
    pub latency: Vec<f64>,
    /// Share of its requests that fail.
    pub errors: Vec<f64>,
    /// Cores it uses (all pods).
    pub cpu: Vec<f64>,
    /// Bytes it holds (all pods).
    pub memory: Vec<f64>,
}

/// One drawn scenario with its answer.
#[derive(Debug, Clone)]
pub struct Draw {
    /// The recording, as `srebot replay` takes it.
    pub scenario: Scenario,
    pub delivery: Delivery,
    pub fault: FaultKind,
    /// The service the fault is in.
    pub root: String,
    /// Every service, the entry first.
    pub services: Vec<String>,
    /// Call edges (caller, callee).
    pub edges: Vec<(String, String)>,
    pub step_ms: i64,
    pub fault_start_ms: i64,
    /// Whether cpu and memory series are recorded (cAdvisor scraped).
    pub resources: bool,
    /// Timestamps of the steps and each service's values at them.
    pub times: Vec<i64>,
    pub truth: BTreeMap<String, ServiceTruth>,
}

impl Draw {
    /// The edges as `[[topology.edge]]` config would give them.
    pub fn topology_config(&self) -> rca::TopologyConfig {
        rca::TopologyConfig {
            edge: self
                .edges
                .iter()
                .map(|(caller, callee)| rca::topology::EdgeConfig {
                    caller: caller.clone(),
                    callee: callee.clone(),
                })
                .collect(),
        }
    }
}

/// A drawn call edge.
#[derive(Debug, Clone, Copy)]
struct Edge {
    caller: usize,
    callee: usize,
    /// Share of the caller's requests that make this call.
    share: f64,
    /// Calls per such request.
    times: f64,
    /// Share of the callee's failures the caller passes on (the rest it absorbs by retry or
    /// fallback).
    passes: f64,
}

/// Standard normal by Box–Muller.
fn gauss(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random_range(1e-12..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// Draw `index` of the families under `seed`: the delivery cycles fastest, then the fault, so
/// any 25 consecutive draws cover every pair.
pub fn draw(seed: u64, index: usize) -> Draw {
    let delivery = Delivery::ALL[index % Delivery::ALL.len()];
    let fault = FaultKind::ALL[(index / Delivery::ALL.len()) % FaultKind::ALL.len()];
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64);

    // The graph, in topological order: service i is called by one or two of 0..i.
    let n = rng.random_range(5..=12);
    let mut pool: Vec<&str> = NAMES.to_vec();
    for i in (1..pool.len()).rev() {
        let j = rng.random_range(0..=i);
        pool.swap(i, j);
    }
    let mut services = vec!["frontend".to_owned()];
    services.extend(pool.iter().take(n - 1).map(|s| (*s).to_owned()));
    let mut edges: Vec<Edge> = Vec::new();
    for callee in 1..n {
        let callers = if callee > 1 && rng.random_bool(0.3) {
            2
        } else {
            1
        };
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < callers {
            // Biased to recent services, so chains grow deep as well as wide.
            let lo = callee.saturating_sub(3);
            let caller = if rng.random_bool(0.7) {
                rng.random_range(lo..callee)
            } else {
                rng.random_range(0..callee)
            };
            if !chosen.contains(&caller) {
                chosen.push(caller);
            }
        }
        for caller in chosen {
            edges.push(Edge {
                caller,
                callee,
                share: rng.random_range(0.3..1.0),
                times: [1.0, 1.0, 1.0, 1.0, 2.0, 3.0][rng.random_range(0..6)],
                passes: rng.random_range(0.6..1.0),
            });
        }
    }

    // Periods and resolution.
    let step_ms = [15_000, 30_000, 60_000, 60_000, 300_000][rng.random_range(0..5)];
    let normal_steps = rng.random_range(20..=60);
    let anomalous_steps = rng.random_range(8..=30);
    let steps = normal_steps + anomalous_steps;
    let fault_start_ms = START_MS + normal_steps as i64 * step_ms;
    let step_s = step_ms as f64 / 1000.0;

    // The root: mostly inside the graph, sometimes the entry itself.
    let root = if rng.random_bool(0.1) {
        0
    } else {
        rng.random_range(1..n)
    };

    // Per-service character.
    let own_ms: Vec<f64> = (0..n).map(|_| log_uniform(&mut rng, 2.0, 60.0)).collect();
    let jitter: Vec<f64> = (0..n).map(|_| rng.random_range(0.02..0.1)).collect();
    let spread: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..1.5)).collect();
    let own_err: Vec<f64> = (0..n)
        .map(|_| log_uniform(&mut rng, 0.0005, 0.01))
        .collect();
    let pods: Vec<usize> = (0..n).map(|_| rng.random_range(1..=3)).collect();
    let cpu_base: Vec<f64> = (0..n).map(|_| rng.random_range(0.02..0.3)).collect();
    let cpu_per_req: Vec<f64> = (0..n)
        .map(|_| log_uniform(&mut rng, 0.0005, 0.01))
        .collect();
    let mem_base: Vec<f64> = (0..n)
        .map(|_| rng.random_range(100.0..800.0) * 1_048_576.0)
        .collect();
    let entry_rate = log_uniform(&mut rng, 2.0, 300.0);
    // Half the platforms scrape cAdvisor; the others show only calls (latency, errors, load),
    // so a cpu hog or a leak shows only as the root's latency.
    // (A leak is only seen where memory is.)
    let resources = fault == FaultKind::Memory || rng.random_bool(0.5);
    let period = rng.random_range(30.0..240.0) * 60_000.0;

    // The fault's size.
    // A delay of 30% to 3x what the root usually takes (its work and its calls), at least 5 ms.
    let delay_share = match fault {
        FaultKind::Cpu => rng.random_range(0.2..1.5),
        _ => rng.random_range(0.3..3.0),
    };
    let error_add = match fault {
        FaultKind::Errors => rng.random_range(0.02..0.5),
        FaultKind::Config => rng.random_range(0.1..1.0),
        _ => 0.0,
    };
    let cpu_add = rng.random_range(0.2..2.0);
    let slow_factor = match fault {
        FaultKind::Cpu => rng.random_range(1.0..2.0),
        FaultKind::Memory => rng.random_range(1.0..1.3),
        FaultKind::Config => rng.random_range(0.3..0.8),
        _ => 1.0,
    };
    let leak_per_min = rng.random_range(2.0..50.0) * 1_048_576.0;
    // Each service's usual latency (its own work plus its calls'), for the delay's size.
    let mut base_latency_ms = own_ms.clone();
    for s in (0..n).rev() {
        for e in edges.iter().filter(|e| e.caller == s) {
            base_latency_ms[s] += e.share * e.times * base_latency_ms[e.callee];
        }
    }

    let mut truth: BTreeMap<String, ServiceTruth> = services
        .iter()
        .map(|s| (s.clone(), ServiceTruth::default()))
        .collect();
    let mut times = Vec::with_capacity(steps);
    let mut rec = Recorder::default();
    // Cumulative counters per key.
    let mut counters: BTreeMap<String, f64> = BTreeMap::new();

    for step in 0..steps {
        let ts = START_MS + step as i64 * step_ms;
        times.push(ts);
        let faulty = ts >= fault_start_ms;
        let minutes_in = (ts - fault_start_ms) as f64 / 60_000.0;
        // Load, down the graph.
        let mut rate = vec![0.0f64; n];
        rate[0] = entry_rate
            * (1.0 + 0.2 * (std::f64::consts::TAU * ts as f64 / period).sin())
            * (1.0 + 0.05 * gauss(&mut rng)).max(0.1);
        let mut calls: Vec<f64> = vec![0.0; edges.len()];
        for callee in 1..n {
            for (k, e) in edges.iter().enumerate().filter(|(_, e)| e.callee == callee) {
                let mut made = rate[e.caller] * e.share * e.times;
                if faulty && fault == FaultKind::Config && e.caller == root {
                    made *= 1.0 - error_add;
                }
                calls[k] = made;
                rate[callee] += made;
            }
        }
        // Own latency and errors, with the fault.
        let mut own_latency = vec![0.0f64; n];
        let mut own_error = vec![0.0f64; n];
        let mut wire = vec![0.0f64; n];
        for s in 0..n {
            let mut ms = own_ms[s] * (1.0 + jitter[s] * gauss(&mut rng)).max(0.2);
            let mut err = own_err[s];
            if faulty && s == root {
                ms *= slow_factor;
                // A cpu-starved service's queueing adds to the whole request; a delay is on
                // the wire into the service (as chaos tools inject it), so only its callers see it.
                let extra = (base_latency_ms[s] * delay_share).max(5.0)
                    * (1.0 + 0.1 * gauss(&mut rng)).max(0.5);
                match fault {
                    FaultKind::Cpu => ms += extra,
                    FaultKind::Delay => wire[s] = extra / 1000.0,
                    _ => {}
                }
                err = (err + error_add).min(1.0);
            }
            own_latency[s] = ms / 1000.0;
            own_error[s] = err;
        }
        // Latency and errors, up the graph (callees come after their callers).
        let mut latency = own_latency.clone();
        let mut errors = own_error.clone();
        for s in (0..n).rev() {
            let mut ok = 1.0 - own_error[s];
            for e in edges.iter().filter(|e| e.caller == s) {
                latency[s] += e.share * e.times * (latency[e.callee] + wire[e.callee]);
                ok *= 1.0 - e.share * e.passes * errors[e.callee];
            }
            errors[s] = 1.0 - ok;
        }
        // What is measured: each service's mean over its own requests of the step (per-request
        // latency varies by `spread`, so a busy service's mean is smooth and a quiet one's is
        // not), with an occasional slow step of its own (a pause, a noisy neighbour).
        for s in 0..n {
            let requests = (rate[s] * step_s).max(1.0);
            let sd = 0.02 + spread[s] / requests.sqrt();
            let mut factor = (sd * gauss(&mut rng)).exp();
            if rng.random_bool(0.03) {
                factor *= rng.random_range(1.3..3.0);
            }
            latency[s] *= factor;
        }
        // Observed error ratios carry sampling noise.
        let observed: Vec<f64> = (0..n)
            .map(|s| {
                let m = (rate[s] * step_s).max(1.0);
                let sd = (errors[s] * (1.0 - errors[s]) / m).sqrt();
                (errors[s] + sd * gauss(&mut rng)).clamp(0.0, 1.0)
            })
            .collect();

        for s in 0..n {
            let name = services[s].as_str();
            let mut cpu_total = 0.0;
            let mut mem_total = 0.0;
            for p in 0..pods[s] {
                let pod = format!("{name}-7d9c5b{p}f-x{p}q{p}");
                let mut cores = cpu_base[s] + cpu_per_req[s] * rate[s] / pods[s] as f64;
                cores *= 1.0 + 0.05 * gauss(&mut rng);
                let mut bytes = mem_base[s] * (1.0 + 0.005 * gauss(&mut rng));
                if faulty && s == root {
                    match fault {
                        FaultKind::Cpu => cores += cpu_add,
                        FaultKind::Memory => bytes += leak_per_min * minutes_in,
                        _ => {}
                    }
                }
                let cores = cores.max(0.0);
                cpu_total += cores;
                mem_total += bytes;
                let key = format!("cpu/{pod}");
                let c = counters.entry(key).or_default();
                *c += cores * step_s;
                let base = [
                    ("namespace", NAMESPACE),
                    ("pod", pod.as_str()),
                    ("container", name),
                ];
                if resources {
                    rec.push(
                        "container_cpu_usage_seconds_total",
                        &base,
                        MetricType::Counter,
                        ts,
                        *c,
                    );
                    rec.push(
                        "container_memory_working_set_bytes",
                        &base,
                        MetricType::Gauge,
                        ts,
                        bytes,
                    );
                }
            }
            let t = truth.get_mut(name).expect("every service has a truth");
            t.load.push(rate[s]);
            t.latency.push(latency[s]);
            t.errors.push(observed[s]);
            t.cpu.push(cpu_total);
            t.memory.push(mem_total);
        }

        // Calls: (caller, callee, requests/s) with the entry's callers outside.
        let mut call_list: Vec<(&str, usize, f64)> = edges
            .iter()
            .zip(&calls)
            .map(|(e, c)| (services[e.caller].as_str(), e.callee, *c))
            .collect();
        let outside = match delivery {
            Delivery::Istio => "unknown",
            Delivery::Linkerd => "ingress",
            _ => "user",
        };
        call_list.push((outside, 0, rate[0]));
        let mut count = |key: String, add: f64| {
            let c = counters.entry(key).or_default();
            *c += add;
            *c
        };
        match delivery {
            Delivery::Istio | Delivery::Linkerd | Delivery::ServiceGraph => {
                for (caller, callee, r) in call_list {
                    let callee_name = services[callee].as_str();
                    let n_calls = r * step_s;
                    let failed = n_calls * observed[callee];
                    let key = format!("{caller}>{callee_name}");
                    let ok_total = count(format!("{key}/ok"), n_calls - failed);
                    let failed_total = count(format!("{key}/failed"), failed);
                    let all_total = count(format!("{key}/all"), n_calls);
                    // Latency as the caller sees it: the callee's answer plus the wire.
                    let seen = latency[callee] + wire[callee];
                    let sum_ms = count(format!("{key}/sum"), n_calls * seen * 1000.0);
                    let sum_s = sum_ms / 1000.0;
                    match delivery {
                        Delivery::Istio => {
                            let base = [
                                ("destination_workload", callee_name),
                                ("destination_workload_namespace", NAMESPACE),
                                ("reporter", "source"),
                                ("source_workload", caller),
                            ];
                            for (code, v) in [("200", ok_total), ("503", failed_total)] {
                                let mut l = base.to_vec();
                                l.push(("response_code", code));
                                rec.push("istio_requests_total", &l, MetricType::Counter, ts, v);
                            }
                            rec.push(
                                "istio_request_duration_milliseconds_sum",
                                &base,
                                MetricType::Counter,
                                ts,
                                sum_ms,
                            );
                            rec.push(
                                "istio_request_duration_milliseconds_count",
                                &base,
                                MetricType::Counter,
                                ts,
                                all_total,
                            );
                        }
                        Delivery::Linkerd => {
                            let base = [
                                ("deployment", caller),
                                ("direction", "outbound"),
                                ("dst_deployment", callee_name),
                                ("dst_namespace", NAMESPACE),
                                ("namespace", NAMESPACE),
                            ];
                            for (class, v) in [("success", ok_total), ("failure", failed_total)] {
                                let mut l = base.to_vec();
                                l.push(("classification", class));
                                rec.push("response_total", &l, MetricType::Counter, ts, v);
                            }
                            rec.push(
                                "response_latency_ms_sum",
                                &base,
                                MetricType::Counter,
                                ts,
                                sum_ms,
                            );
                            rec.push(
                                "response_latency_ms_count",
                                &base,
                                MetricType::Counter,
                                ts,
                                all_total,
                            );
                        }
                        _ => {
                            let base = [("client", caller), ("server", callee_name)];
                            rec.push(
                                "traces_service_graph_request_total",
                                &base,
                                MetricType::Counter,
                                ts,
                                all_total,
                            );
                            rec.push(
                                "traces_service_graph_request_failed_total",
                                &base,
                                MetricType::Counter,
                                ts,
                                failed_total,
                            );
                            rec.push(
                                "traces_service_graph_request_client_seconds_sum",
                                &base,
                                MetricType::Counter,
                                ts,
                                sum_s,
                            );
                            rec.push(
                                "traces_service_graph_request_client_seconds_count",
                                &base,
                                MetricType::Counter,
                                ts,
                                all_total,
                            );
                        }
                    }
                }
            }
            Delivery::Config | Delivery::None => {
                for s in 0..n {
                    let name = services[s].as_str();
                    let n_req = rate[s] * step_s;
                    let failed = n_req * observed[s];
                    let base = [("namespace", NAMESPACE), ("service", name)];
                    for (code, add) in [("200", n_req - failed), ("500", failed)] {
                        let v = count(format!("http/{name}/{code}"), add);
                        let mut l = base.to_vec();
                        l.push(("code", code));
                        rec.push(
                            "http_requests_total",
                            &l,
                            MetricType::Counter,
                            ts,
                            v.round(),
                        );
                    }
                    let sum = count(format!("http/{name}/sum"), n_req * latency[s]);
                    let all = count(format!("http/{name}/count"), n_req);
                    rec.push(
                        "http_request_duration_seconds_sum",
                        &base,
                        MetricType::Counter,
                        ts,
                        sum,
                    );
                    rec.push(
                        "http_request_duration_seconds_count",
                        &base,
                        MetricType::Counter,
                        ts,
                        all.round(),
                    );
                }
            }
        }
    }

    let name = format!("mesh-{}-{}-{index}", delivery.as_str(), fault.as_str());
    let edges: Vec<(String, String)> = edges
        .iter()
        .map(|e| (services[e.caller].clone(), services[e.callee].clone()))
        .collect();
    let description = format!(
        "{n} services, {} call edges ({}{}), {} fault in {} at {} s resolution",
        edges.len(),
        delivery.as_str(),
        if resources { ", cpu and memory" } else { "" },
        fault.as_str(),
        services[root],
        step_ms / 1000
    );
    Draw {
        scenario: Scenario {
            meta: ScenarioMeta {
                name,
                description,
                start_ms: START_MS,
                end_ms: START_MS + steps as i64 * step_ms,
                step_ms,
                expected: Vec::new(),
            },
            series: rec.series.into_values().collect(),
        },
        delivery,
        fault,
        root: services[root].clone(),
        services,
        edges,
        step_ms,
        fault_start_ms,
        resources,
        times,
        truth,
    }
}

/// Builds series sample by sample.
#[derive(Debug, Default)]
struct Recorder {
    series: BTreeMap<LabelSet, RecordedSeries>,
}

impl Recorder {
    fn push(
        &mut self,
        metric: &str,
        labels: &[(&str, &str)],
        metric_type: MetricType,
        ts: i64,
        value: f64,
    ) {
        let pairs = std::iter::once((model::METRIC_NAME, metric)).chain(labels.iter().copied());
        let Ok(set) = LabelSet::from_pairs(pairs) else {
            return;
        };
        self.series
            .entry(set.clone())
            .or_insert_with(|| RecordedSeries {
                labels: set,
                metric_type,
                samples: Vec::new(),
            })
            .samples
            .push((ts, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_cover_every_delivery_and_fault() {
        let a = draw(11, 3);
        let b = draw(11, 3);
        assert!(a.scenario == b.scenario);
        assert_eq!(a.root, b.root);
        let pairs: std::collections::BTreeSet<(Delivery, FaultKind)> = (0..25)
            .map(|i| {
                let d = draw(1, i);
                (d.delivery, d.fault)
            })
            .collect();
        assert_eq!(pairs.len(), 25);
    }

    #[test]
    fn a_callee_delay_shows_in_its_callers() {
        // Find a delay draw whose root has a caller.
        let d = (0..200)
            .map(|i| draw(5, i))
            .find(|d| d.fault == FaultKind::Delay && d.root != "frontend")
            .expect("a delay draw");
        let split = d.times.iter().position(|t| *t >= d.fault_start_ms).unwrap();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let rise = |s: &str| {
            let l = &d.truth[s].latency;
            mean(&l[split..]) / mean(&l[..split])
        };
        // A caller sees the delay on the wire; the root's own latency does not hold it.
        let caller = d
            .edges
            .iter()
            .filter(|(_, callee)| *callee == d.root)
            .map(|(c, _)| c.clone())
            .max_by(|a, b| rise(a).total_cmp(&rise(b)))
            .expect("the root has a caller");
        assert!(rise(&caller) > 1.1, "{caller} got slower");
        assert!(
            rise(&d.root) < rise(&caller),
            "the root's own latency rose more"
        );
        assert!(
            d.scenario
                .series
                .iter()
                .all(|s| s.samples.len() == d.times.len())
        );
    }
}
