//! Storage size: node_exporter-like series over 15 minutes at 15 s stay within 300 bytes per
//! active series, labels and symbols included, and read back exactly.

use crate::support::{Lcg, node_series, store};
use model::{MetricType, Sample, SeriesRef};
use windows::Selector;

#[test]
fn fifteen_minutes_at_fifteen_seconds_fit_in_300_bytes_per_series() {
    let store = store(300_000, 3_600_000);
    let mut series = node_series(2_000);
    let mut rng = Lcg(1);
    let mut written: Vec<Vec<Sample>> = vec![Vec::new(); series.len()];
    for step in 0..60 {
        // Prometheus aligns scrape timestamps within its tolerance; one scrape in ten is off
        // by up to 25 ms anyway.
        let jitter = if rng.below(10) == 0 {
            rng.below(25) as i64
        } else {
            0
        };
        let ts = 1_700_000_000_000 + step * 15_000 + jitter;
        for (i, s) in series.iter_mut().enumerate() {
            let sample = Sample {
                timestamp_ms: ts,
                value: s.step(&mut rng),
            };
            written[i].push(sample);
            let pairs = s.pairs();
            store.append(SeriesRef {
                labels: &pairs,
                samples: &[sample],
                metric_type: MetricType::Unknown,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            });
        }
    }
    let stats = store.stats();
    assert_eq!(stats.active_series, 2_000);
    assert_eq!(stats.samples, 2_000 * 60);
    let per_series = stats.bytes_per_series();
    println!("bytes per active series, 15 min at 15 s: {per_series:.1}");
    assert!(per_series <= 300.0, "{per_series:.1} bytes per series");

    // And it reads back bit for bit.
    let all = store.samples(
        &Selector::parse(r#"{job="node"}"#).unwrap(),
        i64::MIN,
        i64::MAX,
    );
    let mut expected: Vec<(String, Vec<Sample>)> = series
        .iter()
        .zip(written)
        .map(|(s, w)| {
            let set = model::LabelSet::from_pairs(s.pairs()).unwrap();
            (set.to_string(), w)
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut got: Vec<(String, Vec<Sample>)> =
        all.into_iter().map(|(l, s)| (l.to_string(), s)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected);
}
