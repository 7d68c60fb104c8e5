//! Runtime dependencies probed on an interval — TCP connect, HTTP status, Redis `PING`,
//! PostgreSQL `SELECT 1`, NATS `INFO` — and, for one behind a Kubernetes Service, whether its
//! endpoints have ready addresses. An unavailable dependency is a `dependency_unavailable`
//! candidate naming its dependents, so their own findings join its incident.
//!
//! Redis and NATS are probed with their one-line handshakes (RESP `PING`, the server's `INFO`
//! greeting) rather than a client library: the probe needs nothing more, and both are stable
//! parts of the wire protocols.

use crate::cache::{ClusterState, Kind};
use crate::config::{DependencyKind, DependencySpec, namespaced};
use crate::signal::{About, Context, Levels, candidate, now_ms, span};
use model::{IncidentCandidate, IncidentType, Scope, Severity, Target};
use parking_lot::RwLock;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Longest first line read from a Redis or NATS server.
const MAX_LINE: usize = 16 * 1024;

/// How a dependency is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DependencyStatus {
    pub name: String,
    pub kind: String,
    /// `host:port` or the URL with any credentials cut.
    pub address: String,
    /// `None` before the first probe.
    pub up: Option<bool>,
    /// Whether it counts as unavailable (failed `failures` probes in a row, or no ready
    /// endpoints).
    pub unavailable: bool,
    pub consecutive_failures: u32,
    /// What the last probe saw (`PONG`, `HTTP 200`, the NATS server's version) or why it failed.
    pub detail: String,
    pub latency_ms: u64,
    pub last_probe_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_ms: Option<i64>,
    /// When the current run of failures began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since_ms: Option<i64>,
    /// Ready and not-ready endpoint addresses of its Service, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<(usize, usize)>,
}

/// Why a dependency could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    #[error("[[dependencies]] {name:?}: cannot read password_file {}", path.display())]
    Password {
        name: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("[[dependencies]] {name:?}: password_file {} may be read by others (mode {mode:o}); chmod 600 it", path.display())]
    PasswordMode {
        name: String,
        path: std::path::PathBuf,
        mode: u32,
    },
    #[error("[[dependencies]] {name:?}: {reason}")]
    Client { name: String, reason: String },
}

impl model::Classify for DependencyError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::InvalidInput
    }
}

