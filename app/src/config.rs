//! The configuration file: one serde tree with defaults in code, refusing unknown keys.
//! Precedence is file, then environment (`SREBOT_*`), then command-line flags.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default port `srebot serve` listens on.
pub const DEFAULT_PORT: u16 = 9710;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    /// A key of one entry of a list (`loki.query[2].interval`).
    #[error("config key {key}: {reason}")]
    InvalidEntry { key: String, reason: String },
}

/// Everything `srebot serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    /// How the process listens and where it keeps its state.
    pub server: ServerConfig,
    /// Limits of the push receivers (remote_write).
    pub ingest: IngestConfig,
    /// Rolling windows: retention, lateness, cardinality.
    pub windows: windows::StoreConfig,
    /// Text-exposition targets to scrape (pull mode).
    pub scrape: ScrapeConfig,
    /// Rule detection over the windows.
    pub detect: DetectConfig,
    /// Incident correlation, lifecycle and the ledger.
    pub incidents: IncidentsConfig,
    /// Root-cause drafts and their optional model interpretation.
    pub rca: RcaConfig,
    /// `[loki]`: the Loki endpoint (incident log context, as `[rca.loki]` still may give it)
    /// and `[[loki.query]]` entries polled into the windows.
    pub loki: Option<LokiIngestConfig>,
    /// The service call graph the root-cause ranking walks, beside what a mesh's metrics show:
    /// `[[topology.edge]]` tables with `caller` and `callee`.
    pub topology: rca::TopologyConfig,
    /// Remediation under policy: the policy file, approvers and the Kubernetes executor.
    pub policy: PolicyConfig,
    /// Streaming ML detectors per metric family, beside the rules. Without the section the
    /// golden signals are watched (`AnomalyConfig::golden_signals`); `[anomaly]` alone
    /// watches every metric with the defaults; `enabled = false` turns them off.
    pub anomaly: Option<anomaly::AnomalyConfig>,
    /// Limits of `POST /api/v1/sql`.
    pub sql: SqlConfig,
    /// Who may call: named tokens with roles.
    pub auth: AuthConfig,
    /// Operator channels: providers, routes, delivery (loaded by the channels crate).
    pub channels: ChannelsConfig,
    /// `[[cluster]]`: Kubernetes clusters whose state (events, conditions, drift) becomes
    /// candidates; with none, `[policy.kube]` with `watch = true` is the one cluster.
    pub cluster: Vec<cluster::ClusterSpec>,
    /// `[[dependencies]]`: runtime dependencies probed on an interval.
    pub dependencies: Vec<cluster::DependencySpec>,
    /// Bounds of the read-only investigation tools (workspace, MCP, the draft, the model).
    pub tools: ToolsConfig,
    /// The operator workspace (`/ui`): sign-in sessions.
    pub workspace: WorkspaceConfig,
}

/// `[tools]`: what one read-only tool call may read and return, and how often a caller may
/// call; each refusal names the argument or key.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Most rows (incidents, lines, events, series, ...) one call returns; `limit` may ask for
    /// fewer.
    pub max_results: usize,
    /// Longest time range (`since` to `until`) one call reads, e.g. `24h`.
    #[serde(with = "duration_text")]
    pub max_range: Duration,
    /// Largest result kept and returned, in bytes of JSON; rows past it are cut and the
    /// result says `truncated`.
    pub max_result_bytes: usize,
    /// Tool calls one caller (token name) may make per minute; beyond, 429 + `Retry-After`.
    pub calls_per_minute: u32,
    /// Tool results kept in the ledger as evidence; the oldest go first.
    pub max_snapshots: usize,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            max_results: 200,
            max_range: Duration::from_secs(24 * 3600),
            max_result_bytes: 64 * 1024,
            calls_per_minute: 120,
            max_snapshots: 50_000,
        }
    }
}

