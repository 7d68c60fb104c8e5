//! Loki query client: pulls the logs around an incident from `GET /loki/api/v1/query_range`,
//! scoped by a LogQL stream selector plus line filters, time-boxed, paged forward by time.
//!
//! Invariants:
//! - Every label value and filter string is written as an escaped LogQL literal (and regex
//!   alternatives are regex-escaped first), so scope names can never change the query's meaning.
//! - Bounded everywhere: retries (5xx, 429, transport errors) with capped exponential backoff
//!   honouring `Retry-After`, a byte cap on each answer, a cap on the entries pulled in total.
//! - Pages follow Loki's `direction=forward` semantics: a full page continues from its last
//!   timestamp, skipping the entries already taken at exactly that timestamp.

use ingest::loki::{self, LogBatch, LogEntry, LogStream, TimestampIssue, is_label_name};
use model::{Classify, ErrorClass, LabelError, LabelSet};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// Where Loki is and how to talk to it.
#[derive(Clone)]
pub struct LokiConfig {
    /// Base URL, e.g. `http://loki:3100` (a path prefix is kept).
    pub base_url: String,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki).
    pub tenant: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt of each page.
    pub max_retries: u32,
    /// First retry delay; doubles per retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// `limit` sent per request (Loki's default `max_entries_limit_per_query` is 5000).
    pub page_limit: u32,
    /// Largest answer body read.
    pub max_response_bytes: usize,
    /// CA file and client certificate for https.
    pub tls: outbound::TlsConfig,
}

impl Default for LokiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:3100".to_owned(),
            tenant: None,
            bearer_token: None,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            page_limit: 1000,
            max_response_bytes: 64 << 20,
            tls: outbound::TlsConfig::default(),
        }
    }
}

impl fmt::Debug for LokiConfig {
    /// Like a derived `Debug`, with the token redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LokiConfig")
            .field("base_url", &self.base_url)
            .field("tenant", &self.tenant)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("page_limit", &self.page_limit)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A label matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `=~` (RE2, fully anchored by Loki)
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One `name op "value"` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// Which stream labels carry an incident's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLabels {
    /// Default `namespace`.
    pub namespace: String,
    /// Default `pod`.
    pub pod: String,
    /// Default `app`.
    pub service: String,
    /// Default `container`.
    pub container: String,
}

impl Default for ScopeLabels {
    fn default() -> Self {
        Self {
            namespace: "namespace".to_owned(),
            pod: "pod".to_owned(),
            service: "app".to_owned(),
            container: "container".to_owned(),
        }
    }
}

/// What an incident is about, as far as its logs go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScope {
    pub namespace: Option<String>,
    pub pods: Vec<String>,
    pub services: Vec<String>,
    pub containers: Vec<String>,
}

impl LogScope {
    /// The log scope of an incident target: a pod, container or namespace by its own label;
    /// a service, deployment or job by the service label (workloads are labelled with their
    /// app name), a release by its name (charts label their workloads with it). Cluster-,
    /// node-, ingress- and series-wide targets keep only the namespace.
    pub fn for_target(scope: model::Scope, target: &str, namespace: Option<&str>) -> Self {
        use model::Scope as S;
        let mut out = Self {
            namespace: namespace.map(str::to_owned),
            ..Self::default()
        };
        let target = target.to_owned();
        match scope {
            S::Pod => out.pods.push(target),
            S::Container => out.containers.push(target),
            S::Service | S::Deployment | S::Job | S::Release => out.services.push(target),
            S::Namespace => out.namespace = Some(target),
            S::Cluster | S::Node | S::Series | S::Ingress => {}
        }
        out
    }
}

/// A LogQL stream selector: matchers joined by AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSelector {
    pub matchers: Vec<Matcher>,
}

