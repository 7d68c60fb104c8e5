//! Parquet tables for notebooks: a recording's samples and an evaluation's per-series results,
//! written with arrow's own `parquet` crate on the arrow that datafusion already brings.
//!
//! Both are long tables (one row per sample) whose `labels` column holds the series' labels in
//! Prometheus text (`{__name__="up", job="node"}`), so polars or pandas read them as they are.

use crate::scenarios::Scenario;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// Rows per record batch written.
const BATCH: usize = 65_536;

/// Writes columns as one Parquet file (snappy), in batches of [`BATCH`] rows.
fn write(path: &Path, schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(|e| e.to_string())?;
    let rows = columns.first().map_or(0, |c| c.len());
    let mut start = 0;
    while start < rows {
        let len = BATCH.min(rows - start);
        let slice: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, len)).collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), slice).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        start += len;
    }
    writer.close().map_err(|e| e.to_string())?;
    Ok(())
}

/// `samples.parquet`: `metric`, `labels`, `timestamp_ms`, `value`, one row per sample.
pub fn write_samples(scenario: &Scenario, path: &Path) -> Result<(), String> {
    let mut metric = Vec::new();
    let mut labels = Vec::new();
    let mut ts = Vec::new();
    let mut value = Vec::new();
    for s in &scenario.series {
        let text = s.labels.to_string();
        for &(t, v) in &s.samples {
            metric.push(s.labels.metric_name().to_owned());
            labels.push(text.clone());
            ts.push(t);
            value.push(v);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("labels", DataType::Utf8, false),
        Field::new("timestamp_ms", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]));
    write(
        path,
        schema,
        vec![
            Arc::new(StringArray::from(metric)),
            Arc::new(StringArray::from(labels)),
            Arc::new(Int64Array::from(ts)),
            Arc::new(Float64Array::from(value)),
        ],
    )
}

/// Per-series, per-sample results of a recording's evaluation.
#[derive(Debug, Default)]
pub struct ResultsTable {
    metric: Vec<String>,
    labels: Vec<String>,
    ts: Vec<i64>,
    value: Vec<f64>,
    labelled: Vec<bool>,
    incident: Vec<Option<String>>,
}

impl ResultsTable {
    /// One sample: whether a label covers it, and the type of the incident open on its
    /// target then, if any.
    pub fn push(
        &mut self,
        metric: &str,
        labels: &str,
        timestamp_ms: i64,
        value: f64,
        labelled: bool,
        incident: Option<&str>,
    ) {
        self.metric.push(metric.to_owned());
        self.labels.push(labels.to_owned());
        self.ts.push(timestamp_ms);
        self.value.push(value);
        self.labelled.push(labelled);
        self.incident.push(incident.map(str::to_owned));
    }

    /// `results.parquet`: `metric`, `labels`, `timestamp_ms`, `value`, `labelled`, `incident`.
    pub fn write(self, path: &Path) -> Result<(), String> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("metric", DataType::Utf8, false),
            Field::new("labels", DataType::Utf8, false),
            Field::new("timestamp_ms", DataType::Int64, false),
            Field::new("value", DataType::Float64, false),
            Field::new("labelled", DataType::Boolean, false),
            Field::new("incident", DataType::Utf8, true),
        ]));
        write(
            path,
            schema,
            vec![
                Arc::new(StringArray::from(self.metric)),
                Arc::new(StringArray::from(self.labels)),
                Arc::new(Int64Array::from(self.ts)),
                Arc::new(Float64Array::from(self.value)),
                Arc::new(BooleanArray::from(self.labelled)),
                Arc::new(StringArray::from(self.incident)),
            ],
        )
    }
}

/// Rows of a Parquet file (for checks).
pub fn row_count(path: &Path) -> Result<i64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader =
        parquet::file::reader::SerializedFileReader::new(file).map_err(|e| e.to_string())?;
    Ok(parquet::file::reader::FileReader::metadata(&reader)
        .file_metadata()
        .num_rows())
}
