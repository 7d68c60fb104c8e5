//! Remote-write 1.0 and 2.0: content negotiation, borrowed decoding, whole-request validation,
//! then hand-off of every series to a visitor. Native histograms become `_count`/`_sum` series.

use crate::snappy::decompress_capped;
use crate::wire::{Reader, WireIssue, WireType, expect};
use model::labels::validate_sorted;
use model::{Classify, ErrorClass, LabelError, MetricType, Sample, SeriesRef, SeriesVisitor};

/// Which protobuf message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

/// Why a request body was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content type {content_type:?}: send application/x-protobuf (proto=prometheus.WriteRequest or io.prometheus.write.v2.Request)")]
    ContentType { content_type: String },
    #[error("unsupported content encoding {encoding:?}: remote_write bodies are snappy block format")]
    ContentEncoding { encoding: String },
    #[error("snappy: body is not valid snappy block format")]
    Snappy {
        #[source]
        source: snap::Error,
    },
    #[error("decoded body would be {declared} bytes, over the limit of {limit} bytes")]
    TooLarge { declared: usize, limit: usize },
    #[error("protobuf: {message}: {issue}")]
    Protobuf {
        message: &'static str,
        issue: WireIssue,
    },
    #[error("series {series}: label {field} is not valid UTF-8")]
    Utf8 { series: usize, field: &'static str },
    #[error("series {series}: {source}")]
    Labels {
        series: usize,
        #[source]
        source: LabelError,
    },
    #[error("series {series}: symbol ref {reference} out of range (symbols table has {symbols})")]
    SymbolRef {
        series: usize,
        reference: u32,
        symbols: usize,
    },
    #[error("series {series}: labels_refs has an odd count {count}")]
    OddRefs { series: usize, count: usize },
    #[error("symbols table must start with the empty string")]
    FirstSymbol,
}

/// A decode failure, or the visitor's own error passed through unchanged.
#[derive(Debug, thiserror::Error)]
pub enum IngestError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("storing decoded series")]
    Visitor(#[source] E),
}

impl Classify for DecodeError {
    fn class(&self) -> ErrorClass {
        match self {
            DecodeError::ContentType { .. } | DecodeError::ContentEncoding { .. } => {
                ErrorClass::UnsupportedMediaType
            }
            DecodeError::TooLarge { .. } => ErrorClass::TooLarge,
            _ => ErrorClass::InvalidInput,
        }
    }
}

impl<E: Classify + std::error::Error + 'static> Classify for IngestError<E> {
    fn class(&self) -> ErrorClass {
        match self {
            IngestError::Decode(e) => e.class(),
            IngestError::Visitor(e) => e.class(),
        }
    }
}

/// Picks the protocol from the headers as the Remote-Write 2.0 spec's negotiation says.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    _version: Option<&str>,
) -> Result<Protocol, DecodeError> {
    if let Some(encoding) = content_encoding {
        if !encoding.trim().eq_ignore_ascii_case("snappy") {
            return Err(DecodeError::ContentEncoding {
                encoding: encoding.to_owned(),
            });
        }
    }
    let raw = content_type.unwrap_or("application/x-protobuf");
    let mut parts = raw.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(DecodeError::ContentType {
            content_type: raw.to_owned(),
        });
    }
    let proto = parts.find_map(|p| p.strip_prefix("proto="));
    match proto.map(|p| p.trim_matches('"')) {
        None | Some("prometheus.WriteRequest") => Ok(Protocol::V1),
        Some("io.prometheus.write.v2.Request") => Ok(Protocol::V2),
        Some(_) => Err(DecodeError::ContentType {
            content_type: raw.to_owned(),
        }),
    }
}

/// What one request carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub series: usize,
    pub samples: usize,
    pub histograms: usize,
    pub exemplars: usize,
    pub metadata: usize,
}

/// Where one series' parts sit in the decode buffers.
#[derive(Debug, Clone, Copy)]
struct Span {
    labels: (usize, usize),
    samples: (usize, usize),
    histograms: (usize, usize),
    metric_type: MetricType,
    help: (usize, usize),
    unit: (usize, usize),
    created_ms: i64,
}

