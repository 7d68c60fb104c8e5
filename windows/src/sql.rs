//! Read-only SQL over the store with DataFusion: a `windows` table (one row per series and
//! window — 1m, 5m, 15m — at the watermark, every aggregate a column) and a `samples` table.
//!
//! Only queries run: DDL, DML (`COPY`, `INSERT`, `CREATE`) and statements (`SET`) are refused
//! before anything executes. Both tables stream from the store one part at a time, with the
//! projection, the time range and the metric and label filters pushed into the store, so a
//! selective query reads only the series it names; a memory pool, a result cap and a timeout
//! bound every query. `labels` is a `Map<Utf8, Utf8>` column: `labels['job']` is a value.
//! Both tables span every source, each row naming its own in the `source` column
//! (`WHERE source = 'x'` reads only that source's store); `windows` rows are at each source's
//! own watermark.

use crate::aggregate::{WindowRow, WindowSpan};
use crate::export::{SampleColumns, WindowColumns, samples_schema, windows_schema};
use crate::selector::{MatchOp, Matcher, Selector};
use crate::{Store, WindowError};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use model::{Classify, ErrorClass, LabelSet, Sample};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The windows the `windows` table shows.
pub const SQL_WINDOWS: [WindowSpan; 3] = [
    WindowSpan::ONE_MINUTE,
    WindowSpan::FIVE_MINUTES,
    WindowSpan::FIFTEEN_MINUTES,
];

/// What one SQL query may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Bytes the query's operators (and its result) may hold at once.
    pub memory_limit_bytes: usize,
    /// Rows a result may have.
    pub max_result_rows: usize,
    /// Wall time a query may run.
    pub timeout: Duration,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            memory_limit_bytes: 256 * 1024 * 1024,
            max_result_rows: 100_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a SQL query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("only SELECT queries are allowed (the SQL surface is read-only)")]
    NotAQuery {
        #[source]
        source: DataFusionError,
    },
    #[error("SQL")]
    Query {
        #[source]
        source: DataFusionError,
    },
    #[error(
        "the query needs more memory than [sql] memory_limit_bytes = {limit} allows; \
         narrow it with a metric, label or time filter"
    )]
    MemoryLimit {
        limit: usize,
        #[source]
        source: DataFusionError,
    },
    #[error(
        "the result has more than [sql] max_result_rows = {limit} rows; add a LIMIT or aggregate"
    )]
    TooManyRows { limit: usize },
    #[error("the query ran longer than [sql] timeout = {}s", timeout.as_secs_f64())]
    Timeout { timeout: Duration },
    #[error("the query task failed")]
    Task {
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Classify for SqlError {
    fn class(&self) -> ErrorClass {
        match self {
            SqlError::Task { .. } => ErrorClass::Internal,
            SqlError::NotAQuery { .. }
            | SqlError::Query { .. }
            | SqlError::MemoryLimit { .. }
            | SqlError::TooManyRows { .. }
            | SqlError::Timeout { .. } => ErrorClass::InvalidInput,
        }
    }
}

/// A query's answer: column names and the result batches.
#[derive(Debug)]
pub struct SqlAnswer {
    pub columns: Vec<String>,
    pub batches: Vec<RecordBatch>,
}

/// Only queries: no DDL, no DML (`COPY`, `INSERT`), no statements (`SET`).
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Runs read-only queries on threads of its own: a query that keeps its threads busy cannot
/// stop the caller's runtime from answering, or its timeout from firing.
#[derive(Debug)]
pub struct SqlEngine {
    /// `None` if no thread could be started: queries then run on the caller's runtime.
    runtime: Option<tokio::runtime::Runtime>,
}

static SHARED: std::sync::OnceLock<SqlEngine> = std::sync::OnceLock::new();

impl SqlEngine {
    /// The process's engine, with a query thread per core, started on first use.
    pub fn shared() -> &'static SqlEngine {
        SHARED.get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, usize::from);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("srebot-sql")
                .enable_time()
                .build()
                .ok();
            SqlEngine { runtime }
        })
    }

    /// Runs one read-only query over one store (as the default source).
    pub async fn query(
        &self,
        store: Arc<Store>,
        text: &str,
        limits: SqlLimits,
    ) -> Result<SqlAnswer, SqlError> {
        self.query_sources(one_source(store), text, limits).await
    }

    /// Runs one read-only query over the stores of every source given (name, store). On
    /// timeout the caller is answered at once and the query is cancelled where it next yields.
    pub async fn query_sources(
        &self,
        sources: Vec<(String, Arc<Store>)>,
        text: &str,
        limits: SqlLimits,
    ) -> Result<SqlAnswer, SqlError> {
        let context = context_with(sources, &limits)?;
        let plan = context
            .state()
            .create_logical_plan(text)
            .await
            .map_err(|source| classify(source, &limits))?;
        read_only()
            .verify_plan(&plan)
            .map_err(|source| SqlError::NotAQuery { source })?;
        let frame = context
            .execute_logical_plan(plan)
            .await
            .map_err(|source| classify(source, &limits))?;
        let columns: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let pool = Arc::clone(&context.runtime_env().memory_pool);
        let run = async move {
            let mut stream = frame
                .execute_stream()
                .await
                .map_err(|source| classify(source, &limits))?;
            let reservation = MemoryConsumer::new("sql result").register(&pool);
            let mut batches = Vec::new();
            let mut rows = 0usize;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|source| classify(source, &limits))?;
                rows += batch.num_rows();
                if rows > limits.max_result_rows {
                    return Err(SqlError::TooManyRows {
                        limit: limits.max_result_rows,
                    });
                }
                reservation
                    .try_grow(batch.get_array_memory_size())
                    .map_err(|source| classify(source, &limits))?;
                batches.push(batch);
            }
            Ok(batches)
        };
        let task = match &self.runtime {
            Some(runtime) => runtime.spawn(run),
            None => tokio::spawn(run),
        };
        let abort = task.abort_handle();
        match tokio::time::timeout(limits.timeout, task).await {
            Err(_elapsed) => {
                abort.abort();
                Err(SqlError::Timeout {
                    timeout: limits.timeout,
                })
            }
            Ok(Err(source)) => Err(SqlError::Task { source }),
            Ok(Ok(batches)) => Ok(SqlAnswer {
                columns,
                batches: batches?,
            }),
        }
    }
}