/// `[workspace]`: the web workspace served under `/ui`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// How long a sign-in lasts, e.g. `8h`; the session cookie expires with it.
    #[serde(with = "duration_text")]
    pub session_ttl: Duration,
    /// Most sessions held at once; the oldest is signed out past it.
    pub max_sessions: usize,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(8 * 3600),
            max_sessions: 1_000,
        }
    }
}

/// `[detect] suggestions`: what the engine does with rules it learns from what repeats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionMode {
    /// Learn nothing.
    Disabled,
    /// Store suggestions for an operator to accept or reject (the default).
    #[default]
    SuggestOnly,
    /// Outside `prod` only: accept suggested detector rules at once (they raise candidates;
    /// actions stay under policy).
    TrainingAutoCreate,
}

impl SuggestionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionMode::Disabled => "disabled",
            SuggestionMode::SuggestOnly => "suggest_only",
            SuggestionMode::TrainingAutoCreate => "training_auto_create",
        }
    }
}

/// `[sql]`: what one query over the windows may use; each refusal names its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// Memory a query's operators and its result may hold (bytes).
    pub memory_limit_bytes: usize,
    /// Rows a result may have; more fail (add a `LIMIT`).
    pub max_result_rows: usize,
    /// Wall time a query may run, e.g. `10s`.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

impl Default for SqlConfig {
    fn default() -> Self {
        let limits = windows::sql::SqlLimits::default();
        Self {
            memory_limit_bytes: limits.memory_limit_bytes,
            max_result_rows: limits.max_result_rows,
            timeout: limits.timeout,
        }
    }
}

impl SqlConfig {
    pub fn limits(&self) -> windows::sql::SqlLimits {
        windows::sql::SqlLimits {
            memory_limit_bytes: self.memory_limit_bytes,
            max_result_rows: self.max_result_rows,
            timeout: self.timeout,
        }
    }
}

/// `[auth]`: named tokens with roles (see the README's Security section).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// TOML `[[token]]` tables with `name`, `role` (`ingest`, `read`, `operate`, `approve`,
    /// `admin`), and `token` or `sha256`; optionally `policy_role` (mode 0600).
    pub tokens_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy file (TOML, see `policy/examples/`); unset, no action is proposed or run.
    pub file: Option<PathBuf>,
    /// Approver credentials: TOML `[[approver]]` tables with `name`, `role` and `token`
    /// (mode 0600). A request carrying one of these bearer tokens acts as that approver.
    pub approvers_file: Option<PathBuf>,
    /// How long an approval request and its tokens stay valid, e.g. `1h`.
    #[serde(with = "duration_text")]
    pub approval_ttl: Duration,
    /// Event time an executed action's incident has to recover in before it is escalated.
    #[serde(with = "duration_text")]
    pub verify_within: Duration,
    /// Remediation ladders (TOML `[[ladder]]`, see `policy/playbooks/builtin.toml`); each
    /// ladder replaces the built-in one of its incident class. Unset, the built-in ladders.
    pub playbooks_file: Option<PathBuf>,
    /// The Kubernetes API server actions run against; unset, decided actions are recorded
    /// as dry runs and nothing is sent anywhere.
    pub kube: Option<KubeConfig>,
    /// Incoming-webhook URL told about approvals waiting and escalations, as
    /// `{"text": "..."}` (Slack's shape; Mattermost and others accept it).
    pub notify_webhook: Option<String>,
    /// CA file and client certificate for an https `notify_webhook`.
    pub notify_tls_config: outbound::TlsConfig,
    /// Where a copy of the audit chain's head (`{"seq", "hash", "log", "at_ms"}`) is posted
    /// after every `audit_head_every` entries, so a copy lives outside the data dir.
    pub audit_head_webhook: Option<String>,
    /// Entries between two posts of the head to `audit_head_webhook`.
    pub audit_head_every: u64,
    /// CA file and client certificate for an https `audit_head_webhook`.
    pub audit_head_tls_config: outbound::TlsConfig,
    /// Key of the audit chain's HMACs (at least 32 bytes, mode 0600), kept outside the data
    /// dir, e.g. a mounted secret. Required with `file`; `serve --demo` makes a throwaway one.
    pub audit_key_file: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            file: None,
            approvers_file: None,
            approval_ttl: Duration::from_secs(3600),
            verify_within: Duration::from_secs(30 * 60),
            playbooks_file: None,
            kube: None,
            notify_webhook: None,
            notify_tls_config: outbound::TlsConfig::default(),
            audit_key_file: None,
            audit_head_webhook: None,
            audit_head_every: 100,
            audit_head_tls_config: outbound::TlsConfig::default(),
        }
    }
}

