//! The live root-cause path: one incident's draft from the ledger's findings, the windows'
//! recent changes, pushed or pulled logs and similar past incidents. Every surface (and the
//! robot proposing actions) drafts through here.

use model::Target;
use rca::{Drafter, EvidenceRef};
use std::collections::BTreeMap;

/// Why no draft could be built.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no incident {id:?}")]
    NoIncident { id: String },
    #[error("reading the incident ledger")]
    Ledger {
        #[from]
        source: incident::Error,
    },
}

impl model::Classify for LiveError {
    fn class(&self) -> model::ErrorClass {
        match self {
            LiveError::NoIncident { .. } => model::ErrorClass::NotFound,
            LiveError::Ledger { source } => source.class(),
        }
    }
}

/// Loki, asked for an incident's log context when no pushed lines belong to its target.
#[derive(Debug, Clone, Copy)]
pub struct LokiSource<'a> {
    pub client: &'a rca::loki::LokiClient,
    /// Stream label carrying the workload name.
    pub service_label: &'a str,
    /// Most lines pulled per incident.
    pub max_lines: usize,
}

/// What a draft may draw on beyond the incident's own findings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sources<'a> {
    /// Pushed logs: the incident's log context and known failure signatures.
    pub logs: Option<&'a parking_lot::Mutex<rca::logstore::LogStore>>,
    /// The windows: deploys, scaling, images and config changes before the incident.
    pub store: Option<&'a windows::Store>,
    /// Every source's windows: the incident's own source is read when `store` is unset.
    pub windows: Option<&'a windows::Sources>,
    /// Actions that fixed past incidents (incident id → catalogue action names).
    pub fixes: Option<&'a BTreeMap<String, Vec<String>>>,
    /// Loki, asked for the log context when no pushed lines belong to the target.
    pub loki: Option<LokiSource<'a>>,
}

/// The incident's log context: from pushed lines, else pulled from Loki.
pub async fn log_context(
    sources: &Sources<'_>,
    target: &Target,
    opened_at_ms: i64,
) -> Option<rca::LogContext> {
    let pushed = sources
        .logs
        .and_then(|l| l.lock().context(target, opened_at_ms));
    match (pushed, sources.loki) {
        (Some(context), _) => Some(context),
        (None, Some(loki)) => {
            rca::logstore::pull_context(
                loki.client,
                loki.service_label,
                loki.max_lines,
                target,
                opened_at_ms,
            )
            .await
        }
        (None, None) => None,
    }
}

/// The incident `id` from the ledger.
pub async fn find_incident(
    ledger: &incident::Ledger,
    id: &str,
) -> Result<incident::Incident, LiveError> {
    ledger
        .incident(id)
        .await?
        .ok_or_else(|| LiveError::NoIncident { id: id.to_owned() })
}

/// The deterministic draft of one incident, from its findings and evidence in the ledger and,
/// when given, the log context of pushed logs.
pub async fn draft(
    ledger: &incident::Ledger,
    logs: Option<&parking_lot::Mutex<rca::logstore::LogStore>>,
    id: &str,
) -> Result<rca::Draft, LiveError> {
    let sources = Sources {
        logs,
        ..Sources::default()
    };
    draft_with(ledger, sources, id).await
}

/// Past incidents of the same signature recalled in a draft.
const SIMILAR_RECALLED: u32 = 5;

/// The draft from the incident's findings plus whatever `sources` offers: log context,
/// recent changes to its workload, and similar past incidents with what fixed them.
pub async fn draft_with(
    ledger: &incident::Ledger,
    sources: Sources<'_>,
    id: &str,
) -> Result<rca::Draft, LiveError> {
    let incident = find_incident(ledger, id).await?;
    let findings = ledger.findings(id).await?;
    let mut input = crate::draft_input(&incident, &findings);
    input.log_context = log_context(&sources, &input.incident.target, incident.opened_at_ms).await;
    if let Some(context) = &input.log_context {
        for event in &context.evidence {
            input
                .evidence
                .push(EvidenceRef::from_event(format!("log-{}", event.id), event));
        }
    }
    let of_source = sources.windows.and_then(|w| w.get(&incident.source));
    if let Some(store) = sources.store.or(of_source.as_deref()) {
        input.changes =
            crate::changes::recent_changes(store, &input.incident.target, incident.opened_at_ms);
        let services = services_of(&incident, &findings);
        input.ranked_services = service_ranking(store, &services, incident.opened_at_ms);
    }
    let similar = ledger
        .similar(&incident.signature, &incident.id, SIMILAR_RECALLED)
        .await?;
    input.similar_past = similar
        .iter()
        .map(|past| past_incident(past, sources.fixes))
        .collect();
    Ok(Drafter::default().draft(&input))
}

