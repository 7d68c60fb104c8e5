//! Decoders for what is pushed at SRE Smart Bot: Prometheus remote_write 1.0 and 2.0.
//!
//! Role: turn a request (headers + snappy body) into borrowed [`model::SeriesRef`]s handed to a
//! [`model::SeriesVisitor`], at Prometheus's own sending speed. The hot path is borrowed: snappy
//! into a reused buffer, a hand-written protobuf reader that slices label strings out of it
//! (owned prost decoding into `String`s is several times slower), and per-request vectors that
//! are kept by the [`Decoder`] between requests.
//!
//! Invariants:
//! - A request is decompressed under a cap, parsed and validated *whole* (UTF-8 of every label
//!   and symbol, sorted unique non-empty names, `__name__`, symbol references, protobuf
//!   framing) before the first series reaches the visitor, so a refused request stores nothing.
//! - Every refusal is a [`DecodeError`] naming what is wrong and where, classed for HTTP
//!   (400 bad body, 413 too large, 415 unsupported media type); the visitor's own error is
//!   passed through unchanged.
//! - Nothing is dropped silently: NaN (staleness) values are kept; native histograms are
//!   handed on as `<name>_count` and `<name>_sum` series; exemplars and metadata are counted.
//!
//! [`proto`] holds owned prost messages of both versions and [`encode_v1`] / [`encode_v2`] the
//! sender side, for tests, benches and the load generator.

mod decoder;
mod error;
pub mod loki;
mod negotiate;
pub mod otlp;
pub mod proto;
mod shape;
pub mod snappy;
mod wire;

pub use decoder::{DecodeStats, Decoder};
pub use error::{DecodeError, IngestError, LabelPart, SymbolUse};
pub use negotiate::{Protocol, negotiate};
pub use wire::{WireIssue, WireType};

/// Protobuf-encodes and snappy-compresses (block format) a remote_write 1.0 request.
///
/// Snappy refuses inputs over 4 GiB; such a request encodes as an empty body.
pub fn encode_v1(request: &proto::WriteRequest) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

/// Protobuf-encodes and snappy-compresses (block format) a remote_write 2.0 request.
///
/// Snappy refuses inputs over 4 GiB; such a request encodes as an empty body.
pub fn encode_v2(request: &proto::v2::Request) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_default()
}
