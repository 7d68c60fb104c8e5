//! Which providers an event goes to and when: `[[channels.route]]` matched on severity,
//! domain, type, source and environment; quiet hours that hold less severe events until they
//! end; the escalation step's providers.
//!
//! With no route configured every enabled, deliverable provider gets every event. An event
//! about a provider's own delivery failure never goes to that provider.

use crate::config::{Provider, Quiet, Route};
use crate::event::ChannelEvent;
use model::{IncidentType, Severity};

/// Where one event goes: provider id and the earliest time it may be sent (quiet hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: String,
    pub not_before_ms: i64,
}

fn matches(route: &Route, event: &ChannelEvent) -> bool {
    let Some(incident) = &event.incident else {
        // Events without an incident (tests) are addressed, never routed.
        return false;
    };
    let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
    (route.severity.is_empty() || route.severity.contains(&incident.severity))
        && any(&route.domain, &incident.domain)
        && any(&route.incident_type, &incident.incident_type)
        && (route.source.is_empty() || incident.sources.iter().any(|s| route.source.contains(s)))
        && (route.environment.is_empty()
            || incident
                .environment
                .as_ref()
                .is_some_and(|e| route.environment.contains(e)))
}

/// The provider a `channel_delivery_failure` incident is about (its target), if it is one.
fn failing_provider(event: &ChannelEvent) -> Option<&str> {
    let incident = event.incident.as_ref()?;
    (incident.incident_type == IncidentType::ChannelDeliveryFailure.as_str())
        .then_some(incident.target_name.as_str())
}

/// When quiet hours let an event of `severity` out, from `now_ms` on: `now_ms` outside them
/// or for a severe enough event, else the minute they end.
pub fn quiet_until(quiet: &Quiet, severity: Severity, now_ms: i64) -> i64 {
    if severity >= quiet.allow || quiet.start_min == quiet.end_min {
        return now_ms;
    }
    let day = 24 * 60;
    let local_ms = now_ms + i64::from(quiet.offset_min) * 60_000;
    let minute = i64::from(u32::try_from(local_ms.rem_euclid(86_400_000) / 60_000).unwrap_or(0));
    let (start, end) = (i64::from(quiet.start_min), i64::from(quiet.end_min));
    let inside = if start < end {
        minute >= start && minute < end
    } else {
        minute >= start || minute < end
    };
    if !inside {
        return now_ms;
    }
    let wait_min = (end - minute).rem_euclid(day);
    // To the start of the end minute.
    let into_minute = local_ms.rem_euclid(60_000);
    now_ms + wait_min * 60_000 - into_minute
}

/// The providers `event` goes to, with when.
pub fn targets(
    routes: &[Route],
    providers: &[Provider],
    event: &ChannelEvent,
    now_ms: i64,
) -> Vec<Target> {
    let usable = |id: &str| {
        providers
            .iter()
            .any(|p| p.id == id && p.enabled && p.kind.deliverable())
            && failing_provider(event) != Some(id)
    };
    let severity = event.incident.as_ref().map(|i| i.severity);
    let mut out: Vec<Target> = Vec::new();
    let mut add = |id: &str, at: i64| {
        if !usable(id) {
            return;
        }
        match out.iter_mut().find(|t| t.provider == id) {
            Some(t) => t.not_before_ms = t.not_before_ms.min(at),
            None => out.push(Target {
                provider: id.to_owned(),
                not_before_ms: at,
            }),
        }
    };
    if routes.is_empty() {
        for p in providers {
            add(&p.id, now_ms);
        }
        return out;
    }
    for route in routes.iter().filter(|r| matches(r, event)) {
        let at = match (&route.quiet, severity) {
            (Some(quiet), Some(severity)) => quiet_until(quiet, severity, now_ms),
            _ => now_ms,
        };
        for id in &route.providers {
            add(id, at);
        }
    }
    out
}

