//! `micaivfdemux`: an IVF stream of Mica packets (as `micaenc` and
//! `micaivfmux` write it) into one buffer per packet, timestamped. The input
//! is untrusted: sizes are checked before use, and a bad header or a packet
//! size beyond any real frame is an error, not an allocation.

use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    /// The IVF demuxer element.
    pub struct MicaIvfDemux(ObjectSubclass<imp::MicaIvfDemux>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "micaivfdemux",
        gst::Rank::PRIMARY,
        MicaIvfDemux::static_type(),
    )
}

mod imp {
    use std::sync::{LazyLock, Mutex};

    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;

    /// Largest packet accepted (as mica-io's IVF reader: 256 MiB).
    const MAX_FRAME_BYTES: usize = 256 << 20;
    /// Largest header length accepted; longer is taken as corruption.
    const MAX_HEADER_LEN: usize = 1024;

    #[derive(Clone, Copy, Debug)]
    struct Header {
        timebase_num: u32,
        timebase_den: u32,
    }

    #[derive(Default)]
    struct State {
        pending: Vec<u8>,
        header: Option<Header>,
    }

    pub struct MicaIvfDemux {
        sinkpad: gst::Pad,
        srcpad: gst::Pad,
        state: Mutex<State>,
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes"))
    }

    impl MicaIvfDemux {
        fn format_error(&self, what: String) -> gst::FlowError {
            gst::element_imp_error!(self, gst::StreamError::Demux, ["{}", what]);
            gst::FlowError::Error
        }

        /// Parses the file header if all of it is in; pushes caps and a
        /// time segment downstream.
        fn parse_header(&self, state: &mut State) -> Result<bool, gst::FlowError> {
            let b = &state.pending;
            if b.len() < 32 {
                return Ok(false);
            }
            if &b[0..4] != b"DKIF" {
                return Err(self.format_error("not an IVF stream: no DKIF".into()));
            }
            let len = usize::from(u16_at(b, 6));
            if !(32..=MAX_HEADER_LEN).contains(&len) {
                return Err(self.format_error(format!("IVF header length {len} is invalid")));
            }
            if &b[8..12] != b"MICA" {
                return Err(self.format_error(format!(
                    "the IVF stream's FourCC is {:?}, not MICA",
                    String::from_utf8_lossy(&b[8..12])
                )));
            }
            if b.len() < len {
                return Ok(false);
            }
            let (w, h) = (u16_at(b, 12), u16_at(b, 14));
            let (den, num) = (u32_at(b, 16), u32_at(b, 20));
            if w == 0
                || h == 0
                || den == 0
                || num == 0
                || den > i32::MAX as u32
                || num > i32::MAX as u32
            {
                return Err(self.format_error(format!(
                    "IVF header has an invalid size {w}x{h} or timebase {num}/{den}"
                )));
            }
            state.header = Some(Header {
                timebase_num: num,
                timebase_den: den,
            });
            state.pending.drain(..len);
            let caps = gst::Caps::builder(crate::MICA_CAPS)
                .field("width", i32::from(w))
                .field("height", i32::from(h))
                .field("framerate", gst::Fraction::new(den as i32, num as i32))
                .build();
            self.srcpad.push_event(gst::event::Caps::new(&caps));
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            self.srcpad.push_event(gst::event::Segment::new(&segment));
            Ok(true)
        }

        fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            let mut state = self.state.lock().unwrap();
            {
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                state.pending.extend_from_slice(&map);
            }
            if state.header.is_none() && !self.parse_header(&mut state)? {
                return Ok(gst::FlowSuccess::Ok);
            }
            let header = state.header.expect("parsed above");
            let mut out = Vec::new();
            let mut at = 0;
            while state.pending.len() - at >= 12 {
                let size = u32_at(&state.pending, at) as usize;
                if size > MAX_FRAME_BYTES {
                    return Err(self.format_error(format!(
                        "IVF frame of {size} bytes: beyond any real frame (corrupt size?)"
                    )));
                }
                if state.pending.len() - at - 12 < size {
                    break;
                }
                let ts = u64::from_le_bytes(state.pending[at + 4..at + 12].try_into().unwrap());
                let scale = |frames: u64| {
                    let ns = u128::from(frames) * u128::from(header.timebase_num) * 1_000_000_000
                        / u128::from(header.timebase_den);
                    // u64::MAX is GStreamer's "no time".
                    u64::try_from(ns)
                        .ok()
                        .filter(|&ns| ns < u64::MAX)
                        .map(gst::ClockTime::from_nseconds)
                };
                let (Some(pts), Some(duration)) = (scale(ts), scale(1)) else {
                    return Err(self.format_error(format!(
                        "IVF timestamp {ts} is beyond any time GStreamer can hold"
                    )));
                };
                let mut buf =
                    gst::Buffer::from_slice(state.pending[at + 12..at + 12 + size].to_vec());
                {
                    let b = buf.get_mut().expect("a new buffer is writable");
                    b.set_pts(pts);
                    b.set_duration(duration);
                }
                out.push(buf);
                at += 12 + size;
            }
            state.pending.drain(..at);
            drop(state);
            for buf in out {
                self.srcpad.push(buf)?;
            }
            Ok(gst::FlowSuccess::Ok)
        }

        fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
            match event.view() {
                // Ours replace them: caps from the IVF header, a time segment.
                gst::EventView::Caps(_) | gst::EventView::Segment(_) => true,
                gst::EventView::Eos(_) => {
                    let state = self.state.lock().unwrap();
                    if state.header.is_none() {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Demux,
                            ["the stream ended before a whole IVF header"]
                        );
                    } else if !state.pending.is_empty() {
                        gst::element_imp_warning!(
                            self,
                            gst::StreamError::Demux,
                            [
                                "the IVF stream ends inside a frame ({} bytes left)",
                                state.pending.len()
                            ]
                        );
                    }
                    drop(state);
                    gst::Pad::event_default(pad, Some(&*self.obj()), event)
                }
                gst::EventView::FlushStop(_) => {
                    self.state.lock().unwrap().pending.clear();
                    gst::Pad::event_default(pad, Some(&*self.obj()), event)
                }
                _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MicaIvfDemux {
        const NAME: &'static str = "GstMicaIvfDemux";
        type Type = super::MicaIvfDemux;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
                .chain_function(|_pad, parent, buffer| {
                    MicaIvfDemux::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |demux| demux.chain(buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    MicaIvfDemux::catch_panic_pad_function(
                        parent,
                        || false,
                        |demux| demux.sink_event(pad, event),
                    )
                })
                .build();
            let srcpad =
                gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
            MicaIvfDemux {
                sinkpad,
                srcpad,
                state: Mutex::new(State::default()),
            }
        }
    }

    impl ObjectImpl for MicaIvfDemux {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad).unwrap();
            obj.add_pad(&self.srcpad).unwrap();
        }
    }

    impl GstObjectImpl for MicaIvfDemux {}

    impl ElementImpl for MicaIvfDemux {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Mica IVF demuxer",
                    "Codec/Demuxer",
                    "Reads Mica packets from an IVF stream",
                    "The Mica developers",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &gst::Caps::new_any(),
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &gst::Caps::builder(crate::MICA_CAPS).build(),
                    )
                    .unwrap(),
                ]
            });
            TEMPLATES.as_ref()
        }

        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            let result = self.parent_change_state(transition)?;
            // After the parent: no chain call is running any more.
            if transition == gst::StateChange::PausedToReady {
                *self.state.lock().unwrap() = State::default();
            }
            Ok(result)
        }
    }
}
