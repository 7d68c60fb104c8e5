//! The command line: `serve`, `sql`, `eval ...`. Parses flags, merges them over the config
//! file and environment, and hands off to the library; no logic of its own.

use crate::config::Config;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

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
            runtime.block_on(crate::serve::run(config))
        }
        Command::Sql(args) => runtime.block_on(crate::sql_client::run(&args)),
    }
}
