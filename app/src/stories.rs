//! The workspace's demo stories: recordings of series, log lines and findings that tell one
//! operational story each, for `/ui/demo` to play into a server at the present.
//!
//! - LDAP login timeout: the auth service's LDAP binds time out, logins fail;
//! - provider connectivity degradation: an external payment provider's probes fail and
//!   checkout slows down;
//! - release drift with a partial apply: a release reached two of three replicas and the live
//!   image differs from the release's values (its findings ride in the recording until the
//!   cluster's drift signals exist).
//!
//! Deterministic: the same seed gives the same recording.

use crate::demo::{RecordedSeries, Scenario, ScenarioMeta};
use model::{
    EventEvidence, Evidence, IncidentCandidate, IncidentType, LabelSet, MetricType, Origin, Scope,
    Severity, Signal,
};
use std::collections::BTreeMap;

const STEP_MS: i64 = 15_000;
const MINUTE: i64 = 60_000;
/// Stories start at 2026-01-05 00:00 UTC, like the scenarios; the player shifts them.
const START_MS: i64 = 1_767_571_200_000;
/// Forty minutes of baseline, then the fault for twenty.
const FAULT_AT: i64 = START_MS + 40 * MINUTE;
const END_MS: i64 = START_MS + 60 * MINUTE;

/// A recorded story: series, log lines and findings, in event time.
#[derive(Debug, Clone)]
pub struct Recording {
    pub scenario: Scenario,
    /// `(event time ms, stream labels, line)`, in time order.
    pub logs: Vec<(i64, LabelSet, String)>,
    /// Findings the story carries (detected in the cluster, not in the windows).
    pub findings: Vec<IncidentCandidate>,
}

/// A story's name and what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Story {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// The three demo stories.
pub const STORIES: [Story; 3] = [
    Story {
        name: "ldap-login-timeout",
        title: "LDAP login timeout",
        description: "auth-api's LDAP binds to glauth time out after a network change; a \
                      third of logins fail with an upstream timeout",
    },
    Story {
        name: "provider-connectivity",
        title: "Provider connectivity degradation",
        description: "the payment provider's endpoint stops answering most probes; checkout \
                      retries and its p95 latency climbs",
    },
    Story {
        name: "release-drift",
        title: "Release drift with a partial apply",
        description: "catalogue's release 1.9.0 reached two of three replicas; the third runs \
                      1.8.0 and the live config map differs from the release's values",
    },
];

#[derive(Debug, Default)]
struct Builder {
    series: BTreeMap<LabelSet, RecordedSeries>,
    logs: Vec<(i64, LabelSet, String)>,
    state: u64,
}

impl Builder {
    fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            ..Self::default()
        }
    }

    /// Uniform in `[0, 1)` (xorshift64*).
    fn noise(&mut self) -> f64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn push(&mut self, labels: &[(&str, &str)], metric_type: MetricType, at: i64, value: f64) {
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
            .push((at, value));
    }

    fn log(&mut self, at: i64, labels: &[(&str, &str)], line: String) {
        if let Ok(set) = LabelSet::from_pairs(labels.iter().copied()) {
            self.logs.push((at, set, line));
        }
    }

    fn finish(self, story: &Story, expected: Vec<crate::demo::ExpectedIncident>) -> Recording {
        let mut logs = self.logs;
        logs.sort_by_key(|(at, _, _)| *at);
        Recording {
            scenario: Scenario {
                meta: ScenarioMeta {
                    name: story.name.to_owned(),
                    description: story.description.to_owned(),
                    start_ms: START_MS,
                    end_ms: END_MS,
                    step_ms: STEP_MS,
                    expected,
                },
                series: self.series.into_values().collect(),
            },
            logs,
            findings: Vec::new(),
        }
    }
}

fn steps() -> impl Iterator<Item = i64> {
    (0..(END_MS - START_MS) / STEP_MS).map(|i| START_MS + i * STEP_MS)
}

fn pod(deployment: &str, i: usize) -> String {
    format!("{deployment}-6f9c8d7b5{i}-q{i}z{i}x")
}

