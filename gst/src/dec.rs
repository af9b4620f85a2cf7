//! `micadec`: Mica packets in (one per buffer), raw 4:2:0 video out
//! (I420, or I420_10LE for 10-bit streams) in display order.

use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    /// The decoder element.
    pub struct MicaDec(ObjectSubclass<imp::MicaDec>) @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "micadec",
        gst::Rank::PRIMARY,
        MicaDec::static_type(),
    )
}

mod imp {
    use std::sync::{LazyLock, Mutex};

    use gst::glib;
    use gst::subclass::prelude::*;
    use gst_video::prelude::*;
    use gst_video::subclass::prelude::*;
    use mica::{DecodedFrame, Decoder, DecoderConfig};

    static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
        gst::DebugCategory::new(
            "micadec",
            gst::DebugColorFlags::empty(),
            Some("Mica decoder"),
        )
    });

    #[derive(Clone, Copy, Debug, Default)]
    struct Settings {
        threads: u32,
    }

    struct State {
        decoder: Decoder,
        config: DecoderConfig,
        /// The display-order number each pending packet's header gives ->
        /// its input frame (frames come out by number, whatever the
        /// timestamps say).
        system_numbers: std::collections::HashMap<u32, u32>,
        input_state: gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
        output_info: Option<gst_video::VideoInfo>,
    }

    #[derive(Default)]
    pub struct MicaDec {
        settings: Mutex<Settings>,
        state: Mutex<Option<State>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MicaDec {
        const NAME: &'static str = "GstMicaDec";
        type Type = super::MicaDec;
        type ParentType = gst_video::VideoDecoder;
    }

    impl ObjectImpl for MicaDec {
        fn constructed(&self) {
            self.parent_constructed();
            // One buffer is one packet (as micaenc and micaivfdemux give them).
            self.obj().set_packetized(true);
        }

        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Worker threads; 0: one per core")
                    .maximum(256)
                    .mutable_ready()
                    .build()]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            match pspec.name() {
                "threads" => {
                    self.settings.lock().unwrap().threads =
                        value.get().expect("type checked upstream")
                }
                _ => unreachable!("no other properties"),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "threads" => self.settings.lock().unwrap().threads.to_value(),
                _ => unreachable!("no other properties"),
            }
        }
    }

    impl GstObjectImpl for MicaDec {}

    impl ElementImpl for MicaDec {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Mica video decoder",
                    "Codec/Decoder/Video",
                    "Mica: hybrid learned-plus-traditional video coding",
                    "The Mica developers",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let sink_caps = gst::Caps::builder(crate::MICA_CAPS).build();
                let src_caps = gst_video::VideoCapsBuilder::new()
                    .format_list([
                        gst_video::VideoFormat::I420,
                        gst_video::VideoFormat::I42010le,
                    ])
                    .build();
                vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &sink_caps,
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &src_caps,
                    )
                    .unwrap(),
                ]
            });
            TEMPLATES.as_ref()
        }
    }

    impl MicaDec {
        /// The error of a stream the decoder refused.
        fn stream_error(&self, e: mica::Error) -> gst::FlowError {
            gst::element_imp_error!(self, gst::StreamError::Decode, ["{}", e]);
            gst::FlowError::Error
        }

        /// Hands every decoded frame to the base class, each as the output
        /// of the input frame that carried its packet.
        fn output_frames(&self, state: &mut State) -> Result<gst::FlowSuccess, gst::FlowError> {
            let obj = self.obj();
            while let Some(decoded) = state.decoder.receive_frame() {
                let system = state.system_numbers.remove(&decoded.frame_number);
                let Some(mut frame) = system.and_then(|n| obj.frame(n as i32)) else {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "decoded frame {} has no input",
                        decoded.frame_number
                    );
                    continue;
                };
                let info = self.output_info(state, &decoded)?;
                obj.allocate_output_frame(&mut frame, None)?;
                let buffer = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
                let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &info)
                    .map_err(|_| gst::FlowError::Error)?;
                write_frame(&decoded.frame, &mut vframe);
                drop(vframe);
                obj.finish_frame(frame)?;
            }
            Ok(gst::FlowSuccess::Ok)
        }

        /// The output format for a decoded frame, negotiated when it
        /// changes (the first frame, or a new sequence).
        fn output_info(
            &self,
            state: &mut State,
            decoded: &DecodedFrame,
        ) -> Result<gst_video::VideoInfo, gst::FlowError> {
            let f = &decoded.frame;
            let format = if f.bit_depth > 8 {
                gst_video::VideoFormat::I42010le
            } else {
                gst_video::VideoFormat::I420
            };
            let (w, h) = (f.width() as u32, f.height() as u32);
            if let Some(info) = &state.output_info {
                if info.format() == format && info.width() == w && info.height() == h {
                    return Ok(info.clone());
                }
            }
            let obj = self.obj();
            let output = obj
                .set_output_state(format, w, h, Some(&state.input_state))
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            obj.negotiate(output)
                .map_err(|_| gst::FlowError::NotNegotiated)?;
            let info = obj
                .output_state()
                .ok_or(gst::FlowError::NotNegotiated)?
                .info()
                .clone();
            state.output_info = Some(info.clone());
            Ok(info)
        }

        /// Decodes what is in flight and gives it out; the decoder goes on
        /// with the packets that follow (a drain is not the stream's end).
        fn drain_decoder(&self, state: &mut State) -> Result<gst::FlowSuccess, gst::FlowError> {
            let flushed = state.decoder.flush();
            let out = self.output_frames(state);
            flushed.map_err(|e| self.stream_error(e))?;
            out
        }
    }

    /// A decoded frame into the output buffer's planes.
    fn write_frame(
        frame: &mica::Frame,
        vframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) {
        for (i, plane) in frame.planes.iter().enumerate() {
            let stride = vframe.plane_stride()[i] as usize;
            let data = vframe
                .plane_data_mut(i as u32)
                .expect("a 4:2:0 frame has three planes");
            for y in 0..plane.height {
                let row = &mut data[y * stride..];
                if frame.bit_depth > 8 {
                    for (o, s) in row.chunks_exact_mut(2).zip(plane.row(y)) {
                        o.copy_from_slice(&s.to_le_bytes());
                    }
                } else {
                    for (o, &s) in row.iter_mut().zip(plane.row(y)) {
                        *o = s as u8;
                    }
                }
            }
        }
    }

    impl VideoDecoderImpl for MicaDec {
        fn stop(&self) -> Result<(), gst::ErrorMessage> {
            *self.state.lock().unwrap() = None;
            self.parent_stop()
        }

        fn set_format(
            &self,
            input_state: &gst_video::VideoCodecState<
                'static,
                gst_video::video_codec_state::Readable,
            >,
        ) -> Result<(), gst::LoggableError> {
            let mut guard = self.state.lock().unwrap();
            if let Some(old) = guard.as_mut() {
                // New caps mid-stream: finish the old stream first.
                self.drain_decoder(old)
                    .map_err(|e| gst::loggable_error!(CAT, "cannot drain: {e:?}"))?;
            }
            let config = DecoderConfig {
                threads: self.settings.lock().unwrap().threads as usize,
                ..DecoderConfig::default()
            };
            *guard = Some(State {
                decoder: Decoder::new(config.clone()),
                config,
                system_numbers: std::collections::HashMap::new(),
                input_state: input_state.clone(),
                output_info: None,
            });
            drop(guard);
            // Frames decoding at once (up to 8) plus the reordering of a
            // random-access group of 32 (a frame waits for the five above it
            // in the cascade).
            let fps = input_state.info().fps();
            if fps.numer() > 0 && fps.denom() > 0 {
                let frame = gst::ClockTime::SECOND
                    .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
                    .unwrap_or(gst::ClockTime::ZERO);
                let latency = frame * (8 + 6);
                self.obj().set_latency(latency, latency);
            }
            self.parent_set_format(input_state)
        }

        fn handle_frame(
            &self,
            frame: gst_video::VideoCodecFrame,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
            let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
            let number = mica::packet_info(&map).map(|info| info.frame_number);
            let sent = match number {
                Ok(n) => {
                    state.system_numbers.insert(n, frame.system_frame_number());
                    state.decoder.send_packet(&map)
                }
                Err(e) => Err(e.into()),
            };
            drop(map);
            drop(frame);
            sent.map_err(|e| self.stream_error(e))?;
            self.output_frames(state)
        }

        fn flush(&self) -> bool {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.decoder = Decoder::new(state.config.clone());
                state.system_numbers.clear();
            }
            true
        }

        fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
            match self.state.lock().unwrap().as_mut() {
                Some(state) => self.drain_decoder(state),
                None => Ok(gst::FlowSuccess::Ok),
            }
        }

        fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
            match self.state.lock().unwrap().as_mut() {
                Some(state) => {
                    let out = self.drain_decoder(state);
                    // The stream ended: what follows starts afresh.
                    state.decoder = Decoder::new(state.config.clone());
                    state.system_numbers.clear();
                    out
                }
                None => Ok(gst::FlowSuccess::Ok),
            }
        }
    }
}