/// A memory pool refusal names the limit; anything else is the query's own error.
fn classify(source: DataFusionError, limits: &SqlLimits) -> SqlError {
    if matches!(source.find_root(), DataFusionError::ResourcesExhausted(_)) {
        SqlError::MemoryLimit {
            limit: limits.memory_limit_bytes,
            source,
        }
    } else {
        SqlError::Query { source }
    }
}

fn one_source(store: Arc<Store>) -> Vec<(String, Arc<Store>)> {
    vec![(model::DEFAULT_SOURCE.to_owned(), store)]
}

/// A DataFusion context with the `windows` and `samples` tables over one store (as the
/// default source) and unbounded memory.
pub fn context(store: Arc<Store>) -> SessionContext {
    let context = SessionContext::new();
    register(&context, one_source(store));
    context
}

/// A DataFusion context with the `windows` and `samples` tables over every source given and a
/// memory pool of `limits.memory_limit_bytes`.
pub fn context_with(
    sources: Vec<(String, Arc<Store>)>,
    limits: &SqlLimits,
) -> Result<SessionContext, SqlError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_limit_bytes, 1.0)
        .build_arc()
        .map_err(|source| SqlError::Query { source })?;
    let context = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
    register(&context, sources);
    Ok(context)
}

fn register(context: &SessionContext, sources: Vec<(String, Arc<Store>)>) {
    let sources: Arc<[(String, Arc<Store>)]> = sources.into();
    for (name, table, schema) in [
        ("windows", Table::Windows, windows_schema()),
        ("samples", Table::Samples, samples_schema()),
    ] {
        let provider = LiveTable {
            sources: Arc::clone(&sources),
            table,
            schema,
        };
        // Registering in a fresh context under a new name cannot clash.
        let _previous = context.register_table(name, Arc::new(provider));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Windows,
    Samples,
}

/// A table read from the stores at each scan.
#[derive(Debug)]
struct LiveTable {
    sources: Arc<[(String, Arc<Store>)]>,
    table: Table,
    schema: SchemaRef,
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

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: the store narrows what it reads and DataFusion still applies the filter.
        Ok(filters
            .iter()
            .map(|f| {
                let mut pushed = Pushdown::default();
                if pushed.absorb(f, self.table) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
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
            let mut pushed = Pushdown::default();
            for filter in filters {
                pushed.absorb(filter, self.table);
            }
            let columns: Vec<usize> = match projection {
                Some(p) => p.clone(),
                None => (0..self.schema.fields().len()).collect(),
            };
            let schema = Arc::new(self.schema.project(&columns)?);
            let stores: Vec<(String, Arc<Store>, Option<i64>)> = self
                .sources
                .iter()
                .filter(|(name, _)| pushed.sources.as_ref().is_none_or(|s| s.contains(name)))
                .map(|(name, store)| (name.clone(), Arc::clone(store), store.watermark_ms()))
                .collect();
            let scan = Arc::new(Scan {
                stores,
                table: self.table,
                schema: Arc::clone(&schema),
                columns,
                selector: pushed.selector(),
                start_ms: pushed.start_ms,
                end_ms: pushed.end_ms,
                spans: pushed.spans(),
                batch_size: state.config().batch_size().max(1),
            });
            let partitions = state
                .config()
                .target_partitions()
                .clamp(1, Store::PARTS.max(1));
            let streams: Vec<Arc<dyn PartitionStream>> = (0..partitions)
                .map(|index| {
                    Arc::new(ScanPartition {
                        scan: Arc::clone(&scan),
                        index,
                        of: partitions,
                    }) as Arc<dyn PartitionStream>
                })
                .collect();
            let exec = StreamingTableExec::try_new(schema, streams, None, [], false, limit)?;
            Ok(Arc::new(exec) as Arc<dyn ExecutionPlan>)
        })
    }
}

/// What the filters of a scan tell the store.
#[derive(Debug)]
struct Pushdown {
    matchers: Vec<Matcher>,
    /// `(start, end]` of `timestamp_ms`.
    start_ms: i64,
    end_ms: i64,
    /// `window` values, when some filter pins them.
    spans: Option<Vec<WindowSpan>>,
    /// `source` values, when some filter pins them.
    sources: Option<Vec<String>>,
}

impl Default for Pushdown {
    fn default() -> Self {
        Self {
            matchers: Vec::new(),
            start_ms: i64::MIN,
            end_ms: i64::MAX,
            spans: None,
            sources: None,
        }
    }
}

/// The label a column or `labels['name']` stands for.
fn label_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(c) if c.name == "metric" => Some(model::METRIC_NAME.to_owned()),
        Expr::ScalarFunction(f) if f.name() == "get_field" => match f.args.as_slice() {
            [Expr::Column(c), key] if c.name == "labels" => {
                let name = string_of(key)?;
                (name != model::METRIC_NAME).then_some(name)
            }
            _ => None,
        },
        _ => None,
    }
}

