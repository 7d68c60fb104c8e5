//! Arrow export: window answers and stored samples as `RecordBatch`es, with `labels` as a
//! `Map<Utf8, Utf8>` column (without `__name__`, which is the `metric` column).

use crate::aggregate::{Aggregates, WindowResult, WindowRow};
use crate::{Store, WindowError, WindowQuery};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Builder, Int64Builder, MapBuilder, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use model::{LabelSet, Sample};
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
    fields.push(Field::new("source", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Index of the `windows` table's `source` column.
const WINDOWS_SOURCE: usize = 6 + FLOAT_COLUMNS.len();

/// Schema of the SQL `samples` table.
pub(crate) fn samples_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("series", DataType::Utf8, false),
        Field::new("labels", labels_type(), false),
        Field::new("timestamp_ms", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// Builders for the projected columns of `samples` rows (`columns` index the full schema).
#[derive(Debug)]
pub(crate) struct SampleColumns {
    metric: Option<StringBuilder>,
    series: Option<StringBuilder>,
    labels: Option<MapBuilder<StringBuilder, StringBuilder>>,
    ts: Option<Int64Builder>,
    value: Option<Float64Builder>,
    source: Option<StringBuilder>,
    columns: Vec<usize>,
    rows: usize,
}

impl SampleColumns {
    pub(crate) fn new(columns: &[usize]) -> Self {
        let has = |i: usize| columns.contains(&i);
        Self {
            metric: has(0).then(StringBuilder::new),
            series: has(1).then(StringBuilder::new),
            labels: has(2).then(labels_builder),
            ts: has(3).then(Int64Builder::new),
            value: has(4).then(Float64Builder::new),
            source: has(5).then(StringBuilder::new),
            columns: columns.to_vec(),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Rows for some samples of one series of `source`.
    pub(crate) fn push(
        &mut self,
        set: &LabelSet,
        samples: &[Sample],
        source: &str,
    ) -> Result<(), WindowError> {
        if let Some(b) = &mut self.metric {
            let name = set.metric_name();
            samples.iter().for_each(|_| b.append_value(name));
        }
        if let Some(b) = &mut self.series {
            let text = set.to_string();
            samples.iter().for_each(|_| b.append_value(&text));
        }
        if let Some(b) = &mut self.labels {
            for _ in samples {
                push_labels(b, set, "samples")?;
            }
        }
        if let Some(b) = &mut self.ts {
            samples.iter().for_each(|s| b.append_value(s.timestamp_ms));
        }
        if let Some(b) = &mut self.value {
            samples.iter().for_each(|s| b.append_value(s.value));
        }
        if let Some(b) = &mut self.source {
            samples.iter().for_each(|_| b.append_value(source));
        }
        self.rows += samples.len();
        Ok(())
    }

    /// The rows so far as a batch of `schema` (the projected schema); the builders restart.
    pub(crate) fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, WindowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let array: Option<ArrayRef> = match column {
                0 => self
                    .metric
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                1 => self
                    .series
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                2 => self
                    .labels
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                3 => self.ts.as_mut().map(|b| Arc::new(b.finish()) as ArrayRef),
                4 => self
                    .value
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                5 => self
                    .source
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                _ => None,
            };
            arrays.extend(array);
        }
        let rows = std::mem::take(&mut self.rows);
        batch(schema, arrays, rows, "samples")
    }
}

fn batch(
    schema: &SchemaRef,
    arrays: Vec<ArrayRef>,
    rows: usize,
    table: &'static str,
) -> Result<RecordBatch, WindowError> {
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|source| WindowError::Arrow { table, source })
}

/// Builders for the projected columns of `windows` rows (`columns` index the full schema).
#[derive(Debug)]
pub(crate) struct WindowColumns {
    metric: Option<StringBuilder>,
    series: Option<StringBuilder>,
    labels: Option<MapBuilder<StringBuilder, StringBuilder>>,
    window: Option<StringBuilder>,
    at_ms: Option<Int64Builder>,
    count: Option<UInt64Builder>,
    floats: Vec<Option<Float64Builder>>,
    source: Option<StringBuilder>,
    columns: Vec<usize>,
    rows: usize,
}

impl WindowColumns {
    pub(crate) fn new(columns: &[usize]) -> Self {
        let has = |i: usize| columns.contains(&i);
        Self {
            metric: has(0).then(StringBuilder::new),
            series: has(1).then(StringBuilder::new),
            labels: has(2).then(labels_builder),
            window: has(3).then(StringBuilder::new),
            at_ms: has(4).then(Int64Builder::new),
            count: has(5).then(UInt64Builder::new),
            floats: (0..FLOAT_COLUMNS.len())
                .map(|i| has(6 + i).then(Float64Builder::new))
                .collect(),
            source: has(WINDOWS_SOURCE).then(StringBuilder::new),
            columns: columns.to_vec(),
            rows: 0,
        }
    }

    /// One row of `source` (unless the row names its own); NaN and ±inf become null.
    pub(crate) fn push(
        &mut self,
        row: &WindowRow,
        window: &str,
        at: i64,
        source: &str,
    ) -> Result<(), WindowError> {
        if let Some(b) = &mut self.metric {
            b.append_value(row.labels.metric_name());
        }
        if let Some(b) = &mut self.series {
            b.append_value(row.labels.to_string());
        }
        if let Some(b) = &mut self.labels {
            push_labels(b, &row.labels, "windows")?;
        }
        if let Some(b) = &mut self.window {
            b.append_value(window);
        }
        if let Some(b) = &mut self.at_ms {
            b.append_value(at);
        }
        if let Some(b) = &mut self.count {
            b.append_value(row.aggregates.count as u64);
        }
        for (builder, value) in self.floats.iter_mut().zip(floats(&row.aggregates)) {
            if let Some(b) = builder {
                b.append_option(value.filter(|v| v.is_finite()));
            }
        }
        if let Some(b) = &mut self.source {
            b.append_value(row.source.as_deref().unwrap_or(source));
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a batch of `schema` (the projected schema); the builders restart.
    pub(crate) fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, WindowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for &column in &self.columns {
            let array: Option<ArrayRef> = match column {
                0 => self
                    .metric
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                1 => self
                    .series
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                2 => self
                    .labels
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                3 => self
                    .window
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                4 => self
                    .at_ms
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                5 => self
                    .count
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                WINDOWS_SOURCE => self
                    .source
                    .as_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
                n => self
                    .floats
                    .get_mut(n - 6)
                    .and_then(Option::as_mut)
                    .map(|b| Arc::new(b.finish()) as ArrayRef),
            };
            arrays.extend(array);
        }
        let rows = std::mem::take(&mut self.rows);
        batch(schema, arrays, rows, "windows")
    }
}

/// Rows of window answers (one per series or group) as one batch.
pub(crate) fn windows_batch(results: &[WindowResult]) -> Result<RecordBatch, WindowError> {
    let schema = windows_schema();
    let all: Vec<usize> = (0..schema.fields().len()).collect();
    let mut columns = WindowColumns::new(&all);
    for result in results {
        let Some(at) = result.at else { continue };
        for row in &result.series {
            columns.push(row, &result.window, at, model::DEFAULT_SOURCE)?;
        }
    }
    columns.finish(&schema)
}

impl Store {
    /// A window query's answer as an Arrow batch with the columns of the SQL `windows` table.
    pub fn record_batch(&self, query: &WindowQuery) -> Result<RecordBatch, WindowError> {
        windows_batch(&[self.window(query)])
    }
}
