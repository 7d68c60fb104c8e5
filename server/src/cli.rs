//! The command line: `serve`, `sql`, `eval ...`. Parses flags, merges them over the config
//! file and environment, and hands off to the library; no logic of its own.

use crate::config::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SRE Smart Bot: streaming telemetry analytics for platform teams.
#[derive(Debug, Parser)]
#[command(name = "srebot", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive remote_write, scrape targets, keep windows and serve the API.
    Serve(ServeArgs),
    /// Run SQL over a running server's `windows` and `samples` tables.
    Sql(SqlArgs),
    /// List a running server's incidents.
    Incidents(IncidentsArgs),
    /// Push a recorded dataset (or a built-in scenario) through ingest, windows, detectors and
    /// incidents, faster than real time, and print the incidents it opened.
    Replay(ReplayArgs),
    /// Evaluate detectors, log parsing and root-cause ranking on datasets.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Check a policy file: every error with file, line and reason; non-zero exit on any.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check a playbook file (remediation ladders) and print the ladders in force.
    #[command(subcommand)]
    Playbooks(PlaybooksCommand),
    /// Verify the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write the labelled scenario datasets (series + expected incidents) to a folder.
    Scenarios(ScenariosArgs),
    /// Serve a running server's read-only tools to an MCP client over stdin/stdout (needs a
    /// token with the read role when the server asks for one).
    Mcp(McpArgs),
    /// Pull raw samples from a Prometheus into a recording (JSONL and Parquet), by range-vector
    /// queries at successive times.
    Record(RecordArgs),
    /// Mark what really happened in a recording: `--incident FROM..TO:type:target`.
    Label(LabelArgs),
    /// Check what a running deployment depends on (senders, data dir and ledger, audit key,
    /// Loki, the model, each cluster's watches and RBAC, a test message per channel) and print
    /// a table with what to fix; non-zero exit when a check fails. Needs an admin token.
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Prometheus's base URL, e.g. http://127.0.0.1:9090.
    #[arg(long)]
    pub prometheus: String,
    /// A series selector, e.g. `node_cpu_seconds_total` or `{job="node"}`; repeatable.
    #[arg(long = "match", required = true)]
    pub selectors: Vec<String>,
    /// Start: RFC 3339, unix seconds, `now` or `now-15m`.
    #[arg(long)]
    pub from: String,
    /// End, in the same forms.
    #[arg(long)]
    pub to: String,
    /// The scrape interval of the selected series (sizes the queries; the recording's step).
    #[arg(long, default_value = "15s")]
    pub step: String,
    /// The recording's folder.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The recording's folder.
    pub dir: PathBuf,
    /// `FROM..TO:type:target`, e.g.
    /// `2026-12-06T10:00:00Z..2026-12-06T10:20:00Z:memory_leak:payments-api`; repeatable.
    #[arg(long = "incident", required = true)]
    pub incidents: Vec<String>,
}

