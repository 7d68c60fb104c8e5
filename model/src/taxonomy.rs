//! The incident taxonomy: domain first, then type, with the names operators and APIs use.
//! Names are stable strings (`snake_case`), never free text, so they can key signatures.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Operational domain of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Infrastructure,
    RuntimeServices,
    ApplicationServices,
    NetworkIngress,
    IdentitySecurity,
    ReleaseConfiguration,
    OperatorChannels,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Infrastructure => "infrastructure",
            Domain::RuntimeServices => "runtime_services",
            Domain::ApplicationServices => "application_services",
            Domain::NetworkIngress => "network_ingress",
            Domain::IdentitySecurity => "identity_security",
            Domain::ReleaseConfiguration => "release_configuration",
            Domain::OperatorChannels => "operator_channels",
        }
    }
}

macro_rules! incident_types {
    ($($variant:ident => $name:literal, $domain:ident;)*) => {
        /// Incident type; each belongs to exactly one [`Domain`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum IncidentType {
            $($variant,)*
        }

        impl IncidentType {
            /// Every type, in taxonomy order.
            pub const ALL: &'static [IncidentType] = &[$(IncidentType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(IncidentType::$variant => $name,)*
                }
            }

            pub fn domain(self) -> Domain {
                match self {
                    $(IncidentType::$variant => Domain::$domain,)*
                }
            }

            /// Parses the `snake_case` name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(IncidentType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

incident_types! {
    NodeDiskPressure => "node_disk_pressure", Infrastructure;
    NodeNotReady => "node_not_ready", Infrastructure;
    MemoryPressure => "memory_pressure", Infrastructure;
    CpuSaturation => "cpu_saturation", Infrastructure;
    PodsPending => "pods_pending", Infrastructure;
    ControllerChurn => "controller_churn", Infrastructure;
    DependencyUnavailable => "dependency_unavailable", RuntimeServices;
    ImagePullFailure => "image_pull_failure", RuntimeServices;
    CrashLoop => "crash_loop", ApplicationServices;
    OomKilled => "oom_killed", ApplicationServices;
    MemoryLeak => "memory_leak", ApplicationServices;
    LatencySpike => "latency_spike", ApplicationServices;
    ErrorRateSpike => "error_rate_spike", ApplicationServices;
    DeploymentDegraded => "deployment_degraded", ApplicationServices;
    BacklogGrowth => "backlog_growth", ApplicationServices;
    JobFailures => "job_failures", ApplicationServices;
    MetricAnomaly => "metric_anomaly", ApplicationServices;
    Ingress5xx => "ingress_5xx", NetworkIngress;
    CertExpiry => "cert_expiry", NetworkIngress;
    DnsFailure => "dns_failure", NetworkIngress;
    LoginErrorSpike => "login_error_spike", IdentitySecurity;
    PrivilegedContainer => "privileged_container", IdentitySecurity;
    ConfigDrift => "config_drift", ReleaseConfiguration;
    DeployRegression => "deploy_regression", ReleaseConfiguration;
    ChannelDeliveryFailure => "channel_delivery_failure", OperatorChannels;
}

impl IncidentType {
    /// Whether this type names the cause of what `symptom` shows on the same target: a leak is
    /// why its memory jumped or nears its limit, so an incident holding both is a leak.
    pub fn explains(self, symptom: IncidentType) -> bool {
        matches!(
            (self, symptom),
            (IncidentType::MemoryLeak, IncidentType::MemoryPressure)
        )
    }
}

impl Serialize for IncidentType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IncidentType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        IncidentType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown incident type {name:?}")))
    }
}

impl fmt::Display for IncidentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an incident is; ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &t in IncidentType::ALL {
            assert_eq!(IncidentType::from_name(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(
            IncidentType::MemoryLeak.domain(),
            Domain::ApplicationServices
        );
    }
}
