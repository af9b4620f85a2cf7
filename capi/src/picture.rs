//! Pictures across the boundary: the caller's planes read into a
//! [`mica::Frame`], and decoded frames handed out in buffers the library owns.

use std::ffi::c_void;

use mica::{Frame, Plane};

use crate::error::{CError, MicaStatus};

/// A 4:2:0 picture: three planes (Y, U, V) of samples, as pointers and
/// strides. At bit depth 8 a sample is a `uint8_t`; at 10 a `uint16_t` in
/// the machine's byte order holding 0..=1023. Chroma planes are
/// `(width + 1) / 2` by `(height + 1) / 2`.
///
/// Given to `mica_encoder_send_frame()` it is read (and copied)
/// during the call only and stays the caller's. Given out by
/// `mica_decoder_get_picture()` the library owns it and its planes
/// until `mica_picture_free()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MicaPicture {
    /// Luma width in samples.
    pub width: u32,
    /// Luma height in samples.
    pub height: u32,
    /// Bits per sample: 8 or 10.
    pub bit_depth: u32,
    /// The first sample of each plane (Y, U, V).
    pub planes: [*const c_void; 3],
    /// Bytes from one row of each plane to the next; at least a row's bytes.
    pub strides: [isize; 3],
    /// Display-order number of a decoded picture (0 for the first); ignored
    /// on the way in (the encoder numbers frames in the order sent).
    pub frame_number: u64,
}

/// A decoded picture with the planes its pointers point into; the public
/// part first, so a `*mut MicaPicture` handed out is a `*mut OwnedPicture`.
#[repr(C)]
pub(crate) struct OwnedPicture {
    public: MicaPicture,
    _planes: [Samples; 3],
}

/// A plane's samples, stored as C reads them: bytes, or `uint16_t`s
/// (aligned as such) above 8 bits.
enum Samples {
    Bytes(Vec<u8>),
    Words(Vec<u16>),
}

impl Samples {
    fn of(plane: &Plane, bit_depth: u8) -> Samples {
        if bit_depth > 8 {
            Samples::Words(plane.data.clone())
        } else {
            // Samples of an 8-bit frame are below 256.
            Samples::Bytes(plane.data.iter().map(|&s| s as u8).collect())
        }
    }

    fn as_ptr(&self) -> *const c_void {
        match self {
            Samples::Bytes(b) => b.as_ptr().cast(),
            Samples::Words(w) => w.as_ptr().cast(),
        }
    }
}

fn frame_error(message: String) -> CError {
    CError::new(MicaStatus::MicaErrorFrame, message)
}

/// Reads the caller's picture into a frame, checking its size, depth and
/// strides against what the encoder expects (sample values are checked by
/// the encoder).
///
/// # Safety
/// Each plane pointer, if not null, points to `stride * (rows - 1)` bytes
/// plus one row's bytes that stay valid during the call.
pub(crate) unsafe fn read_picture(
    p: &MicaPicture,
    width: usize,
    height: usize,
    bit_depth: u8,
) -> Result<Frame, CError> {
    if (p.width as usize, p.height as usize) != (width, height) {
        return Err(frame_error(format!(
            "picture is {}x{}; the encoder codes {width}x{height}",
            p.width, p.height
        )));
    }
    if p.bit_depth != u32::from(bit_depth) {
        return Err(frame_error(format!(
            "picture has {}-bit samples; the encoder was set for {bit_depth}-bit input \
             (setting 'input-bit-depth')",
            p.bit_depth
        )));
    }
    let bytes_per_sample = if bit_depth > 8 { 2 } else { 1 };
    let mut frame = Frame::new_420_at(width, height, bit_depth);
    for (i, plane) in frame.planes.iter_mut().enumerate() {
        let (w, h) = (plane.width, plane.height);
        let row_bytes = w * bytes_per_sample;
        if p.planes[i].is_null() {
            return Err(CError::null(&format!("plane {i} of the picture")));
        }
        if p.strides[i] < row_bytes as isize {
            return Err(frame_error(format!(
                "plane {i}'s stride ({} bytes) is shorter than its rows ({row_bytes} bytes)",
                p.strides[i]
            )));
        }
        // The last row's offset must be addressable (a hostile stride
        // could otherwise wrap the pointer arithmetic).
        (h as isize - 1)
            .checked_mul(p.strides[i])
            .and_then(|last| last.checked_add(row_bytes as isize))
            .ok_or_else(|| {
                frame_error(format!(
                    "plane {i}'s stride ({} bytes) is too large",
                    p.strides[i]
                ))
            })?;
        let base = p.planes[i].cast::<u8>();
        for y in 0..h {
            // SAFETY: the caller promises each row `y < h` of `row_bytes`
            // bytes at `base + y * stride` is readable; the stride is
            // positive, so the offset stays inside the plane.
            let row = unsafe {
                std::slice::from_raw_parts(base.offset(y as isize * p.strides[i]), row_bytes)
            };
            let out = plane.row_mut(y);
            if bytes_per_sample == 1 {
                for (o, &b) in out.iter_mut().zip(row) {
                    *o = u16::from(b);
                }
            } else {
                for (o, b) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = u16::from_ne_bytes([b[0], b[1]]);
                }
            }
        }
    }
    Ok(frame)
}

/// A decoded frame as a picture the library owns (free with
/// `mica_picture_free()`).
pub(crate) fn owned_picture(frame: &Frame, frame_number: u32) -> *mut MicaPicture {
    let planes = frame
        .planes
        .each_ref()
        .map(|p| Samples::of(p, frame.bit_depth));
    let sample = if frame.bit_depth > 8 { 2 } else { 1 };
    let public = MicaPicture {
        width: frame.width() as u32,
        height: frame.height() as u32,
        bit_depth: u32::from(frame.bit_depth),
        planes: [0, 1, 2].map(|i| planes[i].as_ptr()),
        strides: [0, 1, 2].map(|i| (frame.planes[i].width * sample) as isize),
        frame_number: u64::from(frame_number),
    };
    // Moving the vectors into the box keeps their heap buffers where the
    // pointers above point.
    Box::into_raw(Box::new(OwnedPicture {
        public,
        _planes: planes,
    }))
    .cast()
}

/// Frees a picture given out by `mica_decoder_get_picture()`; null
/// is ignored.
///
/// # Safety
/// `picture` is null or came from `mica_decoder_get_picture()` and
/// is not used again.
#[no_mangle]
pub unsafe extern "C" fn mica_picture_free(picture: *mut MicaPicture) {
    if !picture.is_null() {
        // SAFETY: pictures are handed out as boxed `OwnedPicture`s (whose
        // first field, repr(C), is the `MicaPicture`), and given back once.
        drop(unsafe { Box::from_raw(picture.cast::<OwnedPicture>()) });
    }
}
