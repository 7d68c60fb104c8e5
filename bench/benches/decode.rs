//! Snappy + protobuf decode of remote_write 1.0 bodies: real Prometheus captures and 500
//! node_exporter-like series, from the snappy floor to prost into owned `String`s.
//!
//! Variants, all over the same bodies in the same run (elements are samples):
//! - `snappy_only`: decompression into a reused buffer, the floor under any parser;
//! - `borrowed_no_utf8`: snappy plus a bare borrowed walk that slices label bytes out and
//!   reads samples, with no UTF-8 check and no validation (what a borrowed parser can reach);
//! - `decode_validate`: `ingest::Decoder`, the server's path: borrowed, UTF-8 of every label,
//!   sorted unique names, framing, then the visitor hand-off;
//! - `prost_owned`: snappy plus `prost::Message::decode` into owned `String`s (the baseline).
//!
//! Before criterion runs, a one-shot timing prints samples/s and the ratios between them.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::{Decoder, Protocol, proto};
use model::{SeriesRef, SeriesVisitor};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Decoded-size cap, the server's default.
const MAX_DECODED: usize = 64 << 20;

/// A workload: bodies decoded one after the other per iteration, and the samples they carry.
struct Workload {
    name: &'static str,
    bodies: Vec<Vec<u8>>,
    samples: usize,
}

/// Counts what the decoder hands over, so nothing is optimised away.
#[derive(Debug, Default)]
struct Count {
    samples: usize,
}

impl SeriesVisitor for Count {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error> {
        self.samples += series.samples.len();
        black_box(series.labels);
        Ok(())
    }
}

fn workloads() -> Vec<Workload> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/data");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("prometheus-v1-") && n.ends_with(".bin"))
        })
        .collect();
    captures.sort();
    let real: Vec<Vec<u8>> = captures.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!real.is_empty(), "no captures in {}", dir.display());
    let synthetic = vec![ingest::encode_v1(&bench::node_request(
        0..500,
        1_700_000_000_000,
    ))];
    [
        ("prometheus_captures", real),
        ("node_500_series", synthetic),
    ]
    .into_iter()
    .map(|(name, bodies)| {
        let mut decoder = Decoder::default();
        let mut count = Count::default();
        for body in &bodies {
            decoder
                .decode(Protocol::V1, body, MAX_DECODED, &mut count)
                .unwrap();
        }
        Workload {
            name,
            bodies,
            samples: count.samples,
        }
    })
    .collect()
}

/// Decompresses into the reused `raw` buffer.
fn snappy<'r>(body: &[u8], raw: &'r mut Vec<u8>) -> &'r [u8] {
    ingest::snappy::decompress_capped(body, MAX_DECODED, raw).unwrap()
}

/// Label and sample positions of a bare walk, kept between requests.
#[derive(Debug, Default)]
struct Walk {
    /// Name and value byte ranges in the decompressed body.
    labels: Vec<[u32; 4]>,
    samples: Vec<(i64, f64)>,
    series: usize,
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// The range of a length-delimited field's payload, moving `pos` past it.
fn payload(buf: &[u8], pos: &mut usize) -> Option<(usize, usize)> {
    let len = usize::try_from(varint(buf, pos)?).ok()?;
    let start = *pos;
    let end = start.checked_add(len).filter(|&end| end <= buf.len())?;
    *pos = end;
    Some((start, end))
}

fn skip(buf: &[u8], pos: &mut usize, wire: u64) -> Option<()> {
    match wire {
        0 => varint(buf, pos).map(drop),
        1 => (*pos + 8 <= buf.len()).then(|| *pos += 8),
        2 => payload(buf, pos).map(drop),
        5 => (*pos + 4 <= buf.len()).then(|| *pos += 4),
        _ => None,
    }
}

/// Walks a `WriteRequest` borrowed: no UTF-8 check, no label validation.
fn walk(buf: &[u8], out: &mut Walk) -> Option<()> {
    out.labels.clear();
    out.samples.clear();
    out.series = 0;
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        if key != (1 << 3 | 2) {
            skip(buf, &mut pos, key & 7)?;
            continue;
        }
        let (start, end) = payload(buf, &mut pos)?;
        out.series += 1;
        let series = &buf[..end];
        let mut at = start;
        while at < end {
            let key = varint(series, &mut at)?;
            match key {
                0x0a => {
                    let (ls, le) = payload(series, &mut at)?;
                    let mut label = [0u32; 4];
                    let mut p = ls;
                    while p < le {
                        let key = varint(&series[..le], &mut p)?;
                        let slot = match key {
                            0x0a => 0,
                            0x12 => 2,
                            _ => {
                                skip(&series[..le], &mut p, key & 7)?;
                                continue;
                            }
                        };
                        let (s, e) = payload(&series[..le], &mut p)?;
                        label[slot] = s as u32;
                        label[slot + 1] = e as u32;
                    }
                    out.labels.push(label);
                }
                0x12 => {
                    let (ss, se) = payload(series, &mut at)?;
                    let sample = &series[..se];
                    let (mut value, mut timestamp) = (0f64, 0i64);
                    let mut p = ss;
                    while p < se {
                        match varint(sample, &mut p)? {
                            0x09 => {
                                let bytes = sample.get(p..p + 8)?;
                                value = f64::from_le_bytes(bytes.try_into().ok()?);
                                p += 8;
                            }
                            0x10 => timestamp = varint(sample, &mut p)? as i64,
                            key => skip(sample, &mut p, key & 7)?,
                        }
                    }
                    out.samples.push((timestamp, value));
                }
                _ => skip(series, &mut at, key & 7)?,
            }
        }
    }
    Some(())
}