/// Providers told when an approval of `event`'s incident has waited past half its expiry.
pub fn escalation_targets(
    routes: &[Route],
    providers: &[Provider],
    event: &ChannelEvent,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for route in routes.iter().filter(|r| matches(r, event)) {
        for id in &route.escalate_to {
            let ok = providers
                .iter()
                .any(|p| p.id == *id && p.enabled && p.kind.deliverable());
            if ok && !out.contains(id) {
                out.push(id.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProviderKind, Settings};
    use crate::event::{EventKind, IncidentBrief};

    fn provider(id: &str) -> Provider {
        Provider {
            id: id.into(),
            kind: ProviderKind::InApp,
            display_name: id.into(),
            enabled: true,
            approvals: false,
            settings: Settings::InApp,
        }
    }

    fn event(severity: Severity, incident_type: &str, target: &str) -> ChannelEvent {
        ChannelEvent {
            key: "k".into(),
            kind: EventKind::Opened,
            incident: Some(IncidentBrief {
                id: "inc-1".into(),
                incident_type: incident_type.into(),
                domain: IncidentType::from_name(incident_type)
                    .map_or("", |t| t.domain().as_str())
                    .into(),
                severity,
                status: "observed".into(),
                target: format!("deployment/shop/{target}"),
                target_name: target.into(),
                summary: String::new(),
                sources: vec!["rules".into()],
                environment: Some("prod".into()),
                opened_at_ms: 0,
            }),
            approval: None,
            text: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn routes_match_on_every_field() {
        let providers = vec![provider("tg"), provider("mail"), provider("feed")];
        let routes = vec![
            Route {
                providers: vec!["tg".into()],
                severity: vec![Severity::Critical],
                environment: vec!["prod".into()],
                ..Route::default()
            },
            Route {
                providers: vec!["mail".into()],
                domain: vec!["infrastructure".into()],
                ..Route::default()
            },
            Route {
                providers: vec!["feed".into()],
                source: vec!["alertmanager".into()],
                ..Route::default()
            },
        ];
        let ids = |e: &ChannelEvent| -> Vec<String> {
            targets(&routes, &providers, e, 0)
                .into_iter()
                .map(|t| t.provider)
                .collect()
        };
        assert_eq!(ids(&event(Severity::Critical, "crash_loop", "api")), ["tg"]);
        assert!(ids(&event(Severity::Warning, "crash_loop", "api")).is_empty());
        assert_eq!(
            ids(&event(Severity::Warning, "node_disk_pressure", "node-a")),
            ["mail"]
        );
        // No routes: every provider.
        assert_eq!(
            targets(
                &[],
                &providers,
                &event(Severity::Info, "crash_loop", "x"),
                0
            )
            .len(),
            3
        );
    }

    #[test]
    fn a_failing_provider_never_hears_of_its_own_failure() {
        let providers = vec![provider("tg"), provider("mail")];
        let e = event(Severity::Warning, "channel_delivery_failure", "tg");
        let ids: Vec<String> = targets(&[], &providers, &e, 0)
            .into_iter()
            .map(|t| t.provider)
            .collect();
        assert_eq!(ids, ["mail"]);
    }

    #[test]
    fn quiet_hours_hold_less_severe_events_until_they_end() {
        // 22:00-07:00 at UTC+01:00: 23:30 local is 22:30 UTC.
        let quiet = Quiet {
            start_min: 22 * 60,
            end_min: 7 * 60,
            offset_min: 60,
            allow: Severity::Critical,
        };
        let utc = |h: i64, m: i64| (h * 60 + m) * 60_000 + 20 * 86_400_000;
        let now = utc(22, 30);
        assert_eq!(quiet_until(&quiet, Severity::Critical, now), now);
        // Warnings wait for 07:00 local = 06:00 UTC next day.
        assert_eq!(quiet_until(&quiet, Severity::Warning, now), utc(24 + 6, 0));
        // Outside quiet hours (12:00 local) nothing waits.
        assert_eq!(quiet_until(&quiet, Severity::Info, utc(11, 0)), utc(11, 0));
        // Before midnight the same way: 06:59 local waits one minute.
        assert_eq!(quiet_until(&quiet, Severity::Info, utc(5, 59)), utc(6, 0));
    }
}