fn read_password(spec: &DependencySpec, path: &Path) -> Result<String, DependencyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| DependencyError::Password {
            name: spec.name.clone(),
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DependencyError::PasswordMode {
                name: spec.name.clone(),
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(|source| DependencyError::Password {
        name: spec.name.clone(),
        path: path.to_owned(),
        source,
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// One dependency ready to probe: its spec, password and HTTP client.
#[derive(Debug)]
pub struct Prober {
    spec: DependencySpec,
    password: Option<String>,
    http: Option<reqwest::Client>,
}

impl Prober {
    pub fn new(spec: DependencySpec) -> Result<Self, DependencyError> {
        let password = spec
            .password_file
            .as_deref()
            .map(|p| read_password(&spec, p))
            .transpose()?;
        let http = (spec.kind == DependencyKind::Http)
            .then(|| {
                outbound::client_builder(&spec.tls_config)
                    .map(|b| {
                        b.timeout(spec.timeout)
                            .redirect(reqwest::redirect::Policy::none())
                    })
                    .and_then(outbound::build)
                    .map_err(|e| DependencyError::Client {
                        name: spec.name.clone(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        Ok(Self {
            spec,
            password,
            http,
        })
    }

    pub fn spec(&self) -> &DependencySpec {
        &self.spec
    }

    /// One probe: what the dependency answered, or why it did not.
    pub async fn probe(&self) -> Result<String, String> {
        let timeout = self.spec.timeout;
        let address = self.spec.address.as_str();
        let work = async {
            match self.spec.kind {
                DependencyKind::Tcp => {
                    TcpStream::connect(address)
                        .await
                        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
                    Ok(format!("{address} accepts connections"))
                }
                DependencyKind::Redis => redis_ping(address, self.password.as_deref()).await,
                DependencyKind::Nats => nats_info(address).await,
                DependencyKind::Postgres => {
                    postgres_select(address, self.password.as_deref()).await
                }
                DependencyKind::Http => {
                    let Some(client) = &self.http else {
                        return Err("no HTTP client".to_owned());
                    };
                    let answer = client
                        .get(address)
                        .send()
                        .await
                        .map_err(outbound::describe)?;
                    let status = answer.status().as_u16();
                    let ok = match self.spec.expect_status {
                        Some(want) => status == want,
                        None => status < 400,
                    };
                    if ok {
                        Ok(format!("HTTP {status}"))
                    } else {
                        Err(format!("answered HTTP {status}"))
                    }
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {}",
                    span(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX))
                ))
            })
    }
}

async fn first_line(stream: TcpStream) -> Result<(String, BufReader<TcpStream>), String> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut limited = (&mut reader).take(MAX_LINE as u64);
    limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if line.is_empty() {
        return Err("the connection closed without an answer".to_owned());
    }
    Ok((String::from_utf8_lossy(&line).trim_end().to_owned(), reader))
}

/// Redis: `AUTH` when a password is given, then `PING`; `+PONG` is up, and so is `-NOAUTH`
/// (the server answers; it wants a password). `-LOADING`, `-MASTERDOWN` and others are not.
async fn redis_ping(address: &str, password: Option<&str>) -> Result<String, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let mut request = Vec::new();
    if let Some(password) = password {
        request
            .extend(format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len()).bytes());
    }
    request.extend(b"*1\r\n$4\r\nPING\r\n");
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("sending PING to {address}: {e}"))?;
    let (mut line, mut reader) = first_line(stream).await?;
    if password.is_some() {
        if !line.starts_with("+OK") {
            return Err(format!("AUTH refused: {}", redact_reply(&line)));
        }
        let mut next = Vec::new();
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        limited
            .read_until(b'\n', &mut next)
            .await
            .map_err(|e| format!("reading the answer to PING: {e}"))?;
        line = String::from_utf8_lossy(&next).trim_end().to_owned();
    }
    if line.starts_with("+PONG") {
        Ok("PONG".to_owned())
    } else if line.starts_with("-NOAUTH") {
        Ok("answers, and wants a password (NOAUTH)".to_owned())
    } else {
        Err(format!("PING answered {}", redact_reply(&line)))
    }
}

fn redact_reply(line: &str) -> String {
    crate::views::truncate(line, 200)
}

/// NATS: the server greets every connection with `INFO {json}`.
async fn nats_info(address: &str) -> Result<String, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let (line, _) = first_line(stream).await?;
    let json = line.strip_prefix("INFO ").ok_or_else(|| {
        format!(
            "greeted with {:?}, not INFO",
            crate::views::truncate(&line, 80)
        )
    })?;
    let info: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("INFO is not JSON: {e}"))?;
    Ok(format!(
        "NATS {} (server {})",
        info["version"].as_str().unwrap_or("?"),
        info["server_name"]
            .as_str()
            .or_else(|| info["server_id"].as_str())
            .unwrap_or("?")
    ))
}

/// PostgreSQL: connect and `SELECT 1`.
async fn postgres_select(address: &str, password: Option<&str>) -> Result<String, String> {
    use sqlx::Connection as _;
    let mut options = if address.contains("://") {
        address
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(|e| format!("address is not a PostgreSQL URL: {e}"))?
    } else {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| "address is not host:port".to_owned())?;
        sqlx::postgres::PgConnectOptions::new()
            .host(host)
            .port(
                port.parse()
                    .map_err(|_| "port is not a number".to_owned())?,
            )
            .username("postgres")
    };
    if let Some(password) = password {
        options = options.password(password);
    }
    options = options.application_name("srebot-probe");
    let mut conn = sqlx::postgres::PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("SELECT 1 failed: {e}"))?;
    let _ = conn.close().await;
    Ok(format!("SELECT 1 returned {one}"))
}

