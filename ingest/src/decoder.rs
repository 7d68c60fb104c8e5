//! The reusable remote_write decoder: snappy into a kept buffer, a borrowed parse of the whole
//! request into kept vectors, validation of all of it, and only then the visitor hand-off.

use crate::error::{DecodeError, IngestError, LabelPart, Place, SymbolUse};
use crate::negotiate::Protocol;
use crate::proto::{histogram::RESET_HINT_GAUGE, metric_type_of};
use crate::shape::{self, EXEMPLAR_V1, EXEMPLAR_V2, HISTOGRAM_REST};
use crate::snappy::decompress_capped;
use crate::wire::{Reader, WireType};
use model::labels::validate_sorted;
use model::{METRIC_NAME, MetricType, Sample, SeriesRef, SeriesVisitor};

/// What one request carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// `TimeSeries` messages in the request (including those with nothing to store).
    pub series: usize,
    /// Float samples.
    pub samples: usize,
    /// Native histogram samples (each stored as a `_count` and a `_sum` sample).
    pub histograms: usize,
    /// Exemplars (counted, not stored).
    pub exemplars: usize,
    /// 1.0 `MetricMetadata` entries, or 2.0 series that carry a `Metadata` message.
    pub metadata: usize,
}

/// A reusable decoder: keep one per worker and its buffers are reused request after request,
/// so the steady state allocates nothing per series or per label. The buffers only grow (to
/// the largest request seen, bounded by `max_decoded`).
#[derive(Debug, Default)]
pub struct Decoder {
    raw: Vec<u8>,
    work: Work<'static>,
}

impl Decoder {
    /// Snappy-decompresses `body` (refusing a declared decoded size over `max_decoded`),
    /// parses and validates the whole request, and only then hands every series to `visitor`:
    /// a request that fails validation reaches the visitor not at all. Native histograms reach
    /// it as `<name>_count` and `<name>_sum` series; series with neither samples nor
    /// histograms are validated and skipped. The visitor's own error is returned unchanged as
    /// [`IngestError::Visitor`], stopping the hand-off.
    pub fn decode<V: SeriesVisitor>(
        &mut self,
        protocol: Protocol,
        body: &[u8],
        max_decoded: usize,
        visitor: &mut V,
    ) -> Result<DecodeStats, IngestError<V::Error>> {
        let mut raw = std::mem::take(&mut self.raw);
        let mut work = std::mem::take(&mut self.work).reuse();
        let result = match decompress_capped(body, max_decoded, &mut raw) {
            Ok(decoded) => work.run(protocol, decoded, visitor),
            Err(error) => Err(error.into()),
        };
        self.work = work.reuse();
        self.raw = raw;
        result
    }
}

/// Reuses a vector's allocation for elements of another lifetime (same layout): the standard
/// library collects an emptied `vec::IntoIter` in place.
fn recycle<T, U>(mut vec: Vec<T>) -> Vec<U> {
    vec.clear();
    vec.into_iter().filter_map(|_| None).collect()
}

/// Where one series' parts sit in the work vectors.
#[derive(Debug, Clone, Copy)]
struct Span<'a> {
    labels: (usize, usize),
    samples: (usize, usize),
    histograms: (usize, usize),
    metric_type: MetricType,
    unit: &'a str,
    help: &'a str,
    created_ms: i64,
}

/// Count and sum of one native histogram sample.
#[derive(Debug, Clone, Copy)]
struct HistogramPoint {
    count: f64,
    sum: f64,
    timestamp_ms: i64,
    gauge: bool,
}

/// A 1.0 `MetricMetadata` entry.
#[derive(Debug, Clone, Copy)]
struct Family<'a> {
    name: &'a str,
    metric_type: MetricType,
    unit: &'a str,
    help: &'a str,
}

/// The decode state of one request, borrowing from its decompressed body.
#[derive(Debug, Default)]
struct Work<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramPoint>,
    spans: Vec<Span<'a>>,
    symbols: Vec<&'a str>,
    families: Vec<Family<'a>>,
    stats: DecodeStats,
    derived_labels: Vec<(&'a str, &'a str)>,
    derived_samples: Vec<Sample>,
    derived_name: String,
}

impl<'a> Work<'a> {
    /// Empties every vector, keeping its allocation, for a request of another lifetime.
    fn reuse<'b>(mut self) -> Work<'b> {
        self.samples.clear();
        self.histograms.clear();
        self.derived_samples.clear();
        Work {
            labels: recycle(self.labels),
            samples: self.samples,
            histograms: self.histograms,
            spans: recycle(self.spans),
            symbols: recycle(self.symbols),
            families: recycle(self.families),
            stats: DecodeStats::default(),
            derived_labels: recycle(self.derived_labels),
            derived_samples: self.derived_samples,
            derived_name: self.derived_name,
        }
    }

