//! Compressed sample chunks: delta-of-delta timestamps, and values as decimal deltas or
//! Gorilla XOR floats, bit-packed. An [`Encoder`] appends in time order and can be sealed into
//! an immutable [`Chunk`].
//!
//! Layout (most significant bit first): the first sample as a raw 64-bit timestamp and raw
//! 64-bit float; then per sample a delta-of-delta (`0` | `10`+7 bits | `110`+9 | `1110`+12 |
//! `11110`+20 | `11111`+64, zig-zag) and a value:
//! - `0`: the same bits as the previous value;
//! - `10`: a decimal delta. Both values are exact decimals `m / 10^s` at the scale `s` in
//!   force (`m` under 2^53, the division giving the float bit for bit); the zig-zag delta of
//!   `m` follows as `0` + the bits of the current delta width, or `1` + 6 bits of a new width
//!   `n` + the `n − 1` bits under its leading one;
//! - `11`: an XOR against the previous float: `0` + the meaningful bits inside the previous
//!   window | `1` + 5 bits leading zeros + 6 bits length + the meaningful bits.
//!
//! The scale is never written: after the first value and after every XOR-coded one, encoder
//! and decoder derive it from the value (the scale in force if the value is exact in it, else
//! the smallest of 0..=6 that is). So counters, integer gauges and values with a few decimals
//! (CPU seconds, load averages) cost the bits of their change rather than a float mantissa's,
//! and the encoder writes whichever of decimal delta and XOR is shorter. Floats round-trip bit
//! for bit, NaN payloads (stale markers), infinities and -0.0 included.

use model::Sample;

/// Samples per chunk before it is sealed (as Prometheus does). Bounds a chunk's bits under
/// `u16::MAX` (at most 69 timestamp and 80 value bits per sample).
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

/// Decimal scales tried: values with up to six decimals.
const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// No decimal scale fits the last value.
const NO_SCALE: u8 = u8::MAX;

/// 2^53: integers below it are exact in a float.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// No XOR window yet.
const NO_WINDOW: u8 = u8::MAX;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// `value` as the integer `m` with `m / 10^scale == value` bit for bit, if it is one.
fn decimal_at(value: f64, scale: u8) -> Option<i64> {
    let power = *POW10.get(usize::from(scale))?;
    let scaled = value * power;
    let m = scaled.round();
    // A decimal lands within a few ulps of its integer; anything further off is not one, and
    // is refused before the (slower) division that decides.
    if m.is_nan() || m.abs() >= EXACT || (scaled - m).abs() > m.abs() * 1e-12 {
        return None;
    }
    let m = m as i64;
    ((m as f64 / power).to_bits() == value.to_bits()).then_some(m)
}

/// The scale after an XOR-coded (or first) value, with the value at that scale: the scale in
/// force if the value is exact in it, else the smallest that fits, else none.
fn rescale(value: f64, current: u8) -> (u8, i64) {
    if let Some(m) = decimal_at(value, current) {
        return (current, m);
    }
    (0..POW10.len() as u8)
        .find_map(|scale| decimal_at(value, scale).map(|m| (scale, m)))
        .unwrap_or((NO_SCALE, 0))
}

/// Bit width of `z` (0 for 0).
fn width(z: u64) -> u32 {
    64 - z.leading_zeros()
}

/// Reads bits back through a 64-bit buffer; reads past the end yield zeros (a chunk's count
/// bounds every read).
#[derive(Debug)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next byte to load into `buffer`.
    next: usize,
    /// Unread bits, most significant first.
    buffer: u64,
    /// Bits of `buffer` unread.
    held: u32,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            next: 0,
            buffer: 0,
            held: 0,
        }
    }

    /// Tops the buffer up to at least 57 bits.
    #[inline(never)]
    fn refill(&mut self) {
        if let Some(eight) = self.bytes.get(self.next..self.next + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            self.buffer |= u64::from_be_bytes(word) >> self.held;
            let bytes = (63 - self.held) / 8;
            self.next += bytes as usize;
            self.held += bytes * 8;
        } else {
            while self.held <= 56 {
                let byte = self.bytes.get(self.next).copied().unwrap_or(0);
                self.buffer |= u64::from(byte) << (56 - self.held);
                self.next += 1;
                self.held += 8;
            }
        }
    }

    #[inline(always)]
    fn read(&mut self, bits: u32) -> u64 {
        if bits == 0 {
            return 0;
        }
        if bits > 56 {
            let high = self.read(bits - 32);
            return (high << 32) | self.read(32);
        }
        if self.held < bits {
            self.refill();
        }
        let out = self.buffer >> (64 - bits);
        self.buffer <<= bits;
        self.held -= bits;
        out
    }

    #[inline(always)]
    fn bit(&mut self) -> bool {
        if self.held == 0 {
            self.refill();
        }
        let on = self.buffer >> 63 == 1;
        self.buffer <<= 1;
        self.held -= 1;
        on
    }
}

