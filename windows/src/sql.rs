//! SQL over the windows with DataFusion: a `windows` table (one row per series and window —
//! 1m, 5m, 15m — at the watermark, every aggregate a column) and a `samples` table.
//! `labels` is a map column, so `labels['job']` selects a label's value.

use crate::aggregate::{Aggregates, WindowSpan};
use crate::{Store, WindowError};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, MapBuilder, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use model::LabelSet;
use std::sync::Arc;

fn labels_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn push_labels(
    builder: &mut MapBuilder<StringBuilder, StringBuilder>,
    labels: &LabelSet,
) -> Result<(), WindowError> {
    for (name, value) in labels.iter().filter(|(n, _)| *n != model::METRIC_NAME) {
        builder.keys().append_value(name);
        builder.values().append_value(value);
    }
    builder
        .append(true)
        .map_err(|source| WindowError::Arrow { source })
}

/// The `windows` table: every series at the watermark over 1m, 5m and 15m.
pub fn windows_batch(store: &Store) -> Result<RecordBatch, WindowError> {
    let at = store.watermark_ms();
    let mut metric = StringBuilder::new();
    let mut series = StringBuilder::new();
    let mut labels = labels_builder();
    let mut window = StringBuilder::new();
    let mut at_ms = Int64Builder::new();
    let mut count = UInt64Builder::new();
    let mut floats: Vec<Float64Builder> = (0..12).map(|_| Float64Builder::new()).collect();
    let all = crate::Selector::parse("{__name__=~\".+\"}")?;
    for span in [
        WindowSpan::ONE_MINUTE,
        WindowSpan::FIVE_MINUTES,
        WindowSpan::FIFTEEN_MINUTES,
    ] {
        let Some(end) = at else { break };
        let result = store.window(&crate::WindowQuery {
            selectors: vec![all.clone()],
            window: span,
            at_ms: Some(end),
            by: None,
        });
        for row in result.series {
            metric.append_value(row.labels.metric_name());
            series.append_value(row.labels.to_string());
            push_labels(&mut labels, &row.labels)?;
            window.append_value(span.label());
            at_ms.append_value(end);
            let a: &Aggregates = &row.aggregates;
            count.append_value(a.count as u64);
            let values = [
                a.min, a.max, a.avg, a.sum, a.last, a.stddev, a.p50, a.p95, a.p99, a.slope, a.rate,
                a.increase,
            ];
            for (builder, value) in floats.iter_mut().zip(values) {
                builder.append_option(value.filter(|v| v.is_finite()));
            }
        }
    }
    let names = [
        "min", "max", "avg", "sum", "last", "stddev", "p50", "p95", "p99", "slope", "rate",
        "increase",
    ];
    let labels_array: ArrayRef = Arc::new(labels.finish());
    let mut fields = vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("series", DataType::Utf8, false),
        Field::new("labels", labels_array.data_type().clone(), true),
        Field::new("window", DataType::Utf8, false),
        Field::new("at_ms", DataType::Int64, false),
        Field::new("count", DataType::UInt64, false),
    ];
    fields.extend(names.iter().map(|n| Field::new(*n, DataType::Float64, true)));
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(metric.finish()),
        Arc::new(series.finish()),
        labels_array,
        Arc::new(window.finish()),
        Arc::new(at_ms.finish()),
        Arc::new(count.finish()),
    ];
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|source| WindowError::Arrow { source })
}

/// The `samples` table: every stored sample.
pub fn samples_batch(store: &Store) -> Result<RecordBatch, WindowError> {
    let mut metric = StringBuilder::new();
    let mut series = StringBuilder::new();
    let mut labels = labels_builder();
    let mut ts = Int64Builder::new();
    let mut value = Float64Builder::new();
    let all = crate::Selector::parse("{__name__=~\".+\"}")?;
    for (set, samples) in store.samples(&all, i64::MIN, i64::MAX) {
        let text = set.to_string();
        for sample in samples {
            metric.append_value(set.metric_name());
            series.append_value(&text);
            push_labels(&mut labels, &set)?;
            ts.append_value(sample.timestamp_ms);
            value.append_value(sample.value);
        }
    }
    let labels_array: ArrayRef = Arc::new(labels.finish());
    let schema = Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("series", DataType::Utf8, false),
        Field::new("labels", labels_array.data_type().clone(), true),
        Field::new("timestamp_ms", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(metric.finish()),
            Arc::new(series.finish()),
            labels_array,
            Arc::new(ts.finish()),
            Arc::new(value.finish()),
        ],
    )
    .map_err(|source| WindowError::Arrow { source })
}

/// A DataFusion context with `windows` and `samples` registered, as of now.
pub fn context(store: Arc<Store>) -> Result<SessionContext, WindowError> {
    let context = SessionContext::new();
    for (name, batch) in [
        ("windows", windows_batch(&store)?),
        ("samples", samples_batch(&store)?),
    ] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(|e| {
            WindowError::Arrow {
                source: datafusion::arrow::error::ArrowError::ExternalError(Box::new(e)),
            }
        })?;
        context
            .register_table(name, Arc::new(table))
            .map_err(|e| WindowError::Arrow {
                source: datafusion::arrow::error::ArrowError::ExternalError(Box::new(e)),
            })?;
    }
    Ok(context)
}