/// Samples per second of `f`, each call decoding `samples`: a short warm-up, then calls
/// for about `budget`.
fn rate(samples: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < budget {
        for _ in 0..10 {
            f();
        }
        calls += 10;
    }
    (calls as f64 * samples as f64) / started.elapsed().as_secs_f64()
}

/// The one-shot timing: samples/s of every variant and the ratios the README quotes.
fn one_shot(workload: &Workload) {
    let budget = Duration::from_millis(700);
    let (mut raw, mut work, mut decoder) = (Vec::new(), Walk::default(), Decoder::default());
    let snappy_only = rate(workload.samples, budget, || {
        for body in &workload.bodies {
            black_box(snappy(body, &mut raw));
        }
    });
    let borrowed = rate(workload.samples, budget, || {
        for body in &workload.bodies {
            let decoded = snappy(body, &mut raw);
            walk(decoded, &mut work).unwrap();
            black_box(work.samples.len());
        }
    });
    let validated = rate(workload.samples, budget, || {
        for body in &workload.bodies {
            let mut count = Count::default();
            decoder
                .decode(Protocol::V1, body, MAX_DECODED, &mut count)
                .unwrap();
            black_box(count.samples);
        }
    });
    let prost_owned = rate(workload.samples, budget, || {
        for body in &workload.bodies {
            let decoded = snappy(body, &mut raw);
            let request: proto::WriteRequest = prost::Message::decode(decoded).unwrap();
            black_box(request.timeseries.len());
        }
    });
    let m = |rate: f64| rate / 1e6;
    println!(
        "decode {} ({} bodies, {} samples), one core, samples/s:",
        workload.name,
        workload.bodies.len(),
        workload.samples
    );
    println!("  snappy_only       {:>7.2} M", m(snappy_only));
    println!("  borrowed_no_utf8  {:>7.2} M", m(borrowed));
    println!("  decode_validate   {:>7.2} M", m(validated));
    println!("  prost_owned       {:>7.2} M", m(prost_owned));
    println!(
        "  decode_validate = {:.2}x prost_owned, {:.2} of borrowed_no_utf8, {:.2} of snappy_only",
        validated / prost_owned,
        validated / borrowed,
        validated / snappy_only
    );
}

fn bench(c: &mut Criterion) {
    let workloads = workloads();
    // The bare walk sees what the decoder sees.
    for workload in &workloads {
        let (mut raw, mut work) = (Vec::new(), Walk::default());
        let mut samples = 0;
        for body in &workload.bodies {
            walk(snappy(body, &mut raw), &mut work).unwrap();
            samples += work.samples.len();
        }
        assert_eq!(samples, workload.samples, "{}", workload.name);
    }
    for workload in &workloads {
        one_shot(workload);
    }
    for workload in &workloads {
        let mut group = c.benchmark_group(format!("decode/{}", workload.name));
        group.throughput(Throughput::Elements(workload.samples as u64));
        let (mut raw, mut work, mut decoder) = (Vec::new(), Walk::default(), Decoder::default());
        group.bench_function("snappy_only", |b| {
            b.iter(|| {
                for body in &workload.bodies {
                    black_box(snappy(body, &mut raw));
                }
            })
        });
        group.bench_function("borrowed_no_utf8", |b| {
            b.iter(|| {
                for body in &workload.bodies {
                    walk(snappy(body, &mut raw), &mut work).unwrap();
                    black_box(work.samples.len());
                }
            })
        });
        group.bench_function("decode_validate", |b| {
            b.iter(|| {
                for body in &workload.bodies {
                    let mut count = Count::default();
                    decoder
                        .decode(Protocol::V1, body, MAX_DECODED, &mut count)
                        .unwrap();
                    black_box(count.samples);
                }
            })
        });
        group.bench_function("prost_owned", |b| {
            b.iter(|| {
                for body in &workload.bodies {
                    let request: proto::WriteRequest =
                        prost::Message::decode(snappy(body, &mut raw)).unwrap();
                    black_box(request.timeseries.len());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