fn string_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

fn int_of(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Literal(value, _) => i64::try_from(value.clone()).ok(),
        _ => None,
    }
}

fn is_column(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == name)
}

impl Pushdown {
    /// Takes what the store can use from one conjunct; whether it could use any.
    fn absorb(&mut self, filter: &Expr, table: Table) -> bool {
        match filter {
            Expr::BinaryExpr(b) => {
                let (column, op, literal) =
                    if int_of(&b.right).is_some() || string_of(&b.right).is_some() {
                        (&*b.left, b.op, &*b.right)
                    } else {
                        match b.op.swap() {
                            Some(op) => (&*b.right, op, &*b.left),
                            None => return false,
                        }
                    };
                if let (Some(label), Some(value)) = (label_of(column), string_of(literal)) {
                    let op = match op {
                        Operator::Eq => MatchOp::Equal,
                        Operator::NotEq => MatchOp::NotEqual,
                        _ => return false,
                    };
                    self.matchers.push(Matcher::new(&label, op, &value));
                    return true;
                }
                if table == Table::Samples && is_column(column, "timestamp_ms") {
                    let Some(at) = int_of(literal) else {
                        return false;
                    };
                    return self.bound_time(op, at);
                }
                if is_column(column, "source") && op == Operator::Eq {
                    let Some(name) = string_of(literal) else {
                        return false;
                    };
                    return self.pin_sources(&[name]);
                }
                if table == Table::Windows && is_column(column, "window") && op == Operator::Eq {
                    let Some(text) = string_of(literal) else {
                        return false;
                    };
                    return self.pin_spans(&[text]);
                }
                false
            }
            Expr::Between(b) if !b.negated => match (int_of(&b.low), int_of(&b.high)) {
                (Some(low), Some(high))
                    if table == Table::Samples && is_column(&b.expr, "timestamp_ms") =>
                {
                    self.bound_time(Operator::GtEq, low) && self.bound_time(Operator::LtEq, high)
                }
                _ => false,
            },
            Expr::InList(list) if !list.negated => {
                let values: Option<Vec<String>> = list.list.iter().map(string_of).collect();
                let Some(values) = values else { return false };
                if table == Table::Windows && is_column(&list.expr, "window") {
                    return self.pin_spans(&values);
                }
                if is_column(&list.expr, "source") {
                    return self.pin_sources(&values);
                }
                let Some(label) = label_of(&list.expr) else {
                    return false;
                };
                let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
                self.matchers.push(Matcher::new(
                    &label,
                    MatchOp::Regex,
                    &alternatives.join("|"),
                ));
                true
            }
            _ => false,
        }
    }

