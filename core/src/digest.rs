//! SHA-256 over several parts (each length-prefixed, so the split is part of the input), for
//! identities the glue derives from configuration.

use ring::digest::{Context, SHA256};

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
}
