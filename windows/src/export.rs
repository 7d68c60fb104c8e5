//! Arrow export: window answers and stored samples as `RecordBatch`es, with `labels` as a
//! `Map<Utf8, Utf8>` column (without `__name__`, which is the `metric` column).

use crate::aggregate::{Aggregates, WindowResult};
use crate::selector::Selector;
use crate::{Store, WindowError, WindowQuery};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Builder, Int64Builder, MapBuilder, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use model::LabelSet;
use std::sync::Arc;

/// The float aggregate columns, in order.
const FLOAT_COLUMNS: [&str; 12] = [
    "min", "max", "avg", "sum", "last", "stddev", "p50", "p95", "p99", "slope", "rate", "increase",
];

fn floats(a: &Aggregates) -> [Option<f64>; 12] {
    [
        a.min, a.max, a.avg, a.sum, a.last, a.stddev, a.p50, a.p95, a.p99, a.slope, a.rate,
        a.increase,
    ]
}

fn labels_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn labels_type() -> DataType {
    labels_builder().finish().data_type().clone()
}

fn push_labels(
    builder: &mut MapBuilder<StringBuilder, StringBuilder>,
    labels: &LabelSet,
    table: &'static str,
) -> Result<(), WindowError> {
    for (name, value) in labels.iter().filter(|(n, _)| *n != model::METRIC_NAME) {
        builder.keys().append_value(name);
        builder.values().append_value(value);
    }
    builder
        .append(true)
        .map_err(|source| WindowError::Arrow { table, source })
}

/// Schema of window batches and of the SQL `windows` table.
pub(crate) fn windows_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("series", DataType::Utf8, false),
        Field::new("labels", labels_type(), false),
        Field::new("window", DataType::Utf8, false),
        Field::new("at_ms", DataType::Int64, false),
        Field::new("count", DataType::UInt64, false),
    ];
    fields.extend(
        FLOAT_COLUMNS
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, true)),
    );
    Arc::new(Schema::new(fields))
}

/// Schema of the SQL `samples` table.
pub(crate) fn samples_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("series", DataType::Utf8, false),
        Field::new("labels", labels_type(), false),
        Field::new("timestamp_ms", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]))
}

/// Rows of window answers (one per series or group) as one batch; NaN and ±inf become null.
pub(crate) fn windows_batch(results: &[WindowResult]) -> Result<RecordBatch, WindowError> {
    const TABLE: &str = "windows";
    let mut metric = StringBuilder::new();
    let mut series = StringBuilder::new();
    let mut labels = labels_builder();
    let mut window = StringBuilder::new();
    let mut at_ms = Int64Builder::new();
    let mut count = UInt64Builder::new();
    let mut columns: Vec<Float64Builder> = (0..FLOAT_COLUMNS.len())
        .map(|_| Float64Builder::new())
        .collect();
    for result in results {
        let Some(at) = result.at else { continue };
        for row in &result.series {
            metric.append_value(row.labels.metric_name());
            series.append_value(row.labels.to_string());
            push_labels(&mut labels, &row.labels, TABLE)?;
            window.append_value(&result.window);
            at_ms.append_value(at);
            count.append_value(row.aggregates.count as u64);
            for (builder, value) in columns.iter_mut().zip(floats(&row.aggregates)) {
                builder.append_option(value.filter(|v| v.is_finite()));
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(metric.finish()),
        Arc::new(series.finish()),
        Arc::new(labels.finish()),
        Arc::new(window.finish()),
        Arc::new(at_ms.finish()),
        Arc::new(count.finish()),
    ];
    arrays.extend(columns.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    RecordBatch::try_new(windows_schema(), arrays).map_err(|source| WindowError::Arrow {
        table: TABLE,
        source,
    })
}

/// Every stored sample of the selected series in `(start_ms, end_ms]`.
pub(crate) fn samples_batch(
    store: &Store,
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
) -> Result<RecordBatch, WindowError> {
    const TABLE: &str = "samples";
    let mut metric = StringBuilder::new();
    let mut series = StringBuilder::new();
    let mut labels = labels_builder();
    let mut ts = Int64Builder::new();
    let mut value = Float64Builder::new();
    for (set, samples) in store.samples(selector, start_ms, end_ms) {
        let text = set.to_string();
        for sample in samples {
            metric.append_value(set.metric_name());
            series.append_value(&text);
            push_labels(&mut labels, &set, TABLE)?;
            ts.append_value(sample.timestamp_ms);
            value.append_value(sample.value);
        }
    }
    RecordBatch::try_new(
        samples_schema(),
        vec![
            Arc::new(metric.finish()),
            Arc::new(series.finish()),
            Arc::new(labels.finish()),
            Arc::new(ts.finish()),
            Arc::new(value.finish()),
        ],
    )
    .map_err(|source| WindowError::Arrow {
        table: TABLE,
        source,
    })
}

impl Store {
    /// A window query's answer as an Arrow batch with the columns of the SQL `windows` table.
    pub fn record_batch(&self, query: &WindowQuery) -> Result<RecordBatch, WindowError> {
        windows_batch(&[self.window(query)])
    }
}