/// Ready and not-ready addresses of `service` (`namespace/name`), when the watches hold its
/// namespace; `None` while they do not know.
pub fn endpoints(state: &ClusterState, service: &str) -> Option<(bool, usize, usize)> {
    let (ns, name) = namespaced(service)?;
    if !state.synced(&[Kind::Services, Kind::EndpointSlices])
        || !state.status.contains_key(&Kind::EndpointSlices)
    {
        return None;
    }
    let exists = state.services.get(Some(ns), name).is_some();
    let (ready, not_ready) = state
        .endpoint_slices
        .values()
        .filter(|s| s.meta.namespace.as_deref() == Some(ns) && s.service.as_deref() == Some(name))
        .fold((0, 0), |(r, n), s| (r + s.ready, n + s.not_ready));
    Some((exists, ready, not_ready))
}

/// Probes every dependency on its interval and sends what changes.
#[derive(Debug)]
pub struct DependencyMonitor {
    statuses: Arc<RwLock<Vec<DependencyStatus>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DependencyMonitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DependencyMonitor {
    /// Starts one probe loop per dependency; `clusters` are the watches whose Services the
    /// dependencies name (by cluster name, the first when a dependency names none).
    pub fn start(
        specs: Vec<DependencySpec>,
        clusters: Vec<(String, String, Arc<RwLock<ClusterState>>)>,
        sink: mpsc::Sender<Vec<IncidentCandidate>>,
    ) -> Result<Self, DependencyError> {
        let probers = specs
            .into_iter()
            .map(Prober::new)
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = Arc::new(RwLock::new(
            probers
                .iter()
                .map(|p| DependencyStatus {
                    name: p.spec.name.clone(),
                    kind: p.spec.kind.as_str().to_owned(),
                    address: shown_address(&p.spec.address),
                    ..DependencyStatus::default()
                })
                .collect(),
        ));
        let mut tasks = Vec::new();
        for (index, prober) in probers.into_iter().enumerate() {
            let cluster = match &prober.spec.cluster {
                Some(name) => clusters.iter().find(|c| &c.0 == name).cloned(),
                None => clusters.first().cloned(),
            };
            let (ctx, state) = match cluster {
                Some((name, source, state)) => (Context::new(&name, &source), Some(state)),
                None => (Context::new("", model::DEFAULT_SOURCE), None),
            };
            let statuses = Arc::clone(&statuses);
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                run(prober, index, ctx, state, statuses, sink).await;
            }));
        }
        Ok(Self { statuses, tasks })
    }

    /// How each dependency is doing, in configuration order.
    pub fn statuses(&self) -> Vec<DependencyStatus> {
        self.statuses.read().clone()
    }
}

/// The address as it may be shown: a URL's user info, query and path cut.
fn shown_address(address: &str) -> String {
    if address.contains("://") {
        outbound::redact(address)
    } else {
        address.to_owned()
    }
}

async fn run(
    prober: Prober,
    index: usize,
    ctx: Context,
    state: Option<Arc<RwLock<ClusterState>>>,
    statuses: Arc<RwLock<Vec<DependencyStatus>>>,
    sink: mpsc::Sender<Vec<IncidentCandidate>>,
) {
    let mut judge = DependencyJudge::new(prober.spec.clone(), ctx);
    let mut ticker = tokio::time::interval(prober.spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let started = Instant::now();
        let result = prober.probe().await;
        let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let endpoints = match (&prober.spec.service, &state) {
            (Some(service), Some(state)) => endpoints(&state.read(), service),
            _ => None,
        };
        let now = now_ms();
        let out = judge.observe(result, endpoints, latency, now);
        if let Some(status) = statuses.write().get_mut(index) {
            *status = judge.status.clone();
        }
        if !out.is_empty() && sink.send(out).await.is_err() {
            return;
        }
    }
}

