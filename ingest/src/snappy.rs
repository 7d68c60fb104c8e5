//! Snappy block decompression with a cap on the declared decoded size, so a small body cannot
//! make the receiver allocate gigabytes (a decompression bomb).

use crate::remote_write::DecodeError;

/// Decompresses `body` into `out` (cleared first), refusing a declared size over `max`.
pub fn decompress_capped(body: &[u8], max: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let declared =
        snap::raw::decompress_len(body).map_err(|source| DecodeError::Snappy { source })?;
    if declared > max {
        return Err(DecodeError::TooLarge {
            declared,
            limit: max,
        });
    }
    out.clear();
    out.resize(declared, 0);
    let written = snap::raw::Decoder::new()
        .decompress(body, out)
        .map_err(|source| DecodeError::Snappy { source })?;
    out.truncate(written);
    Ok(())
}
