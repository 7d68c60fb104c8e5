//! Loki push decoding: bodies captured from real Loki clients (python-logging-loki, winston-loki),
//! content encodings, caps, and corrupted bodies that must be refused without a panic.

use crate::common::chain;
use flate2::Compression;
use ingest::loki::{self, LogBatch, LokiError, proto};
use model::{Classify, ErrorClass};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAX: usize = 1 << 20;
const JSON: Option<&str> = Some("application/json");
const PROTOBUF: Option<&str> = Some("application/x-protobuf");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn json_bodies(name: &str) -> Vec<Vec<u8>> {
    std::fs::read(data(name))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Every entry of a batch as `(labels, timestamp, line)`.
fn flat(batch: &LogBatch) -> Vec<(String, i64, String)> {
    batch
        .streams
        .iter()
        .flat_map(|s| {
            s.entries
                .iter()
                .map(|e| (s.labels.to_string(), e.timestamp_ns, e.line.clone()))
        })
        .collect()
}

const PYTHON_LINES: [&str; 3] = [
    "order 1234 placed in 35 ms",
    "payment retry for card \"4242\" after timeout",
    "connection refused to redis:6379\n\tat Client.connect (net.js:1)",
];

/// What python-logging-loki sent, for either emitter version.
fn check_python(batches: &[LogBatch]) {
    assert_eq!(batches.len(), 3);
    let levels = ["info", "warning", "error"];
    let mut previous = 0;
    for (i, batch) in batches.iter().enumerate() {
        assert_eq!(batch.streams.len(), 1);
        let stream = &batch.streams[0];
        assert_eq!(stream.labels.get("app"), Some("checkout"));
        assert_eq!(stream.labels.get("env"), Some("prod \"eu\""));
        assert_eq!(stream.labels.get("site"), Some("zürich"));
        assert_eq!(stream.labels.get("logger"), Some("shop.checkout"));
        assert_eq!(stream.labels.get("severity"), Some(levels[i]));
        assert_eq!(stream.labels.get("pod").is_some(), i == 1);
        assert_eq!(stream.entries.len(), 1);
        let entry = &stream.entries[0];
        assert_eq!(entry.line, PYTHON_LINES[i]);
        // After 2020-01-01, before 2100, in send order.
        assert!(entry.timestamp_ns > 1_577_836_800_000_000_000);
        assert!(entry.timestamp_ns < 4_102_444_800_000_000_000);
        assert!(entry.timestamp_ns >= previous);
        previous = entry.timestamp_ns;
    }
}

#[test]
fn python_logging_loki_v1_fixture() {
    let batches: Vec<LogBatch> = json_bodies("loki-python-v1.jsonl")
        .iter()
        .map(|body| loki::decode_push(JSON, None, body, MAX).unwrap())
        .collect();
    check_python(&batches);
}

#[test]
fn python_logging_loki_legacy_fixture() {
    let batches: Vec<LogBatch> = json_bodies("loki-python-v0.jsonl")
        .iter()
        .map(|body| loki::decode_push(JSON, None, body, MAX).unwrap())
        .collect();
    check_python(&batches);
    // RFC 3339 with microseconds.
    assert!(
        batches
            .iter()
            .all(|b| b.streams[0].entries[0].timestamp_ns % 1000 == 0)
    );
}

#[test]
fn winston_loki_protobuf_fixture() {
    let body = std::fs::read(data("loki-winston-protobuf.bin")).unwrap();
    let batch = loki::decode_push(PROTOBUF, None, &body, MAX).unwrap();
    let lines: Vec<(String, String)> = batch
        .streams
        .iter()
        .flat_map(|s| {
            let level = s.labels.get("level").unwrap_or("").to_owned();
            s.entries
                .iter()
                .map(move |e| (level.clone(), e.line.clone()))
        })
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].0 == "info" && lines[0].1.starts_with("cart 42 updated"));
    assert!(lines[1].0 == "error" && lines[1].1.starts_with("Java heap space"));
    assert!(lines[2].0 == "warn" && lines[2].1.starts_with("slow query: 1200 ms é"));
    for stream in &batch.streams {
        assert_eq!(stream.labels.get("app"), Some("cart"));
        assert_eq!(stream.labels.get("namespace"), Some("shop"));
        for entry in &stream.entries {
            // Milliseconds from Date.now(), after 2020.
            assert_eq!(entry.timestamp_ns % 1_000_000, 0);
            assert!(entry.timestamp_ns > 1_577_836_800_000_000_000);
        }
    }
    assert_eq!(batch.streams[1].labels.get("pod"), Some("cart-5c6b-q1"));
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn content_encodings() {
    let body = &json_bodies("loki-python-v1.jsonl")[0];
    let plain = loki::decode_push(JSON, None, body, MAX).unwrap();
    assert_eq!(
        loki::decode_push(JSON, Some("gzip"), &gzip(body), MAX).unwrap(),
        plain
    );
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(body).unwrap();
    let zlib = zlib.finish().unwrap();
    assert_eq!(
        loki::decode_push(JSON, Some("deflate"), &zlib, MAX).unwrap(),
        plain
    );
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    raw.write_all(body).unwrap();
    let raw = raw.finish().unwrap();
    assert_eq!(
        loki::decode_push(JSON, Some("deflate"), &raw, MAX).unwrap(),
        plain
    );
    // Protobuf inside gzip, as Loki reads it.
    let proto_body = std::fs::read(data("loki-winston-protobuf.bin")).unwrap();
    assert_eq!(
        loki::decode_push(PROTOBUF, Some("gzip"), &gzip(&proto_body), MAX).unwrap(),
        loki::decode_push(PROTOBUF, None, &proto_body, MAX).unwrap()
    );
    let error = loki::decode_push(JSON, Some("gzip"), body, MAX).unwrap_err();
    assert_eq!(error.class(), ErrorClass::InvalidInput);
    assert!(chain(&error).starts_with("body is not valid gzip: "));
}