/// A past incident as the draft recalls it: how it ended and which actions fixed it.
fn past_incident(
    past: &incident::Incident,
    fixes: Option<&BTreeMap<String, Vec<String>>>,
) -> rca::PastIncident {
    let actions = fixes
        .and_then(|f| f.get(&past.id))
        .cloned()
        .unwrap_or_default();
    let ended = match past.resolved_at_ms {
        Some(at) => format!(
            "resolved {} min after it opened",
            (at - past.opened_at_ms).max(0) / 60_000
        ),
        None => format!("still {}", past.status.as_str()),
    };
    let fix = if actions.is_empty() {
        format!("{} ({ended}) with no recorded action", past.id)
    } else {
        format!("{} ({ended}) after {}", past.id, actions.join(", "))
    };
    rca::PastIncident {
        id: past.id.clone(),
        signature: past.signature.clone(),
        templates: Vec::new(),
        fix,
        actions,
    }
}

/// Labels that name the service a series belongs to (a `pod` label names it by its owner).
const SERVICE_LABELS: [&str; 4] = ["service", "app", "deployment", "container"];
/// Most series read per service for ranking.
const MAX_SERIES_PER_SERVICE: usize = 64;
/// The anomalous period: from this long before the incident opened ...
const ANOMALOUS_LEAD_MS: i64 = 10 * 60_000;
/// ... to this long after it.
const ANOMALOUS_AFTER_MS: i64 = 5 * 60_000;
/// The normal period: this long, ending where the anomalous one starts.
const NORMAL_SPAN_MS: i64 = 30 * 60_000;

/// The services an incident involves: its own target's workload and those of every finding
/// correlated into it, once each (nodes, namespaces and the cluster are not services).
pub fn services_of(incident: &incident::Incident, findings: &[incident::Finding]) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let targets = std::iter::once(incident.target.clone())
        .chain(findings.iter().map(|f| f.candidate.target_ref()));
    for target in targets {
        if matches!(
            target.kind,
            model::Scope::Node | model::Scope::Namespace | model::Scope::Cluster
        ) {
            continue;
        }
        let service = Target::new(
            model::Scope::Service,
            target.namespace.as_deref(),
            target.workload().to_owned(),
        );
        if !out.iter().any(|s| s.same_workload(&service)) {
            out.push(service);
        }
    }
    out
}

/// Ranks the incident's services by how far their series moved from their own normal period
/// ([`rca::rank_services`]), when it involves more than one; empty otherwise.
pub fn service_ranking(
    store: &windows::Store,
    services: &[Target],
    opened_at_ms: i64,
) -> Vec<rca::RankedService> {
    if services.len() < 2 {
        return Vec::new();
    }
    let anomalous_from = opened_at_ms - ANOMALOUS_LEAD_MS;
    let normal_from = anomalous_from - NORMAL_SPAN_MS;
    let to = opened_at_ms + ANOMALOUS_AFTER_MS;
    let mut series = Vec::new();
    for service in services {
        let mut seen = std::collections::BTreeSet::new();
        // (selector, whether it matched pods by name prefix and must check their owner)
        let mut selectors: Vec<(windows::Selector, bool)> = SERVICE_LABELS
            .iter()
            .map(|label| {
                let by_label = selector(service, label, windows::MatchOp::Equal, &service.name);
                (by_label, false)
            })
            .collect();
        let pods = format!("{}-.*", regex::escape(&service.name));
        selectors.push((
            selector(service, "pod", windows::MatchOp::Regex, &pods),
            true,
        ));
        for (sel, by_pod) in &selectors {
            for (labels, samples) in store.samples(sel, normal_from, to) {
                if seen.len() >= MAX_SERIES_PER_SERVICE {
                    break;
                }
                let owned_by_another = labels
                    .get("pod")
                    .is_some_and(|pod| model::workload_of(pod).name != service.name);
                if *by_pod && owned_by_another {
                    continue;
                }
                if !seen.insert(labels.to_string()) {
                    continue;
                }
                let (normal, anomalous): (Vec<&model::Sample>, Vec<&model::Sample>) = samples
                    .iter()
                    .partition(|s| s.timestamp_ms < anomalous_from);
                series.push(rca::ServiceSeries {
                    service: service.name.clone(),
                    metric: labels.metric_name().to_owned(),
                    normal: normal.iter().map(|s| s.value).collect(),
                    anomalous: anomalous.iter().map(|s| s.value).collect(),
                });
            }
        }
    }
    rca::rank_services(&series)
}

