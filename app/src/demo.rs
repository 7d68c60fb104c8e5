//! Labelled recorded scenarios: a small Kubernetes platform's series (kube-state-metrics,
//! node_exporter, cAdvisor and application names) with one injected fault, or none.
//!
//! Each fault scenario names the incidents a correct engine opens (type, scope, target); each
//! healthy one (seasonality, deploy restarts, GC sawtooth, traffic bursts) must open nothing.
//! Generation is deterministic: the same seed writes the same bytes.

use model::{IncidentType, LabelSet, MetricType, Sample, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

const STEP_MS: i64 = 15_000;
const MINUTE: i64 = 60_000;
/// Scenarios start at 2026-01-05 00:00 UTC (a Monday).
const START_MS: i64 = 1_767_571_200_000;
const NAMESPACE: &str = "shop";
const DEPLOYMENTS: [&str; 3] = ["payments-api", "checkout", "catalogue"];
const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];
const DEPENDENCIES: [(&str, &str); 3] = [
    ("nats", "nats.infra:8222"),
    ("redis", "redis.infra:9121"),
    ("postgres", "postgres.infra:9187"),
];

/// Why a recorded scenario could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// One series of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSeries {
    pub labels: LabelSet,
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    /// `[timestamp_ms, value]` pairs in time order.
    pub samples: Vec<(i64, f64)>,
}

impl RecordedSeries {
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        self.samples.iter().map(|&(timestamp_ms, value)| Sample {
            timestamp_ms,
            value,
        })
    }
}

/// An incident a correct engine opens for a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedIncident {
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    pub scope: Scope,
    pub target: String,
    pub namespace: Option<String>,
    /// When the fault starts (event time, ms).
    pub fault_start_ms: i64,
}

/// What `scenario.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioMeta {
    pub name: String,
    pub description: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    /// Empty for a healthy scenario.
    pub expected: Vec<ExpectedIncident>,
}

/// A recorded dataset: metadata plus series.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub meta: ScenarioMeta,
    pub series: Vec<RecordedSeries>,
}

impl Scenario {
    pub fn is_healthy(&self) -> bool {
        self.meta.expected.is_empty()
    }

    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    /// Writes `DIR/scenario.json` and `DIR/series.jsonl` (one series per line).
    pub fn write(&self, dir: &Path) -> Result<(), ScenarioError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ScenarioError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let meta_path = dir.join("scenario.json");
        let meta = serde_json::to_vec_pretty(&self.meta).map_err(|source| ScenarioError::Json {
            path: meta_path.clone(),
            line: 0,
            source,
        })?;
        std::fs::write(&meta_path, meta).map_err(io(&meta_path))?;
        let series_path = dir.join("series.jsonl");
        let file = std::fs::File::create(&series_path).map_err(io(&series_path))?;
        let mut out = std::io::BufWriter::new(file);
        for (i, series) in self.series.iter().enumerate() {
            serde_json::to_writer(&mut out, series).map_err(|source| ScenarioError::Json {
                path: series_path.clone(),
                line: i + 1,
                source,
            })?;
            out.write_all(b"\n").map_err(io(&series_path))?;
        }
        out.flush().map_err(io(&series_path))
    }

    /// Reads what [`Scenario::write`] wrote.
    pub fn read(dir: &Path) -> Result<Self, ScenarioError> {
        let meta_path = dir.join("scenario.json");
        let text = std::fs::read(&meta_path).map_err(|source| ScenarioError::Io {
            path: meta_path.clone(),
            source,
        })?;
        let meta = serde_json::from_slice(&text).map_err(|source| ScenarioError::Json {
            path: meta_path.clone(),
            line: 0,
            source,
        })?;
        let series_path = dir.join("series.jsonl");
        let file = std::fs::File::open(&series_path).map_err(|source| ScenarioError::Io {
            path: series_path.clone(),
            source,
        })?;
        let mut series = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| ScenarioError::Io {
                path: series_path.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            series.push(
                serde_json::from_str(&line).map_err(|source| ScenarioError::Json {
                    path: series_path.clone(),
                    line: i + 1,
                    source,
                })?,
            );
        }
        Ok(Self { meta, series })
    }
}

