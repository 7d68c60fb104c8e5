//! The built-in rules for the signals a platform already exports (ingress-nginx, CoreDNS and
//! DNS probes, gRPC deadlines, application queues, NATS reconnects, logins), each on a fault
//! scenario that must raise it and on healthy ones that must not: the same traffic without
//! the fault, and a service whose high level is its own normal (thresholds are relative).

use detect::{Detector, Environment, builtin_rules};
use model::{IncidentCandidate, IncidentType, MetricType, Sample, SeriesRef};
use windows::{Store, StoreConfig};

const STEP_MS: i64 = 15_000;
/// 90 minutes of 15 s steps; faults start at minute 70 (the first 30 are history only).
const STEPS: usize = 360;
const FAULT_AT: usize = 280;

/// Deterministic noise in [-1, 1].
fn jitter(step: usize, salt: u64) -> f64 {
    ((step as f64 * 12.9898 + salt as f64 * 78.233).sin() * 43_758.547).fract() * 2.0 - 1.0
}

/// Series of a scenario, written step by step (every series at a step, then the next step)
/// as a scrape would, since the windows keep event time.
#[derive(Default)]
struct Sim {
    series: std::cell::RefCell<Vec<Series>>,
}

/// One series of a scenario: sorted labels, its type, a value per step.
type Series = (Vec<(String, String)>, MetricType, Vec<f64>);

impl Sim {
    fn new() -> Self {
        Self::default()
    }

    fn add(&self, labels: &[(&str, &str)], metric_type: MetricType, values: Vec<f64>) {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.series.borrow_mut().push((labels, metric_type, values));
    }

    /// A counter growing at `per_second(step)` (with 10% noise) for the whole run.
    fn counter(&self, labels: &[(&str, &str)], salt: u64, per_second: impl Fn(usize) -> f64) {
        let mut total = 0.0;
        let values = (0..STEPS)
            .map(|step| {
                total += per_second(step) * (1.0 + 0.1 * jitter(step, salt)) * 15.0;
                total
            })
            .collect();
        self.add(labels, MetricType::Counter, values);
    }

    fn gauge(&self, labels: &[(&str, &str)], value: impl Fn(usize) -> f64) {
        self.add(labels, MetricType::Gauge, (0..STEPS).map(value).collect());
    }

    fn store(&self) -> Store {
        let store = Store::new(StoreConfig {
            lateness_ms: 0,
            retention_ms: 2 * 3_600_000,
            ..StoreConfig::default()
        });
        let series = self.series.borrow();
        for step in 0..STEPS {
            for (labels, metric_type, values) in series.iter() {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                store.append(SeriesRef {
                    labels: &labels,
                    samples: &[Sample {
                        timestamp_ms: step as i64 * STEP_MS,
                        value: values[step],
                    }],
                    metric_type: *metric_type,
                    unit: "",
                    help: "",
                    created_timestamp_ms: 0,
                });
            }
        }
        store
    }

    /// What rule `rule` of the built-in pack finds, evaluated every tick of the last hour as
    /// the detection loop does: the first candidate per target.
    fn found(&self, rule: &str) -> Vec<IncidentCandidate> {
        let store = self.store();
        assert_eq!(store.stats().dropped.values().sum::<u64>(), 0);
        let mut detector = Detector::new(builtin_rules(), Environment::Prod);
        let mut out: Vec<IncidentCandidate> = Vec::new();
        for step in STEPS - 240..STEPS {
            for c in detector.evaluate(&store, step as i64 * STEP_MS).candidates {
                if c.detector == rule && !out.iter().any(|o| o.target == c.target) {
                    out.push(c);
                }
            }
        }
        out
    }
}

fn after(fault: f64, before: f64) -> impl Fn(usize) -> f64 {
    move |step| if step >= FAULT_AT { fault } else { before }
}

fn one(found: &[IncidentCandidate], kind: IncidentType, target: &str) {
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].incident_type, kind);
    assert_eq!(found[0].target, target);
    let said = found[0].evidence.metrics[0]
        .summary
        .clone()
        .unwrap_or_default();
    assert!(
        !said.is_empty() && !said.contains('{') && !said.contains('?'),
        "every placeholder filled: {said}"
    );
}

/// A share of requests failing: `ok` per second succeed, `failing(step)` of them fail.
fn ingress(fail_share: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    let base = [
        ("__name__", "nginx_ingress_controller_requests"),
        ("namespace", "shop"),
        ("ingress", "storefront"),
    ];
    let with = |status: &'static str| {
        let mut l = base.to_vec();
        l.push(("status", status));
        l
    };
    sim.counter(&with("200"), 1, |s| 50.0 * (1.0 - fail_share(s)));
    sim.counter(&with("503"), 2, |s| 50.0 * fail_share(s));
    sim
}

#[test]
fn ingress_5xx() {
    let found = ingress(after(0.2, 0.005)).found("ingress_5xx_ratio");
    one(&found, IncidentType::Ingress5xx, "storefront");
    assert!(ingress(|_| 0.005).found("ingress_5xx_ratio").is_empty());
    // 8% of 5xx all along is this ingress's normal, not a spike.
    assert!(ingress(|_| 0.08).found("ingress_5xx_ratio").is_empty());
}