fn selector(service: &Target, label: &str, op: windows::MatchOp, value: &str) -> windows::Selector {
    let mut matchers = vec![windows::Matcher::new(label, op, value)];
    if let Some(ns) = &service.namespace {
        matchers.push(windows::Matcher::new(
            "namespace",
            windows::MatchOp::Equal,
            ns,
        ));
    }
    windows::Selector::from_matchers(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{MetricType, Sample, SeriesRef, SeriesVisitor};

    const OPENED: i64 = 1_700_000_000_000;

    type Series<'a> = (&'a [(&'a str, &'a str)], &'a dyn Fn(i64) -> f64);

    /// Appends every series in one batch (the store's watermark is event time: a second batch
    /// of the same hour would be late).
    fn push(store: &windows::Store, all: &[Series<'_>]) {
        let mut appender = store.appender();
        for (labels, value) in all {
            let samples: Vec<Sample> = (0..60)
                .map(|i| {
                    let timestamp_ms = OPENED - 40 * 60_000 + i * 60_000;
                    Sample {
                        timestamp_ms,
                        value: value(timestamp_ms),
                    }
                })
                .collect();
            let Ok(()) = appender.series(SeriesRef {
                labels,
                samples: &samples,
                metric_type: MetricType::Gauge,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            });
        }
        assert!(appender.finish().dropped_total() == 0);
    }

    #[test]
    fn the_service_that_moved_ranks_first() {
        let store = windows::Store::new(windows::StoreConfig {
            retention_ms: 24 * 3_600_000,
            ..windows::StoreConfig::default()
        });
        let wobble = |t: i64| 100.0 + ((t / 60_000) % 3) as f64;
        let front = |t: i64| wobble(t) + if t >= OPENED - 8 * 60_000 { 20.0 } else { 0.0 };
        let carts = |t: i64| wobble(t) + if t >= OPENED - 8 * 60_000 { 400.0 } else { 0.0 };
        let elsewhere = |t: i64| wobble(t) * 50.0;
        push(
            &store,
            &[
                (
                    &[
                        ("__name__", "latency_ms"),
                        ("namespace", "shop"),
                        ("service", "front"),
                    ],
                    &front,
                ),
                (
                    &[
                        ("__name__", "cpu"),
                        ("namespace", "shop"),
                        ("pod", "carts-6c9f7d8b5-x2x1k"),
                    ],
                    &carts,
                ),
                // Another namespace's front does not count.
                (
                    &[
                        ("__name__", "cpu"),
                        ("namespace", "ops"),
                        ("service", "front"),
                    ],
                    &elsewhere,
                ),
            ],
        );
        let services = [
            Target::new(model::Scope::Service, Some("shop"), "front"),
            Target::new(model::Scope::Service, Some("shop"), "carts"),
        ];
        let ranked = service_ranking(&store, &services, OPENED);
        assert_eq!(ranked.len(), 2, "{ranked:?}");
        assert_eq!(ranked[0].service, "carts", "{ranked:?}");
        assert_eq!(ranked[0].metric, "cpu");
        // One service alone is not ranked.
        assert!(service_ranking(&store, &services[..1], OPENED).is_empty());
    }
}