/// A small deterministic generator (xorshift64*), so recordings are reproducible.
#[derive(Debug, Clone)]
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in `[0, 1)`.
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (sum of uniforms), mean 0, standard deviation `sd`.
    fn gauss(&mut self, sd: f64) -> f64 {
        (0..4).map(|_| self.next()).sum::<f64>().mul_add(1.0, -2.0) * sd * 1.732
    }
}

/// The fault (or healthy pattern) a scenario injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    NodeDiskPressure,
    MemoryLeak,
    MemorySpike,
    OomKill,
    CrashLoop,
    LatencySpike,
    ErrorRateSpike,
    DependencyUnavailable,
    ImagePullFailure,
    DeploymentDegraded,
    BacklogGrowth,
    /// A node fails and every pod on it shows symptoms: one incident, many candidates.
    NodeNotReadyCascade,
    HealthySeasonality,
    HealthyDeployRestart,
    HealthyGcSawtooth,
    HealthyTrafficBurst,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::NodeDiskPressure,
        Fault::MemoryLeak,
        Fault::MemorySpike,
        Fault::OomKill,
        Fault::CrashLoop,
        Fault::LatencySpike,
        Fault::ErrorRateSpike,
        Fault::DependencyUnavailable,
        Fault::ImagePullFailure,
        Fault::DeploymentDegraded,
        Fault::BacklogGrowth,
        Fault::NodeNotReadyCascade,
        Fault::HealthySeasonality,
        Fault::HealthyDeployRestart,
        Fault::HealthyGcSawtooth,
        Fault::HealthyTrafficBurst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::NodeDiskPressure => "node-disk-pressure",
            Fault::MemoryLeak => "memory-leak",
            Fault::MemorySpike => "memory-spike",
            Fault::OomKill => "oom-kill",
            Fault::CrashLoop => "crash-loop",
            Fault::LatencySpike => "latency-spike",
            Fault::ErrorRateSpike => "error-rate-spike",
            Fault::DependencyUnavailable => "dependency-unavailable",
            Fault::ImagePullFailure => "image-pull-failure",
            Fault::DeploymentDegraded => "deployment-degraded",
            Fault::BacklogGrowth => "backlog-growth",
            Fault::NodeNotReadyCascade => "node-not-ready-cascade",
            Fault::HealthySeasonality => "healthy-seasonality",
            Fault::HealthyDeployRestart => "healthy-deploy-restart",
            Fault::HealthyGcSawtooth => "healthy-gc-sawtooth",
            Fault::HealthyTrafficBurst => "healthy-traffic-burst",
        }
    }
}

/// Builds series sample by sample.
#[derive(Debug, Default)]
struct Recorder {
    series: BTreeMap<LabelSet, RecordedSeries>,
}

impl Recorder {
    fn push(&mut self, labels: &[(&str, &str)], metric_type: MetricType, ts: i64, value: f64) {
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
            .push((ts, value));
    }
}

fn pod_name(deployment: &str, replica: usize) -> String {
    format!("{deployment}-7d9c5b{replica}f-x{replica}q{replica}")
}

/// Node a pod runs on: replicas spread over the nodes.
fn node_of(deployment_index: usize, replica: usize) -> &'static str {
    NODES[(deployment_index + replica) % NODES.len()]
}