pub use cluster::KubeConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RcaConfig {
    /// A local model (Ollama `/api/chat` or an OpenAI-compatible `/v1/chat/completions`) that
    /// rephrases and ranks within the draft's evidence; unset, the draft stands alone.
    pub llm: Option<rca::LlmConfig>,
    /// Loki to pull an incident's logs from when none were pushed for its target.
    pub loki: Option<LokiSection>,
}

/// `[loki]`: the endpoint, as `[rca.loki]` gives it, and the queries polled from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiIngestConfig {
    pub url: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_service_label")]
    pub service_label: String,
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    #[serde(default)]
    pub tls_config: outbound::TlsConfig,
    /// `[[loki.query]]`: LogQL polled from `query_range` into the windows.
    #[serde(default)]
    pub query: Vec<LokiQueryConfig>,
}

impl LokiIngestConfig {
    /// The endpoint part, as the log context reads it.
    pub fn section(&self) -> LokiSection {
        LokiSection {
            url: self.url.clone(),
            tenant: self.tenant.clone(),
            token_file: self.token_file.clone(),
            service_label: self.service_label.clone(),
            max_lines: self.max_lines,
            tls_config: self.tls_config.clone(),
        }
    }
}

/// One `[[loki.query]]`: a LogQL log selector (its lines are mined into templates and counted
/// in the windows at their event time, as pushed lines are) or a metric query
/// (`count_over_time`, `rate`, ...: its series land in the windows as they are).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiQueryConfig {
    pub query: String,
    /// How often it is polled; a metric query's step.
    #[serde(with = "duration_text", default = "default_loki_interval")]
    pub interval: Duration,
    /// Stream labels kept (the rest dropped before counting); empty keeps them all.
    #[serde(default)]
    pub keep_labels: Vec<String>,
    /// The source its lines or series belong to.
    #[serde(default = "default_loki_source")]
    pub source: String,
    /// Most lines pulled per poll (the query's budget); the rest waits for the next poll.
    #[serde(default = "default_loki_budget")]
    pub max_lines: usize,
    /// A metric query's series name (`__name__`); `loki_query_<n>` (its place) when absent.
    #[serde(default)]
    pub name: Option<String>,
}

impl LokiQueryConfig {
    /// Whether it is a metric query (anything but a bare `{...}` stream selector with
    /// filters).
    pub fn is_metric(&self) -> bool {
        !self.query.trim_start().starts_with('{')
    }
}

fn default_loki_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_loki_source() -> String {
    model::DEFAULT_SOURCE.to_owned()
}

fn default_loki_budget() -> usize {
    20_000
}

/// `[rca.loki]`: where the incident log context is pulled from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiSection {
    /// Base URL, e.g. `http://loki:3100`.
    pub url: String,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki).
    #[serde(default)]
    pub tenant: Option<String>,
    /// File holding a bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Stream label carrying the workload (service, deployment) name; `app` by default.
    #[serde(default = "default_service_label")]
    pub service_label: String,
    /// Most lines pulled per incident.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// CA file and client certificate for https.
    #[serde(default)]
    pub tls_config: outbound::TlsConfig,
}

fn default_service_label() -> String {
    "app".to_owned()
}

