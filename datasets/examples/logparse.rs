//! `srebot eval logparse` without the server around it, for a quick optimised run:
//! group accuracy per system and lines/s of the template miner on Loghub-2k.
//!
//! `cargo run --release -p datasets --example logparse -- [DATA_DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let data = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("../shared/datasets/loghub"), PathBuf::from);
    match datasets::loghub::evaluate(&data, None) {
        Ok(report) => {
            print!("{}", report.table());
            println!("{}", report.json_line());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("logparse: {}: {error}", data.display());
            ExitCode::FAILURE
        }
    }
}