/// Generates one scenario: two hours at 15 s, the fault starting after one hour.
pub fn generate(fault: Fault, seed: u64) -> Scenario {
    let steps = 2 * 60 * 4;
    let fault_start = START_MS + 60 * MINUTE;
    let end = START_MS + steps as i64 * STEP_MS;
    let mut noise = Noise::new(seed ^ fault as u64);
    let mut rec = Recorder::default();
    let target_deployment = 0; // payments-api
    let target_node = 1; // node-b
    let mut expected = Vec::new();
    let deployment_incident = |t: IncidentType| ExpectedIncident {
        incident_type: t,
        scope: Scope::Deployment,
        target: DEPLOYMENTS[target_deployment].to_owned(),
        namespace: Some(NAMESPACE.to_owned()),
        fault_start_ms: fault_start,
    };
    match fault {
        Fault::NodeDiskPressure => expected.push(ExpectedIncident {
            incident_type: IncidentType::NodeDiskPressure,
            scope: Scope::Node,
            target: NODES[target_node].to_owned(),
            namespace: None,
            fault_start_ms: fault_start,
        }),
        Fault::NodeNotReadyCascade => expected.push(ExpectedIncident {
            incident_type: IncidentType::NodeNotReady,
            scope: Scope::Node,
            target: NODES[target_node].to_owned(),
            namespace: None,
            fault_start_ms: fault_start,
        }),
        Fault::MemoryLeak => expected.push(deployment_incident(IncidentType::MemoryLeak)),
        Fault::MemorySpike => expected.push(deployment_incident(IncidentType::MemoryPressure)),
        Fault::OomKill => expected.push(deployment_incident(IncidentType::OomKilled)),
        Fault::CrashLoop => expected.push(deployment_incident(IncidentType::CrashLoop)),
        Fault::LatencySpike => expected.push(deployment_incident(IncidentType::LatencySpike)),
        Fault::ErrorRateSpike => expected.push(deployment_incident(IncidentType::ErrorRateSpike)),
        Fault::ImagePullFailure => {
            expected.push(deployment_incident(IncidentType::ImagePullFailure))
        }
        Fault::DeploymentDegraded => {
            expected.push(deployment_incident(IncidentType::DeploymentDegraded))
        }
        Fault::BacklogGrowth => expected.push(deployment_incident(IncidentType::BacklogGrowth)),
        Fault::DependencyUnavailable => expected.push(ExpectedIncident {
            incident_type: IncidentType::DependencyUnavailable,
            scope: Scope::Service,
            target: DEPENDENCIES[0].0.to_owned(),
            namespace: None,
            fault_start_ms: fault_start,
        }),
        _ => {}
    }

    let mut restarts = [[0.0f64; 3]; 3];
    let mut requests = [[0.0f64; 2]; 3];
    let mut cpu = [[0.0f64; 3]; 3];
    let mut backlog = 20.0;
    for step in 0..steps {
        let ts = START_MS + step as i64 * STEP_MS;
        let after = ts >= fault_start;
        let minutes_in = ((ts - fault_start) as f64 / MINUTE as f64).max(0.0);
        let hour = ((ts - START_MS) as f64 / 3_600_000.0) % 24.0;
        let season = if fault == Fault::HealthySeasonality {
            1.0 + 0.5 * (std::f64::consts::TAU * (hour + 6.0) / 6.0).sin()
        } else {
            1.0
        };
        let burst =
            fault == Fault::HealthyTrafficBurst && (step % 120 >= 100) && (step % 120 < 108);
        let traffic = season * if burst { 2.5 } else { 1.0 };

        for (d, deployment) in DEPLOYMENTS.iter().enumerate() {
            let is_target = d == target_deployment;
            // A rollout of the target: the faults a bad release causes start with one, and the
            // healthy redeploy is one.
            let deployed = is_target
                && match fault {
                    Fault::CrashLoop | Fault::ErrorRateSpike => after,
                    Fault::HealthyDeployRestart => step >= 300,
                    _ => false,
                };
            let image = format!(
                "registry.local/shop/{deployment}:{}",
                if deployed { "1.4.3" } else { "1.4.2" }
            );
            for replica in 0..3 {
                let pod = pod_name(deployment, replica);
                let node = node_of(d, replica);
                let on_failed_node = node == NODES[target_node];
                let base = [
                    ("namespace", NAMESPACE),
                    ("pod", pod.as_str()),
                    ("container", *deployment),
                    ("node", node),
                ];
                let with_name = |name: &'static str| -> Vec<(&str, &str)> {
                    let mut l = vec![("__name__", name)];
                    l.extend_from_slice(&base);
                    l
                };
                // Memory: steady around 200 MiB, GC sawtooth in the healthy GC scenario.
                let mut memory = 200.0 * 1048576.0 + noise.gauss(2.0 * 1048576.0);
                if fault == Fault::HealthyGcSawtooth {
                    memory += (step % 20) as f64 * 6.0 * 1048576.0;
                }
                if fault == Fault::HealthyDeployRestart && (step == 300) {
                    memory = 120.0 * 1048576.0;
                }
                if is_target && after {
                    match fault {
                        Fault::MemoryLeak => memory += minutes_in * 4.0 * 1048576.0,
                        Fault::MemorySpike => memory += 420.0 * 1048576.0,
                        _ => {}
                    }
                }
                rec.push(
                    &with_name("container_memory_working_set_bytes"),
                    MetricType::Gauge,
                    ts,
                    memory,
                );
                let mut info = with_name("kube_pod_container_info");
                info.push(("image", image.as_str()));
                info.sort();
                rec.push(&info, MetricType::Gauge, ts, 1.0);
                rec.push(
                    &with_name("kube_pod_container_resource_limits_memory_bytes"),
                    MetricType::Gauge,
                    ts,
                    768.0 * 1048576.0,
                );
                cpu[d][replica] += 15.0 * (0.2 + 0.05 * traffic + noise.next() * 0.02);
                rec.push(
                    &with_name("container_cpu_usage_seconds_total"),
                    MetricType::Counter,
                    ts,
                    cpu[d][replica],
                );

                // Restarts: crash loop restarts every ~2 minutes; OOM kill once.
                let restart_now = is_target
                    && after
                    && match fault {
                        Fault::CrashLoop => step % 8 == 0,
                        Fault::OomKill => replica == 0 && step % 40 == 0 && minutes_in < 30.0,
                        _ => false,
                    }
                    || (fault == Fault::HealthyDeployRestart && step == 300 && is_target);
                if restart_now {
                    restarts[d][replica] += 1.0;
                }
                rec.push(
                    &with_name("kube_pod_container_status_restarts_total"),
                    MetricType::Counter,
                    ts,
                    restarts[d][replica],
                );
                if is_target && after && fault == Fault::OomKill && replica == 0 {
                    let mut l = with_name("kube_pod_container_status_last_terminated_reason");
                    l.push(("reason", "OOMKilled"));
                    rec.push(&l, MetricType::Gauge, ts, 1.0);
                }
                if is_target && after && fault == Fault::CrashLoop {
                    let mut l = with_name("kube_pod_container_status_waiting_reason");
                    l.push(("reason", "CrashLoopBackOff"));
                    rec.push(
                        &l,
                        MetricType::Gauge,
                        ts,
                        if step % 8 < 6 { 1.0 } else { 0.0 },
                    );
                }
                if is_target && after && fault == Fault::ImagePullFailure && replica == 2 {
                    let mut l = with_name("kube_pod_container_status_waiting_reason");
                    l.push(("reason", "ImagePullBackOff"));
                    rec.push(&l, MetricType::Gauge, ts, 1.0);
                }
                if fault == Fault::NodeNotReadyCascade && after && on_failed_node {
                    // Pods on the failed node stop reporting readiness.
                    rec.push(
                        &with_name("kube_pod_status_ready"),
                        MetricType::Gauge,
                        ts,
                        0.0,
                    );
                } else {
                    rec.push(
                        &with_name("kube_pod_status_ready"),
                        MetricType::Gauge,
                        ts,
                        1.0,
                    );
                }
            }

            // Service traffic, errors and latency.
            let svc = [("namespace", NAMESPACE), ("service", *deployment)];
            let rate = 50.0 * traffic;
            let mut error_share = 0.002;
            let mut p95 = 0.12 + noise.gauss(0.008) + if burst { 0.02 } else { 0.0 };
            if is_target && after {
                match fault {
                    Fault::ErrorRateSpike => error_share = 0.18,
                    Fault::LatencySpike => p95 = 0.95 + noise.gauss(0.05),
                    _ => {}
                }
            }
            requests[d][0] += rate * (1.0 - error_share) * 15.0;
            requests[d][1] += rate * error_share * 15.0;
            for (code, index) in [("200", 0), ("500", 1)] {
                let mut l = vec![("__name__", "http_requests_total"), ("code", code)];
                l.extend_from_slice(&svc);
                rec.push(&l, MetricType::Counter, ts, requests[d][index].round());
            }
            let mut l = vec![
                ("__name__", "http_request_duration_seconds"),
                ("quantile", "0.95"),
            ];
            l.extend_from_slice(&svc);
            rec.push(&l, MetricType::Summary, ts, p95.max(0.01));

            // Deployment replicas.
            let dep = [("namespace", NAMESPACE), ("deployment", *deployment)];
            let mut available = 3.0;
            if is_target && after && fault == Fault::DeploymentDegraded {
                available = 1.0;
            }
            if is_target && after && fault == Fault::ImagePullFailure {
                available = 2.0;
            }
            let mut l = vec![("__name__", "kube_deployment_spec_replicas")];
            l.extend_from_slice(&dep);
            rec.push(&l, MetricType::Gauge, ts, 3.0);
            let mut l = vec![("__name__", "kube_deployment_metadata_generation")];
            l.extend_from_slice(&dep);
            rec.push(&l, MetricType::Gauge, ts, if deployed { 5.0 } else { 4.0 });
            let mut l = vec![("__name__", "kube_deployment_status_replicas_available")];
            l.extend_from_slice(&dep);
            rec.push(&l, MetricType::Gauge, ts, available);
        }

        // Nodes: filesystem, readiness, conditions.
        for (n, node) in NODES.iter().enumerate() {
            let size = 100.0 * 1e9;
            let mut avail = 55.0 * 1e9 + noise.gauss(0.05e9);
            if fault == Fault::NodeDiskPressure && n == target_node && after {
                avail = (55.0e9 - minutes_in * 0.85e9).max(0.3e9);
            }
            let fs = [("node", *node), ("mountpoint", "/"), ("fstype", "ext4")];
            let mut l = vec![("__name__", "node_filesystem_avail_bytes")];
            l.extend_from_slice(&fs);
            rec.push(&l, MetricType::Gauge, ts, avail);
            let mut l = vec![("__name__", "node_filesystem_size_bytes")];
            l.extend_from_slice(&fs);
            rec.push(&l, MetricType::Gauge, ts, size);
            let disk_pressure =
                fault == Fault::NodeDiskPressure && n == target_node && avail < 10.0e9;
            let not_ready = fault == Fault::NodeNotReadyCascade && n == target_node && after;
            for (condition, on) in [("DiskPressure", disk_pressure), ("Ready", !not_ready)] {
                let l = [
                    ("__name__", "kube_node_status_condition"),
                    ("node", *node),
                    ("condition", condition),
                    ("status", "true"),
                ];
                rec.push(&l, MetricType::Gauge, ts, if on { 1.0 } else { 0.0 });
            }
        }

        // Dependencies probed by Prometheus.
        for (i, (job, instance)) in DEPENDENCIES.iter().enumerate() {
            let down = fault == Fault::DependencyUnavailable && i == 0 && after;
            let l = [("__name__", "up"), ("job", *job), ("instance", *instance)];
            rec.push(&l, MetricType::Gauge, ts, if down { 0.0 } else { 1.0 });
        }

        // A work queue consumed by payments-api.
        if fault == Fault::BacklogGrowth && after {
            backlog += 12.0 + noise.next() * 4.0;
        } else {
            backlog = (backlog + noise.gauss(3.0)).clamp(0.0, 60.0);
        }
        let l = [
            ("__name__", "nats_consumer_num_pending"),
            ("namespace", NAMESPACE),
            ("deployment", DEPLOYMENTS[target_deployment]),
            ("consumer", "payments"),
        ];
        rec.push(&l, MetricType::Gauge, ts, backlog.round());
    }

    Scenario {
        meta: ScenarioMeta {
            name: fault.name().to_owned(),
            description: description(fault).to_owned(),
            start_ms: START_MS,
            end_ms: end,
            step_ms: STEP_MS,
            expected,
        },
        series: rec.series.into_values().collect(),
    }
}

