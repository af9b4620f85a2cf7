//! The encoder: send frames, receive packets in coding order, flush.

use mica::Encoder;

use crate::error::{codec_error, guard, with_object, CError, MicaStatus, Poisonable};
use crate::picture::{read_picture, MicaPicture};
use crate::settings::MicaSettings;

/// An encoder: made by `mica_encoder_new()`, freed by `mica_encoder_free()`.
pub struct MicaEncoder {
    encoder: Encoder,
    width: usize,
    height: usize,
    input_bit_depth: u8,
    flushed: bool,
    poisoned: bool,
}

impl Poisonable for MicaEncoder {
    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }
}

/// One coded frame: `size` bytes at `data`, to be stored or sent as one
/// unit (one IVF frame, one Matroska block) and given to the decoder as
/// one `mica_decoder_send_data()`. The library owns it until
/// `mica_packet_free()`.
#[repr(C)]
#[derive(Debug)]
pub struct MicaPacket {
    /// The coded bytes.
    pub data: *const u8,
    /// How many.
    pub size: usize,
    /// Display-order number of the frame it codes (packets come in coding
    /// order, which with random access differs): a presentation timestamp
    /// in frame intervals.
    pub frame_number: u64,
    /// 1 for a keyframe (decoding may start here), else 0.
    pub keyframe: u8,
    /// The frame's QP.
    pub qp: i32,
}

/// A packet with the bytes its pointer points into (public part first).
#[repr(C)]
struct OwnedPacket {
    public: MicaPacket,
    _bytes: Vec<u8>,
}

/// Makes an encoder from `settings` (which it copies) into `*encoder`.
/// Settings that do not go together or are out of range for each other
/// give `MICA_ERROR_SETTING`, naming the problem.
///
/// # Safety
/// `settings` is null or a live settings object; `encoder` is null or
/// points to writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn mica_encoder_new(
    settings: *const MicaSettings,
    encoder: *mut *mut MicaEncoder,
) -> MicaStatus {
    guard(|| {
        if encoder.is_null() {
            return Err(CError::null("the encoder's out pointer"));
        }
        // SAFETY: non-null and writable (the caller's promise); null until
        // an encoder is made, so a failed call leaves nothing to free.
        unsafe { *encoder = std::ptr::null_mut() };
        // SAFETY: the caller promises a live settings object or null.
        let settings = unsafe { settings.as_ref() }.ok_or_else(|| CError::null("settings"))?;
        let cfg = settings.encoder_config()?;
        let (width, height, input_bit_depth) = (cfg.width, cfg.height, cfg.input_bit_depth);
        let inner = Encoder::new(cfg).map_err(|e| codec_error(e, MicaStatus::MicaErrorSetting))?;
        let boxed = Box::new(MicaEncoder {
            encoder: inner,
            width,
            height,
            input_bit_depth,
            flushed: false,
            poisoned: false,
        });
        // SAFETY: non-null (checked above) and writable (the caller's promise).
        unsafe { *encoder = Box::into_raw(boxed) };
        Ok(MicaStatus::MicaOk)
    })
}

/// Frees an encoder; null is ignored. Packets already received stay valid.
///
/// # Safety
/// `encoder` is null or came from `mica_encoder_new()` and is not used again.
#[no_mangle]
pub unsafe extern "C" fn mica_encoder_free(encoder: *mut MicaEncoder) {
    if !encoder.is_null() {
        // A panic while dropping must not cross the boundary either.
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the caller gives back a pointer from mica_encoder_new, once.
            drop(unsafe { Box::from_raw(encoder) });
        }));
        // (A panic's payload is dropped under a guard of its own.)
        let _ = dropped.map_err(crate::error::internal_error);
    }
}

