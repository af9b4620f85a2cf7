//! GStreamer elements for Mica (plugin `mica`): `micaenc` (raw video to
//! Mica), `micadec` (Mica to raw video), and `micaivfmux` / `micaivfdemux`,
//! which store Mica in IVF files as `micaenc`/`micadec` the command-line
//! tools read and write them (no muxer GStreamer ships knows Mica's caps).
//!
//! ```sh
//! gst-launch-1.0 filesrc location=in.y4m ! y4mdec ! micaenc crf=30 ! micaivfmux ! filesink location=out.ivf
//! gst-launch-1.0 filesrc location=out.ivf ! micaivfdemux ! micadec ! videoconvert ! autovideosink
//! ```
//! Caps: `video/x-mica` with `width`, `height` and `framerate`; one buffer
//! is one packet (one coded frame), with the frame's PTS.

use gst::glib;

mod dec;
mod enc;
mod ivfdemux;
mod ivfmux;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    enc::register(plugin)?;
    dec::register(plugin)?;
    ivfmux::register(plugin)?;
    ivfdemux::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    mica,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "BSD",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "https://gstreamer.freedesktop.org",
    "2026-12-07"
);

/// The caps of a Mica stream (one packet per buffer).
pub(crate) const MICA_CAPS: &str = "video/x-mica";