#[test]
fn bombs_and_oversized_bodies_answer_413() {
    let zeros = vec![b' '; 8 << 20];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 64 << 10);
    let error = loki::decode_push(JSON, Some("gzip"), &bomb, MAX).unwrap_err();
    assert!(matches!(
        error,
        LokiError::DecompressedTooLarge { stage: "gzip", .. }
    ));
    assert_eq!(error.class(), ErrorClass::TooLarge);
    let snappy_bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let error = loki::decode_push(PROTOBUF, None, &snappy_bomb, MAX).unwrap_err();
    assert!(matches!(
        error,
        LokiError::DecompressedTooLarge {
            stage: "snappy",
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "snappy body decompresses to more than the limit of 1048576 bytes"
    );
    let error = loki::decode_push(JSON, None, &zeros, MAX).unwrap_err();
    assert_eq!(error.class(), ErrorClass::TooLarge);
}

#[test]
fn refusals_name_what_is_wrong() {
    let refuse = |ct, body: &[u8]| {
        let error = loki::decode_push(ct, None, body, MAX).unwrap_err();
        (error.class(), chain(&error))
    };
    let (class, text) = refuse(PROTOBUF, b"{\"streams\":[]}");
    assert_eq!(class, ErrorClass::InvalidInput);
    assert!(
        text.starts_with("body is not valid snappy block format: "),
        "{text}"
    );

    let not_proto = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff")
        .unwrap();
    let (class, text) = refuse(PROTOBUF, &not_proto);
    assert_eq!(class, ErrorClass::InvalidInput);
    assert!(
        text.starts_with("body is not a valid logproto.PushRequest protobuf: "),
        "{text}"
    );

    let bad_labels = loki::encode_push(&request(r#"{app="x", pod=y}"#, 1));
    let (_, text) = refuse(PROTOBUF, &bad_labels);
    assert_eq!(
        text,
        r#"stream 0: bad label string "{app=\"x\", pod=y}": expected a quoted value ("..." or `...`) at byte 14"#
    );

    let duplicate = loki::encode_push(&request(r#"{app="x", app="y"}"#, 1));
    let (_, text) = refuse(PROTOBUF, &duplicate);
    assert_eq!(
        text,
        r#"stream 0: invalid label set: duplicate label name "app""#
    );

    let mut no_ts = request(r#"{app="x"}"#, 2);
    no_ts.streams[0].entries[1].timestamp = None;
    let (_, text) = refuse(PROTOBUF, &loki::encode_push(&no_ts));
    assert_eq!(text, r#"stream 0, entry 1: bad timestamp "": missing"#);

    let (class, text) = refuse(
        JSON,
        br#"{"streams":[{"stream":{"a":"b"},"values":[["x","y"]]"#,
    );
    assert_eq!(class, ErrorClass::InvalidInput);
    assert!(
        text.starts_with("body is not a valid Loki push JSON document: EOF"),
        "{text}"
    );

    let (class, text) = refuse(Some("text/plain"), b"");
    assert_eq!(class, ErrorClass::UnsupportedMediaType);
    assert!(text.starts_with("unsupported content type \"text/plain\""));
}

fn request(labels: &str, entries: usize) -> proto::PushRequest {
    proto::PushRequest {
        streams: vec![proto::StreamAdapter {
            labels: labels.to_owned(),
            entries: (0..entries)
                .map(|i| proto::EntryAdapter {
                    timestamp: Some(proto::Timestamp::from_nanos(
                        1_700_000_000_000_000_000 + i64::try_from(i).unwrap(),
                    )),
                    line: format!("line {i}"),
                    structured_metadata: Vec::new(),
                    parsed: Vec::new(),
                })
                .collect(),
            hash: 0,
        }],
        format: String::new(),
    }
}

fn arb_request() -> impl Strategy<Value = proto::PushRequest> {
    let label = ("[a-z_][a-z0-9_]{0,6}", any::<String>());
    let entry = (
        any::<i64>(),
        any::<String>(),
        proptest::collection::vec(("[a-z_]{1,5}", any::<String>()), 0..3),
    )
        .prop_map(|(ts, line, metadata)| proto::EntryAdapter {
            timestamp: Some(proto::Timestamp::from_nanos(ts)),
            line,
            structured_metadata: metadata
                .into_iter()
                .map(|(name, value)| proto::LabelPairAdapter { name, value })
                .collect(),
            parsed: Vec::new(),
        });
    let stream = (
        proptest::collection::btree_map(label.0, label.1, 1..4),
        proptest::collection::vec(entry, 0..4),
    )
        .prop_map(|(labels, entries)| {
            let mut text = String::from("{");
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(name);
                text.push('=');
                loki::write_quoted(&mut text, value);
            }
            text.push('}');
            proto::StreamAdapter {
                labels: text,
                entries,
                hash: 0,
            }
        });
    proptest::collection::vec(stream, 0..4).prop_map(|streams| proto::PushRequest {
        streams,
        format: String::new(),
    })
}

/// Mutations of a valid body: flip bytes, truncate, insert.
fn corrupt(mut body: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, op, byte) in edits {
        if body.is_empty() {
            body.push(byte);
            continue;
        }
        let at = at % body.len();
        match op % 4 {
            0 => body[at] ^= byte | 1,
            1 => body.truncate(at),
            2 => body.insert(at, byte),
            _ => body[at] = byte,
        }
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn protobuf_round_trips(request in arb_request()) {
        let batch = loki::decode_push(PROTOBUF, None, &loki::encode_push(&request), MAX).unwrap();
        prop_assert_eq!(batch.streams.len(), request.streams.len());
        for (stream, sent) in batch.streams.iter().zip(&request.streams) {
            prop_assert_eq!(
                loki::parse_label_string(&sent.labels).unwrap().len(),
                stream.labels.len()
            );
            for (entry, sent) in stream.entries.iter().zip(&sent.entries) {
                let ts = sent.timestamp.unwrap();
                prop_assert_eq!(
                    i128::from(entry.timestamp_ns),
                    i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos)
                );
                prop_assert_eq!(&entry.line, &sent.line);
                prop_assert_eq!(entry.metadata.len(), sent.structured_metadata.len());
            }
        }
    }

    #[test]
    fn corrupted_protobuf_never_panics(
        request in arb_request(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
        raw in any::<bool>(),
    ) {
        let encoded = if raw {
            // Corrupt the protobuf, then compress: exercises the protobuf and label checks.
            let bytes = prost::Message::encode_to_vec(&request);
            snap::raw::Encoder::new().compress_vec(&corrupt(bytes, &edits)).unwrap()
        } else {
            corrupt(loki::encode_push(&request), &edits)
        };
        let _ = loki::decode_push(PROTOBUF, None, &encoded, MAX);
        let _ = loki::decode_push(PROTOBUF, Some("gzip"), &encoded, MAX);
        let _ = loki::decode_push(PROTOBUF, Some("deflate"), &encoded, MAX);
    }

    #[test]
    fn corrupted_json_never_panics(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let mut bodies = json_bodies("loki-python-v1.jsonl");
        bodies.extend(json_bodies("loki-python-v0.jsonl"));
        let body = corrupt(bodies[which % bodies.len()].clone(), &edits);
        let _ = loki::decode_push(JSON, None, &body, MAX);
        let _ = loki::decode_push(JSON, Some("gzip"), &gzip(&body), MAX);
        let _ = loki::decode_push(JSON, Some("gzip"), &body, MAX);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for ct in [JSON, PROTOBUF, None] {
            for ce in [None, Some("gzip"), Some("deflate")] {
                let _ = loki::decode_push(ct, ce, &body, MAX);
            }
        }
    }
}

/// Whether `program args...` runs and exits 0.
fn runs(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `program args.. <capture URL><path> suffix..` against a loopback capture server and
/// decodes every request the client sent, with the headers it sent.
async fn run_client(program: &str, args: &[&str], path: &str, suffix: &[&str]) -> Vec<LogBatch> {
    let capture = crate::loki_support::PushCapture::start().await;
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .arg(format!("{}{path}", capture.base_url))
        .args(suffix);
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    capture
        .take()
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/loki/api/v1/push");
            loki::decode_push(
                r.content_type.as_deref(),
                r.content_encoding.as_deref(),
                &r.body,
                MAX,
            )
            .unwrap()
        })
        .collect()
}

/// python-logging-loki, live. Needs `pip install python-logging-loki` for the interpreter in
/// `LOKI_CLIENT_PYTHON` (default `python3`); without it the test says so and checks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_python_logging_loki() {
    let python = std::env::var("LOKI_CLIENT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !runs(&python, &["-c", "import logging_loki"]) {
        eprintln!("SKIPPED live_python_logging_loki: {python} cannot import logging_loki");
        return;
    }
    let script = data("loki-client-python.py");
    let script = script.to_str().unwrap();
    for version in ["1", "0"] {
        let batches = run_client(&python, &[script], "/loki/api/v1/push", &[version]).await;
        check_python(&batches);
        assert!(flat(&batches[2])[0].2.contains('\n'));
    }
}

/// winston-loki (protobuf + snappy), live. Needs `npm install winston winston-loki` in a folder
/// named by `NODE_PATH` (its `node_modules`); without it the test says so and checks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_winston_loki_protobuf() {
    if !runs(
        "node",
        &["-e", "require('winston-loki'); require('snappy')"],
    ) {
        eprintln!("SKIPPED live_winston_loki_protobuf: node cannot load winston-loki and snappy");
        return;
    }
    let script = data("loki-client-winston.js");
    // winston-loki takes the server's base URL and adds the push path itself.
    let batches = run_client("node", &[script.to_str().unwrap()], "", &[]).await;
    let lines: Vec<String> = batches
        .iter()
        .flat_map(flat)
        .map(|(_, _, line)| line)
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("cart 42 updated"));
    assert!(lines.iter().any(|l| l.starts_with("Java heap space")));
}

/// Decode rate of a 100-stream, 20 000-line push in both formats (run with `--ignored
/// --nocapture`; a debug build reads far slower than a release one).
#[test]
#[ignore]
fn decode_rate() {
    let streams: Vec<proto::StreamAdapter> = (0..100)
        .map(|s| {
            let mut stream =
                request(&format!(r#"{{app="api", pod="api-{s}"}}"#), 200).streams[0].clone();
            for entry in &mut stream.entries {
                entry.line = format!(
                    "level=info msg=\"GET /api/v1/items/{s}\" status=200 took=35ms {}",
                    entry.line
                );
            }
            stream
        })
        .collect();
    let request = proto::PushRequest {
        streams,
        format: String::new(),
    };
    let protobuf = loki::encode_push(&request);
    let json_streams: Vec<serde_json::Value> = request
        .streams
        .iter()
        .map(|s| {
            let labels: BTreeMap<String, String> = loki::parse_label_string(&s.labels)
                .unwrap()
                .into_iter()
                .collect();
            let values: Vec<[String; 2]> = s
                .entries
                .iter()
                .map(|e| {
                    let ts = e.timestamp.unwrap();
                    [
                        (ts.seconds * 1_000_000_000 + i64::from(ts.nanos)).to_string(),
                        e.line.clone(),
                    ]
                })
                .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    let json = serde_json::to_vec(&serde_json::json!({ "streams": json_streams })).unwrap();
    for (name, ct, body) in [("protobuf", PROTOBUF, &protobuf), ("json", JSON, &json)] {
        let rounds = 20;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let batch = loki::decode_push(ct, None, body, 64 << 20).unwrap();
            assert_eq!(batch.entry_count(), 20_000);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: body {} bytes, {:.0} lines/s, {:.1} MB/s",
            body.len(),
            f64::from(rounds * 20_000) / secs,
            f64::from(rounds) * body.len() as f64 / secs / 1e6
        );
    }
}
