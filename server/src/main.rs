//! `srebot`: parses the command line and hands off to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // One TLS provider for every client and the https listener, before any is built.
    outbound::install_crypto_provider();
    match server::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("srebot: {error:#}");
            ExitCode::FAILURE
        }
    }
}