fn ldap(seed: u64) -> Recording {
    let mut b = Builder::new(seed);
    let (ns, svc) = ("identity", "auth-api");
    let mut counts = [0.0f64; 2];
    let mut http = [0.0f64; 2];
    let mut user = 1000u32;
    for at in steps() {
        let fault = at >= FAULT_AT;
        let attempts = 4.0 + b.noise();
        let failure_share = if fault { 0.34 + 0.1 * b.noise() } else { 0.01 };
        counts[0] += attempts * 15.0 * (1.0 - failure_share);
        counts[1] += attempts * 15.0 * failure_share;
        for (result, i) in [("success", 0), ("failure", 1)] {
            b.push(
                &[
                    ("__name__", "auth_login_attempts_total"),
                    ("namespace", ns),
                    ("service", svc),
                    ("result", result),
                ],
                MetricType::Counter,
                at,
                counts[i].round(),
            );
        }
        http[0] += 20.0 * 15.0 * (1.0 - failure_share / 3.0);
        http[1] += 20.0 * 15.0 * failure_share / 3.0;
        for (code, i) in [("200", 0), ("504", 1)] {
            b.push(
                &[
                    ("__name__", "http_requests_total"),
                    ("namespace", ns),
                    ("service", svc),
                    ("code", code),
                ],
                MetricType::Counter,
                at,
                http[i].round(),
            );
        }
        let p95 = if fault { 5.1 } else { 0.09 } + 0.01 * b.noise();
        b.push(
            &[
                ("__name__", "http_request_duration_seconds"),
                ("namespace", ns),
                ("service", svc),
                ("quantile", "0.95"),
            ],
            MetricType::Summary,
            at,
            p95,
        );
        for i in 0..3 {
            let p = pod(svc, i);
            let stream = [
                ("namespace", ns),
                ("app", svc),
                ("pod", p.as_str()),
                ("level", "info"),
            ];
            user += 7;
            if fault && i != 2 {
                let err = [
                    ("namespace", ns),
                    ("app", svc),
                    ("pod", p.as_str()),
                    ("level", "error"),
                ];
                b.log(
                    at + 1_000,
                    &err,
                    format!(
                        "LDAP bind to ldap://glauth.identity.svc:389 failed: dial tcp 10.0.3.17:389: i/o timeout after 5000ms (user u{user})"
                    ),
                );
                b.log(
                    at + 2_000,
                    &err,
                    format!("login failed for user u{user}: upstream ldap timeout"),
                );
            } else {
                b.log(
                    at + 1_000,
                    &stream,
                    format!("login ok for user u{user} in {} ms", 40 + user % 17),
                );
            }
        }
    }
    let story = &STORIES[0];
    b.finish(
        story,
        vec![crate::demo::ExpectedIncident {
            incident_type: IncidentType::LoginErrorSpike,
            scope: Scope::Deployment,
            target: svc.to_owned(),
            namespace: Some(ns.to_owned()),
            fault_start_ms: FAULT_AT,
        }],
    )
}

fn provider(seed: u64) -> Recording {
    let mut b = Builder::new(seed);
    let instance = "https://api.payments-provider.example/health";
    let mut http = [0.0f64; 2];
    for at in steps() {
        let fault = at >= FAULT_AT;
        let up = if fault { b.noise() < 0.35 } else { true };
        b.push(
            &[
                ("__name__", "probe_success"),
                ("job", "blackbox-http"),
                ("instance", instance),
            ],
            MetricType::Gauge,
            at,
            if up { 1.0 } else { 0.0 },
        );
        let duration = if up { 0.2 + 0.05 * b.noise() } else { 10.0 };
        b.push(
            &[
                ("__name__", "probe_duration_seconds"),
                ("job", "blackbox-http"),
                ("instance", instance),
            ],
            MetricType::Gauge,
            at,
            duration,
        );
        let share = if fault { 0.03 } else { 0.002 };
        http[0] += 30.0 * 15.0 * (1.0 - share);
        http[1] += 30.0 * 15.0 * share;
        for (code, i) in [("200", 0), ("502", 1)] {
            b.push(
                &[
                    ("__name__", "http_requests_total"),
                    ("namespace", "shop"),
                    ("service", "checkout"),
                    ("code", code),
                ],
                MetricType::Counter,
                at,
                http[i].round(),
            );
        }
        let p95 = if fault {
            2.4 + 0.3 * b.noise()
        } else {
            0.18 + 0.02 * b.noise()
        };
        b.push(
            &[
                ("__name__", "http_request_duration_seconds"),
                ("namespace", "shop"),
                ("service", "checkout"),
                ("quantile", "0.95"),
            ],
            MetricType::Summary,
            at,
            p95,
        );
        let p = pod("checkout", 0);
        if fault && !up {
            b.log(
                at + 500,
                &[
                    ("namespace", "shop"),
                    ("app", "checkout"),
                    ("pod", p.as_str()),
                    ("level", "warn"),
                ],
                "payment provider call failed: connect to api.payments-provider.example:443: connection reset by peer; retrying in 2s".to_owned(),
            );
        } else {
            b.log(
                at + 500,
                &[
                    ("namespace", "shop"),
                    ("app", "checkout"),
                    ("pod", p.as_str()),
                    ("level", "info"),
                ],
                format!(
                    "order {} paid in {} ms",
                    at / 1000 % 100_000,
                    150 + at / 1000 % 40
                ),
            );
        }
    }
    let story = &STORIES[1];
    b.finish(
        story,
        vec![crate::demo::ExpectedIncident {
            incident_type: IncidentType::DependencyUnavailable,
            scope: Scope::Service,
            target: instance.to_owned(),
            namespace: None,
            fault_start_ms: FAULT_AT,
        }],
    )
}

