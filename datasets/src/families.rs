//! Scenario families: each fault class (and each healthy pattern) drawn with its parameters
//! from wide ranges, in standard cAdvisor / kube-state-metrics / node_exporter names.
//!
//! A draw is a two-hour recording at 15 s of a namespace with two or three Deployments of one
//! to four pods on two to four nodes: leak rates of 0.5–50 MiB/min towards limits met in 1.5 h
//! to 20 h, noise, daily traffic, restart cadences, disk fill rates, step sizes, label sets
//! with and without kube-state-metrics. The fault (if any) starts after 40 minutes. Healthy
//! draws carry what a busy cluster shows without anything being wrong: GC sawtooth, a daily
//! swing, rollouts, scaling, batch jobs. Every draw is reproducible from (family, seed).

use crate::scenarios::{ExpectedIncident, RecordedSeries, Scenario, ScenarioMeta};
use model::{IncidentType, LabelSet, MetricType, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const STEP_MS: i64 = 15_000;
const STEPS: usize = 480;
const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1024.0 * MIB;
/// Draws start at 2026-02-02 00:00 UTC (a Monday).
const START_MS: i64 = 1_769_990_400_000;
/// The fault starts after 40 minutes.
const FAULT_STEP: usize = 160;
/// Steps from an OOM-killed container's start to its kill.
const OOM_CYCLE: usize = 40;

/// A family of scenarios: a fault class or a healthy pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    MemoryLeak,
    DiskFill,
    CrashLoop,
    OomKill,
    LatencySpike,
    ErrorSpike,
    DependencyDown,
    ImagePull,
    ReplicasMissing,
    Backlog,
    NodeNotReady,
    HealthyGcSawtooth,
    HealthyDiurnal,
    HealthyRollout,
    HealthyScaling,
    HealthyBatchJobs,
}

impl Family {
    pub const ALL: [Family; 16] = [
        Family::MemoryLeak,
        Family::DiskFill,
        Family::CrashLoop,
        Family::OomKill,
        Family::LatencySpike,
        Family::ErrorSpike,
        Family::DependencyDown,
        Family::ImagePull,
        Family::ReplicasMissing,
        Family::Backlog,
        Family::NodeNotReady,
        Family::HealthyGcSawtooth,
        Family::HealthyDiurnal,
        Family::HealthyRollout,
        Family::HealthyScaling,
        Family::HealthyBatchJobs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::MemoryLeak => "memory-leak",
            Family::DiskFill => "disk-fill",
            Family::CrashLoop => "crash-loop",
            Family::OomKill => "oom-kill",
            Family::LatencySpike => "latency-spike",
            Family::ErrorSpike => "error-spike",
            Family::DependencyDown => "dependency-down",
            Family::ImagePull => "image-pull",
            Family::ReplicasMissing => "replicas-missing",
            Family::Backlog => "backlog",
            Family::NodeNotReady => "node-not-ready",
            Family::HealthyGcSawtooth => "healthy-gc-sawtooth",
            Family::HealthyDiurnal => "healthy-diurnal",
            Family::HealthyRollout => "healthy-rollout",
            Family::HealthyScaling => "healthy-scaling",
            Family::HealthyBatchJobs => "healthy-batch-jobs",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn is_fault(self) -> bool {
        !self.name().starts_with("healthy")
    }

    /// Faults that only kube-state-metrics shows (restarts, waiting reasons, replicas, node
    /// conditions): their draws always carry it.
    fn needs_ksm(self) -> bool {
        matches!(
            self,
            Family::CrashLoop
                | Family::OomKill
                | Family::ImagePull
                | Family::ReplicasMissing
                | Family::NodeNotReady
        )
    }
}

/// The leak of a [`Family::MemoryLeak`] draw, or one a test sets by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// Growth per minute of every pod of the leaking Deployment, in bytes.
    pub bytes_per_minute: f64,
    /// The container's memory limit, when kube-state-metrics reports one.
    pub limit_bytes: Option<f64>,
    /// Working set when the leak starts.
    pub start_bytes: f64,
    /// Standard deviation of the working set's noise, in bytes.
    pub noise_bytes: f64,
}

/// A pod of the recording.
#[derive(Debug, Clone)]
struct Pod {
    name: String,
    node: usize,
    /// Steps during which it runs.
    from: usize,
    to: usize,
    memory: f64,
    limit: f64,
    noise: f64,
    /// GC sawtooth: (period in steps, amplitude as a share of `memory`).
    gc: Option<(usize, f64)>,
    /// Warm-up after start: time constant in steps (a cache filling).
    warm: f64,
    cpu: f64,
    image: String,
    restarts: f64,
    cpu_total: f64,
}

#[derive(Debug, Clone)]
struct Deployment {
    name: String,
    hash: String,
    pods: Vec<Pod>,
    replicas: f64,
    /// Requests per second at the daily mean.
    rate: f64,
    latency: f64,
    error_share: f64,
    ok_total: f64,
    err_total: f64,
    generation: f64,
}

