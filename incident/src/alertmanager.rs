//! Alertmanager webhook (payload version "4") to candidates: firing alerts join the same
//! correlation as detector findings; resolved alerts become healthy signals.

use crate::Error;
use crate::record::rfc3339;
use model::{
    EventEvidence, Evidence, IncidentCandidate, IncidentType, LabelSet, Origin, Scope, Severity,
    Signal,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `detector` of the candidates built from alerts.
pub const ALERTMANAGER_DETECTOR: &str = "alertmanager";
/// `reason` of the evidence event that marks a candidate as a healthy signal.
pub const HEALTHY_REASON: &str = "resolved";
/// `reason` of the evidence event of a firing alert.
pub const FIRING_REASON: &str = "firing";

/// The webhook body Alertmanager posts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// One alert of a webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// Whether a candidate is a healthy signal (a resolved alert) rather than a problem.
pub fn is_healthy_signal(candidate: &IncidentCandidate) -> bool {
    candidate.signal == Signal::Healthy
}

/// Parses an Alertmanager webhook (version "4"). Firing alerts become candidates; resolved
/// alerts become candidates with the same signature, confidence 0 and an evidence event
/// whose reason is [`HEALTHY_REASON`], which the correlator treats as "signal healthy".
pub fn candidates_from_alertmanager(json: &[u8]) -> Result<Vec<IncidentCandidate>, Error> {
    let webhook: Webhook =
        serde_json::from_slice(json).map_err(|source| Error::AlertmanagerJson { source })?;
    if webhook.version != "4" {
        return Err(Error::AlertmanagerVersion {
            version: webhook.version,
        });
    }
    webhook
        .alerts
        .iter()
        .enumerate()
        .map(|(i, alert)| candidate_of(alert, i))
        .collect()
}

fn candidate_of(alert: &Alert, index: usize) -> Result<IncidentCandidate, Error> {
    let label = |name: &str| alert.labels.get(name).filter(|v| !v.is_empty()).cloned();
    let alertname = label("alertname").unwrap_or_else(|| "unnamed".to_owned());
    let resolved = alert.status == HEALTHY_REASON;
    let time = |field: &'static str, value: &Option<String>| -> Result<Option<i64>, Error> {
        match value.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => rfc3339::parse(text)
                .map(Some)
                .map_err(|source| Error::AlertTimestamp {
                    alertname: alertname.clone(),
                    field,
                    value: text.to_owned(),
                    source,
                }),
        }
    };
    let starts = time("startsAt", &alert.starts_at)?;
    let ends = time("endsAt", &alert.ends_at)?.filter(|&ms| ms > 0);
    let detected_at_ms = if resolved {
        ends.or(starts).unwrap_or(0)
    } else {
        starts.unwrap_or(0)
    };
    let (incident_type, preferred) = classify(&alertname);
    let namespace = label("namespace");
    let node = label("node");
    let (scope, target) = scope_of(preferred, &alert.labels, &alertname);
    let severity = match label("severity").as_deref() {
        Some("critical" | "page" | "error") => Severity::Critical,
        Some("info" | "none") => Severity::Info,
        _ => Severity::Warning,
    };
    let summary = alert
        .annotations
        .get("summary")
        .or_else(|| alert.annotations.get("description"))
        .or_else(|| alert.annotations.get("message"));
    let message = match summary {
        Some(text) => format!("{alertname}: {text}"),
        None => alertname.clone(),
    };
    let labels = LabelSet::from_pairs(
        alert
            .labels
            .iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )
    .unwrap_or_default();
    Ok(IncidentCandidate {
        incident_type,
        scope,
        target,
        namespace: if scope == Scope::Node {
            None
        } else {
            namespace
        },
        node: if scope == Scope::Node { None } else { node },
        confidence: if resolved { 0.0 } else { 1.0 },
        severity,
        detector: ALERTMANAGER_DETECTOR.to_owned(),
        origin: Origin::Alertmanager,
        detected_at_ms,
        evidence: Evidence {
            metrics: Vec::new(),
            events: vec![EventEvidence {
                id: format!("a{}", index + 1),
                origin: Origin::Alertmanager,
                reason: if resolved {
                    HEALTHY_REASON
                } else {
                    FIRING_REASON
                }
                .to_owned(),
                message,
                at_ms: detected_at_ms,
                labels,
            }],
        },
        signal: if resolved {
            Signal::Healthy
        } else {
            Signal::Firing
        },
        source: model::DEFAULT_SOURCE.to_owned(),
        affects: Vec::new(),
    })
}

