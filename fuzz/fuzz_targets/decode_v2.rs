//! Fuzzes remote_write 2.0: raw snappy + protobuf bodies (symbols table, label refs,
//! metadata, histograms) through the decoder and into the window store as the server runs them.

#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    srebot_fuzz::decode_into_store(ingest::Protocol::V2, body);
});
