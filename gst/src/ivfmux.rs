//! `micaivfmux`: Mica packets into an IVF stream (`DKIF` header with the
//! FourCC `MICA`, then per packet a 12-byte header: size and timestamp in
//! frame intervals), the file format `micadec` and `micaenc` use.

use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    /// The IVF muxer element.
    pub struct MicaIvfMux(ObjectSubclass<imp::MicaIvfMux>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "micaivfmux",
        gst::Rank::PRIMARY,
        MicaIvfMux::static_type(),
    )
}

mod imp {
    use std::sync::{LazyLock, Mutex};

    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;

    #[derive(Default)]
    struct State {
        /// Width, height and frame rate from the caps.
        format: Option<(u16, u16, i32, i32)>,
        header_sent: bool,
        /// Packets written (timestamps for buffers without a PTS).
        count: u64,
        /// The input's time segment: IVF timestamps count from its start.
        segment: gst::FormattedSegment<gst::ClockTime>,
    }

    pub struct MicaIvfMux {
        sinkpad: gst::Pad,
        srcpad: gst::Pad,
        state: Mutex<State>,
    }

    impl MicaIvfMux {
        fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
            if let gst::EventView::Caps(caps) = event.view() {
                let Some(s) = caps.caps().structure(0) else {
                    return false;
                };
                let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["caps without a size"]
                    );
                    return false;
                };
                if !(1..=65535).contains(&w) || !(1..=65535).contains(&h) {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["size {w}x{h} does not fit IVF"]
                    );
                    return false;
                }
                let fps = s
                    .get::<gst::Fraction>("framerate")
                    .ok()
                    .filter(|f| f.numer() > 0 && f.denom() > 0)
                    .unwrap_or(gst::Fraction::new(25, 1));
                self.state.lock().unwrap().format =
                    Some((w as u16, h as u16, fps.numer(), fps.denom()));
                return self.srcpad.push_event(gst::event::Caps::new(
                    &gst::Caps::builder("video/x-ivf").build(),
                ));
            }
            if let gst::EventView::Segment(segment) = event.view() {
                if let Ok(time) = segment.segment().clone().downcast::<gst::ClockTime>() {
                    self.state.lock().unwrap().segment = time;
                }
            }
            gst::Pad::event_default(pad, Some(&*self.obj()), event)
        }

        fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            let mut state = self.state.lock().unwrap();
            let Some((w, h, fps_num, fps_den)) = state.format else {
                gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps before data"]);
                return Err(gst::FlowError::NotNegotiated);
            };
            let mut out = Vec::new();
            if !state.header_sent {
                out.extend_from_slice(b"DKIF");
                out.extend_from_slice(&0u16.to_le_bytes());
                out.extend_from_slice(&32u16.to_le_bytes());
                out.extend_from_slice(b"MICA");
                out.extend_from_slice(&w.to_le_bytes());
                out.extend_from_slice(&h.to_le_bytes());
                // Timebase: one frame interval (fps_den / fps_num seconds).
                out.extend_from_slice(&(fps_num as u32).to_le_bytes());
                out.extend_from_slice(&(fps_den as u32).to_le_bytes());
                // Frame count: not known while streaming (0: unknown).
                out.extend_from_slice(&[0; 8]);
                state.header_sent = true;
            }
            let running = buffer
                .pts()
                .and_then(|pts| state.segment.to_running_time(pts));
            let timestamp = match running {
                Some(pts) => {
                    let frames = u128::from(pts.nseconds()) * fps_num as u128
                        / (fps_den as u128 * 1_000_000_000);
                    // Round to the nearest frame.
                    let exact = u128::from(pts.nseconds()) * fps_num as u128;
                    let one = fps_den as u128 * 1_000_000_000;
                    (frames + u128::from(exact % one * 2 >= one)) as u64
                }
                None => state.count,
            };
            state.count += 1;
            drop(state);
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            let Ok(size) = u32::try_from(map.len()) else {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ["packet too large for IVF"]
                );
                return Err(gst::FlowError::Error);
            };
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&timestamp.to_le_bytes());
            out.extend_from_slice(&map);
            let mut outbuf = gst::Buffer::from_mut_slice(out);
            {
                let b = outbuf.get_mut().expect("a new buffer is writable");
                b.set_pts(buffer.pts());
                b.set_dts(buffer.dts());
            }
            self.srcpad.push(outbuf)
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MicaIvfMux {
        const NAME: &'static str = "GstMicaIvfMux";
        type Type = super::MicaIvfMux;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
                .chain_function(|_pad, parent, buffer| {
                    MicaIvfMux::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |mux| mux.chain(buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    MicaIvfMux::catch_panic_pad_function(
                        parent,
                        || false,
                        |mux| mux.sink_event(pad, event),
                    )
                })
                .build();
            let srcpad =
                gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
            MicaIvfMux {
                sinkpad,
                srcpad,
                state: Mutex::new(State::default()),
            }
        }
    }

    impl ObjectImpl for MicaIvfMux {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad).unwrap();
            obj.add_pad(&self.srcpad).unwrap();
        }
    }

    impl GstObjectImpl for MicaIvfMux {}

    impl ElementImpl for MicaIvfMux {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Mica IVF muxer",
                    "Codec/Muxer",
                    "Stores Mica packets in an IVF stream",
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
                        &gst::Caps::builder(crate::MICA_CAPS).build(),
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &gst::Caps::builder("video/x-ivf").build(),
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