fn default_max_lines() -> usize {
    5_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Operator rules (TOML) laid over the built-in pack; a rule with a built-in rule's name
    /// replaces it. Reloaded on SIGHUP and `POST /api/v1/rules/reload`.
    pub rules_file: Option<PathBuf>,
    /// Which rules are enabled: `demo`, `staging` or `prod`.
    pub environment: detect::Environment,
    /// Event time between two evaluations of every rule, e.g. `15s`.
    #[serde(with = "duration_text")]
    pub tick: Duration,
    /// Rule suggestions learned from what repeats: `disabled`, `suggest_only` (default) or
    /// `training_auto_create` (outside `prod` only: suggested detector rules are added at once).
    pub suggestions: SuggestionMode,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            rules_file: None,
            environment: detect::Environment::Prod,
            tick: Duration::from_secs(15),
            suggestions: SuggestionMode::SuggestOnly,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// `postgres://user:pass@host/db` keeps the ledger in PostgreSQL; unset, it is SQLite in
    /// the data dir (`incidents.db`).
    pub ledger_url: Option<String>,
    /// How findings merge into incidents and when incidents resolve (event-time ms).
    pub correlation: incident::CorrelatorConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Non-loopback addresses need `token_file` or `insecure`.
    pub listen: SocketAddr,
    /// Directory for the ledger and other state.
    pub data_dir: PathBuf,
    /// File holding the bearer token every request must carry.
    pub token_file: Option<PathBuf>,
    /// Allow listening on a non-loopback address without a token.
    pub insecure: bool,
    /// PEM certificate chain served over https (with `tls_key`); unset, plain http.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse to start without `tls_cert` and `tls_key`.
    pub require_tls: bool,
    /// Largest request body of every route but the ingest ones (which keep `[ingest]`
    /// limits), checked from `Content-Length` and while reading; larger answers 413.
    pub max_request_bytes: usize,
    /// Time a request body has to arrive in full, e.g. `30s`; slower answers 408.
    #[serde(with = "duration_text")]
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            data_dir: PathBuf::from("data"),
            token_file: None,
            insecure: false,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            max_request_bytes: 1 << 20,
            body_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted, compressed (bytes); larger answers 413.
    pub max_body_bytes: usize,
    /// Largest decompressed body accepted (bytes); larger answers 413.
    pub max_decoded_bytes: usize,
    /// Write requests decoded at once; more answer 503 with Retry-After.
    pub max_inflight: usize,
    /// Memory the windows may hold (bytes); above it writes answer 503 with Retry-After.
    pub memory_budget_bytes: u64,
    /// Seconds a refused sender is told to wait (`Retry-After`).
    pub retry_after_secs: u32,
    /// A label whose value names a write's source beside its tenant (`X-Scope-OrgID`), e.g.
    /// `cluster`, Prometheus's usual external label: each value gets its own event-time
    /// clock, and targets of different values never merge. Unset, the tenant alone.
    pub source_label: Option<String>,
    /// Memory one source's windows may hold (bytes); above it that source's writes answer
    /// 503 with Retry-After. Unset, only `memory_budget_bytes` (every source's) applies.
    pub source_memory_budget_bytes: Option<u64>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_inflight: 64,
            memory_budget_bytes: 4 << 30,
            retry_after_secs: 1,
            source_label: None,
            source_memory_budget_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Scrape this process's own `/metrics`, so there is data with nothing pointed at it.
    pub self_scrape: bool,
    /// How often to scrape, e.g. `15s`.
    #[serde(with = "duration_text")]
    pub interval: Duration,
    /// Give up on a target after this long, e.g. `10s`.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Largest exposition read from a target (bytes); a larger one counts as a failed scrape.
    pub max_response_bytes: usize,
    /// Further targets.
    pub targets: Vec<ScrapeTarget>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        Self {
            self_scrape: true,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            max_response_bytes: 50 << 20,
            targets: Vec::new(),
        }
    }
}

/// One text-exposition endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTarget {
    /// The `job` label given to its series.
    pub job: String,
    /// Full URL, e.g. `http://127.0.0.1:9100/metrics`; `instance` is its host:port.
    pub url: String,
    /// Credentials sent to this target only, as Prometheus's `authorization` block.
    #[serde(default)]
    pub authorization: Option<ScrapeAuthorization>,
    /// CA file and client certificate for an https target.
    #[serde(default)]
    pub tls_config: outbound::TlsConfig,
    /// The source its samples belong to (their own event-time clock); `default` unless set.
    #[serde(default = "model::source::default_source")]
    pub source: String,
}

