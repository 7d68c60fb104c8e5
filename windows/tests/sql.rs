//! The read-only SQL surface: statements refused before anything runs, filters pushed into
//! the store give the same answers as without, and each limit fails with its name.

use crate::support::{append, s, store};
use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::record_batch::RecordBatch;
use model::MetricType;
use std::sync::Arc;
use std::time::Duration;
use windows::sql::{SqlAnswer, SqlEngine, SqlError, SqlLimits};

/// 3 metrics × 4 jobs, 40 samples each at 15 s.
fn fixture() -> Arc<windows::Store> {
    let store = store(0, 3_600_000);
    for k in 0..40i64 {
        for (m, name) in ["cpu", "mem", "disk"].iter().enumerate() {
            for job in ["api", "web", "db", "queue"] {
                let labels = [("__name__", *name), ("instance", "host"), ("job", job)];
                append(
                    &store,
                    &labels,
                    &[s(k * 15_000, (m as i64 * 1000 + k) as f64)],
                    MetricType::Gauge,
                );
            }
        }
    }
    Arc::new(store)
}

async fn query(
    store: Arc<windows::Store>,
    text: &str,
    limits: SqlLimits,
) -> Result<SqlAnswer, SqlError> {
    SqlEngine::shared().query(store, text, limits).await
}

fn ints(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..array.len()).map(move |i| array.value(i))
        })
        .collect()
}

async fn count(store: &Arc<windows::Store>, text: &str) -> i64 {
    let answer = query(Arc::clone(store), text, SqlLimits::default())
        .await
        .unwrap();
    ints(&answer.batches)[0]
}

#[tokio::test]
async fn statements_other_than_queries_are_refused_and_write_nothing() {
    let store = fixture();
    let target = std::env::temp_dir().join(format!("srebot-copy-probe-{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&target);
    let probes = [
        format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            target.display()
        ),
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "CREATE VIEW v AS SELECT 1".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        "INSERT INTO samples VALUES ('x', 'x', MAP(['a'], ['b']), 1, 1.0)".to_owned(),
        "DROP TABLE samples".to_owned(),
    ];
    for probe in &probes {
        let error = query(Arc::clone(&store), probe, SqlLimits::default())
            .await
            .expect_err(probe);
        let text = error.to_string();
        // INSERT into a view fails at planning already; every other probe meets the options.
        assert!(
            matches!(error, SqlError::NotAQuery { .. }) || probe.starts_with("INSERT"),
            "{probe}: {text}"
        );
        if let SqlError::NotAQuery { .. } = error {
            assert!(text.contains("only SELECT queries are allowed"), "{text}");
        }
    }
    assert!(!target.exists(), "COPY wrote {}", target.display());
    assert_eq!(count(&store, "SELECT count(*) FROM samples").await, 480);
}

#[tokio::test]
async fn pushed_filters_answer_as_unfiltered_queries_do() {
    let store = fixture();
    let cases = [
        ("metric = 'cpu'", 160),
        ("'cpu' = metric", 160),
        ("metric != 'cpu'", 320),
        ("labels['job'] = 'api'", 120),
        ("labels['job'] = 'api' AND metric = 'mem'", 40),
        ("labels['job'] IN ('api', 'db') AND metric = 'mem'", 80),
        ("metric IN ('cpu', 'd.sk')", 160),
        ("labels['nope'] = 'x'", 0),
        ("timestamp_ms > 300000", 12 * 19),
        ("timestamp_ms >= 300000", 12 * 20),
        ("timestamp_ms < 15000 AND metric = 'cpu'", 4),
        ("timestamp_ms <= 15000 AND metric = 'cpu'", 8),
        ("timestamp_ms = 15000", 12),
        ("timestamp_ms BETWEEN 15000 AND 45000", 36),
        ("timestamp_ms > 100 AND timestamp_ms < 50", 0),
        ("metric = 'cpu' OR labels['job'] = 'db'", 160 + 80),
    ];
    for (filter, expected) in cases {
        let text = format!("SELECT count(*) FROM samples WHERE {filter}");
        assert_eq!(count(&store, &text).await, expected, "{filter}");
    }
    let windows = [
        ("window = '5m'", 12),
        ("window IN ('1m', '15m') AND metric = 'disk'", 8),
        ("window = '2m'", 0),
        ("labels['job'] = 'queue'", 9),
    ];
    for (filter, expected) in windows {
        let text = format!("SELECT count(*) FROM windows WHERE {filter}");
        assert_eq!(count(&store, &text).await, expected, "{filter}");
    }
}

#[tokio::test]
async fn projections_and_limits_come_back_whole() {
    let store = fixture();
    let answer = query(
        Arc::clone(&store),
        "SELECT timestamp_ms, series FROM samples WHERE metric = 'disk' AND labels['job'] = 'db' \
         ORDER BY timestamp_ms DESC LIMIT 2",
        SqlLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(answer.columns, ["timestamp_ms", "series"]);
    assert_eq!(ints(&answer.batches), [585_000, 570_000]);
    let limited = query(
        Arc::clone(&store),
        "SELECT value FROM samples LIMIT 7",
        SqlLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        limited
            .batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_fails_with_its_name() {
    let store = fixture();
    let rows = SqlLimits {
        max_result_rows: 100,
        ..SqlLimits::default()
    };
    let error = query(Arc::clone(&store), "SELECT * FROM samples", rows)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SqlError::TooManyRows { limit: 100 }),
        "{error}"
    );
    assert!(
        error.to_string().contains("[sql] max_result_rows = 100"),
        "{error}"
    );
    // Within the cap, the same limits answer.
    assert_eq!(
        query(Arc::clone(&store), "SELECT * FROM samples LIMIT 100", rows)
            .await
            .unwrap()
            .batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        100
    );

    let memory = SqlLimits {
        memory_limit_bytes: 4 * 1024,
        ..SqlLimits::default()
    };
    let error = query(
        Arc::clone(&store),
        "SELECT series, value FROM samples ORDER BY value",
        memory,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, SqlError::MemoryLimit { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("[sql] memory_limit_bytes = 4096"),
        "{error}"
    );

    let hurried = SqlLimits {
        timeout: Duration::from_millis(200),
        ..SqlLimits::default()
    };
    let started = std::time::Instant::now();
    let error = query(
        Arc::clone(&store),
        "SELECT count(*) FROM samples a, samples b, samples c",
        hurried,
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(error, SqlError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("[sql] timeout = 0.2s"),
        "{error}"
    );
}
