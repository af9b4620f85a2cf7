//! The decoder: send one packet's data at a time, get pictures in display
//! order, flush at the end of the stream.

use mica::Decoder;

use crate::error::{codec_error, guard, with_object, CError, MicaStatus, Poisonable};
use crate::picture::{owned_picture, MicaPicture};
use crate::settings::{empty_settings, settings_or_default, MicaSettings};

/// The largest packet a decoder takes (the specification's limit).
const MAX_PACKET_BYTES: usize = 256 << 20;

/// A decoder: made by `mica_decoder_new()`, freed by `mica_decoder_free()`.
pub struct MicaDecoder {
    decoder: Decoder,
    flushed: bool,
    /// The stream error that ended decoding, repeated to later sends.
    failed: Option<String>,
    poisoned: bool,
}

impl Poisonable for MicaDecoder {
    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }
}

/// Makes a decoder into `*decoder`; `settings` may be null (the defaults)
/// and may hold only `threads`, `cpu`, `frame-delay` and `output-depth`.
/// The decoder knows the built-in learned models; a stream naming another
/// model is an error when its first frame is decoded.
///
/// # Safety
/// `settings` is null or a live settings object; `decoder` is null or
/// points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn mica_decoder_new(
    settings: *const MicaSettings,
    decoder: *mut *mut MicaDecoder,
) -> MicaStatus {
    guard(|| {
        if decoder.is_null() {
            return Err(CError::null("the decoder's out pointer"));
        }
        // SAFETY: non-null and writable (the caller's promise); null until
        // a decoder is made, so a failed call leaves nothing to free.
        unsafe { *decoder = std::ptr::null_mut() };
        let default = empty_settings();
        // SAFETY: the caller promises a live settings object or null.
        let settings = unsafe { settings_or_default(settings, &default) };
        let config = settings.decoder_config()?;
        let boxed = Box::new(MicaDecoder {
            decoder: Decoder::new(config),
            flushed: false,
            failed: None,
            poisoned: false,
        });
        // SAFETY: non-null (checked above) and writable (the caller's promise).
        unsafe { *decoder = Box::into_raw(boxed) };
        Ok(MicaStatus::MicaOk)
    })
}

/// Frees a decoder; null is ignored. Pictures already got stay valid.
///
/// # Safety
/// `decoder` is null or came from `mica_decoder_new()` and is not used again.
#[no_mangle]
pub unsafe extern "C" fn mica_decoder_free(decoder: *mut MicaDecoder) {
    if !decoder.is_null() {
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the caller gives back a pointer from mica_decoder_new, once.
            drop(unsafe { Box::from_raw(decoder) });
        }));
        // (A panic's payload is dropped under a guard of its own.)
        let _ = dropped.map_err(crate::error::internal_error);
    }
}

impl MicaDecoder {
    fn refuse_if_done(&self) -> Result<(), CError> {
        if let Some(e) = &self.failed {
            return Err(CError::new(
                MicaStatus::MicaErrorState,
                format!("the decoder stopped at an earlier error ({e}): make a new one"),
            ));
        }
        if self.flushed {
            return Err(CError::new(
                MicaStatus::MicaErrorState,
                "the decoder was flushed: it takes no more data",
            ));
        }
        Ok(())
    }

    fn fail_with(&mut self, message: String) -> CError {
        self.failed = Some(message.clone());
        CError::new(MicaStatus::MicaErrorStream, message)
    }

    fn fail(&mut self, e: mica::Error) -> CError {
        let e = codec_error(e, MicaStatus::MicaErrorStream);
        self.failed = Some(e.message.clone());
        // Finish what is still decoding, so the pictures before the error
        // come out; its own errors add nothing to the first.
        let _ = self.decoder.flush();
        e
    }
}

/// Sends the `size` bytes at `data`: exactly one packet, as the encoder
/// made it (one IVF frame's payload), read during the call. Pictures become
/// ready in display order: call `mica_decoder_get_picture()` until it says
/// `MICA_AGAIN`. Data that is not a valid packet is
/// `MICA_ERROR_STREAM`, reported by this call when the decoder decodes
/// each frame before the call returns (setting `frame-delay` 1), else
/// possibly by a later send or by `mica_decoder_flush()`, since frames
/// decode in parallel; the decoder then takes no more data
/// (`MICA_ERROR_STATE`), but pictures decoded before the error
/// can still be got.
///
/// # Safety
/// `decoder` is null or a live decoder; `data` is null or points to `size`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn mica_decoder_send_data(
    decoder: *mut MicaDecoder,
    data: *const u8,
    size: usize,
) -> MicaStatus {
    let work = |d: &mut MicaDecoder| {
        d.refuse_if_done()?;
        if data.is_null() {
            return Err(CError::null("data"));
        }
        if size > MAX_PACKET_BYTES {
            return Err(d.fail_with(format!(
                "a packet of {size} bytes: decoders refuse packets above 256 MiB"
            )));
        }
        // SAFETY: `size` readable bytes at `data` (the caller's promise).
        let bytes = unsafe { std::slice::from_raw_parts(data, size) };
        match d.decoder.send_packet(bytes) {
            Ok(()) => Ok(MicaStatus::MicaOk),
            Err(e) => Err(d.fail(e)),
        }
    };
    // SAFETY: the caller's promise about `decoder`.
    unsafe { with_object(decoder, "the decoder", work) }
}

/// Ends the stream: decodes what is still in flight, after which
/// `mica_decoder_get_picture()` gives the remaining pictures, then
/// `MICA_END`. An error in the frames still decoding is
/// `MICA_ERROR_STREAM` (the pictures decoded without error can
/// still be got).
///
/// # Safety
/// `decoder` is null or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn mica_decoder_flush(decoder: *mut MicaDecoder) -> MicaStatus {
    let work = |d: &mut MicaDecoder| {
        if d.flushed {
            return Ok(MicaStatus::MicaOk);
        }
        d.flushed = true;
        match d.decoder.flush() {
            Ok(()) => Ok(MicaStatus::MicaOk),
            Err(e) => Err(d.fail(e)),
        }
    };
    // SAFETY: the caller's promise about `decoder`.
    unsafe { with_object(decoder, "the decoder", work) }
}

/// The next picture in display order into `*picture` (`MICA_OK`;
/// free it with `mica_picture_free()`), or none: `*picture` is set
/// to null and the status is `MICA_AGAIN` (send more data or
/// flush) or, after a flush or a stream error, `MICA_END`.
///
/// # Safety
/// `decoder` is null or a live decoder; `picture` is null or points to
/// writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn mica_decoder_get_picture(
    decoder: *mut MicaDecoder,
    picture: *mut *mut MicaPicture,
) -> MicaStatus {
    let work = |d: &mut MicaDecoder| {
        if picture.is_null() {
            return Err(CError::null("the picture's out pointer"));
        }
        let (out, status) = match d.decoder.receive_frame() {
            Some(f) => (owned_picture(&f.frame, f.frame_number), MicaStatus::MicaOk),
            None if d.flushed || d.failed.is_some() => (std::ptr::null_mut(), MicaStatus::MicaEnd),
            None => (std::ptr::null_mut(), MicaStatus::MicaAgain),
        };
        // SAFETY: non-null and writable (the caller's promise).
        unsafe { *picture = out };
        Ok(status)
    };
    // SAFETY: the caller's promise about `decoder`.
    unsafe { with_object(decoder, "the decoder", work) }
}
