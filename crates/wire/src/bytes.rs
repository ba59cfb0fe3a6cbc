//! Reading fixed-width integers from packet bytes: every read is bounds-checked and returns
//! `None` past the end (never a panic, never an overflow for any `at`).

/// Big-endian (network order) u16 at `at`.
pub fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|c| u16::from_be_bytes(*c))
}

/// Big-endian 24-bit length (TLS handshake lengths) at `at`.
pub fn be24(b: &[u8], at: usize) -> Option<usize> {
    let c = b.get(at..)?.first_chunk::<3>()?;
    Some((usize::from(c[0]) << 16) | (usize::from(c[1]) << 8) | usize::from(c[2]))
}

/// Big-endian u32 at `at`.
pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..)?
        .first_chunk::<4>()
        .map(|c| u32::from_be_bytes(*c))
}

/// Little-endian u16 at `at` (radiotap, PKTAP and other host-order headers).
pub fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?
        .first_chunk::<2>()
        .map(|c| u16::from_le_bytes(*c))
}

/// Little-endian u32 at `at`.
pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..)?
        .first_chunk::<4>()
        .map(|c| u32::from_le_bytes(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1, 2, 3, 4];
        assert_eq!(be16(&b, 2), Some(0x0304));
        assert_eq!(be16(&b, 3), None);
        assert_eq!(be24(&b, 1), Some(0x020304));
        assert_eq!(be32(&b, 0), Some(0x01020304));
        assert_eq!(le16(&b, 0), Some(0x0201));
        assert_eq!(le32(&b, 0), Some(0x04030201));
        assert_eq!(be32(&b, usize::MAX), None);
    }
}