/// `authorization = { type = "Bearer", credentials_file = "..." }` of a scrape target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeAuthorization {
    /// The scheme sent before the credentials; `Bearer` by default.
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    /// File whose trimmed contents are the credentials (read at start).
    pub credentials_file: PathBuf,
}

fn default_auth_type() -> String {
    "Bearer".to_owned()
}

impl Config {
    /// Reads a TOML file; every error names the key and the reason.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        config.channels.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        Ok(config)
    }

    /// Parses TOML text, then checks values.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// The Loki endpoint: `[rca.loki]` when given, else `[loki]`'s.
    pub fn loki_endpoint(&self) -> Option<LokiSection> {
        self.rca
            .loki
            .clone()
            .or_else(|| self.loki.as_ref().map(LokiIngestConfig::section))
    }

    /// The clusters to watch: every `[[cluster]]`, else `[policy.kube]` when it says
    /// `watch = true`.
    pub fn clusters(&self) -> Vec<cluster::ClusterSpec> {
        if !self.cluster.is_empty() {
            return self.cluster.clone();
        }
        self.policy
            .kube
            .iter()
            .filter(|k| k.watch)
            .map(cluster::ClusterSpec::from_policy_kube)
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        if self.ingest.max_inflight == 0 {
            return Err(invalid("ingest.max_inflight", "must be at least 1"));
        }
        if self.ingest.max_body_bytes == 0 || self.ingest.max_decoded_bytes == 0 {
            return Err(invalid("ingest.max_body_bytes", "limits must be above 0"));
        }
        if self.detect.tick < Duration::from_secs(1) {
            return Err(invalid("detect.tick", "must be at least 1s"));
        }
        if self.server.max_request_bytes == 0 {
            return Err(invalid("server.max_request_bytes", "must be above 0"));
        }
        if self.server.body_timeout < Duration::from_millis(100) {
            return Err(invalid("server.body_timeout", "must be at least 100ms"));
        }
        if self.windows.max_sources == 0 {
            return Err(invalid("windows.max_sources", "must be at least 1"));
        }
        if let Some(label) = &self.ingest.source_label
            && (label.is_empty() || label.starts_with("__"))
        {
            return Err(invalid(
                "ingest.source_label",
                "must name an ordinary label, e.g. cluster",
            ));
        }
        for target in &self.scrape.targets {
            if let Err(error) = model::check_source(&target.source) {
                return Err(invalid("scrape.targets.source", &error.to_string()));
            }
        }
        if self.detect.suggestions == SuggestionMode::TrainingAutoCreate
            && self.detect.environment == detect::Environment::Prod
        {
            return Err(invalid(
                "detect.suggestions",
                "training_auto_create runs only outside prod (set detect.environment to demo or staging)",
            ));
        }
        if self.workspace.session_ttl < Duration::from_secs(60) {
            return Err(invalid("workspace.session_ttl", "must be at least 1m"));
        }
        if self.workspace.max_sessions == 0 {
            return Err(invalid("workspace.max_sessions", "must be at least 1"));
        }
        if self.scrape.interval < Duration::from_millis(100) {
            return Err(invalid("scrape.interval", "must be at least 100ms"));
        }
        if let Some(kube) = &self.policy.kube
            && kube.url.is_none()
            && !kube.in_cluster
        {
            return Err(invalid(
                "policy.kube.url",
                "give a URL or in_cluster = true",
            ));
        }
        cluster::config::validate(&self.clusters(), &self.dependencies).map_err(|e| {
            ConfigError::Invalid {
                key: match e {
                    cluster::ConfigError::Invalid { .. } => "cluster",
                    cluster::ConfigError::Dependency { .. } => "dependencies",
                },
                reason: e.to_string(),
            }
        })?;
        if self.sql.memory_limit_bytes < 1 << 20 {
            return Err(invalid("sql.memory_limit_bytes", "must be at least 1 MiB"));
        }
        if self.sql.max_result_rows == 0 {
            return Err(invalid("sql.max_result_rows", "must be at least 1"));
        }
        if self.sql.timeout < Duration::from_millis(1) {
            return Err(invalid("sql.timeout", "must be above 0"));
        }
        if self.policy.approval_ttl < Duration::from_millis(1) {
            return Err(invalid("policy.approval_ttl", "must be above 0"));
        }
        let url = |key: &'static str, url: &str| {
            outbound::check_url(url)
                .map(|_| ())
                .map_err(|e| ConfigError::Invalid {
                    key,
                    reason: e.to_string(),
                })
        };
        for target in &self.scrape.targets {
            url("scrape.targets.url", &target.url)?;
        }
        if let Some(webhook) = &self.policy.notify_webhook {
            url("policy.notify_webhook", webhook)?;
        }
        if let Some(webhook) = &self.policy.audit_head_webhook {
            url("policy.audit_head_webhook", webhook)?;
        }
        if self.policy.audit_head_every == 0 {
            return Err(invalid("policy.audit_head_every", "must be at least 1"));
        }
        if let Some(loki) = &self.rca.loki {
            url("rca.loki.url", &loki.url)?;
        }
        if let Some(loki) = &self.loki {
            url("loki.url", &loki.url)?;
            for (i, q) in loki.query.iter().enumerate() {
                let bad = |k: &str, reason: String| ConfigError::InvalidEntry {
                    key: format!("loki.query[{i}].{k}"),
                    reason,
                };
                if q.query.trim().is_empty() {
                    return Err(bad("query", "must not be empty".to_owned()));
                }
                if q.interval < Duration::from_secs(1) {
                    return Err(bad("interval", "must be at least 1s".to_owned()));
                }
                if q.max_lines == 0 {
                    return Err(bad("max_lines", "must be at least 1".to_owned()));
                }
                model::check_source(&q.source).map_err(|e| bad("source", e.to_string()))?;
            }
        }
        if let Some(llm) = &self.rca.llm {
            url("rca.llm.url", &llm.url)?;
            if llm.investigation_timeout < Duration::from_millis(1) {
                return Err(invalid("rca.llm.investigation_timeout", "must be above 0"));
            }
            for name in &llm.tools {
                if crate::tools::Tool::from_name(name).is_none() {
                    return Err(invalid(
                        "rca.llm.tools",
                        &format!("{name:?} is not a read-only tool of the catalogue"),
                    ));
                }
            }
        }
        let tools = &self.tools;
        if tools.max_results == 0 {
            return Err(invalid("tools.max_results", "must be at least 1"));
        }
        if tools.max_range < Duration::from_secs(60) {
            return Err(invalid("tools.max_range", "must be at least 1m"));
        }
        if tools.max_result_bytes < 1024 {
            return Err(invalid("tools.max_result_bytes", "must be at least 1024"));
        }
        if tools.calls_per_minute == 0 {
            return Err(invalid("tools.calls_per_minute", "must be at least 1"));
        }
        if tools.max_snapshots == 0 {
            return Err(invalid("tools.max_snapshots", "must be at least 1"));
        }
        Ok(())
    }
}

