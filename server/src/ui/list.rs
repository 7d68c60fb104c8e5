//! `/ui/incidents?status=&severity=&domain=&type=&source=&q=&page=`: the incident list. The
//! filters live in the URL, counts per taxonomy domain browse it, newest first, fifty a page;
//! `/ui/incidents/rows` is the same list as an htmx partial, fetched again on every change.

use super::pages::{Chrome, html, html_status};
use super::session::Signed;
use crate::app::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use incident::{IncidentQuery, IncidentSummary};
use model::{Domain, IncidentStatus, IncidentType, Severity};
use std::sync::Arc;

/// Rows per page.
pub const PER_PAGE: u32 = 50;

/// The filters as they came in the URL.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub status: String,
    pub severity: String,
    pub domain: String,
    pub kind: String,
    pub source: String,
    pub q: String,
    pub page: u32,
}

impl Filters {
    pub fn parse(query: &str) -> Self {
        let get = |k: &str| {
            crate::api::param(query, k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            status: get("status"),
            severity: get("severity"),
            domain: get("domain"),
            kind: get("type"),
            source: get("source"),
            q: get("q").chars().take(200).collect(),
            page: get("page").parse::<u32>().unwrap_or(1).clamp(1, 100_000),
        }
    }

    /// The ledger query, or what is wrong with a filter.
    pub fn query(&self) -> Result<IncidentQuery, String> {
        fn pick(value: &str) -> Option<&str> {
            (!value.is_empty()).then_some(value)
        }
        let unknown = |field: &str, value: &str| format!("unknown {field} {value:?}");
        Ok(IncidentQuery {
            status: pick(&self.status)
                .map(|v| IncidentStatus::from_name(v).ok_or_else(|| unknown("status", v)))
                .transpose()?,
            severity: pick(&self.severity)
                .map(|v| incident::severity_from_name(v).ok_or_else(|| unknown("severity", v)))
                .transpose()?,
            domain: pick(&self.domain)
                .map(|v| incident::domain_from_name(v).ok_or_else(|| unknown("domain", v)))
                .transpose()?,
            incident_type: pick(&self.kind)
                .map(|v| IncidentType::from_name(v).ok_or_else(|| unknown("type", v)))
                .transpose()?,
            source: pick(&self.source)
                .map(|v| {
                    model::check_source(v)
                        .map(|()| v.to_owned())
                        .map_err(|_| unknown("source", v))
                })
                .transpose()?,
            text: pick(&self.q).map(str::to_owned),
            page: self.page,
            per_page: PER_PAGE,
        })
    }

    /// The URL query of these filters, with `domain` and `page` replaced.
    pub fn link(&self, domain: Option<&str>, page: u32) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let domain = domain.unwrap_or(&self.domain);
        for (k, v) in [
            ("status", self.status.as_str()),
            ("severity", self.severity.as_str()),
            ("domain", domain),
            ("type", self.kind.as_str()),
            ("source", self.source.as_str()),
            ("q", self.q.as_str()),
        ] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        if page > 1 {
            out.append_pair("page", &page.to_string());
        }
        out.finish()
    }
}

/// One row as the list shows it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub summary: String,
    pub kind: String,
    pub domain: String,
    pub severity: String,
    pub status: String,
    pub target: String,
    pub opened: String,
    pub ago: String,
    pub signals: u64,
    pub owner: String,
    pub acknowledged: bool,
}

impl Row {
    pub fn of(s: &IncidentSummary, now_ms: i64) -> Self {
        let opened = incident::rfc3339::parse(&s.opened_at).unwrap_or(now_ms);
        Row {
            id: s.id.clone(),
            summary: s.summary.clone(),
            kind: s.incident_type.as_str().replace('_', " "),
            domain: s.domain.as_str().replace('_', " "),
            severity: s.severity.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            target: s.target.to_string(),
            opened: app::views::clock(opened, now_ms),
            ago: app::views::span_words(now_ms - opened),
            signals: s.candidate_count,
            owner: s.assignee.clone().unwrap_or_default(),
            acknowledged: s.acknowledged_by.is_some(),
        }
    }
}

/// A domain to browse by.
#[derive(Debug, Clone)]
pub struct DomainLink {
    pub name: String,
    pub label: String,
    pub count: u64,
    pub link: String,
    pub on: bool,
}

/// The list and what goes around it (also the live partial).
#[derive(Debug, Clone)]
pub struct ListView {
    pub rows: Vec<Row>,
    pub total: u64,
    pub all_link: String,
    pub domains: Vec<DomainLink>,
    pub page: u32,
    pub pages: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub filtered: bool,
    /// What was wrong with the filters.
    pub error: Option<String>,
}

