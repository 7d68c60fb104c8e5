//! SQL over the store with DataFusion: a `windows` table (one row per series and window —
//! 1m, 5m, 15m — at the watermark, every aggregate a column) and a `samples` table.
//!
//! Both tables read the store when a query scans them, so one context stays current.
//! `labels` is a `Map<Utf8, Utf8>` column: `labels['job']` is a label's value.

use crate::aggregate::WindowSpan;
use crate::export::{samples_batch, samples_schema, windows_batch, windows_schema};
use crate::selector::{MatchOp, Matcher, Selector};
use crate::{Store, WindowError, WindowQuery};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The windows the `windows` table shows.
pub const SQL_WINDOWS: [WindowSpan; 3] = [
    WindowSpan::ONE_MINUTE,
    WindowSpan::FIVE_MINUTES,
    WindowSpan::FIFTEEN_MINUTES,
];

/// A selector matching every series.
fn everything() -> Selector {
    Selector::from_matchers(vec![Matcher::new(
        model::METRIC_NAME,
        MatchOp::NotEqual,
        "",
    )])
}

/// The `windows` table's rows as of now: every series at the watermark over 1m, 5m and 15m.
pub fn windows_table(store: &Store) -> Result<RecordBatch, WindowError> {
    let results: Vec<_> = SQL_WINDOWS
        .iter()
        .map(|span| {
            store.window(&WindowQuery {
                selectors: vec![everything()],
                window: *span,
                at_ms: None,
                by: None,
            })
        })
        .collect();
    windows_batch(&results)
}

/// The `samples` table's rows as of now: every stored sample.
pub fn samples_table(store: &Store) -> Result<RecordBatch, WindowError> {
    samples_batch(store, &everything(), i64::MIN, i64::MAX)
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Windows,
    Samples,
}

/// A table computed from the store at each scan.
#[derive(Debug)]
struct LiveTable {
    store: Arc<Store>,
    table: Table,
    schema: SchemaRef,
}

impl LiveTable {
    fn batch(&self) -> Result<RecordBatch, WindowError> {
        match self.table {
            Table::Windows => windows_table(&self.store),
            Table::Samples => samples_table(&self.store),
        }
    }
}

type PlanFuture<'a> =
    Pin<Box<dyn Future<Output = datafusion::error::Result<Arc<dyn ExecutionPlan>>> + Send + 'a>>;

impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    // The trait is declared with `async_trait`; this is the signature it expands to.
    fn scan<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        state: &'life1 dyn Session,
        projection: Option<&'life2 Vec<usize>>,
        filters: &'life3 [Expr],
        limit: Option<usize>,
    ) -> PlanFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let batch = self
                .batch()
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let table = MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?;
            table.scan(state, projection, filters, limit).await
        })
    }
}

/// A DataFusion context with the `windows` and `samples` tables registered.
pub fn context(store: Arc<Store>) -> SessionContext {
    let context = SessionContext::new();
    for (name, table, schema) in [
        ("windows", Table::Windows, windows_schema()),
        ("samples", Table::Samples, samples_schema()),
    ] {
        let provider = LiveTable {
            store: Arc::clone(&store),
            table,
            schema,
        };
        // Registering in a fresh context under a new name cannot clash.
        let _previous = context.register_table(name, Arc::new(provider));
    }
    context
}
