//! Arrow export and SQL over the `windows` and `samples` tables.

use crate::support::{append, query, s, store};
use datafusion::arrow::array::{Array, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::record_batch::RecordBatch;
use model::MetricType;
use std::sync::Arc;

fn fixture() -> Arc<windows::Store> {
    let store = store(0, 3_600_000);
    let series = [
        ("cpu", "api"),
        ("cpu", "web"),
        ("mem", "api"),
        ("disk", "db"),
    ];
    for k in 0..40i64 {
        for (i, (name, job)) in series.iter().enumerate() {
            let instance = format!("host{i}");
            let labels = [
                ("__name__", *name),
                ("instance", instance.as_str()),
                ("job", *job),
            ];
            let sample = s(k * 15_000, (i as i64 * 100 + k) as f64);
            append(&store, &labels, &[sample], MetricType::Gauge);
        }
    }
    Arc::new(store)
}

async fn sql(store: &Arc<windows::Store>, text: &str) -> Vec<RecordBatch> {
    let context = windows::sql::context(Arc::clone(store));
    context.sql(text).await.unwrap().collect().await.unwrap()
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column(column)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..array.len()).map(move |i| array.value(i).to_owned())
        })
        .collect()
}

fn floats(batches: &[RecordBatch], column: usize) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column(column)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone();
            (0..array.len()).map(move |i| array.value(i))
        })
        .collect()
}

#[test]
fn record_batch_has_a_row_per_series_and_every_aggregate() {
    let store = fixture();
    let batch = store.record_batch(&query(&["cpu"], "5m", None)).unwrap();
    assert_eq!(batch.num_rows(), 2);
    let schema = batch.schema();
    for column in [
        "metric", "labels", "window", "at_ms", "count", "p99", "slope", "rate",
    ] {
        assert!(schema.index_of(column).is_ok(), "{column}");
    }
    let count = batch
        .column(schema.index_of("count").unwrap())
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(count.value(0), 20);
    let rate = batch.column(schema.index_of("rate").unwrap());
    assert_eq!(rate.null_count(), 2, "gauges have no rate");
}

#[tokio::test]
async fn sql_ranks_windows_and_indexes_labels() {
    let store = fixture();
    let top = sql(
        &store,
        "SELECT metric, avg FROM windows WHERE window='5m' ORDER BY avg DESC LIMIT 3",
    )
    .await;
    assert_eq!(strings(&top, 0), ["disk", "mem", "cpu"]);
    let avgs = floats(&top, 1);
    // disk: values 300..339, the last 5 minutes are the last 20 of them.
    assert_eq!(avgs[0], (320..340).sum::<i32>() as f64 / 20.0);

    let by_job = sql(
        &store,
        "SELECT labels['job'] AS job, CAST(sum(count) AS DOUBLE) AS n FROM windows \
         WHERE window = '1m' GROUP BY labels['job'] ORDER BY job",
    )
    .await;
    assert_eq!(strings(&by_job, 0), ["api", "db", "web"]);
    assert_eq!(floats(&by_job, 1), [8.0, 4.0, 4.0]);

    let windows = sql(
        &store,
        "SELECT DISTINCT window FROM windows ORDER BY window",
    )
    .await;
    assert_eq!(strings(&windows, 0), ["15m", "1m", "5m"]);
}

#[tokio::test]
async fn sql_sees_samples_as_they_arrive() {
    let store = fixture();
    let context = windows::sql::context(Arc::clone(&store));
    let count = |batches: Vec<RecordBatch>| floats(&batches, 0)[0];
    let query = "SELECT CAST(count(*) AS DOUBLE) FROM samples WHERE labels['job'] = 'api'";
    let before = count(context.sql(query).await.unwrap().collect().await.unwrap());
    assert_eq!(before, 80.0);
    append(
        &store,
        &[("__name__", "cpu"), ("instance", "host9"), ("job", "api")],
        &[s(600_000, 1.0)],
        MetricType::Gauge,
    );
    let after = count(context.sql(query).await.unwrap().collect().await.unwrap());
    assert_eq!(after, 81.0);
}