    fn run<V: SeriesVisitor>(
        &mut self,
        protocol: Protocol,
        raw: &'a [u8],
        visitor: &mut V,
    ) -> Result<DecodeStats, IngestError<V::Error>> {
        match protocol {
            Protocol::V1 => self.parse_v1(raw)?,
            Protocol::V2 => self.parse_v2(raw)?,
        }
        self.visit(visitor).map_err(IngestError::Visitor)?;
        Ok(self.stats)
    }

    // ---- remote_write 1.0 ----

    fn parse_v1(&mut self, raw: &'a [u8]) -> Result<(), DecodeError> {
        let place = Place::new("WriteRequest", None);
        let mut reader = Reader::new(raw, 0);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            match field {
                1 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let series = reader.message().map_err(place.field(field))?;
                    self.parse_series_v1(series)?;
                }
                3 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let entry = reader.message().map_err(place.field(field))?;
                    let family = parse_family(entry, self.families.len())?;
                    self.families.push(family);
                    self.stats.metadata += 1;
                }
                _ => reader.skip(field, wire).map_err(place.field(field))?,
            }
        }
        Ok(())
    }

    fn parse_series_v1(&mut self, mut reader: Reader<'a>) -> Result<(), DecodeError> {
        let series = self.spans.len();
        let place = Place::new("TimeSeries", Some(series));
        let labels_start = self.labels.len();
        let samples_start = self.samples.len();
        let histograms_start = self.histograms.len();
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            match field {
                1 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let label = reader.message().map_err(place.field(field))?;
                    let pair = parse_label(label, series, self.labels.len() - labels_start)?;
                    self.labels.push(pair);
                }
                2 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let sample = reader.message().map_err(place.field(field))?;
                    self.samples.push(parse_sample(sample, series)?);
                }
                3 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let exemplar = reader.message().map_err(place.field(field))?;
                    shape::check_message(
                        exemplar,
                        EXEMPLAR_V1,
                        Place::new("Exemplar", Some(series)),
                    )?;
                    self.stats.exemplars += 1;
                }
                4 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let histogram = reader.message().map_err(place.field(field))?;
                    self.histograms.push(parse_histogram(histogram, series)?);
                }
                _ => reader.skip(field, wire).map_err(place.field(field))?,
            }
        }
        self.finish_series(Span {
            labels: (labels_start, self.labels.len()),
            samples: (samples_start, self.samples.len()),
            histograms: (histograms_start, self.histograms.len()),
            metric_type: MetricType::Unknown,
            unit: "",
            help: "",
            created_ms: 0,
        })
    }

    /// Validates a parsed series' labels and records it.
    fn finish_series(&mut self, span: Span<'a>) -> Result<(), DecodeError> {
        let series = self.spans.len();
        validate_sorted(self.labels[span.labels.0..span.labels.1].iter().copied())
            .map_err(|source| DecodeError::Labels { series, source })?;
        self.stats.series += 1;
        self.stats.samples += span.samples.1 - span.samples.0;
        self.stats.histograms += span.histograms.1 - span.histograms.0;
        self.spans.push(span);
        Ok(())
    }

    // ---- remote_write 2.0 ----

    fn parse_v2(&mut self, raw: &'a [u8]) -> Result<(), DecodeError> {
        let place = Place::new("Request", None);
        // Pass 1: the symbols table, wherever it sits in the body.
        let mut reader = Reader::new(raw, 0);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            match field {
                4 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let bytes = reader.bytes().map_err(place.field(field))?;
                    let symbol =
                        std::str::from_utf8(bytes).map_err(|source| DecodeError::SymbolUtf8 {
                            symbol: self.symbols.len(),
                            source,
                        })?;
                    self.symbols.push(symbol);
                }
                5 => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    reader.bytes().map_err(place.field(field))?;
                }
                _ => reader.skip(field, wire).map_err(place.field(field))?,
            }
        }
        if let Some(first) = self.symbols.first().filter(|first| !first.is_empty()) {
            return Err(DecodeError::FirstSymbol {
                first: first.chars().take(64).collect(),
            });
        }
        // Pass 2: the series (every key and length was checked by pass 1).
        let mut reader = Reader::new(raw, 0);
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            if field == 5 {
                let series = reader.message().map_err(place.field(field))?;
                self.parse_series_v2(series)?;
            } else {
                reader.skip(field, wire).map_err(place.field(field))?;
            }
        }
        Ok(())
    }

    fn symbol(
        &self,
        series: usize,
        used_as: SymbolUse,
        reference: u32,
    ) -> Result<&'a str, DecodeError> {
        self.symbols
            .get(reference as usize)
            .copied()
            .ok_or(DecodeError::SymbolRef {
                series,
                used_as,
                reference,
                symbols: self.symbols.len(),
            })
    }

    fn parse_series_v2(&mut self, mut reader: Reader<'a>) -> Result<(), DecodeError> {
        let series = self.spans.len();
        let place = Place::new("TimeSeries", Some(series));
        let mut span = Span {
            labels: (self.labels.len(), 0),
            samples: (self.samples.len(), 0),
            histograms: (self.histograms.len(), 0),
            metric_type: MetricType::Unknown,
            unit: "",
            help: "",
            created_ms: 0,
        };
        let mut refs = 0usize;
        let mut pending_name: Option<&'a str> = None;
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            match (field, wire) {
                (1, WireType::Len) => {
                    let mut packed = reader.message().map_err(place.field(field))?;
                    while !packed.done() {
                        let reference = packed.varint32().map_err(place.field(field))?;
                        self.push_ref(series, reference, &mut pending_name)?;
                        refs += 1;
                    }
                }
                (1, _) => {
                    reader
                        .expect(wire, WireType::Varint)
                        .map_err(place.field(field))?;
                    let reference = reader.varint32().map_err(place.field(field))?;
                    self.push_ref(series, reference, &mut pending_name)?;
                    refs += 1;
                }
                (2, _) => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let sample = reader.message().map_err(place.field(field))?;
                    self.samples.push(parse_sample(sample, series)?);
                }
                (3, _) => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let histogram = reader.message().map_err(place.field(field))?;
                    self.histograms.push(parse_histogram(histogram, series)?);
                }
                (4, _) => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let exemplar = reader.message().map_err(place.field(field))?;
                    shape::check_message(
                        exemplar,
                        EXEMPLAR_V2,
                        Place::new("Exemplar", Some(series)),
                    )?;
                    self.stats.exemplars += 1;
                }
                (5, _) => {
                    reader
                        .expect(wire, WireType::Len)
                        .map_err(place.field(field))?;
                    let metadata = reader.message().map_err(place.field(field))?;
                    self.parse_metadata_v2(metadata, series, &mut span)?;
                }
                (6, _) => {
                    reader
                        .expect(wire, WireType::Varint)
                        .map_err(place.field(field))?;
                    span.created_ms = reader.varint().map_err(place.field(field))? as i64;
                }
                _ => reader.skip(field, wire).map_err(place.field(field))?,
            }
        }
        if pending_name.is_some() {
            return Err(DecodeError::OddRefs {
                series,
                count: refs,
            });
        }
        span.labels.1 = self.labels.len();
        span.samples.1 = self.samples.len();
        span.histograms.1 = self.histograms.len();
        self.finish_series(span)
    }

    /// Adds one `labels_refs` entry: a name waits for its value, then the pair is a label.
    #[inline]
    fn push_ref(
        &mut self,
        series: usize,
        reference: u32,
        pending_name: &mut Option<&'a str>,
    ) -> Result<(), DecodeError> {
        let symbol = self.symbol(series, SymbolUse::Label, reference)?;
        match pending_name.take() {
            Some(name) => self.labels.push((name, symbol)),
            None => *pending_name = Some(symbol),
        }
        Ok(())
    }

    fn parse_metadata_v2(
        &mut self,
        mut reader: Reader<'a>,
        series: usize,
        span: &mut Span<'a>,
    ) -> Result<(), DecodeError> {
        let place = Place::new("Metadata", Some(series));
        while !reader.done() {
            let (field, wire) = reader.key().map_err(place.key())?;
            match field {
                1 => {
                    reader
                        .expect(wire, WireType::Varint)
                        .map_err(place.field(field))?;
                    span.metric_type = metric_type_of(reader.varint().map_err(place.field(field))?);
                }
                3 | 4 => {
                    reader
                        .expect(wire, WireType::Varint)
                        .map_err(place.field(field))?;
                    let reference = reader.varint32().map_err(place.field(field))?;
                    if field == 3 {
                        span.help = self.symbol(series, SymbolUse::Help, reference)?;
                    } else {
                        span.unit = self.symbol(series, SymbolUse::Unit, reference)?;
                    }
                }
                _ => reader.skip(field, wire).map_err(place.field(field))?,
            }
        }
        self.stats.metadata += 1;
        Ok(())
    }

    // ---- hand-off ----

    fn visit<V: SeriesVisitor>(&mut self, visitor: &mut V) -> Result<(), V::Error> {
        for family in &self.families {
            visitor.metadata(family.name, family.metric_type, family.unit, family.help)?;
        }
        for span in &self.spans {
            let labels = &self.labels[span.labels.0..span.labels.1];
            let samples = &self.samples[span.samples.0..span.samples.1];
            if !samples.is_empty() {
                visitor.series(SeriesRef {
                    labels,
                    samples,
                    metric_type: span.metric_type,
                    unit: span.unit,
                    help: span.help,
                    created_timestamp_ms: span.created_ms,
                })?;
            }
            let histograms = &self.histograms[span.histograms.0..span.histograms.1];
            if !histograms.is_empty() {
                derive_histogram_series(
                    span,
                    labels,
                    histograms,
                    &mut self.derived_name,
                    &mut self.derived_labels,
                    &mut self.derived_samples,
                    visitor,
                )?;
            }
        }
        Ok(())
    }
}