impl StreamSelector {
    /// Adds a matcher.
    pub fn with(mut self, name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Self {
        self.matchers.push(Matcher {
            name: name.into(),
            op,
            value: value.into(),
        });
        self
    }

    /// The selector for an incident's scope: the namespace by equality; pods, services and
    /// containers each by equality (one) or an alternation of regex-escaped names (several;
    /// Loki anchors regex matchers). Kinds given together must all match. Empty names are
    /// ignored.
    pub fn for_scope(scope: &LogScope, labels: &ScopeLabels) -> Self {
        let mut selector = Self::default();
        if let Some(namespace) = scope.namespace.as_deref().filter(|n| !n.is_empty()) {
            selector = selector.with(&labels.namespace, MatchOp::Eq, namespace);
        }
        for (name, values) in [
            (&labels.pod, &scope.pods),
            (&labels.service, &scope.services),
        ] {
            let values: Vec<&str> = values
                .iter()
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .collect();
            match values.as_slice() {
                [] => {}
                [one] => selector = selector.with(name, MatchOp::Eq, *one),
                many => {
                    let alternation = many
                        .iter()
                        .map(|v| regex_escape(v))
                        .collect::<Vec<_>>()
                        .join("|");
                    selector = selector.with(name, MatchOp::Regex, alternation);
                }
            }
        }
        selector
    }

    /// The selector as LogQL, e.g. `{namespace="shop", pod=~"a|b"}`. Refuses invalid label
    /// names and a selector with no `=` matcher on a non-empty value (Loki refuses those too).
    pub fn to_logql(&self) -> Result<String, QueryError> {
        let mut out = String::from("{");
        let mut anchored = false;
        for (i, matcher) in self.matchers.iter().enumerate() {
            if !is_label_name(&matcher.name) {
                return Err(QueryError::LabelName {
                    name: matcher.name.clone(),
                });
            }
            anchored |= matches!(matcher.op, MatchOp::Eq | MatchOp::Regex)
                && !matcher.value.is_empty()
                && !(matcher.op == MatchOp::Regex && matcher.value == ".*");
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&matcher.name);
            out.push_str(matcher.op.as_str());
            loki::write_quoted(&mut out, &matcher.value);
        }
        if !anchored {
            return Err(QueryError::EmptySelector);
        }
        out.push('}');
        Ok(out)
    }
}

/// A line filter after the selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilter {
    /// `|= "text"`
    Contains(String),
    /// `!= "text"`
    NotContains(String),
    /// `|~ "re"`
    Matches(String),
    /// `!~ "re"`
    NotMatches(String),
}

impl LineFilter {
    fn write(&self, out: &mut String) {
        let (op, text) = match self {
            LineFilter::Contains(t) => ("|=", t),
            LineFilter::NotContains(t) => ("!=", t),
            LineFilter::Matches(t) => ("|~", t),
            LineFilter::NotMatches(t) => ("!~", t),
        };
        out.push(' ');
        out.push_str(op);
        out.push(' ');
        loki::write_quoted(out, text);
    }
}

/// A time-boxed log query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub selector: StreamSelector,
    pub filters: Vec<LineFilter>,
    /// Inclusive, nanoseconds since the epoch.
    pub start_ns: i64,
    /// Exclusive, nanoseconds since the epoch.
    pub end_ns: i64,
    /// Most entries pulled over all pages.
    pub max_entries: usize,
}

impl LogQuery {
    /// The whole LogQL expression: selector then filters.
    pub fn logql(&self) -> Result<String, QueryError> {
        let mut out = self.selector.to_logql()?;
        for filter in &self.filters {
            filter.write(&mut out);
        }
        Ok(out)
    }
}

/// The span and budget of one log pull.
struct LogQueryRange {
    start_ns: i64,
    end_ns: i64,
    max_entries: usize,
}

/// One series of a LogQL metric query's `matrix` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub labels: BTreeMap<String, String>,
    /// `(timestamp ms, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