fn coredns(servfail_share: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    let with = |rcode: &'static str| {
        vec![
            ("__name__", "coredns_dns_responses_total"),
            ("job", "coredns"),
            ("rcode", rcode),
            ("server", "dns://:53"),
        ]
    };
    sim.counter(&with("NOERROR"), 3, |s| 200.0 * (1.0 - servfail_share(s)));
    sim.counter(&with("SERVFAIL"), 4, |s| 200.0 * servfail_share(s));
    sim
}

#[test]
fn dns_failure_from_coredns_and_from_probes() {
    one(
        &coredns(after(0.15, 0.002)).found("dns_servfail_ratio"),
        IncidentType::DnsFailure,
        "coredns",
    );
    assert!(coredns(|_| 0.002).found("dns_servfail_ratio").is_empty());

    let probes = |success: &dyn Fn(usize) -> f64| {
        let sim = Sim::new();
        sim.gauge(
            &[
                ("__name__", "probe_success"),
                ("instance", "kube-dns.kube-system.svc:53"),
                ("job", "blackbox-dns"),
            ],
            success,
        );
        sim
    };
    let failing = probes(&|s| if s >= FAULT_AT { 0.0 } else { 1.0 });
    one(
        &failing.found("dns_probe_failing"),
        IncidentType::DnsFailure,
        "blackbox-dns",
    );
    assert!(
        failing.found("provider_probe_failing").is_empty(),
        "a DNS probe is a DNS failure, not a provider's"
    );
    assert!(probes(&|_| 1.0).found("dns_probe_failing").is_empty());
}

fn grpc(deadline_share: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    let with = |code: &'static str| {
        vec![
            ("__name__", "grpc_server_handled_total"),
            ("grpc_code", code),
            ("namespace", "shop"),
            ("service", "checkout"),
        ]
    };
    sim.counter(&with("OK"), 5, |s| 100.0 * (1.0 - deadline_share(s)));
    sim.counter(&with("DeadlineExceeded"), 6, |s| 100.0 * deadline_share(s));
    sim
}

#[test]
fn api_timeouts() {
    one(
        &grpc(after(0.1, 0.001)).found("api_timeout_ratio"),
        IncidentType::LatencySpike,
        "checkout",
    );
    assert!(grpc(|_| 0.001).found("api_timeout_ratio").is_empty());
    assert!(grpc(|_| 0.04).found("api_timeout_ratio").is_empty());
}

fn mailer(level: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    sim.gauge(
        &[
            ("__name__", "mailer_pending_emails"),
            ("namespace", "shop"),
            ("service", "mailer"),
        ],
        level,
    );
    sim
}

#[test]
fn application_queues() {
    // From minute 40 the mailer stops sending: 3 more e-mails wait every minute.
    let growing = mailer(|s| {
        let waiting = 40.0 + 2.0 * jitter(s, 7);
        if s >= 160 {
            waiting + (s - 160) as f64 * 0.75
        } else {
            waiting
        }
    });
    let found = growing.found("application_queue_growth");
    one(&found, IncidentType::BacklogGrowth, "mailer");
    // A queue that fills and drains around its level is working.
    let busy = mailer(|s| 40.0 + 25.0 * jitter(s, 8) + 15.0 * (s as f64 / 20.0).sin());
    assert!(busy.found("application_queue_growth").is_empty());
}

fn nats(per_second: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    sim.counter(
        &[
            ("__name__", "gnatsd_varz_total_connections"),
            ("server_id", "nats-0"),
        ],
        9,
        per_second,
    );
    sim
}

#[test]
fn messaging_reconnect_storm() {
    one(
        &nats(after(6.0, 0.1)).found("messaging_reconnect_storm"),
        IncidentType::DependencyUnavailable,
        "nats-0",
    );
    assert!(nats(|_| 0.1).found("messaging_reconnect_storm").is_empty());
    // A busy server whose clients always come and go at 3/s is not storming.
    assert!(nats(|_| 3.0).found("messaging_reconnect_storm").is_empty());
}

fn logins(failure_share: impl Fn(usize) -> f64) -> Sim {
    let sim = Sim::new();
    let with = |result: &'static str| {
        vec![
            ("__name__", "auth_login_attempts_total"),
            ("namespace", "shop"),
            ("result", result),
            ("service", "auth"),
        ]
    };
    sim.counter(&with("success"), 10, |s| 20.0 * (1.0 - failure_share(s)));
    sim.counter(&with("failure"), 11, |s| 20.0 * failure_share(s));
    sim
}

#[test]
fn login_error_spike() {
    one(
        &logins(after(0.45, 0.03)).found("login_failure_ratio"),
        IncidentType::LoginErrorSpike,
        "auth",
    );
    assert!(logins(|_| 0.03).found("login_failure_ratio").is_empty());
    // A quarter of logins failing all along (typos, expired passwords) is this service's normal.
    assert!(logins(|_| 0.25).found("login_failure_ratio").is_empty());
}
