//! Drops by reason: too old for the watermark, out of retention, duplicate timestamps and the
//! cardinality limit, each counted in the outcome and in stats.

use crate::support::{append, query, s, store};
use model::MetricType;
use windows::{DropReason, Selector, Store, StoreConfig};

const T: i64 = 10_000_000;

#[test]
fn late_samples_inside_the_lateness_merge_and_older_ones_drop() {
    let store = store(60_000, 900_000);
    let up = [("__name__", "up")];
    let other = [("__name__", "other")];
    assert_eq!(
        append(&store, &up, &[s(T, 1.0)], MetricType::Gauge).appended,
        1
    );
    assert_eq!(store.watermark_ms(), Some(T - 60_000));
    // 30 s late: merged, in order.
    let late = append(&store, &up, &[s(T - 30_000, 2.0)], MetricType::Gauge);
    assert_eq!(late.appended, 1);
    // 61 s late: behind the watermark.
    let too_old = append(&store, &up, &[s(T - 61_000, 3.0)], MetricType::Gauge);
    assert_eq!(too_old.dropped(DropReason::TooOld), 1);
    // 16 min late: behind the retention, even for a series never seen.
    let ancient = append(&store, &other, &[s(T - 960_000, 4.0)], MetricType::Gauge);
    assert_eq!(ancient.dropped(DropReason::OutOfRetention), 1);
    let samples = store.samples(&Selector::parse("up").unwrap(), i64::MIN, i64::MAX);
    assert_eq!(samples[0].1, vec![s(T - 30_000, 2.0), s(T, 1.0)]);
    let stats = store.stats();
    assert_eq!(stats.dropped[&DropReason::TooOld], 1);
    assert_eq!(stats.dropped[&DropReason::OutOfRetention], 1);
}

#[test]
fn duplicate_timestamps_keep_the_first_value() {
    let store = store(60_000, 900_000);
    let up = [("__name__", "up")];
    append(
        &store,
        &up,
        &[s(T - 20_000, 1.0), s(T, 1.0)],
        MetricType::Gauge,
    );
    let same = append(&store, &up, &[s(T, 1.0)], MetricType::Gauge);
    let different = append(
        &store,
        &up,
        &[s(T, 5.0), s(T - 20_000, 7.0)],
        MetricType::Gauge,
    );
    assert_eq!(same.dropped(DropReason::DuplicateTimestamp), 1);
    assert_eq!(different.dropped(DropReason::DuplicateTimestamp), 2);
    let result = store.window(&query(&["up"], "5m", Some(T)));
    assert_eq!(result.series[0].aggregates.count, 2);
    assert_eq!(result.series[0].aggregates.max, Some(1.0));
    assert_eq!(store.stats().dropped[&DropReason::DuplicateTimestamp], 3);
}

#[test]
fn one_request_is_judged_by_the_newest_timestamp_before_it() {
    let store = store(10_000, 900_000);
    let up = [("__name__", "up")];
    // Within one call, a sample newer than the lateness span does not make the older ones late.
    let outcome = append(
        &store,
        &up,
        &[s(T + 60_000, 2.0), s(T, 1.0)],
        MetricType::Gauge,
    );
    assert_eq!(outcome.appended, 2);
    let next = append(&store, &up, &[s(T + 1000, 3.0)], MetricType::Gauge);
    assert_eq!(next.dropped(DropReason::TooOld), 1);
}

#[test]
fn retention_forgets_old_samples_and_empty_series() {
    let store = store(0, 900_000);
    append(
        &store,
        &[("__name__", "gone")],
        &[s(T, 1.0)],
        MetricType::Gauge,
    );
    for minute in 0..20 {
        append(
            &store,
            &[("__name__", "kept")],
            &[s(T + minute * 60_000, 1.0)],
            MetricType::Gauge,
        );
    }
    store.maintain();
    let stats = store.stats();
    assert_eq!(stats.active_series, 1, "{stats:?}");
    assert!(store.select(&Selector::parse("gone").unwrap()).is_empty());
    let kept = store.samples(&Selector::parse("kept").unwrap(), i64::MIN, i64::MAX);
    assert!(
        kept[0].1.len() >= 15 && kept[0].1.len() <= 20,
        "{}",
        kept[0].1.len()
    );
}