/// What the scenario injects, in one sentence.
pub fn description(fault: Fault) -> &'static str {
    match fault {
        Fault::NodeDiskPressure => {
            "node-b's root filesystem fills at ~0.85 GB/min until DiskPressure"
        }
        Fault::MemoryLeak => "payments-api pods grow 4 MiB/min without bound",
        Fault::MemorySpike => "payments-api pods jump by 420 MiB towards their limit",
        Fault::OomKill => "one payments-api pod is OOMKilled and restarts",
        Fault::CrashLoop => "payments-api pods restart every two minutes (CrashLoopBackOff)",
        Fault::LatencySpike => "payments-api p95 latency goes from 120 ms to ~950 ms",
        Fault::ErrorRateSpike => "18% of payments-api requests answer 500",
        Fault::DependencyUnavailable => "the NATS server stops answering scrapes (up == 0)",
        Fault::ImagePullFailure => "a new payments-api pod is stuck in ImagePullBackOff",
        Fault::DeploymentDegraded => "payments-api has 1 of 3 replicas available",
        Fault::BacklogGrowth => "the payments queue grows by ~14 messages every 15 s",
        Fault::NodeNotReadyCascade => "node-b goes NotReady and every pod on it loses readiness",
        Fault::HealthySeasonality => "traffic follows a 6-hour cycle between 50% and 150%",
        Fault::HealthyDeployRestart => "payments-api is redeployed once: restarts, memory drops",
        Fault::HealthyGcSawtooth => "memory climbs and drops every 5 minutes (GC sawtooth)",
        Fault::HealthyTrafficBurst => "traffic bursts to 250% for 2 minutes every 30 minutes",
    }
}

