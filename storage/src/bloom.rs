//! A small bloom filter over 64-bit tokens, stored as plain words so it can be
//! kept in a block meta record.

/// Bits per expected entry (about 1% false positives with 7 hashes).
const BITS_PER_ENTRY: usize = 10;
/// Number of probes per token.
pub const HASHES: u32 = 7;

fn probes(token: u64, bits: u64, hashes: u32) -> impl Iterator<Item = u64> {
    let h1 = token;
    let h2 = token.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31) | 1;
    (0..u64::from(hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Builds a filter holding every token.
pub fn build(tokens: &[u64]) -> Vec<u64> {
    let words = (tokens.len() * BITS_PER_ENTRY).div_ceil(64).max(16);
    let mut filter = vec![0u64; words];
    let bits = (words * 64) as u64;
    for &t in tokens {
        for p in probes(t, bits, HASHES) {
            filter[(p / 64) as usize] |= 1 << (p % 64);
        }
    }
    filter
}

/// False when the token is certainly absent.
pub fn may_contain(filter: &[u64], hashes: u32, token: u64) -> bool {
    if filter.is_empty() {
        return true;
    }
    let bits = (filter.len() * 64) as u64;
    probes(token, bits, hashes).all(|p| filter[(p / 64) as usize] & (1 << (p % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_tokens_are_always_found_and_most_others_are_not() {
        let tokens: Vec<u64> = (0..1000u64)
            .map(|i| i.wrapping_mul(0x1234_5678_9abc_def1))
            .collect();
        let f = build(&tokens);
        assert!(tokens.iter().all(|t| may_contain(&f, HASHES, *t)));
        let false_hits = (5000..15000u64)
            .filter(|i| may_contain(&f, HASHES, i.wrapping_mul(0x0fed_cba9_8765_4321)))
            .count();
        assert!(false_hits < 500, "{false_hits} false positives in 10000");
    }
}
