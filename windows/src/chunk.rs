//! Compressed sample chunks: delta-of-delta timestamps and Gorilla XOR floats, bit-packed.
//! An [`Encoder`] appends in time order and can be sealed into an immutable [`Chunk`].
//!
//! Layout (most significant bit first): the first sample as a raw 64-bit timestamp and raw
//! 64-bit float; then per sample a delta-of-delta (`0` | `10`+7 bits | `110`+9 | `1110`+12 |
//! `11110`+20 | `11111`+64, zig-zag) and an XOR against the previous float (`0` same |
//! `10` + the meaningful bits inside the previous window | `11` + 5 bits leading zeros + 6 bits
//! length + the meaningful bits). Floats round-trip bit for bit, NaN payloads (stale markers)
//! included.

use model::Sample;

/// Samples per chunk before it is sealed (as Prometheus does).
pub(crate) const CHUNK_SAMPLES: u16 = 120;

/// Bytes an encoder grows its buffer by while small; beyond, it grows by an eighth.
const GROW_BYTES: usize = 8;

/// Dod buckets: (prefix bits, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 4] = [
    (0b10, 2, 7),
    (0b110, 3, 9),
    (0b1110, 4, 12),
    (0b11110, 5, 20),
];

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads bits back; reads past the end yield zeros (a chunk's count bounds every read).
#[derive(Debug)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, bits: u32) -> u64 {
        let mut out = 0u64;
        let mut left = bits;
        while left > 0 {
            let byte = self.bytes.get(self.pos / 8).copied().unwrap_or(0);
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = left.min(avail);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            out = (out << take) | chunk;
            self.pos += take as usize;
            left -= take;
        }
        out
    }

    fn bit(&mut self) -> bool {
        self.read(1) == 1
    }
}

/// The open, appendable end of a series. Its fields are laid out flat (the buffer a boxed
/// slice with its own length) because every series holds one.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    bytes: Box<[u8]>,
    /// Bytes of `bytes` in use.
    len: u16,
    /// Bits still free in the last byte in use (0..=7).
    free: u8,
    /// Leading/trailing zeros of the current XOR window; `leading == u8::MAX` before one exists.
    leading: u8,
    trailing: u8,
    count: u16,
    last_ms: i64,
    last_delta: i64,
    last_value: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            bytes: Box::default(),
            len: 0,
            free: 0,
            leading: u8::MAX,
            trailing: 0,
            count: 0,
            last_ms: 0,
            last_delta: 0,
            last_value: 0,
        }
    }
}

impl Encoder {
    fn push_bits(&mut self, value: u64, bits: u32) {
        let mut left = bits;
        while left > 0 {
            if self.free == 0 {
                let len = usize::from(self.len);
                if len == self.bytes.len() {
                    let grow = GROW_BYTES.max(len / 8);
                    let mut bigger = vec![0u8; len + grow].into_boxed_slice();
                    bigger[..len].copy_from_slice(&self.bytes);
                    self.bytes = bigger;
                }
                self.len += 1;
                self.free = 8;
            }
            let take = left.min(u32::from(self.free));
            let chunk = (value >> (left - take)) & ((1u64 << take) - 1);
            let shift = u32::from(self.free) - take;
            self.bytes[usize::from(self.len) - 1] |= (chunk << shift) as u8;
            self.free -= take as u8;
            left -= take;
        }
    }

    fn bit(&mut self, on: bool) {
        self.push_bits(u64::from(on), 1);
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first timestamp (the chunk's first eight bytes); 0 when empty.
    pub(crate) fn first_ms(&self) -> i64 {
        first_timestamp(&self.bytes)
    }

    pub(crate) fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// Appends a sample newer than the last one (the caller guarantees the order).
    pub(crate) fn push(&mut self, sample: Sample) {
        let value = sample.value.to_bits();
        if self.count == 0 {
            self.push_bits(sample.timestamp_ms as u64, 64);
            self.push_bits(value, 64);
        } else {
            let delta = sample.timestamp_ms.wrapping_sub(self.last_ms);
            let dod = delta.wrapping_sub(self.last_delta);
            self.push_dod(dod);
            self.push_xor(value ^ self.last_value);
            self.last_delta = delta;
        }
        self.last_ms = sample.timestamp_ms;
        self.last_value = value;
        self.count += 1;
    }

    fn push_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.bit(false);
            return;
        }
        let z = zigzag(dod);
        for (prefix, prefix_bits, payload) in DOD_BUCKETS {
            if z < (1u64 << payload) {
                self.push_bits(prefix, prefix_bits);
                self.push_bits(z, payload);
                return;
            }
        }
        self.push_bits(0b11111, 5);
        self.push_bits(z, 64);
    }

    fn push_xor(&mut self, xor: u64) {
        if xor == 0 {
            self.bit(false);
            return;
        }
        self.bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != u8::MAX && leading >= self.leading && trailing >= self.trailing {
            self.bit(false);
            let len = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.push_bits(xor >> self.trailing, len);
        } else {
            self.bit(true);
            let len = 64 - u32::from(leading) - u32::from(trailing);
            self.push_bits(u64::from(leading), 5);
            // A length of 64 is written as 0.
            self.push_bits(u64::from(len) & 63, 6);
            self.push_bits(xor >> trailing, len);
            self.leading = leading;
            self.trailing = trailing;
        }
    }

