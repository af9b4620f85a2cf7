//! Raw picture types shared by the file readers/writers and the codec.
//!
//! Samples are `u16` at every bit depth (8 or 10 bits used), so every kernel is
//! written once. Planes are kept tight (`stride == width`).

/// One plane of samples, row-major, `stride == width` (tight). Each sample lies
/// in `0..2^bit_depth` of the frame that holds the plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plane {
    /// Samples per row (also the stride).
    pub width: usize,
    /// Number of rows.
    pub height: usize,
    /// `width * height` samples, row after row.
    pub data: Vec<u16>,
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
    pub fn row(&self, y: usize) -> &[u16] {
        assert!(
            y < self.height,
            "row {y} out of range for a plane of height {}",
            self.height
        );
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Row `y` (`width` samples), mutable. Panics if `y >= height`.
    pub fn row_mut(&mut self, y: usize) -> &mut [u16] {
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
/// (`(w+1)/2` x `(h+1)/2`), with samples of `bit_depth` bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Y, U, V.
    pub planes: [Plane; 3],
    /// Bits per sample (8 or 10): every sample is below `1 << bit_depth`.
    pub bit_depth: u8,
}

impl Frame {
    /// A zero-filled 8-bit 4:2:0 frame (all planes 0, including chroma).
    pub fn new_420(width: usize, height: usize) -> Frame {
        Frame::new_420_at(width, height, 8)
    }

    /// A zero-filled 4:2:0 frame of `bit_depth`-bit samples.
    pub fn new_420_at(width: usize, height: usize, bit_depth: u8) -> Frame {
        let (cw, ch) = chroma_420_size(width, height);
        Frame {
            planes: [
                Plane::new(width, height),
                Plane::new(cw, ch),
                Plane::new(cw, ch),
            ],
            bit_depth,
        }
    }

    /// Largest sample value, `2^bit_depth - 1`.
    pub fn max_value(&self) -> u16 {
        ((1u32 << self.bit_depth) - 1) as u16
    }

    /// The frame at `bit_depth` bits: samples shifted up, or rounded down (and
    /// clipped), by the difference.
    pub fn with_bit_depth(mut self, bit_depth: u8) -> Frame {
        let (from, to) = (self.bit_depth, bit_depth);
        if to > from {
            let shift = to - from;
            for v in self.planes.iter_mut().flat_map(|p| p.data.iter_mut()) {
                *v <<= shift;
            }
        } else if to < from {
            let (shift, max) = (from - to, ((1u32 << to) - 1) as u16);
            for v in self.planes.iter_mut().flat_map(|p| p.data.iter_mut()) {
                *v = ((*v + (1 << (shift - 1))) >> shift).min(max);
            }
        }
        self.bit_depth = to;
        self
    }

    /// The first sample above the frame's bit depth, as (plane, index), if any.
    pub fn first_out_of_range(&self) -> Option<(usize, usize)> {
        let max = self.max_value();
        self.planes
            .iter()
            .enumerate()
            .find_map(|(p, plane)| plane.data.iter().position(|&v| v > max).map(|i| (p, i)))
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