/// Hands a series' native histograms to the visitor as `<name>_count` and `<name>_sum`
/// series: counters, or gauges for gauge histograms.
fn derive_histogram_series<V: SeriesVisitor>(
    span: &Span<'_>,
    labels: &[(&str, &str)],
    histograms: &[HistogramPoint],
    name: &mut String,
    label_store: &mut Vec<(&str, &str)>,
    samples: &mut Vec<Sample>,
    visitor: &mut V,
) -> Result<(), V::Error> {
    let gauge =
        span.metric_type == MetricType::GaugeHistogram || histograms.iter().any(|h| h.gauge);
    let metric_type = if gauge {
        MetricType::Gauge
    } else {
        MetricType::Counter
    };
    let base = labels
        .iter()
        .find(|(label, _)| *label == METRIC_NAME)
        .map_or("", |(_, value)| *value);
    for (suffix, pick) in [
        (
            "_count",
            (|h: &HistogramPoint| h.count) as fn(&HistogramPoint) -> f64,
        ),
        ("_sum", |h: &HistogramPoint| h.sum),
    ] {
        name.clear();
        name.push_str(base);
        name.push_str(suffix);
        samples.clear();
        samples.extend(histograms.iter().map(|h| Sample {
            timestamp_ms: h.timestamp_ms,
            value: pick(h),
        }));
        let mut derived: Vec<(&str, &str)> = recycle(std::mem::take(label_store));
        derived.extend(labels.iter().map(|&(label, value)| {
            if label == METRIC_NAME {
                (label, name.as_str())
            } else {
                (label, value)
            }
        }));
        let result = visitor.series(SeriesRef {
            labels: &derived,
            samples,
            metric_type,
            unit: span.unit,
            help: span.help,
            created_timestamp_ms: span.created_ms,
        });
        *label_store = recycle(derived);
        result?;
    }
    Ok(())
}

