//! Selectors through the store (all four matchers, anchoring, unions) and group-by views.

use crate::support::{append, query, s, store};
use model::MetricType;
use windows::{Selector, WindowQuery, WindowSpan};

fn fixture() -> windows::Store {
    let store = store(3_600_000, 3_600_000);
    let series: [&[(&str, &str)]; 5] = [
        &[
            ("__name__", "up"),
            ("env", "prod"),
            ("instance", "a:1"),
            ("job", "api"),
        ],
        &[
            ("__name__", "up"),
            ("env", "dev"),
            ("instance", "b:1"),
            ("job", "api"),
        ],
        &[
            ("__name__", "up"),
            ("env", "prod"),
            ("instance", "c:1"),
            ("job", "web"),
        ],
        &[("__name__", "up"), ("instance", "d:1"), ("job", "webhook")],
        &[
            ("__name__", "mem"),
            ("env", "prod"),
            ("instance", "a:1"),
            ("job", "api"),
        ],
    ];
    for (i, labels) in series.iter().enumerate() {
        let v = i as f64;
        append(
            &store,
            labels,
            &[s(10_000, v), s(20_000, v + 10.0)],
            MetricType::Gauge,
        );
    }
    store
}

fn instances(store: &windows::Store, text: &str) -> Vec<String> {
    let selector = Selector::parse(text).unwrap();
    let mut found: Vec<String> = store
        .select(&selector)
        .into_iter()
        .map(|s| {
            format!(
                "{}/{}",
                s.labels.metric_name(),
                s.labels.get("instance").unwrap()
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_four_matchers_select_through_the_store() {
    let store = fixture();
    assert_eq!(instances(&store, r#"up{job="api"}"#), ["up/a:1", "up/b:1"]);
    assert_eq!(instances(&store, r#"up{job!="api"}"#), ["up/c:1", "up/d:1"]);
    // Anchored: `web` does not match `webhook`.
    assert_eq!(instances(&store, r#"up{job=~"web"}"#), ["up/c:1"]);
    assert_eq!(
        instances(&store, r#"up{job=~"web.*"}"#),
        ["up/c:1", "up/d:1"]
    );
    assert_eq!(
        instances(&store, r#"up{job=~"api|web",env!="dev"}"#),
        ["up/a:1", "up/c:1"]
    );
    // `!~` and a missing label: an absent label is the empty string.
    assert_eq!(instances(&store, r#"up{env!~"prod|dev"}"#), ["up/d:1"]);
    assert_eq!(instances(&store, r#"{env=""}"#), ["up/d:1"]);
    // No name, only a matcher.
    assert_eq!(
        instances(&store, r#"{instance="a:1"}"#),
        ["mem/a:1", "up/a:1"]
    );
}

#[test]
fn several_selectors_are_a_union_without_repeats() {
    let store = fixture();
    let result = store.window(&query(
        &[r#"up{job="api"}"#, r#"{instance="a:1"}"#],
        "1m",
        Some(30_000),
    ));
    let names: Vec<String> = result.series.iter().map(|r| r.labels.to_string()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn group_by_pools_samples_and_sums_series() {
    let store = fixture();
    let result = store.window(&WindowQuery {
        selectors: vec![Selector::parse("up").unwrap()],
        window: WindowSpan::ONE_MINUTE,
        at_ms: Some(30_000),
        by: Some(vec!["job".to_owned()]),
    });
    type Group = (String, usize, Option<f64>, Option<f64>, Option<f64>);
    let groups: Vec<Group> = result
        .series
        .iter()
        .map(|r| {
            let a = &r.aggregates;
            (r.labels.to_string(), a.count, a.sum, a.avg, a.last)
        })
        .collect();
    // api: up 0,10 and 1,11; web: 2,12; webhook: 3,13.
    assert_eq!(
        groups,
        vec![
            (
                r#"{job="api"}"#.to_owned(),
                4,
                Some(22.0),
                Some(5.5),
                Some(21.0)
            ),
            (
                r#"{job="web"}"#.to_owned(),
                2,
                Some(14.0),
                Some(7.0),
                Some(12.0)
            ),
            (
                r#"{job="webhook"}"#.to_owned(),
                2,
                Some(16.0),
                Some(8.0),
                Some(13.0)
            ),
        ]
    );
    // Slopes add up: each series rises 10 in 10 s.
    assert_eq!(result.series[0].aggregates.slope, Some(2.0));
    assert_eq!(result.series[0].aggregates.max, Some(11.0));
}

#[test]
fn window_json_has_the_api_shape_and_nulls_for_non_finite() {
    let store = store(0, 3_600_000);
    append(
        &store,
        &[("__name__", "x")],
        &[s(1_000, f64::INFINITY), s(2_000, 1.0)],
        MetricType::Gauge,
    );
    let json = serde_json::to_value(store.window(&query(&["x"], "5m", None))).unwrap();
    let mut keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["series", "watermark", "window"]);
    assert_eq!(json["window"], "5m");
    assert_eq!(json["watermark"], 2_000);
    let row = json["series"][0].as_object().unwrap();
    let mut fields: Vec<&str> = row.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "avg", "count", "increase", "labels", "last", "max", "min", "p50", "p95", "p99",
            "rate", "slope", "stddev", "sum"
        ]
    );
    assert!(row["max"].is_null() && row["avg"].is_null(), "{row:?}");
    assert_eq!(row["min"], 1.0);
    assert_eq!(row["labels"]["__name__"], "x");
}

#[test]
fn answers_come_in_label_set_order_and_match_as_selectors_do() {
    // Names and values chosen so that order by text differs from order of arrival and from
    // order by symbol id: prefixes, extra labels, shared values under different names.
    let store = store(3_600_000, 3_600_000);
    let series: Vec<Vec<(&str, &str)>> = vec![
        vec![("__name__", "b"), ("x", "ab")],
        vec![("__name__", "b"), ("x", "a")],
        vec![("__name__", "a"), ("y", "a")],
        vec![("__name__", "b"), ("x", "a"), ("y", "")],
        vec![("__name__", "ab")],
        vec![("__name__", "b")],
        vec![("__name__", "b"), ("w", "zz"), ("x", "a")],
        vec![("__name__", "a"), ("x", "b")],
    ];
    for (i, labels) in series.iter().enumerate() {
        append(&store, labels, &[s(10_000, i as f64)], MetricType::Gauge);
    }
    let all: Vec<model::LabelSet> = series
        .iter()
        .map(|l| model::LabelSet::from_pairs(l.iter().copied()).unwrap())
        .collect();
    for text in [
        r#"{__name__=~".+"}"#,
        r#"b"#,
        r#"{x="a"}"#,
        r#"{x!="a"}"#,
        r#"{x=~"a.*"}"#,
        r#"{x!~"a"}"#,
        r#"{y=""}"#,
        r#"{y!=""}"#,
        r#"{w=~"z+",x="a"}"#,
        r#"{missing="nothing"}"#,
    ] {
        let selector = Selector::parse(text).unwrap();
        let mut want: Vec<model::LabelSet> = all
            .iter()
            .filter(|l| selector.matches(l))
            .cloned()
            .collect();
        want.sort();
        let selected: Vec<model::LabelSet> = store
            .select(&selector)
            .into_iter()
            .map(|s| s.labels)
            .collect();
        assert_eq!(selected, want, "select {text}");
        let windowed: Vec<model::LabelSet> = store
            .window(&query(&[text], "1m", Some(30_000)))
            .series
            .into_iter()
            .map(|r| r.labels)
            .collect();
        assert_eq!(windowed, want, "window {text}");
        let sampled: Vec<model::LabelSet> = store
            .samples(&selector, 0, 30_000)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(sampled, want, "samples {text}");
    }
}