/// The open, appendable end of a series. Its fields are laid out flat (the buffer a boxed
/// slice with its own length in bits) because every series holds one.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    bytes: Box<[u8]>,
    /// Bits of `bytes` in use.
    bit_len: u16,
    count: u16,
    /// Leading/trailing zeros of the current XOR window; `leading == NO_WINDOW` before one.
    leading: u8,
    trailing: u8,
    /// Decimal scale of the last value (`NO_SCALE` when none fits).
    scale: u8,
    /// Width of the current decimal delta window; 0 before one.
    int_bits: u8,
    last_ms: i64,
    last_delta: i64,
    last_value: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            bytes: Box::default(),
            bit_len: 0,
            count: 0,
            leading: NO_WINDOW,
            trailing: 0,
            scale: NO_SCALE,
            int_bits: 0,
            last_ms: 0,
            last_delta: 0,
            last_value: 0,
        }
    }
}

/// A decimal delta ready to write: zig-zag value, its width, and whether the window is reused.
#[derive(Debug)]
struct DecimalDelta {
    z: u64,
    width: u32,
    reuse: bool,
    cost: u32,
}

impl Encoder {
    fn push_bits(&mut self, value: u64, bits: u32) {
        let mut left = bits;
        while left > 0 {
            let used = usize::from(self.bit_len);
            let byte = used / 8;
            if byte == self.bytes.len() {
                let grow = GROW_BYTES.max(byte / 8);
                let mut bigger = vec![0u8; byte + grow].into_boxed_slice();
                bigger[..byte].copy_from_slice(&self.bytes);
                self.bytes = bigger;
            }
            let free = 8 - (used % 8) as u32;
            let take = left.min(free);
            let chunk = (value >> (left - take)) & ((1u64 << take) - 1);
            self.bytes[byte] |= (chunk << (free - take)) as u8;
            self.bit_len += take as u16;
            left -= take;
        }
    }

    fn bit(&mut self, on: bool) {
        self.push_bits(u64::from(on), 1);
    }