/// `Label { string name = 1; string value = 2; }`, both checked to be UTF-8.
#[inline]
fn parse_label<'a>(
    mut reader: Reader<'a>,
    series: usize,
    label: usize,
) -> Result<(&'a str, &'a str), DecodeError> {
    let place = Place::new("Label", Some(series));
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    while !reader.done() {
        let (field, wire) = reader.key().map_err(place.key())?;
        match field {
            1 | 2 => {
                reader
                    .expect(wire, WireType::Len)
                    .map_err(place.field(field))?;
                let bytes = reader.bytes().map_err(place.field(field))?;
                if field == 1 {
                    name = bytes;
                } else {
                    value = bytes;
                }
            }
            _ => reader.skip(field, wire).map_err(place.field(field))?,
        }
    }
    let utf8 = |bytes, part| {
        std::str::from_utf8(bytes).map_err(|source| DecodeError::LabelUtf8 {
            series,
            label,
            part,
            source,
        })
    };
    Ok((utf8(name, LabelPart::Name)?, utf8(value, LabelPart::Value)?))
}

/// `Sample { double value = 1; int64 timestamp = 2; }`; NaN (staleness) is kept bit for bit.
#[inline]
fn parse_sample(mut reader: Reader<'_>, series: usize) -> Result<Sample, DecodeError> {
    let place = Place::new("Sample", Some(series));
    let mut sample = Sample {
        timestamp_ms: 0,
        value: 0.0,
    };
    while !reader.done() {
        let (field, wire) = reader.key().map_err(place.key())?;
        match field {
            1 => {
                reader
                    .expect(wire, WireType::Fixed64)
                    .map_err(place.field(field))?;
                sample.value = f64::from_bits(reader.fixed64().map_err(place.field(field))?);
            }
            2 => {
                reader
                    .expect(wire, WireType::Varint)
                    .map_err(place.field(field))?;
                sample.timestamp_ms = reader.varint().map_err(place.field(field))? as i64;
            }
            _ => reader.skip(field, wire).map_err(place.field(field))?,
        }
    }
    Ok(sample)
}

