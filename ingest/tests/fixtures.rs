//! Real remote_write 1.0 bodies captured from Prometheus 2.42 scraping itself (recorded with
//! `examples/capture_remote_write.rs` and `tests/data/capture-prometheus.yml`).

use crate::common::*;
use ingest::Protocol;
use ingest::proto;
use std::path::PathBuf;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("prometheus-v1-") && n.ends_with(".bin"))
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn real_prometheus_bodies_decode_as_prost_reads_them() {
    let bodies = fixtures();
    assert!(bodies.len() >= 3, "fixtures missing: {bodies:?}");
    let mut samples = 0;
    for (name, body) in &bodies {
        let (stats, seen) = decode(Protocol::V1, body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let reference: proto::WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        assert_eq!(stats.series, reference.timeseries.len(), "{name}");
        assert_eq!(stats.metadata, reference.metadata.len(), "{name}");
        let expected: Vec<Seen> = reference
            .timeseries
            .iter()
            .filter(|s| !s.samples.is_empty())
            .map(|s| {
                let labels: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .collect();
                let points: Vec<(i64, f64)> =
                    s.samples.iter().map(|x| (x.timestamp, x.value)).collect();
                Seen::new(&labels, &points)
            })
            .collect();
        assert_eq!(seen.series, expected, "{name}");
        for series in &seen.series {
            assert!(
                series.labels.contains(&("job".into(), "prometheus".into())),
                "{name}"
            );
        }
        for (family, reference) in seen.families.iter().zip(&reference.metadata) {
            assert_eq!(family.name, reference.metric_family_name);
            assert_eq!(family.help, reference.help);
        }
        samples += stats.samples;
    }
    assert!(samples > 500, "only {samples} samples in the fixtures");
    // Prometheus sends metadata in requests of its own once a minute; these captures hold
    // samples only, and metadata decoding is covered by the v2 tests and the e2e test.
}
