//! Hand-off to the paging a team already runs, one alert per incident keyed by its id so the
//! team's routing and on-call schedules apply: PagerDuty Events API v2, Opsgenie's Alert API,
//! and Alertmanager's own `POST /api/v2/alerts`. Open incidents trigger, those someone works
//! on acknowledge, resolved ones resolve; approvals and action results stay in the chat.

use crate::config::{PagingService, PagingSettings};
use crate::error::{ChannelError, DeliveryError};
use crate::event::{ChannelEvent, EventKind, IncidentBrief};
use crate::providers::{CALL_TIMEOUT, check_answer};
use model::Severity;
use serde_json::{Value, json};

/// What an event asks of the paging service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// The action an event maps to, or `None` for events a pager does not carry.
pub fn action_of(event: &ChannelEvent) -> Option<PageAction> {
    let incident = event.incident.as_ref()?;
    match event.kind {
        EventKind::Resolved => Some(PageAction::Resolve),
        EventKind::Opened | EventKind::Updated | EventKind::Escalation => {
            Some(match incident.status.as_str() {
                "resolved" => PageAction::Resolve,
                "triaged" | "contained" | "recovering" | "suppressed" => PageAction::Acknowledge,
                _ => PageAction::Trigger,
            })
        }
        EventKind::ApprovalRequested
        | EventKind::ApprovalDecided
        | EventKind::ActionResult
        | EventKind::Test => None,
    }
}

/// The key the paging service deduplicates an incident's alerts by.
pub fn dedup_key(incident: &IncidentBrief) -> String {
    format!("srebot-{}", incident.id)
}

#[derive(Clone)]
pub struct PagingClient {
    http: reqwest::Client,
    service: PagingService,
    base_url: String,
    secret: Option<crate::config::Secret>,
    /// The provider id, naming its test alerts.
    pub provider: String,
}

impl std::fmt::Debug for PagingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagingClient")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

fn pagerduty_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn opsgenie_priority(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "P1",
        Severity::Warning => "P3",
        Severity::Info => "P5",
    }
}

fn summary(event: &ChannelEvent, incident: &IncidentBrief) -> String {
    let mut s = format!(
        "[srebot] {} {} on {}: {}",
        incident.severity.as_str(),
        incident.incident_type,
        incident.target_name,
        incident.summary
    );
    if s.chars().count() > 1000 {
        s = s.chars().take(999).collect();
        s.push('…');
    }
    if event.kind == EventKind::Escalation {
        s.push_str(" (escalated)");
    }
    s
}

/// PagerDuty Events API v2 body (`POST /v2/enqueue`).
pub fn pagerduty_body(routing_key: &str, event: &ChannelEvent, action: PageAction) -> Value {
    let Some(incident) = &event.incident else {
        return json!({});
    };
    let event_action = match action {
        PageAction::Trigger => "trigger",
        PageAction::Acknowledge => "acknowledge",
        PageAction::Resolve => "resolve",
    };
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": dedup_key(incident),
    });
    if action == PageAction::Trigger {
        body["payload"] = json!({
            "summary": summary(event, incident),
            "source": incident.target,
            "severity": pagerduty_severity(incident.severity),
            "component": incident.target_name,
            "group": incident.domain,
            "class": incident.incident_type,
            "custom_details": {
                "incident": incident.id,
                "status": incident.status,
                "environment": incident.environment,
                "origins": incident.sources,
                "latest": event.text,
            },
        });
        body["client"] = json!("SRE Smart Bot");
    }
    body
}

/// Opsgenie: the request for an action, as (path under the API URL, body).
pub fn opsgenie_request(event: &ChannelEvent, action: PageAction) -> Option<(String, Value)> {
    let incident = event.incident.as_ref()?;
    let alias = dedup_key(incident);
    Some(match action {
        PageAction::Trigger => (
            "/v2/alerts".to_owned(),
            json!({
                "message": summary(event, incident).chars().take(130).collect::<String>(),
                "alias": alias,
                "description": format!("{}\n\nLatest: {}", incident.summary, event.text),
                "priority": opsgenie_priority(incident.severity),
                "source": "SRE Smart Bot",
                "entity": incident.target,
                "tags": [incident.incident_type, incident.domain],
                "details": {
                    "incident": incident.id,
                    "status": incident.status,
                    "target": incident.target,
                },
            }),
        ),
        PageAction::Acknowledge => (
            format!("/v2/alerts/{alias}/acknowledge?identifierType=alias"),
            json!({"source": "SRE Smart Bot", "note": event.text}),
        ),
        PageAction::Resolve => (
            format!("/v2/alerts/{alias}/close?identifierType=alias"),
            json!({"source": "SRE Smart Bot", "note": event.text}),
        ),
    })
}

