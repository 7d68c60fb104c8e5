//! Captures real remote_write request bodies to files, for the decoder's test fixtures.
//! Listens on an address, answers every POST with 204 and saves the first N bodies verbatim.
//!
//! ```text
//! cargo run -p ingest --example capture_remote_write -- 127.0.0.1:19201 ingest/tests/data/prometheus-v1 3
//! prometheus --config.file=ingest/tests/data/capture-prometheus.yml --storage.tsdb.path=/tmp/capture-tsdb \
//!     --web.listen-address=127.0.0.1:19090
//! ```
//! With the config's 1 s self-scrape, bodies arrive within seconds; each is written as
//! `<prefix>-<n>.bin` and its headers are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:19201".to_owned());
    let prefix = args
        .next()
        .unwrap_or_else(|| "ingest/tests/data/prometheus-v1".to_owned());
    let wanted: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    let listener = TcpListener::bind(&address)?;
    eprintln!("listening on {address}, saving {wanted} bodies as {prefix}-N.bin");
    let mut saved = 0;
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut reader = BufReader::new(stream.try_clone()?);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line)? == 0 {
                break;
            }
            let mut length = 0usize;
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse()?;
                    }
                    headers.push(line.to_owned());
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")?;
            if saved < wanted && request_line.starts_with("POST") {
                saved += 1;
                let path = format!("{prefix}-{saved}.bin");
                std::fs::write(&path, &body)?;
                eprintln!(
                    "{} -> {path} ({} bytes)",
                    request_line.trim_end(),
                    body.len()
                );
                for header in &headers {
                    eprintln!("  {header}");
                }
            }
            if saved >= wanted {
                return Ok(());
            }
        }
    }
    Ok(())
}
