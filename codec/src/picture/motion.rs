//! Motion vectors and the motion of a block: the values the picture's
//! motion map holds (prediction from them is the inter tool's, `inter/`).

/// A motion vector in quarter luma samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Mv {
    /// Horizontal component.
    pub x: i16,
    /// Vertical component.
    pub y: i16,
}

impl Mv {
    /// The zero vector.
    pub const ZERO: Mv = Mv { x: 0, y: 0 };
    /// A vector from i32 components, or `None` outside the 16-bit range.
    pub fn checked(x: i32, y: i32) -> Option<Mv> {
        Some(Mv {
            x: i16::try_from(x).ok()?,
            y: i16::try_from(y).ok()?,
        })
    }
}

/// Motion of a block: per reference list, a reference index (-1 = list
/// unused) and a vector. Both indices -1 means the block is intra (or not
/// yet coded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Motion {
    /// Reference index into list 0 and list 1.
    pub ref_idx: [i8; 2],
    /// Vectors for list 0 and list 1.
    pub mv: [Mv; 2],
}

impl Motion {
    /// No motion: intra or unavailable.
    pub const INTRA: Motion = Motion {
        ref_idx: [-1, -1],
        mv: [Mv::ZERO, Mv::ZERO],
    };

    /// Whether the block is motion compensated.
    pub fn is_inter(&self) -> bool {
        self.ref_idx[0] >= 0 || self.ref_idx[1] >= 0
    }

    /// Whether list `l` is used.
    pub fn uses(&self, l: usize) -> bool {
        self.ref_idx[l] >= 0
    }

    /// Uni-prediction from list `l`.
    pub fn uni(l: usize, ref_idx: i8, mv: Mv) -> Motion {
        let mut m = Motion::INTRA;
        m.ref_idx[l] = ref_idx;
        m.mv[l] = mv;
        m
    }
}
