//! `srebot policy simulate`: replays the ledger's incidents, with the actions remediation
//! would propose for them, through a policy file and prints auto / ask / denied per incident.
//!
//! Live figures (replicas, pods, nodes) come from the decisions the audit log recorded for the
//! same incident and action; without them `--replicas` stands in for Deployments, else the
//! blast radius is unknown and the policy asks, exactly as it would live.

use anyhow::Context;
use clap::Args;
use incident::Ledger;
use policy::{SimOptions, SimulationReport};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The policy file to try.
    #[arg(long)]
    pub policy: PathBuf,
    /// The server's data dir (its SQLite ledger and audit log).
    #[arg(long, env = "SREBOT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Read the ledger from PostgreSQL instead (`postgres://...`).
    #[arg(long)]
    pub ledger_url: Option<String>,
    /// Replicas to assume for Deployments the audit log has no live figures for.
    #[arg(long)]
    pub replicas: Option<u32>,
    /// Count asked actions as approved, so they start cooldowns and use rate limits.
    #[arg(long)]
    pub assume_approved: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Builds the cases from the ledger and runs the simulation.
pub async fn report(args: &SimulateArgs) -> anyhow::Result<SimulationReport> {
    let policy = match policy::check_file(&args.policy) {
        Ok(policy) => policy,
        Err(errors) => {
            anyhow::bail!(
                "{}\n{} error(s) in {}",
                errors.to_string().trim_end(),
                errors.issues.len(),
                args.policy.display()
            )
        }
    };
    let ledger = match &args.ledger_url {
        Some(url) => Ledger::connect(url)
            .await
            .context("connecting to the ledger")?,
        None => Ledger::open_dir(&args.data_dir)
            .await
            .with_context(|| format!("opening the ledger in {}", args.data_dir.display()))?,
    };
    let cases = app::simulate::cases(&ledger, &args.data_dir, args.replicas)
        .await
        .context("reading incidents")?;
    ledger.close().await;
    Ok(policy::simulate(
        &policy,
        &cases,
        SimOptions {
            assume_approved: args.assume_approved,
        },
    ))
}

/// `srebot policy simulate`.
pub async fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let report = report(args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("{report}");
    let mut per_incident: Vec<(&str, [usize; 3])> = Vec::new();
    for row in &report.rows {
        let slot = match per_incident
            .iter_mut()
            .find(|(id, _)| *id == row.incident_id)
        {
            Some((_, counts)) => counts,
            None => {
                per_incident.push((row.incident_id.as_str(), [0; 3]));
                match per_incident.last_mut() {
                    Some((_, counts)) => counts,
                    None => continue,
                }
            }
        };
        let i = match row.verdict {
            policy::Verdict::Auto => 0,
            policy::Verdict::NeedsApproval => 1,
            policy::Verdict::Denied => 2,
        };
        slot[i] += 1;
    }
    for (id, [auto, ask, denied]) in per_incident {
        println!("{id}: auto {auto}, would ask {ask}, denied {denied}");
    }
    Ok(())
}