/// Where a command finds a running server.
#[derive(Debug, Args)]
pub struct Remote {
    /// The server to ask.
    #[arg(long, env = "SREBOT_URL", default_value = "http://127.0.0.1:9710")]
    pub url: String,
    /// File with the bearer token, if the server needs one.
    #[arg(long, env = "SREBOT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle trusted besides the system roots, for an https server.
    #[arg(long, env = "SREBOT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl Remote {
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        Ok(match &self.token_file {
            Some(path) => crate::auth::Tokens::from_file(path)?.read_write,
            None => None,
        })
    }
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Only incidents in this status (observed, triaged, contained, escalated, recovering,
    /// resolved, suppressed).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this severity (info, warning, critical).
    #[arg(long)]
    pub severity: Option<String>,
    /// Only this domain (e.g. infrastructure, application).
    #[arg(long)]
    pub domain: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A dataset folder (scenario.json + series.jsonl, see `srebot scenarios`) or the name of
    /// a built-in scenario, e.g. `memory-leak`.
    pub dataset: String,
    /// Push into this running server instead of one started in this process.
    #[arg(long)]
    pub url: Option<String>,
    /// File with the bearer token of the server at `--url`.
    #[arg(long, env = "SREBOT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle trusted besides the system roots, for an https `--url`.
    #[arg(long, env = "SREBOT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// The source the recording is written to at `--url` (its own event-time clock, so a
    /// recording of any age is kept beside live data); its incidents carry this source.
    #[arg(long, default_value = model::REPLAY_SOURCE)]
    pub source: String,
    /// Move the recording in time so it ends now (to see its incidents beside live ones in
    /// time; not needed for them to be detected).
    #[arg(long)]
    pub shift_to_now: bool,
    /// Seed of a built-in scenario.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print the incidents as the API's JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate FILE (TOML); prints `FILE:LINE: reason` for every error.
    Check { file: PathBuf },
    /// Replay the ledger's incidents through a policy: what would have run on its own, asked,
    /// or been denied.
    Simulate(crate::policy_cmd::SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum PlaybooksCommand {
    /// Validate FILE (TOML `[[ladder]]`; the built-in ladders without one) and print every
    /// ladder in force, rung by rung; `FILE:LINE: reason` for every error. With `--policy`,
    /// each rung also shows what that policy makes of its action.
    Check {
        file: Option<PathBuf>,
        /// Policy files whose tier (auto, approval, deny) each rung's action gets.
        #[arg(long)]
        policy: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Detects any edited, removed or reordered entry of `DATA_DIR/audit.jsonl`, and with
    /// `--key-file` a chain recomputed without the key.
    Verify {
        /// The server's data dir.
        #[arg(long, env = "SREBOT_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// The audit key (`[policy] audit_key_file`); without it only order and links are
        /// checked, which a chain recomputed without the key also passes.
        #[arg(long, env = "SREBOT_AUDIT_KEY_FILE")]
        key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// With --draws: draws of every scenario family through the live detection step and
    /// correlator, per family: detected, right type and target, time to detect, false
    /// incidents. Without: the 16 built-in scenarios through the rules and the correlator.
    Scenarios(EvalScenariosArgs),
    /// Log template mining on Loghub-2k: group accuracy per system, lines/s.
    Logparse(EvalDataArgs),
    /// Root-cause ranking: without --data on the labelled fault scenarios (top-1, top-3,
    /// citations that resolve) and the microservice families (top-1, top-3 of the root by
    /// fault kind and by how the call graph is carried); with --data on a folder of RCAEval-layout
    /// cases such as Sock Shop (AC@1..5, Avg@5 by fault kind).
    Rca(EvalRcaArgs),
    /// A streaming anomaly detector on a NAB-format corpus: the three NAB profile scores,
    /// precision, recall and points/s, with NAB-layout results and a plot per file.
    Nab(EvalNabArgs),
    /// A labelled recording through the live detectors and the correlator: precision, recall,
    /// time to detect, false incidents, a NAB-style score, plots and per-series Parquet.
    Recording(EvalRecordingArgs),
}

#[derive(Debug, Args)]
pub struct EvalRecordingArgs {
    /// The recording's folder (see `srebot record` and `srebot label`).
    pub dir: PathBuf,
    /// Folder for the plots and `results.parquet` [default: DIR/eval].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// End with one JSON line of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalRcaArgs {
    /// A folder of `<service>-<fault>/<n>/{normal,anomalous}.csv` cases (optionally with a
    /// `topology.toml` of `[[topology.edge]]`), e.g. ../shared/datasets/rca-sockshop/; without
    /// it, the built-in fault scenarios and microservice families.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Folder for plots and tables.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Draws of the microservice families.
    #[arg(long, default_value_t = 100)]
    pub draws: usize,
    /// End with one JSON line of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalNabArgs {
    /// Corpus root holding `data/` and `labels/`, e.g. ../shared/datasets/nab/.
    #[arg(long)]
    pub data: PathBuf,
    /// Detector name (ewma, mad, seasonal, cusum, ensemble, ...).
    #[arg(long, default_value = anomaly::DEFAULT_DETECTOR)]
    pub detector: String,
    /// A detector parameter, `name=value`; repeatable.
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, f64)>,
    /// Where `<detector>/<category>/<detector>_<file>.csv`, the plots and summary.md go.
    #[arg(long, default_value = "eval-out/nab/results")]
    pub results_dir: PathBuf,
    /// `category`: leave each category with anomaly windows out in turn, choose parameters
    /// and thresholds on the others, and score it; prints held-out beside tuned scores.
    #[arg(long, value_parser = ["category"])]
    pub cv: Option<String>,
    /// End with one JSON line of the results.
    #[arg(long)]
    pub json: bool,
}

fn parse_param(text: &str) -> Result<(String, f64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not name=value"))?;
    let value: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` in `{text}` is not a number"))?;
    Ok((name.to_owned(), value))
}

#[derive(Debug, Args)]
pub struct EvalScenariosArgs {
    /// Folder for the per-scenario plots (SVG) of the built-in scenarios.
    #[arg(long, default_value = "eval-out/scenarios")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Draw this many scenarios from the families (in turn) instead of the built-in ones.
    #[arg(long)]
    pub draws: Option<usize>,
    /// End with one JSON line of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalDataArgs {
    /// The dataset folder, e.g. ../shared/datasets/loghub/.
    #[arg(long)]
    pub data: PathBuf,
    /// Folder for plots and tables.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// End with one JSON line of the results.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScenariosArgs {
    /// Folder to write one sub-folder per scenario into.
    #[arg(long, default_value = "datasets-out")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see config/srebot.example.toml).
    #[arg(long, env = "SREBOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9710].
    #[arg(long, env = "SREBOT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for state (ledger, keys) [default: ./data].
    #[arg(long, env = "SREBOT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// File with the bearer token every request must carry.
    #[arg(long, env = "SREBOT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve a non-loopback address without a token.
    #[arg(long)]
    pub insecure: bool,
    /// PEM certificate chain to serve https with (needs --tls-key).
    #[arg(long, env = "SREBOT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SREBOT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// With nothing pointed at it: replay the built-in demo scenarios (crash loop, memory
    /// leak, error-rate spike) into this server, ending now, so incidents appear at once.
    #[arg(long)]
    pub demo: bool,
}

impl ServeArgs {
    /// The config file (if any) with environment and flags laid over it.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(file) = &self.token_file {
            config.server.token_file = Some(file.clone());
        }
        config.server.insecure |= self.insecure;
        if let Some(file) = &self.tls_cert {
            config.server.tls_cert = Some(file.clone());
        }
        if let Some(file) = &self.tls_key {
            config.server.tls_key = Some(file.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT metric, avg FROM windows WHERE window = '5m' LIMIT 5".
    pub query: String,
    /// The server to ask.
    #[arg(long, env = "SREBOT_URL", default_value = "http://127.0.0.1:9710")]
    pub url: String,
    /// File with the bearer token, if the server needs one.
    #[arg(long, env = "SREBOT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle trusted besides the system roots, for an https server.
    #[arg(long, env = "SREBOT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// The client a command asks a running server with: https with the system roots plus `ca_file`.
pub fn remote_client(ca_file: Option<&Path>, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let tls = outbound::TlsConfig {
        ca_file: ca_file.map(Path::to_path_buf),
        ..outbound::TlsConfig::default()
    };
    let builder = outbound::client_builder(&tls).context("--ca-file")?;
    outbound::build(builder.timeout(timeout)).context("building the HTTP client")
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let config = args.resolve()?;
            if args.demo {
                runtime.block_on(crate::serve::run_demo(config, 7))
            } else {
                runtime.block_on(crate::serve::run(config))
            }
        }
        Command::Sql(args) => runtime.block_on(crate::sql_client::run(&args)),
        Command::Incidents(args) => runtime.block_on(crate::commands::incidents(&args)),
        Command::Replay(args) => runtime.block_on(crate::commands::replay(&args)),
        Command::Eval(command) => crate::commands::eval(&command),
        Command::Scenarios(args) => crate::commands::scenarios(&args),
        Command::Mcp(args) => runtime.block_on(crate::commands::mcp(&args)),
        Command::Record(args) => runtime.block_on(crate::commands::record(&args)),
        Command::Label(args) => crate::commands::label(&args),
        Command::Doctor(args) => runtime.block_on(crate::commands::doctor(&args)),
        Command::Policy(PolicyCommand::Check { file }) => crate::commands::policy_check(&file),
        Command::Playbooks(PlaybooksCommand::Check { file, policy }) => {
            crate::commands::playbooks_check(file.as_deref(), &policy)
        }
        Command::Policy(PolicyCommand::Simulate(args)) => {
            runtime.block_on(crate::policy_cmd::simulate(&args))
        }
        Command::Audit(AuditCommand::Verify { data_dir, key_file }) => {
            crate::commands::audit_verify(&data_dir, key_file.as_deref())
        }
    }
}