/// Sends one frame (copied during the call). Packets may come out at once
/// or only after later frames (random access holds a group's frames): call
/// `mica_encoder_receive_packet()` until it says `MICA_AGAIN`.
/// A frame whose size, depth, strides or sample values do not match the
/// settings is `MICA_ERROR_FRAME` and is not coded; sending
/// after `mica_encoder_flush()` is `MICA_ERROR_STATE`.
///
/// # Safety
/// `encoder` is null or a live encoder; `picture` is null or a picture
/// whose planes are readable as `MicaPicture` describes.
#[no_mangle]
pub unsafe extern "C" fn mica_encoder_send_frame(
    encoder: *mut MicaEncoder,
    picture: *const MicaPicture,
) -> MicaStatus {
    let work = |e: &mut MicaEncoder| {
        if e.flushed {
            return Err(CError::new(
                MicaStatus::MicaErrorState,
                "the encoder was flushed: it takes no more frames",
            ));
        }
        // SAFETY: the caller promises a readable picture or null.
        let picture = unsafe { picture.as_ref() }.ok_or_else(|| CError::null("picture"))?;
        // SAFETY: as above, its planes are readable as described.
        let frame = unsafe { read_picture(picture, e.width, e.height, e.input_bit_depth) }?;
        e.encoder
            .send_frame(frame)
            .map_err(|err| codec_error(err, MicaStatus::MicaErrorFrame))?;
        Ok(MicaStatus::MicaOk)
    };
    // SAFETY: the caller's promise about `encoder`.
    unsafe { with_object(encoder, "the encoder", work) }
}

/// Codes every frame still held; afterwards the encoder takes no frames and
/// `mica_encoder_receive_packet()` gives the rest, then
/// `MICA_END`.
///
/// # Safety
/// `encoder` is null or a live encoder.
#[no_mangle]
pub unsafe extern "C" fn mica_encoder_flush(encoder: *mut MicaEncoder) -> MicaStatus {
    let work = |e: &mut MicaEncoder| {
        if !e.flushed {
            e.encoder.flush();
            e.flushed = true;
        }
        Ok(MicaStatus::MicaOk)
    };
    // SAFETY: the caller's promise about `encoder`.
    unsafe { with_object(encoder, "the encoder", work) }
}

/// The next packet in coding order into `*packet` (`MICA_OK`),
/// or none: `MICA_AGAIN` (send more frames or flush) or, after
/// a flush, `MICA_END`. `*packet` is set to null when there is
/// none. Free each packet with `mica_packet_free()`.
///
/// # Safety
/// `encoder` is null or a live encoder; `packet` is null or points to
/// writable storage for a pointer.
#[no_mangle]
pub unsafe extern "C" fn mica_encoder_receive_packet(
    encoder: *mut MicaEncoder,
    packet: *mut *mut MicaPacket,
) -> MicaStatus {
    let work = |e: &mut MicaEncoder| {
        if packet.is_null() {
            return Err(CError::null("the packet's out pointer"));
        }
        let Some(p) = e.encoder.receive_packet() else {
            // SAFETY: non-null and writable (the caller's promise).
            unsafe { *packet = std::ptr::null_mut() };
            return Ok(if e.flushed {
                MicaStatus::MicaEnd
            } else {
                MicaStatus::MicaAgain
            });
        };
        let public = MicaPacket {
            data: p.data.as_ptr(),
            size: p.data.len(),
            frame_number: u64::from(p.frame_number),
            keyframe: u8::from(p.keyframe),
            qp: i32::from(p.qp),
        };
        // The vector's heap buffer stays where `data` points.
        let owned = Box::new(OwnedPacket {
            public,
            _bytes: p.data,
        });
        // SAFETY: non-null and writable (the caller's promise).
        unsafe { *packet = Box::into_raw(owned).cast() };
        Ok(MicaStatus::MicaOk)
    };
    // SAFETY: the caller's promise about `encoder`.
    unsafe { with_object(encoder, "the encoder", work) }
}

/// Frees a packet; null is ignored.
///
/// # Safety
/// `packet` is null or came from `mica_encoder_receive_packet()` and is not
/// used again.
#[no_mangle]
pub unsafe extern "C" fn mica_packet_free(packet: *mut MicaPacket) {
    if !packet.is_null() {
        // SAFETY: packets are handed out as boxed `OwnedPacket`s (their
        // first field, repr(C), is the `MicaPacket`), and given back once.
        drop(unsafe { Box::from_raw(packet.cast::<OwnedPacket>()) });
    }
}