/// Every scenario, faults first.
pub fn all(seed: u64) -> Vec<Scenario> {
    Fault::ALL.iter().map(|&f| generate(f, seed)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_labelled() {
        let a = generate(Fault::MemoryLeak, 7);
        let b = generate(Fault::MemoryLeak, 7);
        assert!(a == b, "same seed, same recording");
        assert_eq!(a.meta.expected.len(), 1);
        assert_eq!(a.meta.expected[0].incident_type, IncidentType::MemoryLeak);
        assert!(generate(Fault::HealthyGcSawtooth, 7).is_healthy());
        assert!(a.sample_count() > 10_000);
    }

    #[test]
    fn leak_grows_only_after_the_fault() {
        let s = generate(Fault::MemoryLeak, 1);
        let leaking = s
            .series
            .iter()
            .find(|r| {
                r.labels.metric_name() == "container_memory_working_set_bytes"
                    && r.labels.get("container") == Some("payments-api")
            })
            .unwrap();
        let first = leaking.samples[200].1;
        let before_fault = leaking.samples[239].1;
        let last = leaking.samples.last().unwrap().1;
        assert!((before_fault - first).abs() < 20.0 * 1048576.0);
        assert!(last - before_fault > 200.0 * 1048576.0);
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(Fault::CrashLoop, 3);
        s.write(dir.path()).unwrap();
        let back = Scenario::read(dir.path()).unwrap();
        assert_eq!(back.meta, s.meta);
        assert_eq!(back.series.len(), s.series.len());
        for (a, b) in back.series.iter().zip(&s.series) {
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.samples.len(), b.samples.len());
            let close = a
                .samples
                .iter()
                .zip(&b.samples)
                .all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= 1e-9 * y.1.abs().max(1.0));
            assert!(close, "values of {} differ after the round trip", a.labels);
        }
    }
}