/// Maps well-known alert names (kube-prometheus, node-exporter mixins) to taxonomy types
/// and the scope they are about; anything else is a generic metric anomaly.
fn classify(alertname: &str) -> (IncidentType, Option<Scope>) {
    use IncidentType as T;
    match alertname {
        "KubePodCrashLooping" => (T::CrashLoop, Some(Scope::Pod)),
        "KubePodOOMKilled" | "KubeContainerOOMKilled" | "ContainerOOMKilled" => {
            (T::OomKilled, Some(Scope::Pod))
        }
        "NodeFilesystemSpaceFillingUp"
        | "NodeFilesystemAlmostOutOfSpace"
        | "NodeFilesystemFilesFillingUp"
        | "NodeFilesystemAlmostOutOfFiles"
        | "KubeNodeDiskPressure"
        | "NodeDiskPressure" => (T::NodeDiskPressure, Some(Scope::Node)),
        "KubeNodeNotReady" | "KubeNodeUnreachable" | "KubeNodeReadinessFlapping" => {
            (T::NodeNotReady, Some(Scope::Node))
        }
        "NodeMemoryHighUtilization" | "KubeNodeMemoryPressure" | "NodeMemoryPressure" => {
            (T::MemoryPressure, Some(Scope::Node))
        }
        "NodeCPUHighUsage" | "NodeHighCPU" | "CPUThrottlingHigh" => (T::CpuSaturation, None),
        "KubeDeploymentReplicasMismatch"
        | "KubeDeploymentRolloutStuck"
        | "KubeStatefulSetReplicasMismatch"
        | "KubeDaemonSetRolloutStuck" => (T::DeploymentDegraded, Some(Scope::Deployment)),
        "TargetDown" | "InstanceDown" | "ServiceDown" | "EndpointDown" => {
            (T::DependencyUnavailable, Some(Scope::Service))
        }
        "KubeContainerWaiting" | "ImagePullBackOff" => (T::ImagePullFailure, Some(Scope::Pod)),
        "KubeJobFailed" => (T::DeploymentDegraded, Some(Scope::Job)),
        "KubeClientCertificateExpiration" | "CertificateExpiring" | "SSLCertExpiringSoon" => {
            (T::CertExpiry, None)
        }
        "KubeAPIErrorBudgetBurn" | "HighErrorRate" => (T::ErrorRateSpike, None),
        "HighLatency" => (T::LatencySpike, None),
        name if name.ends_with("Down") => (T::DependencyUnavailable, Some(Scope::Service)),
        _ => (T::MetricAnomaly, None),
    }
}

/// The object an alert is about, from its labels, the preferred scope first.
fn scope_of(
    preferred: Option<Scope>,
    labels: &BTreeMap<String, String>,
    alertname: &str,
) -> (Scope, String) {
    let get = |name: &str| labels.get(name).filter(|v| !v.is_empty()).cloned();
    let node = || get("node").or_else(|| get("instance").map(|i| host_of(&i)));
    let by_scope = |scope: Scope| -> Option<String> {
        match scope {
            Scope::Node => node(),
            Scope::Pod => get("pod"),
            Scope::Container => get("container"),
            Scope::Deployment => get("deployment")
                .or_else(|| get("statefulset"))
                .or_else(|| get("daemonset")),
            Scope::Job => get("job_name").or_else(|| get("cronjob")),
            Scope::Service => get("service").or_else(|| get("job")),
            Scope::Namespace => get("namespace"),
            Scope::Release => get("release").or_else(|| get("helmrelease")),
            Scope::Ingress => get("ingress"),
            Scope::Cluster | Scope::Series => None,
        }
    };
    if let Some(scope) = preferred
        && let Some(target) = by_scope(scope)
    {
        return (scope, target);
    }
    for scope in [
        Scope::Pod,
        Scope::Deployment,
        Scope::Job,
        Scope::Service,
        Scope::Node,
        Scope::Namespace,
    ] {
        if let Some(target) = by_scope(scope) {
            return (scope, target);
        }
    }
    (Scope::Cluster, alertname.to_owned())
}

/// `10.0.0.5:9100` → `10.0.0.5`.
fn host_of(instance: &str) -> String {
    match instance.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
        _ => instance.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ports_are_dropped() {
        assert_eq!(host_of("10.0.0.5:9100"), "10.0.0.5");
        assert_eq!(host_of("node-a"), "node-a");
    }

    #[test]
    fn unknown_alerts_fall_back_to_metric_anomaly() {
        assert_eq!(classify("SomethingOdd").0, IncidentType::MetricAnomaly);
        assert_eq!(classify("RedisDown").0, IncidentType::DependencyUnavailable);
        let labels = BTreeMap::new();
        assert_eq!(
            scope_of(None, &labels, "SomethingOdd"),
            (Scope::Cluster, "SomethingOdd".to_owned())
        );
    }
}
