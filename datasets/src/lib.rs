//! Evaluation of the product on recorded and generated data: NAB, Loghub, RCAEval-layout RCA
//! corpora, the labelled fault scenarios and microservice families, and recordings pulled from
//! a real Prometheus and labelled by hand, scored with plots and Parquet tables.
//!
//! Role: the `srebot eval` commands and the data engineers' replays. Invariants: it depends on
//! the product crates and drives their own entry points (the same detectors, the live RCA input
//! of `app`); no product crate and no live route depends on it. Datasets are read from where
//! they lie (`../shared/datasets`), never copied.
pub mod columnar;
pub mod families;
pub mod family_eval;
pub mod loghub;
pub mod nab;
pub mod plot;
pub mod prometheus;
pub mod propagation;
pub mod rca_eval;
pub mod recording;
pub mod replay;
pub mod selection;
/// The demo scenario generator, from the application layer (it is what `serve --demo` plays).
pub use app::demo as scenarios;
pub mod sockshop;
