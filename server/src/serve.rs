//! `srebot serve`: checks the listen address against the token and TLS rules, binds (https
//! with a certificate), starts the background loops and serves the router until shutdown.

use crate::app::{AppState, router};
use crate::auth::Tokens;
use crate::config::Config;
use crate::scrape;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub task: JoinHandle<()>,
    /// Whether it serves https.
    pub tls: bool,
}

impl RunningServer {
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Refuses a non-loopback address without a token unless `insecure` is set.
pub fn check_exposure(config: &Config) -> anyhow::Result<()> {
    let server = &config.server;
    let tokens = server.token_file.is_some() || config.auth.tokens_file.is_some();
    if !server.listen.ip().is_loopback() && !tokens && !server.insecure {
        bail!(
            "refusing to listen on {} without a token: give --token-file FILE or [auth] \
             tokens_file (every request then needs `Authorization: Bearer <token>`), or \
             --insecure to serve it open",
            server.listen
        );
    }
    match (&server.tls_cert, &server.tls_key) {
        (Some(_), None) | (None, Some(_)) => {
            bail!("server.tls_cert and server.tls_key go together (--tls-cert and --tls-key)")
        }
        (None, None) if server.require_tls => bail!(
            "server.require_tls is set: give server.tls_cert and server.tls_key \
             (or --tls-cert FILE --tls-key FILE)"
        ),
        (None, None) if !server.listen.ip().is_loopback() => tracing::warn!(
            listen = %server.listen,
            "serving plain http off loopback: tokens cross the network in the clear unless a \
             mesh or a TLS-terminating ingress is in front (give --tls-cert and --tls-key, or \
             set [server] require_tls = true to refuse this)"
        ),
        _ => {}
    }
    Ok(())
}

/// Binds and starts serving; returns once the socket is listening.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    outbound::install_crypto_provider();
    check_exposure(&config)?;
    let tokens = match &config.server.token_file {
        Some(path) => Tokens::from_file(path)?,
        None => Tokens::default(),
    };
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating data dir {}", config.server.data_dir.display()))?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let acceptor = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let tls = acceptor.is_some();
    let self_scrape = config.scrape.self_scrape;
    let state = AppState::open(config, tokens).await?;
    let audit_log = state
        .app
        .config
        .server
        .data_dir
        .join(policy::audit::AUDIT_FILE);
    state.metrics.watch_audit_head(audit_log.clone());
    if let Some(url) = &state.app.config.policy.audit_head_webhook {
        let policy = &state.app.config.policy;
        crate::audit_export::HeadExporter::new(
            audit_log,
            url,
            policy.audit_head_every,
            &policy.audit_head_tls_config,
        )
        .context("policy.audit_head_webhook")?
        .spawn();
    }

    let accounting = Arc::clone(&state);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            ticker.tick().await;
            accounting.refresh_bytes_held();
        }
    });
    spawn_detection(&state);
    spawn_reload_on_sighup(&state);
    scrape::spawn(&state, self_scrape.then(|| addr.to_string()));

    let app = router(Arc::clone(&state));
    let task = match acceptor {
        Some(acceptor) => {
            let listener = crate::tls::TlsListener::spawn(listener, acceptor)
                .context("starting the https listener")?;
            tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown_signal())
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "server stopped");
                }
            })
        }
        None => tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "server stopped");
            }
        }),
    };
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(%addr, "srebot listening: remote_write to {scheme}://{addr}/api/v1/write");
    Ok(RunningServer {
        addr,
        state,
        task,
        tls,
    })
}

/// The application's detection loop, on the runtime.
fn spawn_detection(state: &Arc<AppState>) {
    tokio::spawn(Arc::clone(&state.app).run_detection());
    app::loki_pull::spawn(&state.app);
}

/// SIGHUP re-reads the rules file and the policy file; a bad file is logged and the old rules
/// or policy stay.
fn spawn_reload_on_sighup(state: &Arc<AppState>) {
    #[cfg(unix)]
    {
        let state = Arc::clone(state);
        tokio::spawn(async move {
            let kind = tokio::signal::unix::SignalKind::hangup();
            let Ok(mut hangups) = tokio::signal::unix::signal(kind) else {
                return;
            };
            while hangups.recv().await.is_some() {
                state.app.reload_on_signal().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Runs until SIGINT/SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let server = start(config).await?;
    server.task.await.context("server task")?;
    Ok(())
}

/// The built-in scenarios `serve --demo` plays, one after the other in event time.
pub const DEMO_SCENARIOS: [&str; 3] = ["crash-loop", "memory-leak", "error-rate-spike"];

/// `serve --demo`: serves as [`run`] does and, with nothing pointed at it, pushes the demo
/// scenarios into itself over remote_write, ending at the present, then prints the incidents.
pub async fn run_demo(config: Config, seed: u64) -> anyhow::Result<()> {
    let server = start_demo(config, seed).await?;
    let url = server.url();
    println!(
        "demo: workspace at {url}/ui/incidents (sign in with a token when tokens are configured)"
    );
    println!(
        "demo: serving on {url}; try `curl {url}/api/v1/incidents` or \
         `srebot incidents --url {url}`; Ctrl-C stops"
    );
    server.task.await.context("server task")?;
    Ok(())
}

/// Starts the server and plays the demo scenarios into it; returns once they are in.
pub async fn start_demo(mut config: Config, seed: u64) -> anyhow::Result<RunningServer> {
    // Scraped samples carry the wall clock, which would put the recordings behind the
    // watermark: the demo is for a server nothing else feeds.
    config.scrape.self_scrape = false;
    config.scrape.targets.clear();
    if config.policy.file.is_some() && config.policy.audit_key_file.is_none() {
        let key = app::audit_key::throwaway_key(&mut config)?;
        println!(
            "demo: audit chain keyed with a throwaway key {} (verify with `srebot audit verify \
             --key-file {}`)",
            key.display(),
            key.display()
        );
    }
    let server = start(config).await?;
    let token = server.state.tokens.read_write.clone();
    let url = server.url();
    let scenarios = DEMO_SCENARIOS
        .iter()
        .map(|name| crate::replay::load(name, seed))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Over https the demo trusts the served certificate itself (a self-signed one works).
    let ca_file = server.state.app.config.server.tls_cert.clone();
    let sender = crate::replay::Sender::with_ca(&url, token, ca_file.as_deref())?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    // Chained: each scenario starts where the one before ended; the last ends now.
    let total: i64 = scenarios
        .iter()
        .map(|s| s.meta.end_ms - s.meta.start_ms)
        .sum();
    let mut start_ms = now_ms - total;
    for scenario in &scenarios {
        let shift = start_ms - scenario.meta.start_ms;
        println!(
            "demo: replaying {} ({} samples) into {url}",
            scenario.meta.name,
            scenario.sample_count()
        );
        sender
            .push(scenario, shift)
            .await
            .with_context(|| format!("replaying demo scenario {}", scenario.meta.name))?;
        start_ms += scenario.meta.end_ms - scenario.meta.start_ms;
    }
    let incidents = sender.incidents("").await?;
    print!("{}", crate::replay::incident_table(&incidents));
    Ok(server)
}