/// What a pull brought back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPull {
    /// Streams merged over pages, entries in time order.
    pub batch: LogBatch,
    /// Requests answered (pages).
    pub pages: u32,
    /// Attempts that failed and were retried.
    pub retries: u32,
    /// Whether `max_entries` stopped the pull while Loki still had more.
    pub truncated: bool,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid Loki base URL {url:?}")]
    BaseUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{header} is not a valid HTTP header value")]
    Header { header: &'static str },
    #[error("could not build the HTTP client")]
    Client {
        #[source]
        source: outbound::OutboundError,
    },
    #[error("invalid label name {name:?} in stream selector")]
    LabelName { name: String },
    #[error(
        "stream selector needs at least one '=' or '=~' matcher that cannot match an empty value"
    )]
    EmptySelector,
    #[error("empty time range: start {start_ns} is not before end {end_ns}")]
    TimeRange { start_ns: i64, end_ns: i64 },
    #[error("request to Loki failed")]
    Transport {
        #[source]
        source: reqwest::Error,
    },
    #[error("Loki answered HTTP {status}: {body}")]
    Status {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("Loki's answer is over the limit of {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("Loki's answer is not query_range JSON")]
    Response {
        #[source]
        source: serde_json::Error,
    },
    #[error("Loki answered status {status:?}: {error}")]
    Failed { status: String, error: String },
    #[error("Loki answered a {result_type:?} result; a log query answers \"streams\"")]
    ResultType { result_type: String },
    #[error("answer stream {stream}: invalid label set")]
    Labels {
        stream: usize,
        #[source]
        source: LabelError,
    },
    #[error("answer stream {stream}, entry {entry}: bad timestamp: {issue}")]
    Timestamp {
        stream: usize,
        entry: usize,
        issue: TimestampIssue,
    },
    #[error("gave up after {attempts} attempts")]
    Exhausted {
        attempts: u32,
        #[source]
        source: Box<QueryError>,
    },
}

impl QueryError {
    /// Whether the same request may succeed if tried again.
    fn retryable(&self) -> bool {
        match self {
            QueryError::Transport { source } => !source.is_builder() && !source.is_decode(),
            QueryError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            QueryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Classify for QueryError {
    fn class(&self) -> ErrorClass {
        match self {
            QueryError::LabelName { .. }
            | QueryError::EmptySelector
            | QueryError::TimeRange { .. } => ErrorClass::InvalidInput,
            QueryError::Status { status: 400, .. } => ErrorClass::InvalidInput,
            QueryError::Status {
                status: 429,
                retry_after,
                ..
            } => ErrorClass::RateLimited {
                retry_after_secs: retry_secs(*retry_after),
            },
            QueryError::BaseUrl { .. } | QueryError::Header { .. } | QueryError::Client { .. } => {
                ErrorClass::Internal
            }
            QueryError::Exhausted { source, .. } => source.class(),
            QueryError::Transport { .. }
            | QueryError::Status { .. }
            | QueryError::ResponseTooLarge { .. }
            | QueryError::Response { .. }
            | QueryError::Failed { .. }
            | QueryError::ResultType { .. }
            | QueryError::Labels { .. }
            | QueryError::Timestamp { .. } => ErrorClass::Unavailable {
                retry_after_secs: 5,
            },
        }
    }
}

fn retry_secs(after: Option<Duration>) -> u32 {
    after
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1))
        .unwrap_or(5)
}

/// An async client for Loki's `query_range`.
#[derive(Debug, Clone)]
pub struct LokiClient {
    http: reqwest::Client,
    url: url::Url,
    config: LokiConfig,
}

impl LokiClient {
    /// Validates the configuration and builds the HTTP client.
    pub fn new(config: LokiConfig) -> Result<Self, QueryError> {
        let base = config.base_url.trim_end_matches('/');
        let url =
            url::Url::parse(&format!("{base}/loki/api/v1/query_range")).map_err(|source| {
                QueryError::BaseUrl {
                    url: config.base_url.clone(),
                    source,
                }
            })?;
        let mut headers = HeaderMap::new();
        if let Some(tenant) = &config.tenant {
            let value = HeaderValue::from_str(tenant).map_err(|_| QueryError::Header {
                header: "X-Scope-OrgID",
            })?;
            headers.insert("X-Scope-OrgID", value);
        }
        if let Some(token) = &config.bearer_token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                QueryError::Header {
                    header: "Authorization",
                }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let builder = outbound::client_builder(&config.tls)
            .map_err(|source| QueryError::Client { source })?
            .default_headers(headers)
            .timeout(config.timeout);
        let http = outbound::build(builder).map_err(|source| QueryError::Client { source })?;
        Ok(Self { http, url, config })
    }

    /// Pulls every entry matching `query` in `[start_ns, end_ns)`, oldest first, page by page,
    /// up to `query.max_entries`.
    pub async fn query_range(&self, query: &LogQuery) -> Result<LogPull, QueryError> {
        let logql = query.logql()?;
        self.query_logql(&logql, query.start_ns, query.end_ns, query.max_entries)
            .await
    }

    /// Pulls every entry a LogQL log query (as written, e.g. from `[[loki.query]]`) matches in
    /// `[start_ns, end_ns)`, oldest first, page by page, up to `max_entries`.
    pub async fn query_logql(
        &self,
        logql: &str,
        start_ns: i64,
        end_ns: i64,
        max_entries: usize,
    ) -> Result<LogPull, QueryError> {
        if start_ns >= end_ns {
            return Err(QueryError::TimeRange { start_ns, end_ns });
        }
        let query = LogQueryRange {
            start_ns,
            end_ns,
            max_entries,
        };
        let limit = self.config.page_limit.max(1);
        let mut merged = Merged::default();
        let mut pull = LogPull::default();
        let mut start = query.start_ns;
        // Entries already taken at exactly `start`, by (stream, line).
        let mut boundary: HashSet<(LabelSet, String)> = HashSet::new();
        while start < query.end_ns {
            let (page, retries) = self.page(logql, start, query.end_ns, limit).await?;
            pull.pages += 1;
            pull.retries += retries;
            let count = page.entry_count();
            let mut last = i64::MIN;
            for stream in &page.streams {
                for entry in &stream.entries {
                    last = last.max(entry.timestamp_ns);
                }
            }
            let mut fresh = 0usize;
            let mut budget_hit = false;
            let mut at_last: Vec<(LabelSet, String)> = Vec::new();
            for stream in page.streams {
                let LogStream { labels, entries } = stream;
                for entry in entries {
                    if entry.timestamp_ns == last {
                        at_last.push((labels.clone(), entry.line.clone()));
                    }
                    if entry.timestamp_ns == start
                        && boundary.contains(&(labels.clone(), entry.line.clone()))
                    {
                        continue;
                    }
                    if merged.count >= query.max_entries {
                        budget_hit = true;
                        continue;
                    }
                    fresh += 1;
                    merged.push(&labels, entry);
                }
            }
            if budget_hit {
                pull.truncated = true;
                break;
            }
            if count < usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
            let last = last.max(start);
            if fresh == 0 {
                // A full page of entries already taken: more than a page shares one timestamp.
                // Move past it rather than ask again.
                start = last.saturating_add(1);
                boundary.clear();
            } else {
                if last != start {
                    boundary.clear();
                }
                boundary.extend(at_last);
                start = last;
            }
        }
        pull.batch = merged.finish();
        Ok(pull)
    }

    /// One page, retried on 5xx, 429 and transport errors; returns it and the retry count.
    async fn page(
        &self,
        logql: &str,
        start_ns: i64,
        end_ns: i64,
        limit: u32,
    ) -> Result<(LogBatch, u32), QueryError> {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("query", logql)
            .append_pair("start", &start_ns.to_string())
            .append_pair("end", &end_ns.to_string())
            .append_pair("limit", &limit.to_string())
            .append_pair("direction", "forward");
        self.retried(url, parse_query_response).await
    }

    /// GETs `url` and parses the answer, retried on 5xx, 429 and transport errors (after
    /// `Retry-After` when given, with backoff); returns it and the retry count.
    async fn retried<T>(
        &self,
        url: url::Url,
        parse: impl Fn(&[u8]) -> Result<T, QueryError>,
    ) -> Result<(T, u32), QueryError> {
        let mut attempt: u32 = 0;
        loop {
            let answer = match self.fetch_body(url.clone()).await {
                Ok(body) => parse(&body),
                Err(e) => Err(e),
            };
            match answer {
                Ok(value) => return Ok((value, attempt)),
                Err(error) if error.retryable() && attempt < self.config.max_retries => {
                    tokio::time::sleep(self.backoff(attempt, error.retry_after())).await;
                    attempt += 1;
                }
                Err(error) if attempt > 0 => {
                    return Err(QueryError::Exhausted {
                        attempts: attempt + 1,
                        source: Box::new(error),
                    });
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .config
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt));
        exponential
            .max(retry_after.unwrap_or_default())
            .min(self.config.max_backoff)
    }

    /// One GET of `url`: the body of a 2xx answer, bounded; else the status as an error
    /// (with its `Retry-After`).
    async fn fetch_body(&self, url: url::Url) -> Result<Vec<u8>, QueryError> {
        let mut response =
            self.http
                .get(url)
                .send()
                .await
                .map_err(|source| QueryError::Transport {
                    source: source.without_url(),
                })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let limit = self.config.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(QueryError::ResponseTooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| QueryError::Transport {
                source: source.without_url(),
            })?
        {
            if body.len() + chunk.len() > limit {
                return Err(QueryError::ResponseTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(QueryError::Status {
                status: status.as_u16(),
                body: text.trim().chars().take(512).collect(),
                retry_after,
            });
        }
        Ok(body)
    }
}

/// Streams merged across pages by label set, in first-seen order.
#[derive(Default)]
struct Merged {
    streams: Vec<LogStream>,
    index: HashMap<LabelSet, usize>,
    count: usize,
}

impl Merged {
    fn push(&mut self, labels: &LabelSet, entry: LogEntry) {
        let at = match self.index.get(labels) {
            Some(&at) => at,
            None => {
                self.streams.push(LogStream {
                    labels: labels.clone(),
                    entries: Vec::new(),
                });
                self.index.insert(labels.clone(), self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        if let Some(stream) = self.streams.get_mut(at) {
            stream.entries.push(entry);
            self.count += 1;
        }
    }

    fn finish(mut self) -> LogBatch {
        for stream in &mut self.streams {
            stream.entries.sort_by_key(|e| e.timestamp_ns);
        }
        LogBatch {
            streams: self.streams,
        }
    }
}

#[derive(Deserialize)]
struct RawAnswer {
    status: String,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<RawResult>,
}

/// A `streams` result item; metric results (`metric`/`value`) read as empty and are refused
/// by `resultType`.
#[derive(Deserialize)]
struct RawResult {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<loki::json::RawValue>,
}

/// Parses Loki's documented `query_range` answer for a log query into a batch.
pub fn parse_query_response(body: &[u8]) -> Result<LogBatch, QueryError> {
    let answer: RawAnswer =
        serde_json::from_slice(body).map_err(|source| QueryError::Response { source })?;
    if answer.status != "success" {
        return Err(QueryError::Failed {
            status: answer.status,
            error: answer.error.unwrap_or_default(),
        });
    }
    let Some(data) = answer.data else {
        return Ok(LogBatch::default());
    };
    if data.result_type != "streams" {
        return Err(QueryError::ResultType {
            result_type: data.result_type,
        });
    }
    let mut streams = Vec::with_capacity(data.result.len());
    for (index, raw) in data.result.into_iter().enumerate() {
        let labels = LabelSet::from_pairs(raw.stream).map_err(|source| QueryError::Labels {
            stream: index,
            source,
        })?;
        let mut entries = Vec::with_capacity(raw.values.len());
        for (entry, value) in raw.values.into_iter().enumerate() {
            let timestamp_ns =
                loki::nanos_timestamp(&value.ts).map_err(|issue| QueryError::Timestamp {
                    stream: index,
                    entry,
                    issue,
                })?;
            entries.push(LogEntry {
                timestamp_ns,
                line: value.line,
                metadata: value.metadata,
            });
        }
        streams.push(LogStream { labels, entries });
    }
    Ok(LogBatch { streams })
}

/// Escapes RE2 metacharacters so `text` matches only itself.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_selector_escapes_values() {
        let scope = LogScope {
            namespace: Some("shop".into()),
            pods: vec!["api-1".into(), "api.2\"x".into(), String::new()],
            services: vec!["cart".into()],
            containers: Vec::new(),
        };
        let logql = StreamSelector::for_scope(&scope, &ScopeLabels::default())
            .to_logql()
            .unwrap();
        assert_eq!(
            logql,
            r#"{namespace="shop", pod=~"api-1|api\\.2\"x", app="cart"}"#
        );
        // Reads back with the push-side parser for the `=` part.
        let only_eq = StreamSelector::default()
            .with("pod", MatchOp::Eq, "a\"b\\c\nd")
            .to_logql()
            .unwrap();
        assert_eq!(
            loki::parse_label_string(&only_eq).unwrap(),
            [("pod".to_owned(), "a\"b\\c\nd".to_owned())]
        );
    }

    #[test]
    fn incident_targets_map_to_scopes() {
        let labels = ScopeLabels::default();
        let logql = |scope, target, ns| {
            StreamSelector::for_scope(&LogScope::for_target(scope, target, ns), &labels).to_logql()
        };
        assert_eq!(
            logql(model::Scope::Pod, "api-7f", Some("shop")).unwrap(),
            r#"{namespace="shop", pod="api-7f"}"#
        );
        assert_eq!(
            logql(model::Scope::Deployment, "payments-api", None).unwrap(),
            r#"{app="payments-api"}"#
        );
        assert_eq!(
            logql(model::Scope::Namespace, "shop", None).unwrap(),
            r#"{namespace="shop"}"#
        );
        assert!(matches!(
            logql(model::Scope::Node, "node-1", None),
            Err(QueryError::EmptySelector)
        ));
    }

    #[test]
    fn refuses_unanchored_and_bad_names() {
        assert!(matches!(
            StreamSelector::for_scope(&LogScope::default(), &ScopeLabels::default()).to_logql(),
            Err(QueryError::EmptySelector)
        ));
        assert!(matches!(
            StreamSelector::default()
                .with("app", MatchOp::NotEq, "x")
                .to_logql(),
            Err(QueryError::EmptySelector)
        ));
        assert!(matches!(
            StreamSelector::default()
                .with("a-b", MatchOp::Eq, "x")
                .to_logql(),
            Err(QueryError::LabelName { .. })
        ));
    }

    #[test]
    fn filters_follow_the_selector() {
        let query = LogQuery {
            selector: StreamSelector::default().with("app", MatchOp::Eq, "api"),
            filters: vec![
                LineFilter::Contains("error".into()),
                LineFilter::NotContains("GET /healthz".into()),
                LineFilter::Matches(r"timeout \d+".into()),
                LineFilter::NotMatches("probe".into()),
            ],
            start_ns: 0,
            end_ns: 1,
            max_entries: 10,
        };
        assert_eq!(
            query.logql().unwrap(),
            r#"{app="api"} |= "error" != "GET /healthz" |~ "timeout \\d+" !~ "probe""#
        );
    }

    #[test]
    fn parses_documented_answers_and_refuses_others() {
        let batch = parse_query_response(
            br#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"app":"api"},"values":[["1700000000000000000","a"],["1700000000000000001","b"]]}],
            "stats":{"summary":{"bytesProcessedPerSecond":1}}}}"#,
        )
        .unwrap();
        assert_eq!(batch.entry_count(), 2);
        assert_eq!(batch.streams[0].entries[1].line, "b");
        // The categorized shape Loki answers to `X-Loki-Response-Encoding-Flags`.
        let batch = parse_query_response(
            br#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"app":"api"},"values":[["5","a",{"structuredMetadata":{"trace_id":"t"},"parsed":{"level":"info"}}]]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            batch.streams[0].entries[0].metadata,
            [
                ("trace_id".into(), "t".into()),
                ("level".into(), "info".into())
            ]
        );
        let e = parse_query_response(
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000.1,"3"]]}]}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, QueryError::ResultType { .. }));
        let e = parse_query_response(
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"Loki answered status "error": parse error"#
        );
        assert!(matches!(
            parse_query_response(b"<html>"),
            Err(QueryError::Response { .. })
        ));
    }

    #[test]
    fn token_is_not_printed() {
        let config = LokiConfig {
            bearer_token: Some("s3cret".into()),
            ..LokiConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn regex_escape_covers_metacharacters() {
        assert_eq!(regex_escape("a.b*c(d)|e"), r"a\.b\*c\(d\)\|e");
    }
}

#[derive(Deserialize)]
struct RawMatrixAnswer {
    status: String,
    #[serde(default)]
    data: Option<RawMatrixData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawMatrixData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<RawMatrixSeries>,
}

#[derive(Deserialize)]
struct RawMatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Parses Loki's documented `query_range` answer for a metric query (`resultType` `matrix`:
/// `[unix seconds, "value"]` pairs per series).
pub fn parse_matrix_response(body: &[u8]) -> Result<Vec<MetricSeries>, QueryError> {
    let answer: RawMatrixAnswer =
        serde_json::from_slice(body).map_err(|source| QueryError::Response { source })?;
    if answer.status != "success" {
        return Err(QueryError::Failed {
            status: answer.status,
            error: answer.error.unwrap_or_default(),
        });
    }
    let Some(data) = answer.data else {
        return Ok(Vec::new());
    };
    if data.result_type != "matrix" {
        return Err(QueryError::Failed {
            status: "success".to_owned(),
            error: format!(
                "a metric query should answer a matrix, not {:?}",
                data.result_type
            ),
        });
    }
    Ok(data
        .result
        .into_iter()
        .map(|s| MetricSeries {
            labels: s.metric,
            points: s
                .values
                .into_iter()
                .filter_map(|(t, v)| Some(((t * 1000.0).round() as i64, v.parse::<f64>().ok()?)))
                .collect(),
        })
        .collect())
}

impl LokiClient {
    /// A LogQL metric query over `[start_ns, end_ns]` at `step`, retried as pages are.
    pub async fn query_matrix(
        &self,
        logql: &str,
        start_ns: i64,
        end_ns: i64,
        step: Duration,
    ) -> Result<Vec<MetricSeries>, QueryError> {
        if start_ns >= end_ns {
            return Err(QueryError::TimeRange { start_ns, end_ns });
        }
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("query", logql)
            .append_pair("start", &start_ns.to_string())
            .append_pair("end", &end_ns.to_string())
            .append_pair("step", &format!("{}s", step.as_secs().max(1)));
        self.retried(url, parse_matrix_response)
            .await
            .map(|(series, _)| series)
    }
}
