//! What the fuzz targets check, shared by the remote_write 1.0 and 2.0 targets: a body goes
//! through the decoder and into a window store exactly as `POST /api/v1/write` sends it.
//!
//! Checked on every input, beyond "no panic": a refused body stores nothing; an accepted one
//! accounts for every sample it carried (stored or dropped by reason); and the reused decoder
//! gives the same answer when the same body comes again.

use ingest::{DecodeStats, Decoder, Protocol};
use std::cell::RefCell;
use windows::{Store, StoreConfig};

/// The decoded-size cap: far below the server's default, so inputs stay fast, but the same
/// refusal path (`TooLarge`) a large declared size takes in the server.
pub const MAX_DECODED: usize = 1 << 20;

/// The largest body looked at, as the server's `max_body_bytes` limit does.
pub const MAX_BODY: usize = 256 << 10;

thread_local! {
    /// One decoder reused input after input, as each server worker keeps one.
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::default());
}

/// Decodes `body` as `protocol` into a fresh store and checks the invariants above.
///
/// # Panics
///
/// When an invariant does not hold: that is the finding the fuzzer reports.
pub fn decode_into_store(protocol: Protocol, body: &[u8]) {
    if body.len() > MAX_BODY {
        return;
    }
    let store = Store::new(StoreConfig {
        // Any timestamp a body carries is judged the same, whatever came before it.
        lateness_ms: i64::MAX,
        retention_ms: i64::MAX,
        ..StoreConfig::default()
    });
    let mut appender = store.appender();
    let first = DECODER.with(|decoder| {
        decoder
            .borrow_mut()
            .decode(protocol, body, MAX_DECODED, &mut appender)
    });
    let outcome = appender.finish();
    let again: Option<DecodeStats> = DECODER.with(|decoder| {
        decoder
            .borrow_mut()
            .decode(protocol, body, MAX_DECODED, &mut Discard)
            .ok()
    });
    match first {
        Err(error) => {
            assert_eq!(outcome.appended, 0, "refused body stored samples: {error}");
            assert_eq!(
                store.stats().samples,
                0,
                "refused body stored samples: {error}"
            );
            assert!(
                again.is_none(),
                "second decode accepted what the first refused"
            );
            // The message must render (it names the problem for the sender).
            assert!(!error.to_string().is_empty());
        }
        Ok(stats) => {
            let carried = stats.samples + 2 * stats.histograms;
            assert_eq!(
                outcome.appended + outcome.dropped_total(),
                carried,
                "samples unaccounted for: {stats:?} {outcome:?}"
            );
            assert_eq!(store.stats().samples, outcome.appended);
            assert_eq!(again, Some(stats), "reused decoder answered differently");
        }
    }
}

/// A visitor that keeps nothing.
#[derive(Debug)]
struct Discard;

impl model::SeriesVisitor for Discard {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: model::SeriesRef<'_>) -> Result<(), Self::Error> {
        std::hint::black_box(series);
        Ok(())
    }
}
