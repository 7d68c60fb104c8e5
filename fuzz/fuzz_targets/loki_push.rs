//! Fuzzes Loki push decoding as `POST /loki/api/v1/push` runs it: the first byte picks the
//! content type (JSON or protobuf) and encoding (none, gzip, deflate); the rest is the body.

#![no_main]

const MAX_BODY: usize = 256 << 10;

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let content_type = match selector & 0b11 {
        0 => Some("application/json"),
        1 => Some("application/x-protobuf"),
        2 => None,
        _ => Some("text/plain"),
    };
    let encoding = match (selector >> 2) & 0b11 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        _ => Some("br"),
    };
    let first = ingest::loki::decode_push(content_type, encoding, body, MAX_BODY);
    if let Ok(batch) = &first {
        // Decoding is a function of the body: the same bytes give the same streams.
        let again = ingest::loki::decode_push(content_type, encoding, body, MAX_BODY)
            .expect("the same body decodes again");
        assert_eq!(again.streams, batch.streams);
        assert!(batch.entry_count() <= body.len().max(1) * 1024, "entries out of proportion");
    }
});
