//! Snappy block decompression with a cap on the declared decoded size, so a small body cannot
//! make the receiver allocate gigabytes (a decompression bomb).

use crate::error::DecodeError;

/// Decompresses the snappy block `body` into `out` and returns the decoded bytes, refusing
/// (before allocating) a body whose header declares more than `max` decoded bytes.
///
/// `out` is a reusable buffer: it only grows (to the largest body seen), so steady-state
/// requests neither allocate nor zero memory.
pub fn decompress_capped<'o>(
    body: &[u8],
    max: usize,
    out: &'o mut Vec<u8>,
) -> Result<&'o [u8], DecodeError> {
    let declared =
        snap::raw::decompress_len(body).map_err(|source| DecodeError::Snappy { source })?;
    if declared > max {
        return Err(DecodeError::TooLarge {
            declared,
            limit: max,
        });
    }
    if out.len() < declared {
        out.resize(declared, 0);
    }
    let written = snap::raw::Decoder::new()
        .decompress(body, &mut out[..declared])
        .map_err(|source| DecodeError::Snappy { source })?;
    Ok(&out[..written])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reuses_the_buffer() {
        let text = b"remote_write remote_write remote_write".repeat(20);
        let body = snap::raw::Encoder::new().compress_vec(&text).unwrap();
        let mut out = Vec::new();
        assert_eq!(decompress_capped(&body, 1 << 20, &mut out).unwrap(), text);
        let capacity = out.capacity();
        let small = snap::raw::Encoder::new().compress_vec(b"up").unwrap();
        assert_eq!(decompress_capped(&small, 1 << 20, &mut out).unwrap(), b"up");
        assert_eq!(out.capacity(), capacity);
    }

    #[test]
    fn refuses_a_bomb_before_allocating() {
        // A header declaring 4 GiB - 1 followed by nothing.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let mut out = Vec::new();
        let error = decompress_capped(&bomb, 32 << 20, &mut out).unwrap_err();
        assert!(matches!(
            error,
            DecodeError::TooLarge {
                declared: 0xffff_ffff,
                limit: 0x0200_0000
            }
        ));
        assert_eq!(out.capacity(), 0);
    }

    #[test]
    fn refuses_truncated_and_garbage_bodies() {
        let body = snap::raw::Encoder::new()
            .compress_vec(&b"abcdefgh".repeat(100))
            .unwrap();
        let mut out = Vec::new();
        let truncated = decompress_capped(&body[..body.len() / 2], 1 << 20, &mut out);
        assert!(matches!(truncated, Err(DecodeError::Snappy { .. })));
        let garbage = decompress_capped(b"\x05not snappy at all", 1 << 20, &mut out);
        assert!(matches!(garbage, Err(DecodeError::Snappy { .. })));
        assert!(matches!(
            decompress_capped(b"", 1 << 20, &mut out),
            Err(DecodeError::Snappy { .. })
        ));
    }
}