    /// Turns the encoder into an immutable chunk, giving back unused capacity.
    pub(crate) fn seal(self) -> Chunk {
        let mut bytes = self.bytes.into_vec();
        bytes.truncate(usize::from(self.len));
        Chunk {
            first_ms: first_timestamp(&bytes),
            last_ms: self.last_ms,
            count: self.count,
            bytes: bytes.into_boxed_slice(),
        }
    }

    pub(crate) fn iter(&self) -> Decoder<'_> {
        Decoder::new(&self.bytes[..usize::from(self.len)], self.count)
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

fn first_timestamp(bytes: &[u8]) -> i64 {
    bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, i64::from_be_bytes)
}

/// A sealed run of samples.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    pub(crate) count: u16,
    bytes: Box<[u8]>,
}

impl Chunk {
    pub(crate) fn iter(&self) -> Decoder<'_> {
        Decoder::new(&self.bytes, self.count)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// Encodes time-ordered samples into chunks of at most [`CHUNK_SAMPLES`]; the last one open.
pub(crate) fn encode_all(samples: &[Sample]) -> (Vec<Chunk>, Encoder) {
    let mut sealed = Vec::new();
    let mut open = Encoder::default();
    for sample in samples {
        if open.count() >= CHUNK_SAMPLES {
            sealed.push(std::mem::take(&mut open).seal());
        }
        open.push(*sample);
    }
    (sealed, open)
}

/// Iterates the samples of a chunk or encoder in time order.
#[derive(Debug)]
pub(crate) struct Decoder<'a> {
    bits: BitReader<'a>,
    left: u16,
    started: bool,
    last_ms: i64,
    last_delta: i64,
    last_value: u64,
    leading: u32,
    trailing: u32,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8], count: u16) -> Self {
        Self {
            bits: BitReader { bytes, pos: 0 },
            left: count,
            started: false,
            last_ms: 0,
            last_delta: 0,
            last_value: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn read_dod(&mut self) -> i64 {
        if !self.bits.bit() {
            return 0;
        }
        for (_, _, payload) in DOD_BUCKETS {
            // Each further prefix bit is a 1 until a terminating 0 picks the bucket.
            if !self.bits.bit() {
                return unzigzag(self.bits.read(payload));
            }
        }
        unzigzag(self.bits.read(64))
    }

    fn read_xor(&mut self) -> u64 {
        if !self.bits.bit() {
            return 0;
        }
        if self.bits.bit() {
            self.leading = self.bits.read(5) as u32;
            let len = match self.bits.read(6) as u32 {
                0 => 64,
                n => n,
            };
            self.trailing = 64 - self.leading - len;
        }
        let len = 64 - self.leading - self.trailing;
        self.bits.read(len) << self.trailing
    }
}

impl Iterator for Decoder<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if !self.started {
            self.started = true;
            self.last_ms = self.bits.read(64) as i64;
            self.last_value = self.bits.read(64);
        } else {
            let dod = self.read_dod();
            self.last_delta = self.last_delta.wrapping_add(dod);
            self.last_ms = self.last_ms.wrapping_add(self.last_delta);
            self.last_value ^= self.read_xor();
        }
        Some(Sample {
            timestamp_ms: self.last_ms,
            value: f64::from_bits(self.last_value),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Prometheus's stale marker.
    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    fn round_trip(samples: &[Sample]) {
        let (sealed, open) = encode_all(samples);
        let back: Vec<Sample> = sealed
            .iter()
            .flat_map(Chunk::iter)
            .chain(open.iter())
            .collect();
        assert_eq!(back.len(), samples.len());
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(a.timestamp_ms, b.timestamp_ms);
            assert_eq!(
                a.value.to_bits(),
                b.value.to_bits(),
                "{} vs {}",
                a.value,
                b.value
            );
        }
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1000i64..1000).prop_map(|v| v as f64),
            (0u32..4).prop_map(|v| v as f64 * 0.25),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::from_bits(STALE_NAN)),
            Just(-0.0),
        ]
    }

    fn gap() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(15_000i64),
            14_990i64..15_010,
            1i64..100,
            1i64..10_000_000,
            Just(i64::MAX / 4),
        ]
    }

    proptest! {
        #[test]
        fn samples_round_trip(
            start in any::<i64>().prop_map(|t| t / 4),
            steps in prop::collection::vec((gap(), value()), 0..400),
        ) {
            let mut t = start;
            let samples: Vec<Sample> = steps
                .iter()
                .map(|(gap, value)| {
                    t = t.saturating_add(*gap);
                    Sample { timestamp_ms: t, value: *value }
                })
                .collect();
            round_trip(&samples);
        }
    }

    #[test]
    fn regular_series_are_small() {
        let samples: Vec<Sample> = (0..120)
            .map(|i| Sample {
                timestamp_ms: 1_700_000_000_000 + i * 15_000,
                value: 42.0,
            })
            .collect();
        let (_, open) = encode_all(&samples);
        // 16 bytes for the first sample, then 2 bits per sample (plus one bucketed delta).
        assert!(
            open.heap_bytes() <= 16 + 36 + GROW_BYTES,
            "{}",
            open.heap_bytes()
        );
        round_trip(&samples);
    }
}