/// Count and sum of one native histogram sample.
#[derive(Debug, Clone, Copy)]
struct HistogramPoint {
    count: f64,
    sum: f64,
    timestamp_ms: i64,
}

/// A reusable decoder; its buffers are kept between requests.
#[derive(Debug, Default)]
pub struct Decoder {
    raw: Vec<u8>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramPoint>,
    spans: Vec<Span>,
    refs: Vec<u32>,
}

fn proto_err(message: &'static str) -> impl Fn(WireIssue) -> DecodeError {
    move |issue| DecodeError::Protobuf { message, issue }
}

fn metric_type(code: u64) -> MetricType {
    match code {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

fn parse_sample(bytes: &[u8]) -> Result<Sample, DecodeError> {
    let err = proto_err("Sample");
    let mut reader = Reader::new(bytes);
    let mut sample = Sample {
        timestamp_ms: 0,
        value: 0.0,
    };
    while !reader.done() {
        let (field, wire) = reader.key().map_err(&err)?;
        match field {
            1 => {
                expect(1, wire, WireType::Fixed64).map_err(&err)?;
                sample.value = f64::from_bits(reader.fixed64().map_err(&err)?);
            }
            2 => {
                expect(2, wire, WireType::Varint).map_err(&err)?;
                sample.timestamp_ms = reader.varint().map_err(&err)? as i64;
            }
            _ => reader.skip(wire).map_err(&err)?,
        }
    }
    Ok(sample)
}

fn parse_histogram(bytes: &[u8]) -> Result<HistogramPoint, DecodeError> {
    let err = proto_err("Histogram");
    let mut reader = Reader::new(bytes);
    let mut point = HistogramPoint {
        count: 0.0,
        sum: 0.0,
        timestamp_ms: 0,
    };
    while !reader.done() {
        let (field, wire) = reader.key().map_err(&err)?;
        match (field, wire) {
            (1, WireType::Varint) => point.count = reader.varint().map_err(&err)? as f64,
            (2, WireType::Fixed64) => point.count = f64::from_bits(reader.fixed64().map_err(&err)?),
            (3, WireType::Fixed64) => point.sum = f64::from_bits(reader.fixed64().map_err(&err)?),
            (15, WireType::Varint) => point.timestamp_ms = reader.varint().map_err(&err)? as i64,
            _ => reader.skip(wire).map_err(&err)?,
        }
    }
    Ok(point)
}

/// Offsets of `slice` within `base` (slice must borrow from base).
fn offsets(base: &[u8], slice: &[u8]) -> (usize, usize) {
    let start = slice.as_ptr() as usize - base.as_ptr() as usize;
    (start, start + slice.len())
}

fn text<'a>(raw: &'a [u8], (start, end): (usize, usize), series: usize, field: &'static str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(&raw[start..end]).map_err(|_| DecodeError::Utf8 { series, field })
}

impl Decoder {
    /// Decompresses (capped at `max_decoded` bytes), parses and validates the whole request,
    /// then hands every series to `visitor`.
    pub fn decode<V>(
        &mut self,
        protocol: Protocol,
        body: &[u8],
        max_decoded: usize,
        visitor: &mut V,
    ) -> Result<DecodeStats, IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        let mut raw = std::mem::take(&mut self.raw);
        let result = decompress_capped(body, max_decoded, &mut raw)
            .map_err(IngestError::from)
            .and_then(|()| match protocol {
                Protocol::V1 => self.decode_v1(&raw, visitor),
                Protocol::V2 => self.decode_v2(&raw, visitor),
            });
        self.raw = raw;
        result
    }

    fn clear(&mut self) {
        self.samples.clear();
        self.histograms.clear();
        self.spans.clear();
    }

    fn decode_v1<V>(&mut self, raw: &[u8], visitor: &mut V) -> Result<DecodeStats, IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        self.clear();
        let mut stats = DecodeStats::default();
        let mut labels: Vec<(&str, &str)> = Vec::new();
        let mut metadata: Vec<(&str, MetricType, &str, &str)> = Vec::new();
        let err = proto_err("WriteRequest");
        let mut reader = Reader::new(raw);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(&err)?;
            match field {
                1 => {
                    expect(1, wire, WireType::Len).map_err(&err)?;
                    let bytes = reader.bytes().map_err(&err)?;
                    let series = self.spans.len();
                    let label_start = labels.len();
                    let span = self.parse_series_v1(raw, bytes, series, &mut labels, &mut stats)?;
                    self.spans.push(Span {
                        labels: (label_start, labels.len()),
                        ..span
                    });
                }
                3 => {
                    expect(3, wire, WireType::Len).map_err(&err)?;
                    let bytes = reader.bytes().map_err(&err)?;
                    metadata.push(parse_metadata_v1(bytes)?);
                }
                _ => reader.skip(wire).map_err(&err)?,
            }
        }
        for (series, span) in self.spans.iter().enumerate() {
            validate_sorted(labels[span.labels.0..span.labels.1].iter().copied())
                .map_err(|source| DecodeError::Labels { series, source })?;
        }
        for (family, kind, unit, help) in &metadata {
            visitor
                .metadata(family, *kind, unit, help)
                .map_err(IngestError::Visitor)?;
        }
        stats.metadata = metadata.len();
        self.visit(raw, &labels, visitor, &mut stats)?;
        Ok(stats)
    }

    fn parse_series_v1<'a>(
        &mut self,
        raw: &'a [u8],
        bytes: &'a [u8],
        series: usize,
        labels: &mut Vec<(&'a str, &'a str)>,
        stats: &mut DecodeStats,
    ) -> Result<Span, DecodeError> {
        let err = proto_err("TimeSeries");
        let sample_start = self.samples.len();
        let histogram_start = self.histograms.len();
        let mut reader = Reader::new(bytes);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(&err)?;
            match field {
                1 => {
                    expect(1, wire, WireType::Len).map_err(&err)?;
                    let label = reader.bytes().map_err(&err)?;
                    let lerr = proto_err("Label");
                    let mut lr = Reader::new(label);
                    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
                    while !lr.done() {
                        let (f, w) = lr.key().map_err(&lerr)?;
                        match f {
                            1 => {
                                expect(1, w, WireType::Len).map_err(&lerr)?;
                                name = lr.bytes().map_err(&lerr)?;
                            }
                            2 => {
                                expect(2, w, WireType::Len).map_err(&lerr)?;
                                value = lr.bytes().map_err(&lerr)?;
                            }
                            _ => lr.skip(w).map_err(&lerr)?,
                        }
                    }
                    let name = std::str::from_utf8(name)
                        .map_err(|_| DecodeError::Utf8 { series, field: "name" })?;
                    let value = std::str::from_utf8(value)
                        .map_err(|_| DecodeError::Utf8 { series, field: "value" })?;
                    labels.push((name, value));
                }
                2 => {
                    expect(2, wire, WireType::Len).map_err(&err)?;
                    self.samples.push(parse_sample(reader.bytes().map_err(&err)?)?);
                }
                3 => {
                    reader.skip(wire).map_err(&err)?;
                    stats.exemplars += 1;
                }
                4 => {
                    expect(4, wire, WireType::Len).map_err(&err)?;
                    self.histograms
                        .push(parse_histogram(reader.bytes().map_err(&err)?)?);
                }
                _ => reader.skip(wire).map_err(&err)?,
            }
        }
        let _ = raw;
        Ok(Span {
            labels: (0, 0),
            samples: (sample_start, self.samples.len()),
            histograms: (histogram_start, self.histograms.len()),
            metric_type: MetricType::Unknown,
            help: (0, 0),
            unit: (0, 0),
            created_ms: 0,
        })
    }

    fn decode_v2<V>(&mut self, raw: &[u8], visitor: &mut V) -> Result<DecodeStats, IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        self.clear();
        let mut stats = DecodeStats::default();
        let err = proto_err("Request");
        let mut symbols: Vec<(usize, usize)> = Vec::new();
        let mut series_bytes: Vec<&[u8]> = Vec::new();
        let mut reader = Reader::new(raw);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(&err)?;
            match field {
                4 => {
                    expect(4, wire, WireType::Len).map_err(&err)?;
                    symbols.push(offsets(raw, reader.bytes().map_err(&err)?));
                }
                5 => {
                    expect(5, wire, WireType::Len).map_err(&err)?;
                    series_bytes.push(reader.bytes().map_err(&err)?);
                }
                _ => reader.skip(wire).map_err(&err)?,
            }
        }
        if symbols.first().is_some_and(|(s, e)| s != e) {
            return Err(DecodeError::FirstSymbol.into());
        }
        let mut strings: Vec<&str> = Vec::with_capacity(symbols.len());
        for (i, range) in symbols.iter().enumerate() {
            strings.push(text(raw, *range, i, "symbol")?);
        }
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for (series, bytes) in series_bytes.iter().enumerate() {
            let label_start = labels.len();
            let span = self.parse_series_v2(bytes, series, &strings, &mut labels, &mut stats)?;
            validate_sorted(labels[label_start..].iter().copied())
                .map_err(|source| DecodeError::Labels { series, source })?;
            self.spans.push(Span {
                labels: (label_start, labels.len()),
                ..span
            });
        }
        self.visit_v2(&strings, &labels, visitor, &mut stats)?;
        Ok(stats)
    }

    fn parse_series_v2<'a>(
        &mut self,
        bytes: &[u8],
        series: usize,
        symbols: &[&'a str],
        labels: &mut Vec<(&'a str, &'a str)>,
        stats: &mut DecodeStats,
    ) -> Result<Span, DecodeError> {
        let err = proto_err("TimeSeries");
        let sample_start = self.samples.len();
        let histogram_start = self.histograms.len();
        let mut span = Span {
            labels: (0, 0),
            samples: (0, 0),
            histograms: (0, 0),
            metric_type: MetricType::Unknown,
            help: (0, 0),
            unit: (0, 0),
            created_ms: 0,
        };
        self.refs.clear();
        let symbol = |reference: u32| -> Result<&'a str, DecodeError> {
            symbols
                .get(reference as usize)
                .copied()
                .ok_or(DecodeError::SymbolRef {
                    series,
                    reference,
                    symbols: symbols.len(),
                })
        };
        let mut reader = Reader::new(bytes);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(&err)?;
            match (field, wire) {
                (1, WireType::Len) => {
                    let mut packed = Reader::new(reader.bytes().map_err(&err)?);
                    while !packed.done() {
                        self.refs.push(packed.varint().map_err(&err)? as u32);
                    }
                }
                (1, WireType::Varint) => self.refs.push(reader.varint().map_err(&err)? as u32),
                (2, _) => {
                    expect(2, wire, WireType::Len).map_err(&err)?;
                    self.samples.push(parse_sample(reader.bytes().map_err(&err)?)?);
                }
                (3, _) => {
                    expect(3, wire, WireType::Len).map_err(&err)?;
                    self.histograms
                        .push(parse_histogram(reader.bytes().map_err(&err)?)?);
                }
                (4, _) => {
                    reader.skip(wire).map_err(&err)?;
                    stats.exemplars += 1;
                }
                (5, _) => {
                    expect(5, wire, WireType::Len).map_err(&err)?;
                    let merr = proto_err("Metadata");
                    let mut meta = Reader::new(reader.bytes().map_err(&err)?);
                    while !meta.done() {
                        let (f, w) = meta.key().map_err(&merr)?;
                        match (f, w) {
                            (1, WireType::Varint) => {
                                span.metric_type = metric_type(meta.varint().map_err(&merr)?)
                            }
                            (3, WireType::Varint) => {
                                let r = meta.varint().map_err(&merr)? as u32;
                                symbol(r)?;
                                span.help = (r as usize, 0);
                            }
                            (4, WireType::Varint) => {
                                let r = meta.varint().map_err(&merr)? as u32;
                                symbol(r)?;
                                span.unit = (r as usize, 0);
                            }
                            _ => meta.skip(w).map_err(&merr)?,
                        }
                    }
                }
                (6, _) => {
                    expect(6, wire, WireType::Varint).map_err(&err)?;
                    span.created_ms = reader.varint().map_err(&err)? as i64;
                }
                _ => reader.skip(wire).map_err(&err)?,
            }
        }
        if self.refs.len() % 2 != 0 {
            return Err(DecodeError::OddRefs {
                series,
                count: self.refs.len(),
            });
        }
        for pair in self.refs.chunks_exact(2) {
            labels.push((symbol(pair[0])?, symbol(pair[1])?));
        }
        span.samples = (sample_start, self.samples.len());
        span.histograms = (histogram_start, self.histograms.len());
        Ok(span)
    }

    fn visit<V>(
        &self,
        _raw: &[u8],
        labels: &[(&str, &str)],
        visitor: &mut V,
        stats: &mut DecodeStats,
    ) -> Result<(), IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        for span in &self.spans {
            self.visit_one(span, labels, "", "", visitor, stats)?;
        }
        Ok(())
    }

    fn visit_v2<V>(
        &self,
        symbols: &[&str],
        labels: &[(&str, &str)],
        visitor: &mut V,
        stats: &mut DecodeStats,
    ) -> Result<(), IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        for span in &self.spans {
            let help = symbols.get(span.help.0).copied().unwrap_or("");
            let unit = symbols.get(span.unit.0).copied().unwrap_or("");
            self.visit_one(span, labels, help, unit, visitor, stats)?;
        }
        Ok(())
    }

    fn visit_one<V>(
        &self,
        span: &Span,
        labels: &[(&str, &str)],
        help: &str,
        unit: &str,
        visitor: &mut V,
        stats: &mut DecodeStats,
    ) -> Result<(), IngestError<V::Error>>
    where
        V: SeriesVisitor,
        V::Error: std::error::Error + 'static,
    {
        let series_labels = &labels[span.labels.0..span.labels.1];
        let samples = &self.samples[span.samples.0..span.samples.1];
        stats.series += 1;
        if !samples.is_empty() {
            stats.samples += samples.len();
            visitor
                .series(SeriesRef {
                    labels: series_labels,
                    samples,
                    metric_type: span.metric_type,
                    unit,
                    help,
                    created_timestamp_ms: span.created_ms,
                })
                .map_err(IngestError::Visitor)?;
        }
        let histograms = &self.histograms[span.histograms.0..span.histograms.1];
        if histograms.is_empty() {
            return Ok(());
        }
        stats.histograms += histograms.len();
        let name = series_labels
            .iter()
            .find(|(n, _)| *n == model::METRIC_NAME)
            .map(|(_, v)| *v)
            .unwrap_or("");
        let kind = if span.metric_type == MetricType::GaugeHistogram {
            MetricType::Gauge
        } else {
            MetricType::Counter
        };
        for (suffix, pick) in [
            ("_count", (|h: &HistogramPoint| h.count) as fn(&HistogramPoint) -> f64),
            ("_sum", |h: &HistogramPoint| h.sum),
        ] {
            let derived_name = format!("{name}{suffix}");
            let derived: Vec<(&str, &str)> = series_labels
                .iter()
                .map(|&(n, v)| {
                    if n == model::METRIC_NAME {
                        (n, derived_name.as_str())
                    } else {
                        (n, v)
                    }
                })
                .collect();
            let points: Vec<Sample> = histograms
                .iter()
                .map(|h| Sample {
                    timestamp_ms: h.timestamp_ms,
                    value: pick(h),
                })
                .collect();
            visitor
                .series(SeriesRef {
                    labels: &derived,
                    samples: &points,
                    metric_type: kind,
                    unit,
                    help,
                    created_timestamp_ms: span.created_ms,
                })
                .map_err(IngestError::Visitor)?;
        }
        Ok(())
    }
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8 { series: 0, field })
}

fn parse_metadata_v1(bytes: &[u8]) -> Result<(&str, MetricType, &str, &str), DecodeError> {
    let err = proto_err("MetricMetadata");
    let mut reader = Reader::new(bytes);
    let (mut family, mut kind, mut help, mut unit) = ("", MetricType::Unknown, "", "");
    while !reader.done() {
        let (field, wire) = reader.key().map_err(&err)?;
        match (field, wire) {
            (1, WireType::Varint) => kind = metric_type(reader.varint().map_err(&err)?),
            (2, WireType::Len) => family = utf8(reader.bytes().map_err(&err)?, "metadata family")?,
            (4, WireType::Len) => help = utf8(reader.bytes().map_err(&err)?, "metadata help")?,
            (5, WireType::Len) => unit = utf8(reader.bytes().map_err(&err)?, "metadata unit")?,
            _ => reader.skip(wire).map_err(&err)?,
        }
    }
    Ok((family, kind, unit, help))
}