impl ListView {
    fn empty(error: Option<String>) -> Self {
        ListView {
            rows: Vec::new(),
            total: 0,
            all_link: String::new(),
            domains: Vec::new(),
            page: 1,
            pages: 1,
            prev: None,
            next: None,
            filtered: false,
            error,
        }
    }
}

/// Choices of a filter's select: `(value, label, selected)`.
pub type Options = Vec<(String, String, bool)>;

fn options<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, current: &str) -> Options {
    all.iter()
        .map(|&v| {
            let n = name(v);
            (n.to_owned(), n.replace('_', " "), n == current)
        })
        .collect()
}

const DOMAINS: [Domain; 7] = [
    Domain::Infrastructure,
    Domain::RuntimeServices,
    Domain::ApplicationServices,
    Domain::NetworkIngress,
    Domain::IdentitySecurity,
    Domain::ReleaseConfiguration,
    Domain::OperatorChannels,
];

#[derive(Debug, Template)]
#[template(path = "incidents.html")]
pub struct IncidentsPage {
    pub chrome: Chrome,
    pub list: ListView,
    pub filters: Filters,
    pub query: String,
    pub statuses: Options,
    pub severities: Options,
    pub domains: Options,
    pub types: Options,
    pub sources: Options,
}

#[derive(Debug, Template)]
#[template(path = "incident_list.html")]
pub struct IncidentList {
    pub list: ListView,
}

/// Reads one page of the list through the application.
pub async fn list_view(
    state: &AppState,
    signed: &Signed,
    filters: &Filters,
) -> Result<ListView, String> {
    let query = filters.query()?;
    let page = state
        .app
        .incident_page(&signed.session.caller, &query)
        .await
        .map_err(|e| e.to_string())?;
    let now = app::remediation::now_ms();
    let pages = u32::try_from(page.total.div_ceil(u64::from(PER_PAGE)))
        .unwrap_or(u32::MAX)
        .max(1);
    let counts: std::collections::BTreeMap<Domain, u64> = page.domains.iter().copied().collect();
    Ok(ListView {
        rows: page.rows.iter().map(|s| Row::of(s, now)).collect(),
        total: page.total,
        all_link: filters.link(Some(""), 1),
        domains: DOMAINS
            .iter()
            .map(|d| DomainLink {
                name: d.as_str().to_owned(),
                label: d.as_str().replace('_', " "),
                count: counts.get(d).copied().unwrap_or(0),
                link: filters.link(Some(d.as_str()), 1),
                on: filters.domain == d.as_str(),
            })
            .collect(),
        page: filters.page,
        pages,
        prev: (filters.page > 1).then(|| filters.link(None, filters.page - 1)),
        next: (filters.page < pages).then(|| filters.link(None, filters.page + 1)),
        filtered: query
            != IncidentQuery {
                page: query.page,
                per_page: query.per_page,
                ..IncidentQuery::default()
            },
        error: None,
    })
}

/// `GET /ui/incidents`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let filters = Filters::parse(&raw);
    let mut chrome = Chrome::of(&state, &signed, "incidents", Some(&raw)).await;
    let (list, status) = match list_view(&state, &signed, &filters).await {
        Ok(list) => (list, StatusCode::OK),
        Err(error) => {
            chrome.error = Some(error);
            (ListView::empty(None), StatusCode::BAD_REQUEST)
        }
    };
    let query = filters.link(None, filters.page);
    html_status(
        status,
        &IncidentsPage {
            chrome,
            statuses: options(IncidentStatus::ALL, IncidentStatus::as_str, &filters.status),
            severities: options(
                &[Severity::Critical, Severity::Warning, Severity::Info],
                Severity::as_str,
                &filters.severity,
            ),
            domains: options(&DOMAINS, Domain::as_str, &filters.domain),
            types: options(IncidentType::ALL, IncidentType::as_str, &filters.kind),
            sources: state
                .app
                .status(&signed.session.caller)
                .map(|s| {
                    s.sources
                        .into_iter()
                        .map(|x| {
                            let on = x.source == filters.source;
                            (x.source.clone(), x.source, on)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            list,
            filters,
            query,
        },
    )
}

/// `GET /ui/incidents/rows`: the list alone, for live refreshes.
pub async fn rows(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let filters = Filters::parse(query.as_deref().unwrap_or(""));
    match list_view(&state, &signed, &filters).await {
        Ok(list) => html(&IncidentList { list }),
        Err(error) => html_status(
            StatusCode::BAD_REQUEST,
            &IncidentList {
                list: ListView::empty(Some(error)),
            },
        ),
    }
}