/// Turns probe results into a status and candidates: unavailable after `failures` failed
/// probes in a row or with no ready endpoints; healthy again on the first good probe.
#[derive(Debug)]
pub struct DependencyJudge {
    spec: DependencySpec,
    ctx: Context,
    levels: Levels,
    pub status: DependencyStatus,
}

impl DependencyJudge {
    pub fn new(spec: DependencySpec, ctx: Context) -> Self {
        let status = DependencyStatus {
            name: spec.name.clone(),
            kind: spec.kind.as_str().to_owned(),
            address: shown_address(&spec.address),
            ..DependencyStatus::default()
        };
        Self {
            spec,
            ctx,
            levels: Levels::default(),
            status,
        }
    }

    /// What the dependency is about: its Service, else its name.
    pub fn about(&self) -> About {
        match self.spec.service.as_deref().and_then(namespaced) {
            Some((ns, name)) => About::new(
                IncidentType::DependencyUnavailable,
                Scope::Service,
                Some(ns),
                name,
            ),
            None => About::new(
                IncidentType::DependencyUnavailable,
                Scope::Service,
                None,
                &self.spec.name,
            ),
        }
    }

    /// Judges one probe (and the Service's endpoints, when known) at `now_ms`.
    pub fn observe(
        &mut self,
        result: Result<String, String>,
        endpoints: Option<(bool, usize, usize)>,
        latency_ms: u64,
        now_ms: i64,
    ) -> Vec<IncidentCandidate> {
        let s = &mut self.status;
        s.last_probe_ms = now_ms;
        s.latency_ms = latency_ms;
        match &result {
            Ok(detail) => {
                s.up = Some(true);
                s.consecutive_failures = 0;
                s.failing_since_ms = None;
                s.last_ok_ms = Some(now_ms);
                s.detail = detail.clone();
            }
            Err(why) => {
                s.up = Some(false);
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.failing_since_ms.get_or_insert(now_ms);
                s.detail = why.clone();
            }
        }
        s.endpoints = endpoints.map(|(_, r, n)| (r, n));
        let spec = &self.spec;
        let name = spec.name.as_str();
        let labels = [
            ("dependency", name),
            ("kind", spec.kind.as_str()),
            ("address", s.address.as_str()),
        ];
        let mut evidence = Vec::new();
        if s.consecutive_failures >= spec.failures {
            let since = s.failing_since_ms.unwrap_or(now_ms);
            let last_ok = s.last_ok_ms.map_or_else(
                || "never answered since srebot started".to_owned(),
                |t| format!("last answered {} ago", span(now_ms - t)),
            );
            evidence.push(self.ctx.evidence(
                format!("dep-{name}-probe"),
                "ProbeFailed",
                format!(
                    "{} {name} at {}: {} ({} failed probes in a row over {}; {last_ok})",
                    spec.kind.as_str(),
                    s.address,
                    s.detail,
                    s.consecutive_failures,
                    span(now_ms - since)
                ),
                since,
                labels,
            ));
        }
        if let (Some(service), Some((exists, ready, not_ready))) = (&spec.service, endpoints)
            && ready == 0
        {
            let message = if exists {
                format!("Service {service} has no ready endpoints ({not_ready} not ready)")
            } else {
                format!("Service {service} does not exist")
            };
            evidence.push(self.ctx.evidence(
                format!("dep-{name}-endpoints"),
                "NoReadyEndpoints",
                message,
                now_ms,
                labels,
            ));
        }
        let firing = if evidence.is_empty() {
            Vec::new()
        } else {
            let affects = spec
                .dependents
                .iter()
                .filter_map(|d| namespaced(d))
                .map(|(ns, name)| Target::new(Scope::Deployment, Some(ns), name))
                .collect();
            vec![candidate(
                &self.ctx,
                self.about(),
                Severity::Critical,
                0.95,
                &format!("dependency_probe/{}", spec.kind.as_str()),
                now_ms,
                evidence,
                affects,
            )]
        };
        self.status.unavailable = !firing.is_empty();
        // Re-sent every probe while it holds, so the finding stays fresh.
        self.levels.update(firing, |_| true, now_ms, 0)
    }
}
