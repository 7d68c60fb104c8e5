//! Fuzzes OTLP/HTTP metrics decoding as `POST /v1/metrics` runs it: the first byte picks
//! protobuf or JSON and the encoding (none, gzip); the rest is the body. No panic, and every
//! series it makes is named and sorted.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = if selector & 1 == 0 {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    let encoding = if selector & 2 == 0 { None } else { Some("gzip") };
    if let Ok((_, batch)) = ingest::otlp::decode(Some(content_type), encoding, body, 1 << 20) {
        for series in &batch.series {
            assert!(series.labels.iter().any(|(n, _)| n == "__name__"));
            assert!(series.labels.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
});
