//! The configuration tree lives in the application layer (`app::config`); re-exported here so
//! the binary's modules and its tests name it where they always did.

pub use app::config::*;