#[test]
fn the_cardinality_limit_refuses_new_series_and_says_which() {
    let store = Store::new(StoreConfig {
        max_series: 3,
        ..StoreConfig::default()
    });
    let names = ["a", "b", "c", "d", "e"];
    let mut refused = Vec::new();
    for name in names {
        let outcome = append(
            &store,
            &[("__name__", name)],
            &[s(T, 1.0), s(T + 1, 2.0)],
            MetricType::Gauge,
        );
        refused.extend(outcome.first_refused.clone());
        if let Some(message) = outcome.refusal() {
            assert!(message.contains("limit of 3 series"), "{message}");
            assert_eq!(outcome.dropped(DropReason::CardinalityLimit), 2);
        }
    }
    assert_eq!(refused, vec!["d{}".to_owned(), "e{}".to_owned()]);
    // Known series keep being written.
    assert_eq!(
        append(
            &store,
            &[("__name__", "a")],
            &[s(T + 2, 3.0)],
            MetricType::Gauge
        )
        .appended,
        1
    );
    let stats = store.stats();
    assert_eq!((stats.active_series, stats.refused_series), (3, 2));
    assert_eq!(stats.dropped[&DropReason::CardinalityLimit], 4);
}

#[test]
fn the_appender_sums_outcomes_across_series() {
    use model::{SeriesRef, SeriesVisitor};
    let store = Store::new(StoreConfig {
        max_series: 1,
        ..StoreConfig::default()
    });
    let mut appender = store.appender();
    for name in ["x", "y"] {
        appender
            .series(SeriesRef {
                labels: &[("__name__", name)],
                samples: &[s(T, 1.0), s(T, 1.0)],
                metric_type: MetricType::Unknown,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            })
            .unwrap();
    }
    let outcome = appender.finish();
    assert_eq!(outcome.appended, 1);
    assert_eq!(outcome.dropped(DropReason::DuplicateTimestamp), 1);
    assert_eq!(outcome.dropped(DropReason::CardinalityLimit), 2);
    assert_eq!(outcome.refused_series, 1);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn samples_far_ahead_of_the_wall_clock_are_refused_and_do_not_move_event_time() {
    let store = store(60_000, 3_600_000);
    let up = [("__name__", "up")];
    let now = now_ms();
    // Dated 2100: refused, counted, and the watermark stays unset.
    let future = append(&store, &up, &[s(4_102_444_800_000, 1.0)], MetricType::Gauge);
    assert_eq!(future.dropped(DropReason::TooFarInFuture), 1);
    assert_eq!(store.watermark_ms(), None);
    let message = future.nothing_stored().unwrap();
    assert!(message.contains("1 too_far_in_future"), "{message}");
    assert!(message.contains("up"), "{message}");
    // Five minutes ahead is within the default bound of ten.
    let soon = append(&store, &up, &[s(now + 300_000, 2.0)], MetricType::Gauge);
    assert_eq!(soon.appended, 1);
    // Present-day samples after the refused one are stored.
    let present = append(&store, &up, &[s(now + 299_000, 3.0)], MetricType::Gauge);
    assert_eq!(present.appended, 1);
    assert_eq!(store.stats().dropped[&DropReason::TooFarInFuture], 1);
}

#[test]
fn a_retried_batch_counts_as_stored_and_a_lost_one_names_its_first_series() {
    let store = store(60_000, 900_000);
    let up = [("__name__", "up"), ("job", "a")];
    let batch = [s(T - 10_000, 1.0), s(T, 2.0)];
    append(&store, &up, &batch, MetricType::Gauge);
    // Event time moves on past the lateness; the same batch is sent again.
    append(&store, &up, &[s(T + 120_000, 3.0)], MetricType::Gauge);
    let retried = append(&store, &up, &batch, MetricType::Gauge);
    assert_eq!(retried.appended, 0);
    assert_eq!(retried.dropped(DropReason::DuplicateTimestamp), 2);
    assert_eq!(retried.stored(), 2);
    assert_eq!(retried.nothing_stored(), None);
    // A batch the series never held, behind the watermark: lost, and said so.
    let lost = append(&store, &up, &[s(T - 5_000, 9.0)], MetricType::Gauge);
    assert_eq!(lost.stored(), 0);
    let message = lost.nothing_stored().unwrap();
    assert!(
        message.starts_with("no sample could be stored: 1 too_old"),
        "{message}"
    );
    assert!(message.contains(r#"up{job="a"} (too_old)"#), "{message}");
}
