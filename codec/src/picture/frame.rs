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
