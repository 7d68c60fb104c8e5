//! datasets (being built).
pub mod loghub;
pub mod nab;
pub mod plot;
pub mod rca_eval;
pub mod replay;
/// The demo scenario generator, from the application layer (it is what `serve --demo` plays).
pub use app::demo as scenarios;
pub mod sockshop;
