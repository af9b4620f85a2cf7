//! Raw picture types shared by the file readers/writers and the codec.
//!
//! Planes are kept tight (`stride == width`) so a plane's bytes are exactly the
//! bytes a y4m file stores for it: reading and writing are single copies, and
//! byte-exact round trips need no re-packing.

/// One plane of 8-bit samples, row-major, `stride == width` (tight).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plane {
    /// Samples per row (also the stride).
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// `width * height` samples, row after row.
    pub data: Vec<u8>,
}

impl Plane {
    /// A zero-filled `width` x `height` plane.
    pub fn new(width: usize, height: usize) -> Plane {
        Plane {
            width,
            height,
            data: vec![0; width * height],
        }
    }

    /// Row `y` (`width` samples). Panics if `y >= height`.
    pub fn row(&self, y: usize) -> &[u8] {
        assert!(
            y < self.height,
            "row {y} out of range for a plane of height {}",
            self.height
        );
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Row `y` (`width` samples), mutable. Panics if `y >= height`.
    pub fn row_mut(&mut self, y: usize) -> &mut [u8] {
        assert!(
            y < self.height,
            "row {y} out of range for a plane of height {}",
            self.height
        );
        &mut self.data[y * self.width..(y + 1) * self.width]
    }
}

/// Size of each chroma plane of a 4:2:0 picture with a `width` x `height` luma plane.
///
/// Rounds up, so odd sizes keep their last column/row of chroma (the y4m and
/// ffmpeg convention).
pub fn chroma_420_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// A 4:2:0 frame: `planes[0]` = Y (w x h), `planes[1]` = U, `planes[2]` = V
/// (`(w+1)/2` x `(h+1)/2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Y, U, V.
    pub planes: [Plane; 3],
}

impl Frame {
    /// A zero-filled 4:2:0 frame (all planes 0, including chroma).
    pub fn new_420(width: usize, height: usize) -> Frame {
        let (cw, ch) = chroma_420_size(width, height);
        Frame {
            planes: [
                Plane::new(width, height),
                Plane::new(cw, ch),
                Plane::new(cw, ch),
            ],
        }
    }

    /// Luma width in samples.
    pub fn width(&self) -> usize {
        self.planes[0].width
    }

    /// Luma height in samples.
    pub fn height(&self) -> usize {
        self.planes[0].height
    }
}

/// Helpers shared by the file-format tests (random mutations for the fuzz-style tests).
#[cfg(test)]
pub(crate) mod test_support {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        let f = Frame::new_420(645, 363);
        assert_eq!((f.width(), f.height()), (645, 363));
        assert_eq!((f.planes[1].width, f.planes[1].height), (323, 182));
        assert_eq!(f.planes[2].data.len(), 323 * 182);
    }

    #[test]
    fn rows_address_tight_storage() {
        let mut p = Plane::new(3, 2);
        p.row_mut(1).copy_from_slice(&[7, 8, 9]);
        assert_eq!(p.row(0), &[0, 0, 0]);
        assert_eq!(p.row(1), &[7, 8, 9]);
        assert_eq!(p.data, vec![0, 0, 0, 7, 8, 9]);
    }
}
