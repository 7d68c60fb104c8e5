//! Fuzzes remote_write 1.0: raw snappy + protobuf bodies through the decoder and into the
//! window store as the server runs them (see `srebot_fuzz::decode_into_store`).

#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    srebot_fuzz::decode_into_store(ingest::Protocol::V1, body);
});
