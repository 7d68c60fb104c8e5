//! Runs the NAB evaluation for several detectors and prints one table: the three profile
//! scores and points/s per detector, the scorer check against NAB's published baseline, and a
//! held-out check (threshold chosen on one half of the files, scored on the other).
//!
//! `cargo run --release -p datasets --example nab -- [--data DIR] [--detector a,b,..]
//! [--param name=value ..] [--check] [--split] [--cv]`; `--cv` runs the leave-one-category-out
//! cross-validation of each detector instead.

use std::path::PathBuf;
use std::process::ExitCode;

use anomaly::{DETECTOR_NAMES, Params};
use datasets::nab::published::check_windowed_gaussian;
use datasets::nab::scorer::PROFILES;
use datasets::nab::{FileRun, load_corpus, replay_corpus, report, score_runs};

struct Args {
    data: PathBuf,
    detectors: Vec<String>,
    params: Params,
    check: bool,
    split: bool,
    cv: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data: PathBuf::from("../shared/datasets/nab"),
        detectors: DETECTOR_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        params: Params::new(),
        check: false,
        split: false,
        cv: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--data" => args.data = it.next().ok_or("--data needs a value")?.into(),
            "--detector" => {
                args.detectors = it
                    .next()
                    .ok_or("--detector needs a value")?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
            }
            "--param" => {
                let kv = it.next().ok_or("--param needs name=value")?;
                let (k, v) = kv.split_once('=').ok_or("--param needs name=value")?;
                let v: f64 = v.parse().map_err(|_| format!("bad value in {kv}"))?;
                args.params.insert(k.to_owned(), v);
            }
            "--check" => args.check = true,
            "--split" => args.split = true,
            "--cv" => args.cv = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Every other file of each category (by sorted name) is in half A, the rest in half B.
fn halves(runs: &[FileRun]) -> (Vec<&FileRun>, Vec<&FileRun>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut category = String::new();
    let mut index = 0;
    for run in runs {
        if run.file.category != category {
            category.clone_from(&run.file.category);
            index = 0;
        }
        if index % 2 == 0 {
            a.push(run);
        } else {
            b.push(run);
        }
        index += 1;
    }
    (a, b)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let files = match load_corpus(&args.data) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if args.cv {
        for detector in &args.detectors {
            let grid = if std::env::var_os("NAB_DEFAULTS_ONLY").is_some() {
                vec![Params::new()]
            } else {
                datasets::nab::cv::default_grid(detector)
            };
            match datasets::nab::cv::cross_validate(&files, detector, &grid) {
                Ok(report) => println!("{}", report.table()),
                Err(e) => {
                    eprintln!("{detector}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let windows: usize = files.iter().map(|f| f.windows.len()).sum();
    println!(
        "{} files, {} windows, {} points\n",
        files.len(),
        windows,
        files.iter().map(|f| f.values.len()).sum::<usize>()
    );
    println!(
        "| detector | standard | reward_low_FP | reward_low_FN | precision | recall | points/s |\n|---|---|---|---|---|---|---|"
    );
    let mut extra = String::new();
    for detector in &args.detectors {
        let params = if args.detectors.len() == 1 {
            args.params.clone()
        } else {
            Params::new()
        };
        let runs = match replay_corpus(&files, detector, &params) {
            Ok(runs) => runs,
            Err(e) => {
                eprintln!("{detector}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let rep = report(detector, &runs);
        let p = &rep.profiles;
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.3} | {:.3} | {:.2e} |",
            detector,
            p[0].score,
            p[1].score,
            p[2].score,
            p[0].precision(),
            p[0].recall(),
            rep.points_per_sec
        );
        if args.check && detector == "windowed_gaussian" {
            extra.push_str(&check_windowed_gaussian(&runs).table());
            extra.push('\n');
        }
        if args.split {
            let (a, b) = halves(&runs);
            let tuned = score_runs(&a, &PROFILES[0], None);
            let fixed = score_runs(&b, &PROFILES[0], Some(tuned.threshold));
            let own = score_runs(&b, &PROFILES[0], None);
            extra.push_str(&format!(
                "{detector}: half A ({} files) standard {:.1} at threshold {:.4}; half B ({} files) \
                 {:.1} at A's threshold, {:.1} at its own ({:.4})\n",
                a.len(),
                tuned.score,
                tuned.threshold,
                b.len(),
                fixed.score,
                own.score,
                own.threshold
            ));
        }
    }
    println!("\n{extra}");
    ExitCode::SUCCESS
}
