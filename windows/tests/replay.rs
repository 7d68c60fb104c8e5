//! Event time: the same hour appended in time order, or shuffled within the lateness, gives
//! identical windows, and identical to the windows seen while living through it.

use crate::support::{Lcg, NodeSeries, node_series, store};
use model::{MetricType, Sample, SeriesRef};
use windows::{Selector, Store, WindowQuery, WindowResult, WindowSpan};

const START: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;
const LATENESS: i64 = 300_000;

/// One scrape: a timestamp and each series' value.
fn recording(series: &mut [NodeSeries], scrapes: usize) -> Vec<(i64, Vec<f64>)> {
    let mut rng = Lcg(7);
    (0..scrapes as i64)
        .map(|i| {
            let jitter = rng.below(40) as i64;
            let values = series.iter_mut().map(|s| s.step(&mut rng)).collect();
            (START + i * STEP + jitter, values)
        })
        .collect()
}

fn send(store: &Store, series: &[NodeSeries], ts: i64, values: &[f64]) {
    let mut appender = store.appender();
    for (s, v) in series.iter().zip(values) {
        let samples = [Sample {
            timestamp_ms: ts,
            value: *v,
        }];
        let pairs = s.pairs();
        model::SeriesVisitor::series(
            &mut appender,
            SeriesRef {
                labels: &pairs,
                samples: &samples,
                metric_type: MetricType::Unknown,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            },
        )
        .unwrap();
    }
    let outcome = appender.finish();
    assert_eq!(outcome.dropped_total(), 0, "{outcome:?}");
}

fn windows_at(store: &Store, at: Option<i64>) -> Vec<WindowResult> {
    let all = Selector::parse(r#"{job="node"}"#).unwrap();
    [
        WindowSpan::ONE_MINUTE,
        WindowSpan::FIVE_MINUTES,
        WindowSpan::FIFTEEN_MINUTES,
    ]
    .into_iter()
    .flat_map(|span| {
        let plain = WindowQuery {
            selectors: vec![all.clone()],
            window: span,
            at_ms: at,
            by: None,
        };
        let grouped = WindowQuery {
            by: Some(vec!["instance".to_owned()]),
            ..plain.clone()
        };
        [store.window(&plain), store.window(&grouped)]
    })
    .collect()
}

/// Windows compared through JSON, so NaN-free results compare exactly and the watermark is
/// left out (each query names its time).
fn json(results: &[WindowResult]) -> String {
    let series: Vec<_> = results.iter().map(|r| (&r.window, &r.series)).collect();
    serde_json::to_string(&series).unwrap()
}

#[test]
fn replay_in_order_shuffled_and_live_give_the_same_windows() {
    let mut series = node_series(60);
    let scrapes = 240; // an hour at 15 s
    let data = recording(&mut series, scrapes);

    let live = store(LATENESS, 3_600_000);
    let mut seen_live = Vec::new();
    for (i, (ts, values)) in data.iter().enumerate() {
        send(&live, &series, *ts, values);
        if i % 37 == 36 {
            let watermark = live.watermark_ms().unwrap();
            seen_live.push((watermark, json(&windows_at(&live, Some(watermark)))));
        }
    }

    // Shuffled: scrapes permuted inside blocks of 16 (4 minutes, under the 5 min lateness).
    let mut rng = Lcg(99);
    let mut order: Vec<usize> = (0..scrapes).collect();
    for block in order.chunks_mut(16) {
        for i in (1..block.len()).rev() {
            block.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    assert_ne!(order, (0..scrapes).collect::<Vec<_>>());
    let shuffled = store(LATENESS, 3_600_000);
    for &i in &order {
        send(&shuffled, &series, data[i].0, &data[i].1);
    }
    shuffled.maintain();

    assert_eq!(live.watermark_ms(), shuffled.watermark_ms());
    assert_eq!(
        json(&windows_at(&live, None)),
        json(&windows_at(&shuffled, None))
    );
    for (watermark, expected) in &seen_live {
        assert_eq!(
            &json(&windows_at(&shuffled, Some(*watermark))),
            expected,
            "at {watermark}"
        );
    }
    let (a, b) = (live.stats(), shuffled.stats());
    assert_eq!((a.active_series, a.samples), (b.active_series, b.samples));
    assert_eq!(a.samples, 60 * scrapes);
}
