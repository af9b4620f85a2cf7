//! Helpers shared by the file-format tests (random mutations for the
//! fuzz-style tests).

/// SplitMix64: a tiny deterministic generator, so the fuzz tests need no
/// dependency and every failure reproduces from its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Applies 1 to 4 random mutations: bit flips, byte overwrites (often with
/// 0x00/0xFF, which hit length fields hardest), truncations, deletions and
/// insertions.
pub(crate) fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            break;
        }
        let pos = rng.below(v.len());
        match rng.below(6) {
            0 | 1 => v[pos] ^= 1 << rng.below(8),
            2 => v[pos] = [0x00, 0xFF, rng.next_u64() as u8][rng.below(3)],
            3 => v.truncate(pos),
            4 => {
                let end = (pos + 1 + rng.below(16)).min(v.len());
                v.drain(pos..end);
            }
            _ => {
                let byte = rng.next_u64() as u8;
                v.splice(pos..pos, std::iter::repeat_n(byte, 1 + rng.below(8)));
            }
        }
    }
    v
}