fn drift(seed: u64) -> Recording {
    let mut b = Builder::new(seed);
    let (ns, deployment) = ("shop", "catalogue");
    for at in steps() {
        let applied = at >= FAULT_AT;
        for i in 0..3 {
            let p = pod(deployment, i);
            let image = if applied && i < 2 {
                "registry.local/shop/catalogue:1.9.0"
            } else {
                "registry.local/shop/catalogue:1.8.0"
            };
            b.push(
                &[
                    ("__name__", "kube_pod_container_info"),
                    ("namespace", ns),
                    ("pod", p.as_str()),
                    ("container", deployment),
                    ("image", image),
                ],
                MetricType::Gauge,
                at,
                1.0,
            );
        }
        let dep = [("namespace", ns), ("deployment", deployment)];
        let with = |name: &'static str| {
            let mut l = vec![("__name__", name)];
            l.extend_from_slice(&dep);
            l
        };
        b.push(
            &with("kube_deployment_metadata_generation"),
            MetricType::Gauge,
            at,
            if applied { 15.0 } else { 14.0 },
        );
        b.push(
            &with("kube_deployment_spec_replicas"),
            MetricType::Gauge,
            at,
            3.0,
        );
        b.push(
            &with("kube_deployment_status_replicas_available"),
            MetricType::Gauge,
            at,
            if applied { 2.0 } else { 3.0 },
        );
        b.push(
            &[
                ("__name__", "kube_configmap_metadata_resource_version"),
                ("namespace", ns),
                ("configmap", "catalogue-config"),
            ],
            MetricType::Gauge,
            at,
            if applied { 8_812.0 } else { 8_790.0 },
        );
        if applied && (at - FAULT_AT) % (4 * STEP_MS) == 0 {
            let p = pod(deployment, 2);
            b.log(
                at + 700,
                &[
                    ("namespace", ns),
                    ("app", deployment),
                    ("pod", p.as_str()),
                    ("level", "error"),
                ],
                "rollout stuck: pod catalogue-6f9c8d7b52-q2z2x cannot pull registry.local/shop/catalogue:1.9.0 on node-c: quota exceeded; keeping 1.8.0".to_owned(),
            );
        }
    }
    let story = &STORIES[2];
    let mut recording = b.finish(
        story,
        vec![crate::demo::ExpectedIncident {
            incident_type: IncidentType::ConfigDrift,
            scope: Scope::Deployment,
            target: deployment.to_owned(),
            namespace: Some(ns.to_owned()),
            fault_start_ms: FAULT_AT,
        }],
    );
    let event = |id: &str, reason: &str, message: &str, at: i64| EventEvidence {
        id: id.to_owned(),
        origin: Origin::Kubernetes,
        reason: reason.to_owned(),
        message: message.to_owned(),
        at_ms: at,
        labels: LabelSet::from_pairs([("namespace", ns), ("deployment", deployment)])
            .unwrap_or_default(),
    };
    let at = FAULT_AT + 3 * MINUTE;
    recording.findings.push(IncidentCandidate {
        incident_type: IncidentType::ConfigDrift,
        scope: Scope::Deployment,
        target: deployment.to_owned(),
        namespace: Some(ns.to_owned()),
        node: None,
        confidence: 0.86,
        severity: Severity::Warning,
        detector: "release_drift".to_owned(),
        origin: Origin::Demo,
        detected_at_ms: at,
        evidence: Evidence {
            metrics: Vec::new(),
            events: vec![
                event(
                    "e1",
                    "PartialApply",
                    "HelmRelease shop/catalogue revision 15 (chart 1.9.0) is applied to 2 of 3 replicas; catalogue-6f9c8d7b52-q2z2x still runs 1.8.0",
                    at,
                ),
                event(
                    "e2",
                    "ValuesDrift",
                    "ConfigMap shop/catalogue-config differs from the release's values: cache.ttl is 30s live, 300s in the release",
                    at,
                ),
            ],
        },
        signal: Signal::Firing,
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
    });
    recording
}

/// The story of that name, generated with `seed`.
pub fn story(name: &str, seed: u64) -> Option<Recording> {
    match name {
        "ldap-login-timeout" => Some(ldap(seed)),
        "provider-connectivity" => Some(provider(seed)),
        "release-drift" => Some(drift(seed)),
        _ => None,
    }
}

/// A built-in scenario (`crash-loop`, ...) or a story, as a recording.
pub fn recording(name: &str, seed: u64) -> Option<Recording> {
    if let Some(recording) = story(name, seed) {
        return Some(recording);
    }
    let fault = crate::demo::Fault::ALL
        .into_iter()
        .find(|f| f.name() == name)?;
    Some(Recording {
        scenario: crate::demo::generate(fault, seed),
        logs: Vec::new(),
        findings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_are_deterministic_and_labelled() {
        for s in STORIES {
            let a = story(s.name, 7).unwrap();
            let b = story(s.name, 7).unwrap();
            assert!(a.scenario == b.scenario, "{}", s.name);
            assert_eq!(a.scenario.meta.expected.len(), 1);
            assert!(a.scenario.sample_count() > 1_000, "{}", s.name);
            assert!(!a.logs.is_empty(), "{}", s.name);
        }
        assert_eq!(story("release-drift", 1).unwrap().findings.len(), 1);
        assert!(recording("crash-loop", 7).is_some());
        assert!(recording("no-such", 7).is_none());
    }
}