/// The count, sum, timestamp and gauge hint of a native `Histogram`; buckets are skipped.
fn parse_histogram(mut reader: Reader<'_>, series: usize) -> Result<HistogramPoint, DecodeError> {
    let place = Place::new("Histogram", Some(series));
    let mut point = HistogramPoint {
        count: 0.0,
        sum: 0.0,
        timestamp_ms: 0,
        gauge: false,
    };
    while !reader.done() {
        let (field, wire) = reader.key().map_err(place.key())?;
        let expected = match field {
            1 | 14 | 15 => WireType::Varint,
            2 | 3 => WireType::Fixed64,
            _ => {
                match shape::lookup(HISTOGRAM_REST, field) {
                    Some(shape) => shape::check_field(&mut reader, field, wire, shape, place)?,
                    None => reader.skip(field, wire).map_err(place.field(field))?,
                }
                continue;
            }
        };
        reader.expect(wire, expected).map_err(place.field(field))?;
        if expected == WireType::Varint {
            let value = reader.varint().map_err(place.field(field))?;
            match field {
                1 => point.count = value as f64,
                14 => point.gauge = value as i64 == i64::from(RESET_HINT_GAUGE),
                _ => point.timestamp_ms = value as i64,
            }
        } else {
            let value = f64::from_bits(reader.fixed64().map_err(place.field(field))?);
            if field == 2 {
                point.count = value;
            } else {
                point.sum = value;
            }
        }
    }
    Ok(point)
}

/// A 1.0 `MetricMetadata`: type = 1, metric_family_name = 2, help = 4, unit = 5.
fn parse_family(mut reader: Reader<'_>, entry: usize) -> Result<Family<'_>, DecodeError> {
    let place = Place::new("MetricMetadata", None);
    let mut family = Family {
        name: "",
        metric_type: MetricType::Unknown,
        unit: "",
        help: "",
    };
    while !reader.done() {
        let (field, wire) = reader.key().map_err(place.key())?;
        let target = match field {
            1 => {
                reader
                    .expect(wire, WireType::Varint)
                    .map_err(place.field(field))?;
                family.metric_type = metric_type_of(reader.varint().map_err(place.field(field))?);
                continue;
            }
            2 => ("metric_family_name", &mut family.name),
            4 => ("help", &mut family.help),
            5 => ("unit", &mut family.unit),
            _ => {
                reader.skip(field, wire).map_err(place.field(field))?;
                continue;
            }
        };
        reader
            .expect(wire, WireType::Len)
            .map_err(place.field(field))?;
        let bytes = reader.bytes().map_err(place.field(field))?;
        *target.1 = std::str::from_utf8(bytes).map_err(|source| DecodeError::MetadataUtf8 {
            entry,
            field: target.0,
            source,
        })?;
    }
    Ok(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let text = String::from("a b c");
        let mut borrowed: Vec<(&str, &str)> = Vec::with_capacity(64);
        borrowed.extend(text.split(' ').map(|s| (s, s)));
        let capacity = borrowed.capacity();
        let pointer = borrowed.as_ptr() as usize;
        let kept: Vec<(&'static str, &'static str)> = recycle(borrowed);
        assert_eq!(kept.capacity(), capacity);
        assert_eq!(kept.as_ptr() as usize, pointer);
        assert!(kept.is_empty());
    }

    #[test]
    fn work_buffers_survive_reuse() {
        let mut work: Work<'static> = Work::default();
        work.labels.reserve(100);
        work.spans.reserve(10);
        work.samples.reserve(50);
        let (labels, spans, samples) = (
            work.labels.capacity(),
            work.spans.capacity(),
            work.samples.capacity(),
        );
        let again: Work<'static> = work.reuse();
        assert_eq!(again.labels.capacity(), labels);
        assert_eq!(again.spans.capacity(), spans);
        assert_eq!(again.samples.capacity(), samples);
    }
}