/// Everything a draw decided, before the series are written.
#[derive(Debug)]
struct World {
    rng: StdRng,
    namespace: String,
    nodes: Vec<String>,
    deployments: Vec<Deployment>,
    ksm: bool,
    /// Daily swing of traffic: amplitude (share) and the hour of the peak.
    diurnal: (f64, f64),
    notes: Vec<String>,
    series: BTreeMap<LabelSet, RecordedSeries>,
}

const NAMES: [&str; 10] = [
    "payments-api",
    "checkout",
    "catalogue",
    "orders",
    "carts",
    "user-svc",
    "shipping",
    "frontend",
    "search",
    "recommender",
];
const NAMESPACES: [&str; 4] = ["shop", "payments", "platform", "storefront"];
const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

fn gauss(rng: &mut StdRng, sd: f64) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn token(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

impl World {
    fn new(seed: u64, ksm: Option<bool>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let namespace = NAMESPACES[rng.random_range(0..NAMESPACES.len())].to_owned();
        let mut nodes: Vec<String> = Vec::new();
        for _ in 0..rng.random_range(2..=4) {
            let (subnet, mut host) = (rng.random_range(0..4), rng.random_range(2..250));
            // Two nodes of one name would write one series twice over: the next free address.
            while nodes.contains(&format!("ip-10-0-{subnet}-{host}.ec2.internal")) {
                host = host % 249 + 2;
            }
            nodes.push(format!("ip-10-0-{subnet}-{host}.ec2.internal"));
        }
        let ksm = ksm.unwrap_or_else(|| rng.random_bool(0.7));
        let mut names: Vec<&str> = NAMES.to_vec();
        let count = rng.random_range(2..=3);
        let mut deployments = Vec::new();
        for _ in 0..count {
            let name = names.remove(rng.random_range(0..names.len())).to_owned();
            let hash = token(&mut rng, 10);
            let replicas = rng.random_range(1..=4);
            let memory = log_uniform(&mut rng, 64.0 * MIB, 1.0 * GIB);
            let limit = (memory * rng.random_range(1.5..4.0) / (64.0 * MIB)).ceil() * 64.0 * MIB;
            let noise = memory * rng.random_range(0.002..0.01);
            let cpu = log_uniform(&mut rng, 0.02, 1.5);
            let image = format!(
                "registry.local/{name}:1.{}.{}",
                rng.random_range(0..9),
                rng.random_range(0..20)
            );
            let mut pods = Vec::new();
            for _ in 0..replicas {
                let pod = Pod {
                    name: format!("{name}-{hash}-{}", token(&mut rng, 5)),
                    node: rng.random_range(0..nodes.len()),
                    from: 0,
                    to: STEPS,
                    memory: memory * rng.random_range(0.9..1.1),
                    limit,
                    noise,
                    gc: None,
                    warm: 0.0,
                    cpu,
                    image: image.clone(),
                    restarts: rng.random_range(0..3) as f64,
                    cpu_total: rng.random_range(10.0..5000.0),
                };
                pods.push(pod);
            }
            deployments.push(Deployment {
                name,
                hash,
                pods,
                replicas: replicas as f64,
                rate: log_uniform(&mut rng, 1.0, 200.0),
                latency: log_uniform(&mut rng, 0.02, 0.5),
                error_share: if rng.random_bool(0.5) {
                    rng.random_range(0.0..0.02)
                } else {
                    0.0
                },
                ok_total: rng.random_range(1e3..1e7_f64).round(),
                err_total: rng.random_range(0.0..1e3_f64).round(),
                generation: rng.random_range(1..40) as f64,
            });
        }
        // Background patterns anywhere: some Deployments' pods saw their memory with GC.
        for d in &mut deployments {
            if rng.random_bool(0.3) {
                let period = rng.random_range(4..80);
                let amplitude = rng.random_range(0.05..0.4);
                for p in &mut d.pods {
                    p.gc = Some((period, amplitude));
                }
            }
        }
        let diurnal = (rng.random_range(0.0..0.3), rng.random_range(0.0..24.0));
        Self {
            rng,
            namespace,
            nodes,
            deployments,
            ksm,
            diurnal,
            notes: Vec::new(),
            series: BTreeMap::new(),
        }
    }

    fn push(&mut self, labels: &[(&str, &str)], metric_type: MetricType, step: usize, value: f64) {
        let Ok(set) = LabelSet::from_pairs(labels.iter().copied()) else {
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
            .push((START_MS + step as i64 * STEP_MS, value));
    }

    /// Traffic multiplier at a step: the daily swing.
    fn traffic(&self, step: usize) -> f64 {
        let hours = 6.0 + step as f64 * STEP_MS as f64 / 3_600_000.0;
        let (amplitude, peak) = self.diurnal;
        1.0 + amplitude * (std::f64::consts::TAU * (hours - peak) / 24.0).cos()
    }
}

/// What the fault does, step by step.
#[derive(Debug, Clone)]
enum Fault {
    None,
    Leak(Leak),
    DiskFill {
        node: usize,
        size: f64,
        free: f64,
        bytes_per_second: f64,
    },
    CrashLoop {
        pods: usize,
        every: usize,
    },
    OomKill {
        kills: usize,
    },
    Latency {
        factor: f64,
    },
    Errors {
        share: f64,
    },
    DependencyDown {
        job: usize,
    },
    ImagePull,
    ReplicasMissing {
        missing: usize,
    },
    Backlog {
        per_second: f64,
    },
    NodeNotReady {
        node: usize,
    },
}

const DEPENDENCIES: [(&str, &str); 4] = [
    ("nats", "nats.infra.svc:8222"),
    ("redis", "redis.infra.svc:9121"),
    ("postgres", "postgres.infra.svc:9187"),
    ("kafka", "kafka.infra.svc:9308"),
];

/// One draw of `family` from `seed`.
pub fn draw(family: Family, seed: u64) -> Scenario {
    let salt = (family as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut world = World::new(seed ^ salt, family.needs_ksm().then_some(true));
    let fault = choose(family, &mut world);
    render(family, seed, world, fault)
}

/// The leak scenario with exactly these numbers (one Deployment of `pods` pods leaking): what
/// a test pins down, e.g. 2 MiB/min towards a 1 GiB limit with 3 MB of noise.
pub fn leak(leak: Leak, pods: usize, seed: u64) -> Scenario {
    let mut world = World::new(seed, Some(leak.limit_bytes.is_some()));
    let target = &mut world.deployments[0];
    target.pods.truncate(1);
    while target.pods.len() < pods {
        let mut pod = target.pods[0].clone();
        pod.name = format!(
            "{}-{}-{}",
            target.name,
            target.hash,
            token(&mut world.rng, 5)
        );
        target.pods.push(pod);
    }
    target.replicas = pods as f64;
    render(Family::MemoryLeak, seed, world, Fault::Leak(leak))
}

/// Draws the fault's parameters (and the healthy patterns) into the world.
fn choose(family: Family, w: &mut World) -> Fault {
    let rng = &mut w.rng;
    match family {
        Family::MemoryLeak => {
            let rate = log_uniform(rng, 0.5, 50.0) * MIB;
            // Leaks that reach the limit within a day: beyond that a slow creep is no incident
            // yet (the rule's horizon is 24 h).
            let hours = log_uniform(rng, 1.5, 20.0);
            let start = w.deployments[0].pods[0].memory;
            let limit = w
                .ksm
                .then(|| ((start + rate * 60.0 * hours) / (64.0 * MIB)).ceil() * 64.0 * MIB);
            let noise = start * rng.random_range(0.002..0.01);
            w.deployments[0].pods.iter_mut().for_each(|p| p.gc = None);
            Fault::Leak(Leak {
                bytes_per_minute: rate,
                limit_bytes: limit,
                start_bytes: start,
                noise_bytes: noise,
            })
        }
        Family::DiskFill => {
            let node = rng.random_range(0..w.nodes.len());
            let size = log_uniform(rng, 50e9, 500e9);
            let free = size * rng.random_range(0.15..0.6);
            let hours = rng.random_range(0.75..3.5);
            Fault::DiskFill {
                node,
                size,
                free,
                bytes_per_second: free / (hours * 3600.0),
            }
        }
        Family::CrashLoop => {
            let pods = rng.random_range(1..=w.deployments[0].pods.len());
            // Restart cadence from a fast loop (30 s) to the back-off's cap (5 min).
            Fault::CrashLoop {
                pods,
                every: rng.random_range(2..=20),
            }
        }
        Family::OomKill => Fault::OomKill {
            kills: rng.random_range(1..=2),
        },
        Family::LatencySpike => Fault::Latency {
            factor: log_uniform(rng, 4.0, 15.0),
        },
        Family::ErrorSpike => Fault::Errors {
            share: log_uniform(rng, 0.08, 0.6),
        },
        Family::DependencyDown => Fault::DependencyDown {
            job: rng.random_range(0..DEPENDENCIES.len()),
        },
        Family::ImagePull => Fault::ImagePull,
        Family::ReplicasMissing => {
            let d = &mut w.deployments[0];
            if d.pods.len() < 2 {
                let mut pod = d.pods[0].clone();
                pod.name = format!("{}-{}-{}", d.name, d.hash, token(rng, 5));
                d.pods.push(pod);
                d.replicas = 2.0;
            }
            let missing = rng.random_range(1..d.pods.len());
            Fault::ReplicasMissing { missing }
        }
        Family::Backlog => Fault::Backlog {
            per_second: log_uniform(rng, 0.5, 50.0),
        },
        Family::NodeNotReady => Fault::NodeNotReady {
            node: rng.random_range(0..w.nodes.len()),
        },
        Family::HealthyGcSawtooth => {
            for d in &mut w.deployments {
                let period = rng.random_range(4..80);
                let amplitude = rng.random_range(0.05..0.4);
                for p in &mut d.pods {
                    p.gc = Some((period, amplitude));
                }
            }
            Fault::None
        }
        Family::HealthyDiurnal => {
            // The steepest hours of a strong daily swing.
            let amplitude = rng.random_range(0.3..0.7);
            let rising = rng.random_bool(0.5);
            w.diurnal = (amplitude, if rising { 13.0 } else { 1.0 });
            Fault::None
        }
        Family::HealthyRollout => {
            // Every pod of one Deployment is replaced, one after the other, by a new
            // ReplicaSet's pod whose cache warms up after start.
            let at = rng.random_range(60..360);
            let gap = rng.random_range(2..12);
            let warm = rng.random_range(4.0..40.0);
            let d = &mut w.deployments[0];
            let hash = token(rng, 10);
            let image = format!("registry.local/{}:2.0.{}", d.name, rng.random_range(0..20));
            let mut new = Vec::new();
            for (i, p) in d.pods.iter_mut().enumerate() {
                let switch = at + i * gap;
                p.to = switch + 1;
                let mut next = p.clone();
                next.name = format!("{}-{hash}-{}", d.name, token(rng, 5));
                next.from = switch;
                next.to = STEPS;
                next.warm = warm;
                next.restarts = 0.0;
                next.image = image.clone();
                new.push(next);
            }
            d.pods.extend(new);
            d.generation += 1.0;
            Fault::None
        }
        Family::HealthyScaling => {
            let d = &mut w.deployments[0];
            let at = rng.random_range(60..360);
            if rng.random_bool(0.5) || d.pods.len() == 1 {
                let extra = rng.random_range(1..=4);
                for _ in 0..extra {
                    let mut pod = d.pods[0].clone();
                    pod.name = format!("{}-{}-{}", d.name, d.hash, token(rng, 5));
                    pod.from = at + rng.random_range(0..8);
                    pod.warm = rng.random_range(4.0..40.0);
                    pod.restarts = 0.0;
                    d.pods.push(pod);
                }
            } else {
                let keep = rng.random_range(1..d.pods.len());
                for p in d.pods.iter_mut().skip(keep) {
                    p.to = at + 1;
                }
            }
            Fault::None
        }
        Family::HealthyBatchJobs => {
            // Job pods (`<cronjob>-<run>-<5>`) that load memory and CPU for minutes, then finish.
            let runs = rng.random_range(2..6);
            let job =
                ["report-export", "db-backup", "reindex", "thumbnailer"][rng.random_range(0..4)];
            let memory = log_uniform(rng, 128.0 * MIB, 2.0 * GIB);
            for _ in 0..runs {
                let from = rng.random_range(0..STEPS - 20);
                let length = rng.random_range(20..120);
                let pod = Pod {
                    name: format!(
                        "{job}-{}-{}",
                        rng.random_range(29_000_000..29_999_999),
                        token(rng, 5)
                    ),
                    node: rng.random_range(0..w.nodes.len()),
                    from,
                    to: (from + length).min(STEPS),
                    memory,
                    limit: memory * 2.0,
                    noise: memory * 0.01,
                    gc: None,
                    warm: length as f64 / 3.0,
                    cpu: rng.random_range(0.5..2.0),
                    image: format!("registry.local/{job}:1.0.0"),
                    restarts: 0.0,
                    cpu_total: 0.0,
                };
                w.deployments.push(Deployment {
                    name: job.to_owned(),
                    hash: String::new(),
                    pods: vec![pod],
                    replicas: 0.0,
                    rate: 0.0,
                    latency: 0.0,
                    error_share: 0.0,
                    ok_total: 0.0,
                    err_total: 0.0,
                    generation: 0.0,
                });
            }
            Fault::None
        }
    }
}

/// A series' labels: its name, the shared ones and its own.
fn join<'a>(
    base: &[(&'a str, &'a str)],
    name: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut l = vec![("__name__", name)];
    l.extend_from_slice(base);
    l.extend_from_slice(extra);
    l
}

fn render(family: Family, seed: u64, mut w: World, fault: Fault) -> Scenario {
    let fault_start_ms = START_MS + FAULT_STEP as i64 * STEP_MS;
    let ns = w.namespace.clone();
    let target = w.deployments[0].name.clone();
    let deployment_incident = |t: IncidentType| ExpectedIncident {
        incident_type: t,
        scope: Scope::Deployment,
        target: target.clone(),
        namespace: Some(ns.clone()),
        fault_start_ms,
    };
    let node_incident = |t: IncidentType, node: &str| ExpectedIncident {
        incident_type: t,
        scope: Scope::Node,
        target: node.to_owned(),
        namespace: None,
        fault_start_ms,
    };
    let expected = match &fault {
        Fault::None => Vec::new(),
        Fault::Leak(_) => vec![deployment_incident(IncidentType::MemoryLeak)],
        Fault::DiskFill { node, .. } => {
            vec![node_incident(
                IncidentType::NodeDiskPressure,
                &w.nodes[*node],
            )]
        }
        Fault::CrashLoop { .. } => vec![deployment_incident(IncidentType::CrashLoop)],
        Fault::OomKill { .. } => vec![deployment_incident(IncidentType::OomKilled)],
        Fault::Latency { .. } => vec![deployment_incident(IncidentType::LatencySpike)],
        Fault::Errors { .. } => vec![deployment_incident(IncidentType::ErrorRateSpike)],
        Fault::DependencyDown { job } => vec![ExpectedIncident {
            incident_type: IncidentType::DependencyUnavailable,
            scope: Scope::Service,
            target: DEPENDENCIES[*job].0.to_owned(),
            namespace: None,
            fault_start_ms,
        }],
        Fault::ImagePull => vec![deployment_incident(IncidentType::ImagePullFailure)],
        Fault::ReplicasMissing { .. } => {
            vec![deployment_incident(IncidentType::DeploymentDegraded)]
        }
        Fault::Backlog { .. } => vec![deployment_incident(IncidentType::BacklogGrowth)],
        Fault::NodeNotReady { node } => {
            vec![node_incident(IncidentType::NodeNotReady, &w.nodes[*node])]
        }
    };
    w.notes.push(describe(&fault, &w));
    let mut backlog = w.rng.random_range(0.0..100.0_f64);
    let mut sizes: Vec<f64> = vec![100e9; w.nodes.len()];
    let mut disk: Vec<f64> = vec![55e9; w.nodes.len()];
    if let Fault::DiskFill {
        node, size, free, ..
    } = fault
    {
        sizes[node] = size;
        disk[node] = free;
    }
    let image_pull_pod = format!(
        "{}-{}-{}",
        w.deployments[0].name,
        token(&mut w.rng, 10),
        token(&mut w.rng, 5)
    );
    for step in 0..STEPS {
        let after = step >= FAULT_STEP;
        let minutes_in = (step.saturating_sub(FAULT_STEP)) as f64 * STEP_MS as f64 / 60_000.0;
        let traffic = w.traffic(step);
        let node_down = match fault {
            Fault::NodeNotReady { node } if after => Some(node),
            _ => None,
        };
        for d in 0..w.deployments.len() {
            let is_target = d == 0;
            let pods = w.deployments[d].pods.clone();
            for (p, pod) in pods.iter().enumerate() {
                if step < pod.from || step >= pod.to {
                    continue;
                }
                let node = w.nodes[pod.node].clone();
                let dep = w.deployments[d].name.clone();
                let container = dep.clone();
                let age = (step - pod.from) as f64;
                // Working set: level, warm-up, GC sawtooth, a weak tie to traffic, noise.
                let mut memory = pod.memory * (0.97 + 0.03 * traffic);
                if pod.warm > 0.0 {
                    memory *= 1.0 - 0.6 * (-age / pod.warm).exp();
                }
                if let Some((period, amplitude)) = pod.gc {
                    memory *= 1.0 + amplitude * ((step + p * 7) % period) as f64 / period as f64;
                }
                let mut noise = pod.noise;
                let mut limit = pod.limit;
                match &fault {
                    Fault::Leak(leak) if is_target => {
                        noise = leak.noise_bytes;
                        memory = leak.start_bytes * (1.0 + 0.02 * p as f64)
                            + if after {
                                minutes_in * leak.bytes_per_minute
                            } else {
                                0.0
                            };
                        if let Some(l) = leak.limit_bytes {
                            limit = l;
                        }
                    }
                    Fault::OomKill { kills } if is_target && p == 0 && after => {
                        // Memory climbs to the limit over ten minutes and the kernel kills it.
                        let since = step - FAULT_STEP;
                        if since / OOM_CYCLE < *kills {
                            let share = (since % OOM_CYCLE) as f64 / (OOM_CYCLE - 1) as f64;
                            memory += (limit - memory) * share;
                        }
                    }
                    _ => {}
                }
                memory = (memory + gauss(&mut w.rng, noise)).max(MIB);
                let cadvisor_id = format!("/kubepods/burstable/pod-{}/{container}", pod.name);
                let image = pod.image.clone();
                let cadvisor = [
                    ("container", container.as_str()),
                    ("id", cadvisor_id.as_str()),
                    ("image", image.as_str()),
                    ("instance", node.as_str()),
                    ("job", "kubelet"),
                    ("metrics_path", "/metrics/cadvisor"),
                    ("namespace", ns.as_str()),
                    ("pod", pod.name.as_str()),
                ];
                if node_down != Some(pod.node) {
                    w.push(
                        &join(&cadvisor, "container_memory_working_set_bytes", &[]),
                        MetricType::Gauge,
                        step,
                        memory,
                    );
                    let busy = pod.cpu
                        * if w.deployments[d].rate > 0.0 {
                            traffic
                        } else {
                            1.0
                        };
                    let spent = 15.0 * busy * (1.0 + gauss(&mut w.rng, 0.05));
                    w.deployments[d].pods[p].cpu_total += spent.max(0.0);
                    let total = w.deployments[d].pods[p].cpu_total;
                    w.push(
                        &join(&cadvisor, "container_cpu_usage_seconds_total", &[]),
                        MetricType::Counter,
                        step,
                        total,
                    );
                }
                if !w.ksm {
                    continue;
                }
                let ksm_base = [
                    ("namespace", ns.as_str()),
                    ("pod", pod.name.as_str()),
                    ("job", "kube-state-metrics"),
                ];
                let c = [("container", container.as_str()), ("node", node.as_str())];
                let mut limits = join(&ksm_base, "kube_pod_container_resource_limits", &c);
                limits.extend([("resource", "memory"), ("unit", "byte")]);
                w.push(&limits, MetricType::Gauge, step, limit);
                if !w.deployments[d].hash.is_empty() {
                    let rs = format!("{}-{}", dep, pod.name.split('-').rev().nth(1).unwrap_or(""));
                    let owner = join(
                        &ksm_base,
                        "kube_pod_owner",
                        &[
                            ("owner_kind", "ReplicaSet"),
                            ("owner_name", rs.as_str()),
                            ("owner_is_controller", "true"),
                        ],
                    );
                    w.push(&owner, MetricType::Gauge, step, 1.0);
                    let rs_owner = [
                        ("__name__", "kube_replicaset_owner"),
                        ("namespace", ns.as_str()),
                        ("replicaset", rs.as_str()),
                        ("owner_kind", "Deployment"),
                        ("owner_name", dep.as_str()),
                        ("owner_is_controller", "true"),
                        ("job", "kube-state-metrics"),
                    ];
                    w.push(&rs_owner, MetricType::Gauge, step, 1.0);
                } else {
                    let owner = join(
                        &ksm_base,
                        "kube_pod_owner",
                        &[
                            ("owner_kind", "Job"),
                            ("owner_name", dep.as_str()),
                            ("owner_is_controller", "true"),
                        ],
                    );
                    w.push(&owner, MetricType::Gauge, step, 1.0);
                }
                // Restarts, and the reasons kube-state-metrics reports with them.
                let restart = match fault {
                    Fault::CrashLoop { pods, every } if is_target && after && p < pods => {
                        (step - FAULT_STEP).is_multiple_of(every)
                    }
                    Fault::OomKill { kills } if is_target && after && p == 0 => {
                        let since = step - FAULT_STEP;
                        since % OOM_CYCLE == OOM_CYCLE - 1 && since / OOM_CYCLE < kills
                    }
                    _ => false,
                };
                if restart {
                    w.deployments[d].pods[p].restarts += 1.0;
                }
                let restarts = w.deployments[d].pods[p].restarts;
                w.push(
                    &join(&ksm_base, "kube_pod_container_status_restarts_total", &c),
                    MetricType::Counter,
                    step,
                    restarts,
                );
                if let Fault::CrashLoop { pods, every } = fault
                    && is_target
                    && after
                    && p < pods
                {
                    let waiting = !(step - FAULT_STEP).is_multiple_of(every);
                    let mut l = join(&ksm_base, "kube_pod_container_status_waiting_reason", &c);
                    l.push(("reason", "CrashLoopBackOff"));
                    w.push(&l, MetricType::Gauge, step, if waiting { 1.0 } else { 0.0 });
                }
                if matches!(fault, Fault::OomKill { .. })
                    && is_target
                    && step >= FAULT_STEP + OOM_CYCLE - 1
                    && p == 0
                {
                    let mut l = join(
                        &ksm_base,
                        "kube_pod_container_status_last_terminated_reason",
                        &c,
                    );
                    l.push(("reason", "OOMKilled"));
                    w.push(&l, MetricType::Gauge, step, 1.0);
                }
                let ready = if node_down == Some(pod.node) {
                    0.0
                } else {
                    1.0
                };
                let mut l = join(&ksm_base, "kube_pod_status_ready", &[("condition", "true")]);
                l.push(("node", node.as_str()));
                w.push(&l, MetricType::Gauge, step, ready);
                let mut l = join(&ksm_base, "kube_pod_container_info", &c);
                l.push(("image", image.as_str()));
                w.push(&l, MetricType::Gauge, step, 1.0);
            }
            // The pod a broken image never starts.
            if matches!(fault, Fault::ImagePull) && is_target && after && w.ksm {
                let node = w.nodes[0].clone();
                let container = w.deployments[0].name.clone();
                let l = [
                    ("__name__", "kube_pod_container_status_waiting_reason"),
                    ("namespace", ns.as_str()),
                    ("pod", image_pull_pod.as_str()),
                    ("container", container.as_str()),
                    ("node", node.as_str()),
                    (
                        "reason",
                        if step % 8 < 2 {
                            "ErrImagePull"
                        } else {
                            "ImagePullBackOff"
                        },
                    ),
                    ("job", "kube-state-metrics"),
                ];
                let l: Vec<(&str, &str)> = l.to_vec();
                w.push(&l, MetricType::Gauge, step, 1.0);
            }
            // Service traffic, errors and latency.
            let dep = w.deployments[d].name.clone();
            if w.deployments[d].rate > 0.0 {
                let rate = w.deployments[d].rate * traffic;
                let mut share =
                    w.deployments[d].error_share * (1.0 + gauss(&mut w.rng, 0.2)).max(0.0);
                let mut latency = w.deployments[d].latency
                    * (0.9 + 0.1 * traffic)
                    * (1.0 + gauss(&mut w.rng, 0.04));
                if is_target && after {
                    match fault {
                        Fault::Errors { share: s } => share = s,
                        Fault::Latency { factor } => latency *= factor,
                        _ => {}
                    }
                }
                let requests = rate * 15.0;
                let errors = requests * share;
                let dd = &mut w.deployments[d];
                dd.err_total += errors;
                dd.ok_total += requests - errors;
                let (ok, err) = (dd.ok_total.round(), dd.err_total.round());
                for (code, value) in [("200", ok), ("500", err)] {
                    let l = [
                        ("__name__", "http_requests_total"),
                        ("namespace", ns.as_str()),
                        ("service", dep.as_str()),
                        ("code", code),
                    ];
                    w.push(&l, MetricType::Counter, step, value);
                }
                let l = [
                    ("__name__", "http_request_duration_seconds"),
                    ("namespace", ns.as_str()),
                    ("service", dep.as_str()),
                    ("quantile", "0.95"),
                ];
                w.push(&l, MetricType::Summary, step, latency.max(0.001));
            }
            // Deployment replicas.
            if w.ksm && !w.deployments[d].hash.is_empty() {
                let alive = w.deployments[d]
                    .pods
                    .iter()
                    .filter(|p| step >= p.from && step < p.to)
                    .count() as f64;
                let spec = alive;
                let mut available = alive;
                if let Fault::ReplicasMissing { missing } = fault
                    && is_target
                    && after
                {
                    available = (alive - missing as f64).max(0.0);
                }
                let generation = w.deployments[d].generation;
                for (name, value) in [
                    ("kube_deployment_spec_replicas", spec),
                    ("kube_deployment_status_replicas_available", available),
                    ("kube_deployment_metadata_generation", generation),
                ] {
                    let l = [
                        ("__name__", name),
                        ("namespace", ns.as_str()),
                        ("deployment", dep.as_str()),
                        ("job", "kube-state-metrics"),
                    ];
                    w.push(&l, MetricType::Gauge, step, value);
                }
            }
        }
        // Nodes: root filesystem, and their conditions where kube-state-metrics runs.
        for n in 0..w.nodes.len() {
            let node = w.nodes[n].clone();
            match fault {
                Fault::DiskFill {
                    node: full,
                    bytes_per_second,
                    ..
                } if full == n && after => {
                    disk[n] = (disk[n] - bytes_per_second * 15.0 * (1.0 + gauss(&mut w.rng, 0.1)))
                        .max(0.2e9);
                }
                _ => {
                    // Logs written and rotated: a slow drift and small steps back.
                    disk[n] -= w.rng.random_range(0.0..2e6);
                    if w.rng.random_bool(0.01) {
                        disk[n] += 0.5e9;
                    }
                }
            }
            let fs = [
                ("device", "/dev/nvme0n1p1"),
                ("fstype", "xfs"),
                ("instance", node.as_str()),
                ("job", "node-exporter"),
                ("mountpoint", "/"),
                ("node", node.as_str()),
            ];
            for (name, value) in [
                ("node_filesystem_avail_bytes", disk[n]),
                ("node_filesystem_size_bytes", sizes[n]),
            ] {
                let mut l: Vec<(&str, &str)> = vec![("__name__", name)];
                l.extend_from_slice(&fs);
                w.push(&l, MetricType::Gauge, step, value.round());
            }
            if w.ksm {
                let pressure = disk[n] < 0.1 * sizes[n];
                let ready = node_down != Some(n);
                for (condition, on) in [("DiskPressure", pressure), ("Ready", ready)] {
                    let l = [
                        ("__name__", "kube_node_status_condition"),
                        ("node", node.as_str()),
                        ("condition", condition),
                        ("status", "true"),
                        ("job", "kube-state-metrics"),
                    ];
                    w.push(&l, MetricType::Gauge, step, if on { 1.0 } else { 0.0 });
                }
            }
        }
        // Dependencies probed by Prometheus.
        for (i, (job, instance)) in DEPENDENCIES.iter().enumerate() {
            let down = matches!(fault, Fault::DependencyDown { job } if job == i) && after;
            let l = [("__name__", "up"), ("job", *job), ("instance", *instance)];
            w.push(&l, MetricType::Gauge, step, if down { 0.0 } else { 1.0 });
        }
        // A work queue the target consumes.
        match fault {
            Fault::Backlog { per_second } if after => {
                backlog += per_second * 15.0 * w.rng.random_range(0.6..1.4);
            }
            _ => {
                let target_level = 40.0 * traffic;
                backlog =
                    (backlog + 0.2 * (target_level - backlog) + gauss(&mut w.rng, 8.0)).max(0.0);
            }
        }
        let l = [
            ("__name__", "nats_consumer_num_pending"),
            ("namespace", ns.as_str()),
            ("deployment", target.as_str()),
            ("consumer", "work"),
        ];
        w.push(&l, MetricType::Gauge, step, backlog.round());
    }
    Scenario {
        meta: ScenarioMeta {
            name: format!("{}-{seed}", family.name()),
            description: w.notes.join("; "),
            start_ms: START_MS,
            end_ms: START_MS + (STEPS as i64 - 1) * STEP_MS,
            step_ms: STEP_MS,
            expected,
        },
        series: w.series.into_values().collect(),
    }
}

fn describe(fault: &Fault, w: &World) -> String {
    use model::human;
    let target = &w.deployments[0].name;
    let ksm = if w.ksm {
        "with kube-state-metrics"
    } else {
        "without kube-state-metrics"
    };
    let what = match fault {
        Fault::None => "nothing wrong".to_owned(),
        Fault::Leak(l) => format!(
            "{target} leaks {}/min from {} (noise {}) towards {}",
            human::bytes(l.bytes_per_minute),
            human::bytes(l.start_bytes),
            human::bytes(l.noise_bytes),
            l.limit_bytes
                .map_or("no known limit".to_owned(), |b| format!(
                    "a {} limit",
                    human::bytes(b)
                ))
        ),
        Fault::DiskFill {
            node,
            free,
            bytes_per_second,
            ..
        } => format!(
            "the root filesystem of {} fills at {}/min from {} free",
            w.nodes[*node],
            human::bytes_decimal(bytes_per_second * 60.0),
            human::bytes_decimal(*free)
        ),
        Fault::CrashLoop { pods, every } => {
            format!("{pods} pod(s) of {target} restart every {} s", every * 15)
        }
        Fault::OomKill { kills } => format!("a pod of {target} is OOMKilled {kills} time(s)"),
        Fault::Latency { factor } => format!("{target}'s p95 latency grows {factor:.1}×"),
        Fault::Errors { share } => {
            format!("{} of {target}'s requests fail", human::percent(*share))
        }
        Fault::DependencyDown { job } => format!("{} stops answering", DEPENDENCIES[*job].0),
        Fault::ImagePull => format!("a new {target} pod cannot pull its image"),
        Fault::ReplicasMissing { missing } => {
            format!("{missing} replica(s) of {target} unavailable")
        }
        Fault::Backlog { per_second } => format!("{target}'s queue grows {per_second:.1}/s"),
        Fault::NodeNotReady { node } => format!("{} goes NotReady", w.nodes[*node]),
    };
    format!(
        "{what}; {} deployments in {}, {}",
        w.deployments.len(),
        w.namespace,
        ksm
    )
}

/// `draws` scenarios from `seed`, the families in turn (faults and healthy alike).
pub fn draws(count: usize, seed: u64) -> impl Iterator<Item = (Family, u64)> {
    (0..count).map(move |i| {
        let family = Family::ALL[i % Family::ALL.len()];
        let draw_seed = seed
            .wrapping_mul(0x2545_F491_4F6C_DD1D)
            .wrapping_add(i as u64 / Family::ALL.len() as u64 + 1);
        (family, draw_seed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_of_a_draw_have_distinct_names() {
        // Seed 2027's disk-fill draw once named two nodes alike, and the filling disk's
        // samples were lost among the healthy one's.
        for (family, seed) in draws(200, 2027) {
            let scenario = draw(family, seed);
            let filesystems = scenario
                .series
                .iter()
                .filter(|s| s.labels.metric_name().starts_with("node_filesystem_"));
            for series in filesystems {
                let stamps: Vec<i64> = series.samples.iter().map(|s| s.0).collect();
                assert!(
                    stamps.windows(2).all(|w| w[0] < w[1]),
                    "{} seed {seed}: {} repeats a timestamp",
                    family.name(),
                    series.labels
                );
            }
        }
    }

    #[test]
    fn draws_are_reproducible_and_labelled() {
        for family in Family::ALL {
            let a = draw(family, 11);
            let b = draw(family, 11);
            assert!(a == b, "{}: same seed, same recording", family.name());
            assert_eq!(
                a.meta.expected.is_empty(),
                !family.is_fault(),
                "{}",
                family.name()
            );
            assert!(a.sample_count() > 5_000, "{}", family.name());
        }
        assert!(draw(Family::MemoryLeak, 1) != draw(Family::MemoryLeak, 2));
    }

    #[test]
    fn a_pinned_leak_grows_at_its_rate() {
        let s = leak(
            Leak {
                bytes_per_minute: 2.0 * MIB,
                limit_bytes: Some(GIB),
                start_bytes: 540.0 * MIB,
                noise_bytes: 3e6,
            },
            2,
            5,
        );
        let ws: Vec<&RecordedSeries> = s
            .series
            .iter()
            .filter(|r| r.labels.metric_name() == "container_memory_working_set_bytes")
            .filter(|r| r.labels.get("container") == Some(s.meta.expected[0].target.as_str()))
            .collect();
        assert_eq!(ws.len(), 2);
        let first = ws[0].samples[FAULT_STEP].1;
        let last = ws[0].samples[STEPS - 1].1;
        let minutes = (STEPS - 1 - FAULT_STEP) as f64 / 4.0;
        let rate = (last - first) / minutes / MIB;
        assert!((rate - 2.0).abs() < 0.5, "{rate} MiB/min");
        assert!(s.series.iter().any(|r| r.labels.metric_name()
            == "kube_pod_container_resource_limits"
            && r.labels.get("resource") == Some("memory")));
    }
}
