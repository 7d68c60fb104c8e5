//! The command-line commands other than `serve` and `sql`: incidents, replay, evaluations and
//! dataset writing. Each one calls the library that does the work and prints its report.

use crate::cli::{
    DoctorArgs, EvalCommand, IncidentsArgs, LabelArgs, McpArgs, RecordArgs, ReplayArgs,
    ScenariosArgs,
};
use crate::config::Config;
use crate::replay::{Sender, incident_table, load};
use anyhow::Context;
use std::path::Path;

/// `srebot incidents`.
pub async fn incidents(args: &IncidentsArgs) -> anyhow::Result<()> {
    let sender = Sender::with_ca(
        &args.remote.url,
        args.remote.token()?,
        args.remote.ca_file.as_deref(),
    )?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("status", &args.status),
        ("severity", &args.severity),
        ("domain", &args.domain),
    ] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    let incidents = sender
        .incidents(&query.finish())
        .await
        .with_context(|| format!("asking {}", args.remote.url))?;
    if args.json {
        println!("{}", serde_json::Value::Array(incidents));
    } else {
        print!("{}", incident_table(&incidents));
    }
    Ok(())
}

/// `srebot doctor`: asks the running server to check what it depends on and prints a table;
/// an error (non-zero exit) when the server does not answer or any check fails.
pub async fn doctor(args: &DoctorArgs) -> anyhow::Result<()> {
    let url = args.remote.url.trim_end_matches('/');
    let client = crate::cli::remote_client(
        args.remote.ca_file.as_deref(),
        std::time::Duration::from_secs(120),
    )?;
    let mut request = client.post(format!("{url}/api/v1/doctor"));
    if let Some(token) = args.remote.token()? {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("srebot is not answering at {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            body["error"].as_str().unwrap_or("no message")
        );
    }
    let checks = body["data"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if args.json {
        println!("{}", body["data"]);
    } else {
        let columns = ["check", "verdict", "detail", "fix"].map(str::to_owned);
        print!("{}", crate::sql_client::render_table(&columns, &checks));
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .filter_map(|c| c["check"].as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("{} check(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// `srebot mcp`: the running server's read-only tools over stdio, until the client hangs up.
/// Logs go to stderr; stdout carries only the protocol.
pub async fn mcp(args: &McpArgs) -> anyhow::Result<()> {
    let tls = outbound::TlsConfig {
        ca_file: args.remote.ca_file.clone(),
        ..outbound::TlsConfig::default()
    };
    let remote = mcp::Remote::new(&args.remote.url, args.remote.token()?, &tls)?;
    mcp::serve_stdio(remote)
        .await
        .with_context(|| format!("serving the tools of {} over stdio", args.remote.url))
}

/// `srebot replay DATASET`.
pub async fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let scenario = load(&args.dataset, args.seed)?;
    let shift_ms = if args.shift_to_now {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        now - scenario.meta.end_ms
    } else {
        0
    };
    // Without --url: a server of our own on a loopback port, state in a temporary folder.
    let mut own = None;
    let (url, token) = match &args.url {
        Some(url) => {
            let token = match &args.token_file {
                Some(path) => crate::auth::Tokens::from_file(path)?.read_write,
                None => None,
            };
            (url.clone(), token)
        }
        None => {
            let dir = tempfile::tempdir().context("creating a temporary data dir")?;
            let mut config = Config::default();
            config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            config.server.data_dir = dir.path().to_owned();
            config.scrape.self_scrape = false;
            let server = crate::serve::start(config).await?;
            let url = server.url();
            own = Some((server, dir));
            (url, None)
        }
    };
    model::check_source(&args.source).context("--source")?;
    let sender = Sender::with_ca(&url, token, args.ca_file.as_deref())?.with_source(&args.source);
    let started = std::time::Instant::now();
    let pushed = sender.push(&scenario, shift_ms).await?;
    let seconds = started.elapsed().as_secs_f64();
    let incidents = sender.incidents(&format!("source={}", args.source)).await?;
    if args.json {
        println!("{}", serde_json::Value::Array(incidents));
    } else {
        let recorded_s = (scenario.meta.end_ms - scenario.meta.start_ms) as f64 / 1000.0;
        println!(
            "replayed {} ({} samples in {} requests, {:.0} s of recording) in {:.1} s: {:.0}x real time",
            scenario.meta.name,
            pushed.samples,
            pushed.requests,
            recorded_s,
            seconds,
            recorded_s / seconds.max(1e-9)
        );
        if pushed.written < pushed.samples {
            println!(
                "the server kept {} of {} samples in source {:?}: the rest were older than the \
                 data that source already held (replay with another --source to detect over \
                 the whole recording)",
                pushed.written, pushed.samples, args.source
            );
        }
        // A live server evaluates event time only as far as its watermark, which trails its
        // newest sample by the allowed lateness: the recording's end may not be evaluated yet.
        if args.url.is_some() {
            let evaluated = sender
                .source_status()
                .await?
                .and_then(|s| s["evaluated_through"].as_i64());
            let behind_s = match evaluated {
                Some(t) => (scenario.meta.end_ms + shift_ms - t) / 1000,
                None => (scenario.meta.end_ms - scenario.meta.start_ms) / 1000,
            };
            if behind_s > 60 {
                println!(
                    "the server has evaluated up to {behind_s} s before the recording's end; \
                     what it finds later shows in `srebot incidents --url {url}`"
                );
            }
        }
        for expected in &scenario.meta.expected {
            println!(
                "expected: {} on {}",
                expected.incident_type.as_str(),
                expected.target
            );
        }
        print!("{}", incident_table(&incidents));
    }
    drop(own);
    Ok(())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// `srebot eval ...`.
pub fn eval(command: &EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Scenarios(args) if args.draws.is_some() => {
            let draws = args.draws.unwrap_or_default();
            // Exactly what `serve` runs without an `[anomaly]` section.
            let golden = anomaly::AnomalyConfig::golden_signals();
            let report = datasets::family_eval::evaluate(draws, args.seed, &golden);
            print!("{}", report.table());
            if args.json {
                println!("{}", report.json_line());
            }
        }
        EvalCommand::Scenarios(args) => {
            create_dir(&args.out)?;
            let report = datasets::replay::evaluate_scenarios(Some(&args.out), args.seed)
                .context("evaluating scenarios")?;
            print!("{}", report.table());
            println!("plots: {}", args.out.display());
            if args.json {
                println!("{}", report.json_line());
            }
        }
        EvalCommand::Logparse(args) => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| "eval-out/logparse".into());
            create_dir(&out)?;
            let report = datasets::loghub::evaluate(&args.data, Some(&out))
                .with_context(|| format!("evaluating log parsing on {}", args.data.display()))?;
            print!("{}", report.table());
            println!("plots: {}", out.display());
            // Held out: each system scored with the settings chosen on the other fifteen.
            let loso = datasets::loghub::leave_one_system_out(&args.data)
                .with_context(|| format!("leave-one-system-out on {}", args.data.display()))?;
            println!();
            print!("{}", loso.table());
            if args.json {
                println!(
                    "{{\"tuned\":{},\"held_out\":{{\"avg_ga\":{},\"min_ga\":{}}}}}",
                    report.json_line(),
                    loso.mean_held_out,
                    loso.min_held_out
                );
            }
        }
        EvalCommand::Rca(args) => {
            let Some(data) = &args.data else {
                let report = datasets::rca_eval::evaluate(args.seed);
                print!("{}", report.table());
                let families = datasets::propagation::evaluate(args.draws, args.seed);
                println!();
                print!("{}", families.table());
                if args.json {
                    println!(
                        "{{\"scenarios\":{},\"families\":{}}}",
                        report.json_line(),
                        families.json_line()
                    );
                }
                return Ok(());
            };
            let out = args.out.clone().unwrap_or_else(|| "eval-out/rca".into());
            create_dir(&out)?;
            let report = datasets::sockshop::evaluate(data, Some(&out))
                .with_context(|| format!("evaluating RCA on {}", data.display()))?;
            print!("{}", report.table());
            println!("plots: {}", out.display());
            if args.json {
                println!("{}", report.json_line());
            }
        }
        EvalCommand::Recording(args) => {
            let out = args.out.clone().unwrap_or_else(|| args.dir.join("eval"));
            let report = datasets::recording::evaluate(&args.dir, &out)
                .with_context(|| format!("evaluating the recording {}", args.dir.display()))?;
            print!("{}", report.table());
            println!("plots and results.parquet: {}", out.display());
            if args.json {
                println!("{}", report.json_line());
            }
        }
        EvalCommand::Nab(args) if args.cv.is_some() => {
            let files = datasets::nab::load_corpus(&args.data)
                .with_context(|| format!("reading {}", args.data.display()))?;
            let mut grid = datasets::nab::cv::default_grid(&args.detector);
            for point in &mut grid {
                point.extend(args.params.iter().cloned());
            }
            let report = datasets::nab::cv::cross_validate(&files, &args.detector, &grid)
                .with_context(|| format!("cross-validating {}", args.detector))?;
            print!("{}", report.table());
            if args.json {
                println!("{}", report.json_line());
            }
        }
        EvalCommand::Nab(args) => {
            let mut params = anomaly::Params::new();
            for (name, value) in &args.params {
                params.insert(name.clone(), *value);
            }
            let options = datasets::nab::NabEvalOptions {
                data_dir: args.data.clone(),
                detector: args.detector.clone(),
                params,
                results_dir: Some(args.results_dir.clone()),
            };
            let report = datasets::nab::run_nab_eval(&options).with_context(|| {
                format!("evaluating {} on {}", args.detector, args.data.display())
            })?;
            print!("{}", report.table());
            println!(
                "results: {}",
                args.results_dir.join(&args.detector).display()
            );
            if args.json {
                println!("{}", report.json_line());
            }
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `srebot record --prometheus URL --match SELECTOR --from T --to T [--step 15s] --out DIR`.
pub async fn record(args: &RecordArgs) -> anyhow::Result<()> {
    outbound::install_crypto_provider();
    let now = now_ms();
    let step = model::duration::parse(&args.step)
        .map_err(|e| anyhow::anyhow!("--step {}: {e}", args.step))?;
    let name = args.out.file_name().map_or_else(
        || "recording".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let options = datasets::prometheus::RecordOptions {
        url: args.prometheus.clone(),
        selectors: args.selectors.clone(),
        from_ms: datasets::recording::parse_time(&args.from, now).context("--from")?,
        to_ms: datasets::recording::parse_time(&args.to, now).context("--to")?,
        step_ms: step.as_millis() as i64,
        name,
    };
    let scenario = datasets::prometheus::record(&options).await?;
    scenario
        .write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let parquet = args.out.join("samples.parquet");
    datasets::columnar::write_samples(&scenario, &parquet)
        .map_err(|message| anyhow::anyhow!("writing {}: {message}", parquet.display()))?;
    println!(
        "recorded {} series, {} samples into {} (series.jsonl, samples.parquet)",
        scenario.series.len(),
        scenario.sample_count(),
        args.out.display()
    );
    Ok(())
}

/// `srebot label DIR --incident FROM..TO:type:target`.
pub fn label(args: &LabelArgs) -> anyhow::Result<()> {
    let now = now_ms();
    let labels = args
        .incidents
        .iter()
        .map(|spec| datasets::recording::parse_label(spec, now))
        .collect::<Result<Vec<_>, _>>()?;
    let all = datasets::recording::add_labels(&args.dir, &labels)
        .with_context(|| format!("labelling {}", args.dir.display()))?;
    for l in &all {
        println!(
            "{}..{} {} on {}",
            l.from_ms,
            l.to_ms,
            l.incident_type.as_str(),
            l.target
        );
    }
    Ok(())
}

/// `srebot scenarios --out DIR`.
pub fn scenarios(args: &ScenariosArgs) -> anyhow::Result<()> {
    for scenario in datasets::scenarios::all(args.seed) {
        let dir = args.out.join(&scenario.meta.name);
        scenario
            .write(&dir)
            .with_context(|| format!("writing {}", dir.display()))?;
        println!(
            "{:<28} {:>7} samples  expected: {}",
            dir.display(),
            scenario.sample_count(),
            if scenario.is_healthy() {
                "nothing".to_owned()
            } else {
                scenario
                    .meta
                    .expected
                    .iter()
                    .map(|e| format!("{} on {}", e.incident_type.as_str(), e.target))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(())
}

/// `srebot policy check FILE`.
pub fn policy_check(file: &Path) -> anyhow::Result<()> {
    match policy::check_file(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            Ok(())
        }
        Err(errors) => {
            let text = errors.to_string();
            eprintln!("{}", text.trim_end());
            anyhow::bail!("{} error(s) in {}", errors.issues.len(), file.display())
        }
    }
}

/// `srebot playbooks check [FILE] [--policy P]...`: validates, then prints each ladder.
pub fn playbooks_check(file: Option<&Path>, policies: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let books = match file {
        Some(file) => policy::playbook::Playbooks::builtin_with(file).map_err(|errors| {
            eprintln!("{}", errors.to_string().trim_end());
            anyhow::anyhow!("{} error(s) in {}", errors.issues.len(), file.display())
        })?,
        None => policy::playbook::Playbooks::builtin(),
    };
    let mut loaded = Vec::new();
    for path in policies {
        let p = policy::check_file(path).map_err(|errors| {
            eprintln!("{}", errors.to_string().trim_end());
            anyhow::anyhow!("{} error(s) in {}", errors.issues.len(), path.display())
        })?;
        loaded.push((p.environment.as_str().to_owned(), p));
    }
    if let Some(file) = file {
        println!("{}: ok", file.display());
    }
    for ladder in books.ladders() {
        println!("{} ({})", ladder.incident_type, ladder.file);
        for (i, step) in ladder.steps.iter().enumerate() {
            let after = if step.after.is_zero() {
                String::new()
            } else {
                format!(", after {}", model::duration::format(step.after))
            };
            let when = step
                .when
                .map(|w| format!(", when {}", w.as_str()))
                .unwrap_or_default();
            let tiers = loaded
                .iter()
                .map(|(env, p)| format!("{env}: {}", tier(p, step)))
                .collect::<Vec<_>>()
                .join(", ");
            let tiers = if tiers.is_empty() {
                String::new()
            } else {
                format!(" [{tiers}]")
            };
            println!(
                "  {}. {} on {} (mode {}{after}{when}){tiers}",
                i + 1,
                step.action,
                step.target.as_str(),
                step.mode.as_str()
            );
        }
    }
    Ok(())
}

/// What a policy makes of a rung: the tier of the action it names, stricter where the ladder
/// asks or only suggests.
fn tier(policy: &policy::Policy, step: &policy::Step) -> &'static str {
    use policy::StepMode;
    if step.mode == StepMode::Suggest {
        return "suggested";
    }
    if step.action.risk() == model::RiskClass::ReadOnly {
        return "auto";
    }
    // `restart` and `scale` read as their Deployment action; the others of their kind are
    // listed in the policy beside it.
    let name = match &step.action {
        policy::StepAction::Restart => "restart_deployment",
        policy::StepAction::Scale { .. } => "scale_deployment",
        other => other.name(),
    };
    match (policy.mode(name), step.mode) {
        (policy::Mode::Deny, _) => "deny",
        (policy::Mode::Approval, _) | (_, StepMode::Approval) => "approval",
        (policy::Mode::Auto, _) => "auto",
    }
}

/// `srebot audit verify [--key-file FILE]`.
pub fn audit_verify(data_dir: &Path, key_file: Option<&Path>) -> anyhow::Result<()> {
    let path = data_dir.join(policy::audit::AUDIT_FILE);
    let context = || format!("audit log {}", path.display());
    match key_file {
        Some(key_file) => {
            let key = policy::AuditKey::load(key_file)?;
            let entries = policy::verify(&path, &key).with_context(context)?;
            println!(
                "{}: {entries} entries, chain intact under the key",
                path.display()
            );
        }
        None => {
            let entries = policy::audit::verify_unkeyed(&path).with_context(context)?;
            let keyed = policy::audit::read_entries(&path)
                .with_context(context)?
                .iter()
                .any(|e| e.keyed);
            if keyed {
                anyhow::bail!(
                    "{}: {entries} entries in order, but the log is keyed: give --key-file \
                     ([policy] audit_key_file) to check their MACs",
                    path.display()
                );
            }
            println!(
                "{}: {entries} unkeyed entries, chain intact (anyone can recompute an unkeyed \
                 chain; a server with a policy and its audit key seals it)",
                path.display()
            );
        }
    }
    Ok(())
}
