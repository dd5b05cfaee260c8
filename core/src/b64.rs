//! Strict base64url (RFC 4648 §5, unpadded) as required by RFC 7515 §2.
//!
//! Tokens are decoded strictly: no padding, no `+`/`/`, no whitespace, and the unused trailing
//! bits of the last character must be zero, so every byte string has exactly one encoding.

const INVALID: u8 = 0xff;

const fn build_table() -> [u8; 256] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}

static DECODE: [u8; 256] = build_table();
static ENCODE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a base64url string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B64Error {
    /// A character outside the base64url alphabet (including `=`, `+`, `/`, whitespace).
    InvalidChar,
    /// A length that no unpadded encoding has (`len % 4 == 1`).
    InvalidLength,
    /// Non-zero unused bits in the last character (a non-canonical encoding).
    NonCanonical,
}

/// Length of the decoded form of `len` base64url characters, if that length is valid.
pub fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Decodes strict unpadded base64url, appending to `out` (on error `out` is as it was).
pub fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), B64Error> {
    let len = decoded_len(input.len()).ok_or(B64Error::InvalidLength)?;
    let start = out.len();
    out.resize(start + len, 0);
    let result = decode_to(input, &mut out[start..]);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes `input` into `dst`, which has exactly its decoded length.
fn decode_to(input: &[u8], dst: &mut [u8]) -> Result<(), B64Error> {
    let mut chunks = input.chunks_exact(4);
    let mut whole = dst.chunks_exact_mut(3);
    for (c, o) in (&mut chunks).zip(&mut whole) {
        let a = DECODE[c[0] as usize];
        let b = DECODE[c[1] as usize];
        let d = DECODE[c[2] as usize];
        let e = DECODE[c[3] as usize];
        if (a | b | d | e) > 63 {
            return Err(B64Error::InvalidChar);
        }
        let v = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(d) << 6) | u32::from(e);
        o.copy_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let rest = chunks.remainder();
    let tail = whole.into_remainder();
    let mut v: u32 = 0;
    for (i, &ch) in rest.iter().enumerate() {
        let x = DECODE[ch as usize];
        if x > 63 {
            return Err(B64Error::InvalidChar);
        }
        v |= u32::from(x) << (18 - 6 * i);
    }
    match (rest.len(), tail) {
        (0, []) => {}
        (2, [t0]) => {
            if v & 0xffff != 0 {
                return Err(B64Error::NonCanonical);
            }
            *t0 = (v >> 16) as u8;
        }
        (3, [t0, t1]) => {
            if v & 0xff != 0 {
                return Err(B64Error::NonCanonical);
            }
            (*t0, *t1) = ((v >> 16) as u8, (v >> 8) as u8);
        }
        _ => return Err(B64Error::InvalidLength),
    }
    Ok(())
}

/// Decodes strict unpadded base64url.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, B64Error> {
    let mut out = Vec::new();
    decode_into(input, &mut out)?;
    Ok(out)
}

/// Decodes a base64url JWK member. Keys come from trusted configuration, and some producers pad
/// them, so trailing `=` padding is tolerated here (never in tokens).
pub fn decode_lenient(input: &str) -> Result<Vec<u8>, B64Error> {
    decode(input.trim_end_matches('=').as_bytes())
}

/// Encodes unpadded base64url.
pub fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let n = c.len() + 1;
        for i in 0..n {
            out.push(ENCODE[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_into_appends_and_leaves_out_alone_on_error() {
        let mut out = b"xy".to_vec();
        decode_into(b"aGVsbG8", &mut out).unwrap();
        assert_eq!(out, b"xyhello");
        for bad in [&b"aGVsbG9"[..], b"aGV=bG8", b"aGVsb", b"a"] {
            assert!(decode_into(bad, &mut out).is_err(), "{bad:?}");
            assert_eq!(out, b"xyhello", "{bad:?}");
        }
    }

    #[test]
    fn round_trips_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..64 {
            let enc = encode(&data[..n]);
            assert_eq!(decode(enc.as_bytes()).unwrap(), &data[..n], "len {n}");
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(encode(b"f"), "Zg");
        assert_eq!(encode(b"fo"), "Zm8");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode(b"-_8").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn rejects_padding_and_standard_alphabet() {
        assert_eq!(decode(b"Zg=="), Err(B64Error::InvalidChar));
        assert_eq!(decode(b"+/8"), Err(B64Error::InvalidChar));
        assert_eq!(decode(b"Zm 9"), Err(B64Error::InvalidChar));
    }

    #[test]
    fn rejects_impossible_length() {
        assert_eq!(decode(b"Zm9vZ"), Err(B64Error::InvalidLength));
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "Zh" decodes to "f" but with non-zero unused bits ("Zg" is canonical).
        assert_eq!(decode(b"Zh"), Err(B64Error::NonCanonical));
        assert_eq!(decode(b"Zm9"), Err(B64Error::NonCanonical));
    }

    #[test]
    fn lenient_accepts_padding_for_jwk_members() {
        assert_eq!(decode_lenient("Zg==").unwrap(), b"f");
    }
}