/// `[channels]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// `[[channels.provider]]`: where operators hear of incidents.
    pub provider: Vec<ProviderConfig>,
    /// `[[channels.route]]`: which events go to which providers; none means every event to
    /// every enabled provider.
    pub route: Vec<RouteConfig>,
    /// The main config file's folder (set when the file is read): provider `config` paths
    /// are relative to it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// A provider failing for longer than this opens a `channel_delivery_failure` incident,
    /// announced on the other providers.
    #[serde(with = "duration_text")]
    pub failure_incident_after: Duration,
    /// First pause before a failed delivery is retried; it doubles per attempt, with jitter.
    #[serde(with = "duration_text")]
    pub retry_initial: Duration,
    /// Longest pause between two attempts (a provider's own `Retry-After` may ask for more).
    #[serde(with = "duration_text")]
    pub retry_max: Duration,
    /// A message still undelivered this long after it was queued is marked failed (it stays
    /// in the outbox and counts in the provider's health).
    #[serde(with = "duration_text")]
    pub give_up_after: Duration,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            provider: Vec::new(),
            route: Vec::new(),
            base_dir: PathBuf::from("."),
            failure_incident_after: Duration::from_secs(10 * 60),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[[channels.provider]]`: the provider contract (names are a contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Unique id, used in routes, URLs and the outbox (`ops-telegram`).
    pub id: String,
    /// `in_app`, `email`, `webhook`, `slack`, `teams`, `telegram`, `whatsapp` or `custom`.
    pub kind: String,
    /// What operators read (`Ops on Telegram`).
    #[serde(default)]
    pub display_name: String,
    /// A disabled provider is listed but gets nothing.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Whether this provider may carry approval interactions (buttons, `approve` commands).
    #[serde(default)]
    pub approvals: bool,
    /// The provider's own file (endpoint and secret files), relative to the main config
    /// file's folder. `in_app` and `whatsapp` need none.
    #[serde(default)]
    pub config: Option<PathBuf>,
}

fn enabled_default() -> bool {
    true
}

/// `[[channels.route]]`: events matching every given list go to `providers`. An empty list
/// matches anything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Provider ids that get the matching events.
    pub providers: Vec<String>,
    /// Severities (`info`, `warning`, `critical`).
    pub severity: Vec<String>,
    /// Domains (`application_services`, `operator_channels`, ...).
    pub domain: Vec<String>,
    /// Incident types (`crash_loop`, ...).
    #[serde(rename = "type")]
    pub incident_type: Vec<String>,
    /// Origins behind the incident (`rules`, `alertmanager`, `anomaly`, ...).
    pub source: Vec<String>,
    /// Environments (`prod`, `staging`, `demo`), as the running policy names it.
    pub environment: Vec<String>,
    /// Hours in which only severe events go out now; the rest wait for the hours to end.
    pub quiet_hours: Option<QuietHours>,
    /// One escalation step: providers told when an approval of a matching incident has
    /// waited past half its expiry.
    pub escalate_to: Vec<String>,
}

/// `quiet_hours = { start = "22:00", end = "07:00", utc_offset = "+01:00", allow = "critical" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM` local time the quiet hours start.
    pub start: String,
    /// `HH:MM` local time they end (may be earlier than `start`: over midnight).
    pub end: String,
    /// The local time's offset from UTC, `+HH:MM` or `-HH:MM`.
    #[serde(default = "utc")]
    pub utc_offset: String,
    /// The least severity still delivered during quiet hours.
    #[serde(default = "critical")]
    pub allow: String,
}

fn utc() -> String {
    "+00:00".to_owned()
}

fn critical() -> String {
    "critical".to_owned()
}

pub use model::duration::parse as parse_duration;
use model::duration::text as duration_text;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../config/srebot.example.toml");
        let config = Config::parse(text).unwrap();
        assert_eq!(config.server.listen.port(), DEFAULT_PORT);
    }

    #[test]
    fn the_examples_clusters_and_dependencies_parse_uncommented() {
        let text = include_str!("../../config/srebot.example.toml");
        let start = text.find("# [[cluster]]").unwrap();
        let block: String = text[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .filter(|l| {
                !l.starts_with('#')
                    && !l.is_empty()
                    && !l.starts_with("The ")
                    && !l.starts_with("Runtime")
                    && !l.starts_with("row or")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let config = Config::parse(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(config.cluster.len(), 1);
        assert_eq!(config.cluster[0].source(), "prod-eu");
        assert_eq!(
            config.dependencies[0].dependents,
            ["shop/cart", "shop/worker"]
        );
        assert_eq!(config.clusters().len(), 1);
        // [policy.kube] alone is watched only when it says so.
        let kube = "[policy.kube]\nurl = \"https://10.0.0.1:6443\"\n";
        assert!(Config::parse(kube).unwrap().clusters().is_empty());
        let watched = Config::parse(&format!("{kube}watch = true\n"))
            .unwrap()
            .clusters();
        assert_eq!(
            (watched[0].name.as_str(), watched[0].source()),
            ("default", "default")
        );
        let err =
            Config::parse("[[dependencies]]\nname = \"x\"\nkind = \"tcp\"\naddress = \"nohost\"\n")
                .unwrap_err();
        assert!(
            err.contains("config key dependencies") && err.contains("address"),
            "{err}"
        );
    }

    #[test]
    fn topology_edges() {
        let config = Config::parse(
            "[[topology.edge]]\ncaller = \"frontend\"\ncallee = \"orders\"\n\
             [[topology.edge]]\ncaller = \"orders\"\ncallee = \"payment\"\n",
        )
        .unwrap();
        let graph = config.topology.topology();
        assert_eq!(graph.len(), 2);
        assert_eq!(graph.callees("orders").collect::<Vec<_>>(), ["payment"]);
        let err = Config::parse("[[topology.edge]]\ncaller = \"a\"\ncalee = \"b\"\n").unwrap_err();
        assert!(err.contains("calee"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[ingest]\nmax_inflite = 3\n").unwrap_err();
        assert!(err.contains("max_inflite"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::parse("[ingest]\nmax_inflight = 0\n").unwrap_err();
        assert!(err.contains("ingest.max_inflight"), "{err}");
        let err = Config::parse("[scrape]\ninterval = \"5 parsecs\"\n").unwrap_err();
        assert!(err.contains("interval"), "{err}");
    }

    #[test]
    fn policy_section() {
        let config = Config::parse(
            "[policy]\nfile = \"prod.toml\"\napproval_ttl = \"15m\"\n\
             [policy.kube]\nurl = \"https://10.0.0.1:6443\"\ntoken_file = \"sa.token\"\n",
        )
        .unwrap();
        assert_eq!(config.policy.approval_ttl, Duration::from_secs(900));
        assert_eq!(config.policy.verify_within, Duration::from_secs(1800));
        let kube = config.policy.kube.unwrap();
        assert_eq!(kube.url.as_deref(), Some("https://10.0.0.1:6443"));
        let err = Config::parse("[policy.kube]\ntoken_file = \"t\"\n").unwrap_err();
        assert!(err.contains("policy.kube.url"), "{err}");
    }

    #[test]
    fn sql_section() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.sql.memory_limit_bytes, 256 << 20);
        assert_eq!(config.sql.max_result_rows, 100_000);
        assert_eq!(config.sql.timeout, Duration::from_secs(10));
        let config = Config::parse("[sql]\ntimeout = \"2s\"\nmax_result_rows = 10\n").unwrap();
        assert_eq!(config.sql.limits().timeout, Duration::from_secs(2));
        assert_eq!(config.sql.limits().max_result_rows, 10);
        let err = Config::parse("[sql]\nmax_result_rows = 0\n").unwrap_err();
        assert!(err.contains("sql.max_result_rows"), "{err}");
        let err = Config::parse("[sql]\ntimeout = 10\n").unwrap_err();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn training_suggestions_stay_out_of_prod() {
        let err = Config::parse("[detect]\nsuggestions = \"training_auto_create\"\n").unwrap_err();
        assert!(err.contains("detect.suggestions"), "{err}");
        let config = Config::parse(
            "[detect]\nenvironment = \"staging\"\nsuggestions = \"training_auto_create\"\n",
        )
        .unwrap();
        assert_eq!(
            config.detect.suggestions,
            SuggestionMode::TrainingAutoCreate
        );
        assert_eq!(
            Config::parse("").unwrap().detect.suggestions,
            SuggestionMode::SuggestOnly
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("xs").is_err());
    }
}
