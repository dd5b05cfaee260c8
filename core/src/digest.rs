//! SHA-256 over several parts (each length-prefixed, so the split is part of the input), for
//! identities the glue derives from configuration; and the SHA-256 of a token, the key of the
//! per-worker caches.

use ring::digest::{Context, SHA256};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The SHA-256 of a token's bytes: what the per-worker caches are keyed by.
///
/// Two different tokens with the same digest would be a SHA-256 collision, which nobody knows
/// how to find (collision resistance: about 2^128 work). A cache keyed by this digest therefore
/// never answers for one token with what another token earned.
pub fn token(t: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&SHA256, t).as_ref());
    out
}

/// The SHA-256 of `parts`, each preceded by its length.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_le_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_part_of_the_input() {
        assert_ne!(sha256(&[b"ab", b"c"]), sha256(&[b"a", b"bc"]));
        assert_eq!(sha256(&[b"ab", b"c"]), sha256(&[b"ab", b"c"]));
        assert_ne!(sha256(&[]), sha256(&[b""]));
    }

    #[test]
    fn token_digest_is_plain_sha256() {
        // FIPS 180-2 test vector "abc".
        let abc = token(b"abc");
        assert_eq!(abc[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(abc[28..], [0xf2, 0x00, 0x15, 0xad]);
        assert_ne!(token(b"a.b.c"), token(b"a.b.d"));
    }
}