    fn bound_time(&mut self, op: Operator, at: i64) -> bool {
        match op {
            Operator::Gt => self.start_ms = self.start_ms.max(at),
            Operator::GtEq => self.start_ms = self.start_ms.max(at.saturating_sub(1)),
            Operator::Lt => self.end_ms = self.end_ms.min(at.saturating_sub(1)),
            Operator::LtEq => self.end_ms = self.end_ms.min(at),
            Operator::Eq => {
                self.start_ms = self.start_ms.max(at.saturating_sub(1));
                self.end_ms = self.end_ms.min(at);
            }
            _ => return false,
        }
        true
    }

    fn pin_sources(&mut self, names: &[String]) -> bool {
        self.sources = Some(match self.sources.take() {
            None => names.to_vec(),
            Some(earlier) => earlier.into_iter().filter(|s| names.contains(s)).collect(),
        });
        true
    }

    fn pin_spans(&mut self, labels: &[String]) -> bool {
        let spans: Vec<WindowSpan> = SQL_WINDOWS
            .iter()
            .copied()
            .filter(|s| labels.iter().any(|l| *l == s.label()))
            .collect();
        self.spans = Some(match self.spans.take() {
            None => spans,
            Some(earlier) => earlier.into_iter().filter(|s| spans.contains(s)).collect(),
        });
        true
    }

    /// The matchers as one selector; every series when no filter named a label.
    fn selector(&self) -> Selector {
        if self.matchers.is_empty() {
            return Selector::from_matchers(vec![Matcher::new(
                model::METRIC_NAME,
                MatchOp::NotEqual,
                "",
            )]);
        }
        Selector::from_matchers(self.matchers.clone())
    }

    fn spans(&self) -> Vec<WindowSpan> {
        self.spans.clone().unwrap_or_else(|| SQL_WINDOWS.to_vec())
    }
}