/// Alertmanager `POST /api/v2/alerts` body: the incident as one alert, ended when resolved
/// (Alertmanager has no acknowledgement: an acknowledged incident keeps firing there and is
/// silenced by the team's own rules).
pub fn alertmanager_body(event: &ChannelEvent, action: PageAction, now_ms: i64) -> Value {
    let Some(incident) = &event.incident else {
        return json!([]);
    };
    let rfc = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let mut alert = json!({
        "labels": {
            "alertname": "SrebotIncident",
            "incident": incident.id,
            "incident_type": incident.incident_type,
            "domain": incident.domain,
            "severity": incident.severity.as_str(),
            "target": incident.target_name,
        },
        "annotations": {
            "summary": summary(event, incident),
            "description": event.text,
            "status": incident.status,
        },
        "startsAt": rfc(incident.opened_at_ms),
        "generatorURL": "",
    });
    if let Some(env) = &incident.environment {
        alert["labels"]["environment"] = json!(env);
    }
    if action == PageAction::Resolve {
        alert["endsAt"] = json!(rfc(now_ms));
    }
    json!([alert])
}

impl PagingClient {
    pub fn new(settings: &PagingSettings, key: &str, provider: &str) -> Result<Self, ChannelError> {
        let client = |source| ChannelError::Client {
            key: key.to_owned(),
            source,
        };
        let builder = outbound::client_builder(&settings.tls)
            .map_err(client)?
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            http: outbound::build(builder).map_err(client)?,
            service: settings.service,
            base_url: settings.url.trim_end_matches('/').to_owned(),
            secret: settings.secret.clone(),
            provider: provider.to_owned(),
        })
    }

    fn who(&self) -> &'static str {
        match self.service {
            PagingService::PagerDuty => "PagerDuty",
            PagingService::Opsgenie => "Opsgenie",
            PagingService::Alertmanager => "Alertmanager",
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(), DeliveryError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.http.post(&url).json(body);
        match (self.service, &self.secret) {
            (PagingService::Opsgenie, Some(key)) => {
                request = request.header("Authorization", format!("GenieKey {}", key.expose()));
            }
            (PagingService::Alertmanager, Some(token)) => {
                request = request.bearer_auth(token.expose());
            }
            _ => {}
        }
        let answer = request.send().await.map_err(|e| {
            DeliveryError::transient(format!(
                "{}: {}",
                outbound::redact(&url),
                outbound::describe(e)
            ))
        })?;
        check_answer(answer, self.who()).await.map(|_| ())
    }

    /// Sends what `event` asks of the paging service; events it does not carry are done.
    pub async fn send(&self, event: &ChannelEvent) -> Result<(), DeliveryError> {
        if event.kind == EventKind::Test {
            return self.test(event).await;
        }
        let Some(action) = action_of(event) else {
            return Ok(());
        };
        match self.service {
            PagingService::PagerDuty => {
                let key = self.secret.as_ref().map(|s| s.expose()).unwrap_or_default();
                self.post("/v2/enqueue", &pagerduty_body(key, event, action))
                    .await
            }
            PagingService::Opsgenie => match opsgenie_request(event, action) {
                Some((path, body)) => self.post(&path, &body).await,
                None => Ok(()),
            },
            PagingService::Alertmanager => {
                self.post(
                    "/api/v2/alerts",
                    &alertmanager_body(event, action, super::now_ms()),
                )
                .await
            }
        }
    }

    /// A test that pages nobody: PagerDuty's change event, an Opsgenie P5 alert closed at
    /// once, an Alertmanager alert that has already ended.
    async fn test(&self, event: &ChannelEvent) -> Result<(), DeliveryError> {
        let now = super::now_ms();
        let probe = IncidentBrief {
            id: format!("test-{}", self.provider),
            incident_type: "test".to_owned(),
            domain: "operator_channels".to_owned(),
            severity: Severity::Info,
            status: "resolved".to_owned(),
            target: format!("channel/{}", self.provider),
            target_name: self.provider.clone(),
            summary: event.text.clone(),
            sources: Vec::new(),
            environment: None,
            opened_at_ms: now,
        };
        let as_incident = ChannelEvent {
            incident: Some(probe),
            kind: EventKind::Opened,
            ..event.clone()
        };
        match self.service {
            PagingService::PagerDuty => {
                let key = self.secret.as_ref().map(|s| s.expose()).unwrap_or_default();
                self.post(
                    "/v2/change/enqueue",
                    &json!({
                        "routing_key": key,
                        "payload": {
                            "summary": event.text,
                            "source": "SRE Smart Bot",
                            "timestamp": chrono::DateTime::from_timestamp_millis(now)
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default(),
                        },
                    }),
                )
                .await
            }
            PagingService::Opsgenie => {
                for action in [PageAction::Trigger, PageAction::Resolve] {
                    if let Some((path, mut body)) = opsgenie_request(&as_incident, action) {
                        if action == PageAction::Trigger {
                            body["priority"] = json!("P5");
                        }
                        self.post(&path, &body).await?;
                    }
                }
                Ok(())
            }
            PagingService::Alertmanager => {
                self.post(
                    "/api/v2/alerts",
                    &alertmanager_body(&as_incident, PageAction::Resolve, now),
                )
                .await
            }
        }
    }
}
