//! Decoders for what is pushed at SRE Smart Bot: Prometheus remote_write 1.0 and 2.0.
//!
//! The hot path decodes borrowed: snappy into a reused buffer, a hand-written protobuf reader
//! that slices label strings out of it, and the whole request validated (UTF-8, sorted unique
//! names, `__name__`, symbol references) before the first series reaches the
//! [`model::SeriesVisitor`] — so a refused request stores nothing.

pub mod proto;
mod remote_write;
pub mod snappy;
mod wire;

pub use remote_write::{DecodeError, DecodeStats, Decoder, IngestError, Protocol, negotiate};

/// Protobuf-encodes and snappy-compresses a remote_write 1.0 request (the sender side).
pub fn encode_v1(request: &proto::WriteRequest) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

/// Protobuf-encodes and snappy-compresses a remote_write 2.0 request (the sender side).
pub fn encode_v2(request: &proto::v2::Request) -> Vec<u8> {
    compress(&prost::Message::encode_to_vec(request))
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_default()
}