/// One scan's plan: what to read and which columns to build.
#[derive(Debug)]
struct Scan {
    /// Each source read: its name, store and (for `windows`) its watermark when planned.
    stores: Vec<(String, Arc<Store>, Option<i64>)>,
    table: Table,
    schema: SchemaRef,
    columns: Vec<usize>,
    selector: Selector,
    start_ms: i64,
    end_ms: i64,
    spans: Vec<WindowSpan>,
    batch_size: usize,
}

/// Rough bytes a part's gathered rows hold, for the memory pool.
fn gathered_bytes(rows: &[(LabelSet, Vec<Sample>)]) -> usize {
    rows.iter()
        .map(|(labels, samples)| {
            samples.len() * std::mem::size_of::<Sample>()
                + labels
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 48)
                    .sum::<usize>()
        })
        .sum()
}

impl Scan {
    /// Parts across every source read: part `k` is part `k % Store::PARTS` of source
    /// `k / Store::PARTS`.
    fn parts(&self) -> usize {
        self.stores.len() * Store::PARTS
    }

    /// The batches of one part of one source's store.
    fn part(&self, part: usize, ctx: &TaskContext) -> Vec<datafusion::error::Result<RecordBatch>> {
        let Some((source, store, at_ms)) = self.stores.get(part / Store::PARTS) else {
            return Vec::new();
        };
        let part = part % Store::PARTS;
        let built = match self.table {
            Table::Samples => self.samples_part(store, source, part, ctx),
            Table::Windows => self.windows_part(store, source, *at_ms, part),
        };
        match built {
            Ok(batches) => batches.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        }
    }

    fn samples_part(
        &self,
        store: &Store,
        source: &str,
        part: usize,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        if self.start_ms >= self.end_ms {
            return Ok(Vec::new());
        }
        let rows = store.samples_in_part(&self.selector, self.start_ms, self.end_ms, part);
        let reservation = MemoryConsumer::new("samples scan").register(ctx.memory_pool());
        reservation.try_grow(gathered_bytes(&rows))?;
        let mut batches = Vec::new();
        let mut columns = SampleColumns::new(&self.columns);
        for (labels, samples) in &rows {
            let mut rest: &[Sample] = samples;
            while !rest.is_empty() {
                let room = self.batch_size - columns.len();
                let (now, later) = rest.split_at(room.min(rest.len()));
                columns.push(labels, now, source).map_err(external)?;
                rest = later;
                if columns.len() >= self.batch_size {
                    batches.push(columns.finish(&self.schema).map_err(external)?);
                }
            }
        }
        if columns.len() > 0 {
            batches.push(columns.finish(&self.schema).map_err(external)?);
        }
        Ok(batches)
    }

    fn windows_part(
        &self,
        store: &Store,
        source: &str,
        at_ms: Option<i64>,
        part: usize,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        let Some(at) = at_ms else {
            return Ok(Vec::new());
        };
        let mut batches = Vec::new();
        for span in &self.spans {
            let rows: Vec<WindowRow> =
                store.window_in_part(std::slice::from_ref(&self.selector), *span, at, part);
            for chunk in rows.chunks(self.batch_size) {
                let mut columns = WindowColumns::new(&self.columns);
                for row in chunk {
                    columns
                        .push(row, &span.label(), at, source)
                        .map_err(external)?;
                }
                batches.push(columns.finish(&self.schema).map_err(external)?);
            }
        }
        Ok(batches)
    }
}

fn external(e: WindowError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Every `of`-th part of the store, starting at `index`, read lazily as the stream is polled.
#[derive(Debug)]
struct ScanPartition {
    scan: Arc<Scan>,
    index: usize,
    of: usize,
}

impl PartitionStream for ScanPartition {
    fn schema(&self) -> &SchemaRef {
        &self.scan.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let scan = Arc::clone(&self.scan);
        let parts = (self.index..scan.parts()).step_by(self.of);
        let stream = futures::stream::iter(parts)
            .flat_map(move |part| futures::stream::iter(scan.part(part, &ctx)));
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.scan.schema),
            stream,
        ))
    }
}
