//! Leave-one-system-out on Loghub-2k: `cargo run -p datasets --example loghub_loso -- [DATA]`.

fn main() {
    let data = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/datasets/loghub".to_owned());
    match datasets::loghub::leave_one_system_out(std::path::Path::new(&data)) {
        Ok(report) => print!("{}", report.table()),
        Err(e) => eprintln!("{e}"),
    }
}