    fn used_bytes(&self) -> usize {
        usize::from(self.bit_len).div_ceil(8)
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the encoder holds a full chunk and must be sealed before the next push.
    pub(crate) fn is_full(&self) -> bool {
        self.count >= CHUNK_SAMPLES
    }

    /// The first timestamp (the chunk's first eight bytes); 0 when empty.
    pub(crate) fn first_ms(&self) -> i64 {
        first_timestamp(&self.bytes)
    }

    pub(crate) fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// Appends a sample newer than the last one to an encoder that is not full (the caller
    /// guarantees both).
    pub(crate) fn push(&mut self, sample: Sample) {
        let value = sample.value.to_bits();
        if self.count == 0 {
            self.push_bits(sample.timestamp_ms as u64, 64);
            self.push_bits(value, 64);
            self.scale = rescale(sample.value, NO_SCALE).0;
        } else {
            let delta = sample.timestamp_ms.wrapping_sub(self.last_ms);
            let dod = delta.wrapping_sub(self.last_delta);
            self.push_dod(dod);
            self.push_value(sample.value);
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

    /// The decimal delta from the last value to `value`, if both are exact at the scale.
    fn decimal_delta(&self, value: f64) -> Option<DecimalDelta> {
        let previous = decimal_at(f64::from_bits(self.last_value), self.scale)?;
        let current = decimal_at(value, self.scale)?;
        let z = zigzag(current - previous);
        let width = width(z);
        let window = u32::from(self.int_bits);
        // Reuse the window when the delta fits and a new one would not be shorter.
        let reuse = window > 0 && width <= window && window <= width + 5;
        let cost = if reuse { 1 + window } else { 6 + width };
        Some(DecimalDelta {
            z,
            width,
            reuse,
            cost,
        })
    }

    /// `None` when `xor` fits the current window; else the new window's leading and trailing
    /// zeros.
    fn xor_window(&self, xor: u64) -> Option<(u8, u8)> {
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        let fits =
            self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing;
        (!fits).then_some((leading, trailing))
    }

    fn xor_cost(&self, xor: u64) -> u32 {
        match self.xor_window(xor) {
            None => 1 + 64 - u32::from(self.leading) - u32::from(self.trailing),
            Some((leading, trailing)) => 12 + 64 - u32::from(leading) - u32::from(trailing),
        }
    }

    fn push_value(&mut self, value: f64) {
        let xor = value.to_bits() ^ self.last_value;
        if xor == 0 {
            self.bit(false);
            return;
        }
        match self.decimal_delta(value) {
            Some(d) if d.cost <= self.xor_cost(xor) => {
                self.push_bits(0b10, 2);
                if d.reuse {
                    self.bit(false);
                    self.push_bits(d.z, u32::from(self.int_bits));
                } else {
                    self.bit(true);
                    self.push_bits(u64::from(d.width), 6);
                    if d.width > 0 {
                        self.push_bits(d.z, d.width - 1);
                    }
                    self.int_bits = d.width as u8;
                }
            }
            _ => {
                self.push_bits(0b11, 2);
                self.push_xor(xor);
                self.scale = rescale(value, self.scale).0;
            }
        }
    }

    fn push_xor(&mut self, xor: u64) {
        match self.xor_window(xor) {
            None => {
                self.bit(false);
                let len = 64 - u32::from(self.leading) - u32::from(self.trailing);
                self.push_bits(xor >> self.trailing, len);
            }
            Some((leading, trailing)) => {
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
    }

    /// Turns the encoder into an immutable chunk, giving back unused capacity.
    pub(crate) fn seal(self) -> Chunk {
        let used = self.used_bytes();
        let mut bytes = self.bytes.into_vec();
        bytes.truncate(used);
        Chunk {
            first_ms: first_timestamp(&bytes),
            last_ms: self.last_ms,
            count: self.count,
            bytes: bytes.into_boxed_slice(),
        }
    }

    pub(crate) fn iter(&self) -> Decoder<'_> {
        Decoder::new(&self.bytes[..self.used_bytes()], self.count)
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
        if open.is_full() {
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
    scale: u8,
    int_bits: u32,
    /// The last value at `scale`.
    last_int: i64,
    /// Whether `last_value` still waits for `last_int` to be divided by the scale.
    pending: bool,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8], count: u16) -> Self {
        Self {
            bits: BitReader::new(bytes),
            left: count,
            started: false,
            last_ms: 0,
            last_delta: 0,
            last_value: 0,
            leading: 0,
            trailing: 0,
            scale: NO_SCALE,
            int_bits: 0,
            last_int: 0,
            pending: false,
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

    fn read_decimal(&mut self) {
        let z = if self.bits.bit() {
            self.int_bits = self.bits.read(6) as u32;
            match self.int_bits {
                0 => 0,
                n => (1u64 << (n - 1)) | self.bits.read(n - 1),
            }
        } else {
            self.bits.read(self.int_bits)
        };
        self.last_int = self.last_int.wrapping_add(unzigzag(z));
        self.pending = true;
    }

    /// Brings `last_value` up to date after decimal deltas (a division, so done only when
    /// the value is wanted).
    fn settle(&mut self) {
        if self.pending {
            self.pending = false;
            let power = POW10.get(usize::from(self.scale)).copied().unwrap_or(1.0);
            self.last_value = (self.last_int as f64 / power).to_bits();
        }
    }

    fn read_xor(&mut self) {
        if self.bits.bit() {
            self.leading = self.bits.read(5) as u32;
            let len = match self.bits.read(6) as u32 {
                0 => 64,
                n => n,
            };
            self.trailing = 64u32.saturating_sub(self.leading + len);
        }
        let len = 64u32.saturating_sub(self.leading + self.trailing);
        let xor = self.bits.read(len).checked_shl(self.trailing).unwrap_or(0);
        self.settle();
        self.last_value ^= xor;
        (self.scale, self.last_int) = rescale(f64::from_bits(self.last_value), self.scale);
    }
}

impl Decoder<'_> {
    /// Decodes the next sample's timestamp and value state; `false` at the end.
    #[inline(always)]
    fn step(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        if !self.started {
            self.started = true;
            self.last_ms = self.bits.read(64) as i64;
            self.last_value = self.bits.read(64);
            (self.scale, self.last_int) = rescale(f64::from_bits(self.last_value), NO_SCALE);
        } else {
            let dod = self.read_dod();
            self.last_delta = self.last_delta.wrapping_add(dod);
            self.last_ms = self.last_ms.wrapping_add(self.last_delta);
            if self.bits.bit() {
                if self.bits.bit() {
                    self.read_xor();
                } else {
                    self.read_decimal();
                }
            }
        }
        true
    }

    fn current(&mut self) -> Sample {
        self.settle();
        Sample {
            timestamp_ms: self.last_ms,
            value: f64::from_bits(self.last_value),
        }
    }

    /// Appends the samples in `(start_ms, end_ms]` to `out`, working out the values of
    /// those only, and stops decoding past `end_ms`.
    pub(crate) fn window_into(mut self, start_ms: i64, end_ms: i64, out: &mut Vec<Sample>) {
        while self.step() {
            if self.last_ms > end_ms {
                break;
            }
            if self.last_ms > start_ms {
                out.push(self.current());
            }
        }
    }
}

impl Iterator for Decoder<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        self.step().then(|| self.current())
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
            (-100_000i64..100_000).prop_map(|v| v as f64 / 100.0),
            (0i64..1_000_000).prop_map(|v| v as f64 / 1000.0),
            (0i64..1 << 53).prop_map(|v| v as f64),
        ]
    }

    /// A step of a value walk: counters, decimal gauges, jumps between scales and oddities.
    fn walk_step() -> impl Strategy<Value = (u8, i64)> {
        (0u8..8, -5_000_000i64..5_000_000)
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

        #[test]
        fn value_walks_round_trip(
            start in -1_000_000i64..1_000_000,
            steps in prop::collection::vec(walk_step(), 0..300),
        ) {
            let mut m = start;
            let samples: Vec<Sample> = steps
                .iter()
                .enumerate()
                .map(|(i, (kind, delta))| {
                    m = m.saturating_add(*delta);
                    let value = match kind {
                        0 | 1 => m as f64,
                        2 | 3 => m as f64 / 100.0,
                        4 => m as f64 / 1000.0,
                        5 => m as f64 * 4096.0,
                        6 => m as f64 / 3.0,
                        _ => [f64::NAN, -0.0, f64::INFINITY, 0.1 + 0.2][i % 4],
                    };
                    Sample { timestamp_ms: i as i64 * 15_000, value }
                })
                .collect();
            round_trip(&samples);
        }
    }

    #[test]
    fn decimal_counters_are_small() {
        // CPU seconds with two decimals, rising by up to 15 s per scrape: about 16 bits each
        // (a float XOR would take about 50).
        let mut value = 123_456.78f64;
        let mut step = 7u64;
        let samples: Vec<Sample> = (0..120)
            .map(|i| {
                step = step.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                value = ((value + (step >> 33) as f64 % 1_500.0 / 100.0) * 100.0).round() / 100.0;
                Sample {
                    timestamp_ms: 1_700_000_000_000 + i * 15_000,
                    value,
                }
            })
            .collect();
        let (_, open) = encode_all(&samples);
        assert!(
            open.heap_bytes() <= 16 + 120 * 17 / 8 + 40,
            "{}",
            open.heap_bytes()
        );
        round_trip(&samples);
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
