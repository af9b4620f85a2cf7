//! The C API of Mica: what `libmica` exports, described for C by the
//! generated header `include/mica/mica.h` (`docs/c-api.md` is the guide).
//!
//! Three objects, each created and freed by the library:
//! - `MicaSettings`: key/value settings (`"qp"`, `"32"`), each checked as
//!   it is set, as `rav1e_config_parse` does;
//! - `MicaEncoder`: send frames, receive packets, flush;
//! - `MicaDecoder`: send one packet's data, get pictures, flush.
//!
//! Every function returns a `MicaStatus`; a negative one is an error whose
//! message `mica_error_message()` gives. No panic crosses the boundary: one
//! caught inside becomes `MICA_ERROR_INTERNAL` and leaves its
//! encoder or decoder refusing further work. Objects are not shared between
//! threads at once, but may move between threads.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod decoder;
mod encoder;
mod error;
mod picture;
mod settings;

pub use decoder::{
    mica_decoder_flush, mica_decoder_free, mica_decoder_get_picture, mica_decoder_new,
    mica_decoder_send_data, MicaDecoder,
};
pub use encoder::{
    mica_encoder_flush, mica_encoder_free, mica_encoder_new, mica_encoder_receive_packet,
    mica_encoder_send_frame, mica_packet_free, MicaEncoder, MicaPacket,
};
pub use error::{mica_error_message, MicaStatus};
pub use picture::{mica_picture_free, MicaPicture};
pub use settings::{mica_settings_free, mica_settings_new, mica_settings_set, MicaSettings};

use std::ffi::c_char;

/// The library's version, `"MAJOR.MINOR.PATCH"`; a static string the caller
/// does not free.
#[no_mangle]
pub extern "C" fn mica_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
