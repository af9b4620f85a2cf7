//! `micaenc`: raw 4:2:0 video (8 or 10 bits) in, Mica packets out.

use gst::glib;
use gst::prelude::*;

glib::wrapper! {
    /// The encoder element.
    pub struct MicaEnc(ObjectSubclass<imp::MicaEnc>) @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "micaenc",
        gst::Rank::PRIMARY,
        MicaEnc::static_type(),
    )
}

mod imp {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    use gst::glib;
    use gst::subclass::prelude::*;
    use gst_video::prelude::*;
    use gst_video::subclass::prelude::*;
    use mica::{Encoder, EncoderConfig, Frame, GopStructure, Preset, RateControl};

    static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
        gst::DebugCategory::new(
            "micaenc",
            gst::DebugColorFlags::empty(),
            Some("Mica encoder"),
        )
    });

    /// The properties, with `micaenc`'s (the command line's) defaults.
    #[derive(Clone, Debug)]
    struct Settings {
        qp: i32,
        /// [`CRF_OFF`]: fixed QP (`qp`); else constant quality.
        crf: f64,
        preset: String,
        gop: String,
        /// 0: adaptive (32 or 16).
        gop_size: u32,
        keyint: u32,
        /// 0: the input's.
        bit_depth: u32,
        nn_filter: bool,
        threads: u32,
    }

    impl Default for Settings {
        fn default() -> Self {
            Settings {
                qp: 32,
                crf: CRF_OFF,
                preset: "medium".into(),
                gop: "random-access".into(),
                gop_size: 0,
                keyint: 0,
                bit_depth: 0,
                nn_filter: true,
                threads: 0,
            }
        }
    }

    /// The `crf` value meaning "no constant quality: fixed QP" (below every
    /// valid level, -12 being one at 10 bits).
    const CRF_OFF: f64 = -13.0;

    struct State {
        encoder: Encoder,
        config: EncoderConfig,
        info: gst_video::VideoInfo,
        /// Frames sent to this encoder so far (Mica numbers them so).
        sent: u32,
        /// Mica's frame number -> the base class's system frame number.
        system_numbers: HashMap<u32, u32>,
    }

    #[derive(Default)]
    pub struct MicaEnc {
        settings: Mutex<Settings>,
        state: Mutex<Option<State>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MicaEnc {
        const NAME: &'static str = "GstMicaEnc";
        type Type = super::MicaEnc;
        type ParentType = gst_video::VideoEncoder;
    }

    impl ObjectImpl for MicaEnc {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                let d = Settings::default();
                vec![
                    glib::ParamSpecInt::builder("qp")
                        .nick("QP")
                        .blurb("Fixed QP (0..=51 at 8 bits, -12..=51 at 10); ignored with crf")
                        .minimum(-12)
                        .maximum(51)
                        .default_value(d.qp)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecDouble::builder("crf")
                        .nick("Constant quality")
                        .blurb("Constant quality level, as a QP (may be fractional); -13: off, fixed QP")
                        .minimum(CRF_OFF)
                        .maximum(51.0)
                        .default_value(d.crf)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecString::builder("preset")
                        .nick("Preset")
                        .blurb("Speed preset: fast, medium or slow")
                        .default_value(Some("medium"))
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecString::builder("gop")
                        .nick("GOP structure")
                        .blurb("random-access, low-delay or intra")
                        .default_value(Some("random-access"))
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecUInt::builder("gop-size")
                        .nick("GOP size")
                        .blurb("Frames per random-access group, 1..=32; 0: chosen per group (32 or 16)")
                        .maximum(32)
                        .default_value(d.gop_size)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecUInt::builder("keyint")
                        .nick("Keyframe interval")
                        .blurb("Largest distance between keyframes in frames; 0: about 10 seconds")
                        .default_value(d.keyint)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecUInt::builder("bit-depth")
                        .nick("Coded bit depth")
                        .blurb("8 or 10; 0: the input's")
                        .maximum(10)
                        .default_value(d.bit_depth)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecBoolean::builder("nn-filter")
                        .nick("Learned loop filter")
                        .blurb("Restore frames in the loop with the learned filter")
                        .default_value(d.nn_filter)
                        .mutable_ready()
                        .build(),
                    glib::ParamSpecUInt::builder("threads")
                        .nick("Threads")
                        .blurb("Worker threads; 0: one per core")
                        .maximum(256)
                        .default_value(d.threads)
                        .mutable_ready()
                        .build(),
                ]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            let mut s = self.settings.lock().unwrap();
            match pspec.name() {
                "qp" => s.qp = value.get().expect("type checked upstream"),
                "crf" => s.crf = value.get().expect("type checked upstream"),
                "preset" => {
                    let v: Option<String> = value.get().expect("type checked upstream");
                    match v.as_deref() {
                        Some(p @ ("fast" | "medium" | "slow")) => s.preset = p.to_string(),
                        other => gst::error!(
                            CAT,
                            imp = self,
                            "preset {other:?} is not fast, medium or slow: kept {}",
                            s.preset
                        ),
                    }
                }
                "gop" => {
                    let v: Option<String> = value.get().expect("type checked upstream");
                    match v.as_deref() {
                        Some(g @ ("random-access" | "low-delay" | "intra")) => {
                            s.gop = g.to_string()
                        }
                        other => gst::error!(
                            CAT,
                            imp = self,
                            "gop {other:?} is not random-access, low-delay or intra: kept {}",
                            s.gop
                        ),
                    }
                }
                "gop-size" => s.gop_size = value.get().expect("type checked upstream"),
                "keyint" => s.keyint = value.get().expect("type checked upstream"),
                "bit-depth" => s.bit_depth = value.get().expect("type checked upstream"),
                "nn-filter" => s.nn_filter = value.get().expect("type checked upstream"),
                "threads" => s.threads = value.get().expect("type checked upstream"),
                _ => unreachable!("no other properties"),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let s = self.settings.lock().unwrap();
            match pspec.name() {
                "qp" => s.qp.to_value(),
                "crf" => s.crf.to_value(),
                "preset" => s.preset.to_value(),
                "gop" => s.gop.to_value(),
                "gop-size" => s.gop_size.to_value(),
                "keyint" => s.keyint.to_value(),
                "bit-depth" => s.bit_depth.to_value(),
                "nn-filter" => s.nn_filter.to_value(),
                "threads" => s.threads.to_value(),
                _ => unreachable!("no other properties"),
            }
        }
    }

    impl GstObjectImpl for MicaEnc {}

    impl ElementImpl for MicaEnc {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Mica video encoder",
                    "Codec/Encoder/Video",
                    "Mica: hybrid learned-plus-traditional video coding",
                    "The Mica developers",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let sink_caps = gst_video::VideoCapsBuilder::new()
                    .format_list([
                        gst_video::VideoFormat::I420,
                        gst_video::VideoFormat::I42010le,
                    ])
                    .build();
                let src_caps = gst::Caps::builder(crate::MICA_CAPS).build();
                vec![
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &src_caps,
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &sink_caps,
                    )
                    .unwrap(),
                ]
            });
            TEMPLATES.as_ref()
        }
    }

    impl MicaEnc {
        fn config(&self, info: &gst_video::VideoInfo) -> Result<EncoderConfig, String> {
            let s = self.settings.lock().unwrap().clone();
            let mut cfg = EncoderConfig::new(info.width() as usize, info.height() as usize);
            let fps = info.fps();
            if fps.numer() > 0 && fps.denom() > 0 {
                (cfg.fps_num, cfg.fps_den) = (fps.numer() as u32, fps.denom() as u32);
            }
            let par = info.par();
            if par.numer() > 0 && par.denom() > 0 && par.numer() <= 65535 && par.denom() <= 65535 {
                cfg.video_info.aspect_num = par.numer() as u16;
                cfg.video_info.aspect_den = par.denom() as u16;
            }
            cfg.video_info.color_range = match info.colorimetry().range() {
                gst_video::VideoColorRange::Range0_255 => 2,
                gst_video::VideoColorRange::Range16_235 => 1,
                _ => 0,
            };
            cfg.input_bit_depth = if info.format() == gst_video::VideoFormat::I42010le {
                10
            } else {
                8
            };
            cfg.bit_depth = match s.bit_depth {
                0 => cfg.input_bit_depth,
                8 | 10 => s.bit_depth as u8,
                d => return Err(format!("bit-depth {d} is not 8 or 10 (or 0: the input's)")),
            };
            cfg.qp = s.qp as i8;
            if s.crf > CRF_OFF {
                cfg.rate = RateControl::ConstantQuality { crf: s.crf };
            }
            cfg.preset = Preset::from_name(&s.preset).expect("checked when set");
            cfg.gop = match s.gop.as_str() {
                "low-delay" => GopStructure::LowDelay,
                "intra" => GopStructure::IntraOnly,
                _ => GopStructure::RandomAccess,
            };
            if s.gop_size > 0 {
                (cfg.gop_size, cfg.adaptive_gop) = (s.gop_size as usize, false);
            }
            cfg.keyint = s.keyint as usize;
            cfg.nn_filter = s.nn_filter;
            cfg.threads = s.threads as usize;
            Ok(cfg)
        }

        /// Gives every packet the encoder has ready to the base class.
        fn output_packets(&self, state: &mut State) -> Result<gst::FlowSuccess, gst::FlowError> {
            let obj = self.obj();
            while let Some(packet) = state.encoder.receive_packet() {
                let Some(system) = state.system_numbers.remove(&packet.frame_number) else {
                    gst::error!(
                        CAT,
                        imp = self,
                        "packet for unknown frame {}",
                        packet.frame_number
                    );
                    continue;
                };
                let Some(mut frame) = obj.frame(system as i32) else {
                    gst::warning!(CAT, imp = self, "frame {system} is gone");
                    continue;
                };
                if packet.keyframe {
                    frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
                }
                frame.set_output_buffer(gst::Buffer::from_mut_slice(packet.data));
                obj.finish_frame(frame)?;
            }
            Ok(gst::FlowSuccess::Ok)
        }

        /// Codes everything held and starts a fresh encoder for what follows.
        fn drain(&self, state: &mut State) -> Result<gst::FlowSuccess, gst::FlowError> {
            state.encoder.flush();
            let result = self.output_packets(state);
            state.encoder =
                Encoder::new(state.config.clone()).map_err(|_| gst::FlowError::Error)?;
            state.sent = 0;
            state.system_numbers.clear();
            result
        }
    }

    /// The picture's planes as a Mica frame.
    fn read_frame(vframe: &gst_video::VideoFrameRef<&gst::BufferRef>, depth: u8) -> Frame {
        let mut frame = Frame::new_420_at(vframe.width() as usize, vframe.height() as usize, depth);
        for (i, plane) in frame.planes.iter_mut().enumerate() {
            let data = vframe
                .plane_data(i as u32)
                .expect("a 4:2:0 frame has three planes");
            let stride = vframe.plane_stride()[i] as usize;
            for y in 0..plane.height {
                let row = &data[y * stride..];
                let out = plane.row_mut(y);
                if depth > 8 {
                    for (o, b) in out.iter_mut().zip(row.chunks_exact(2)) {
                        *o = u16::from_le_bytes([b[0], b[1]]);
                    }
                } else {
                    for (o, &b) in out.iter_mut().zip(row) {
                        *o = u16::from(b);
                    }
                }
            }
        }
        frame
    }

    impl VideoEncoderImpl for MicaEnc {
        fn stop(&self) -> Result<(), gst::ErrorMessage> {
            *self.state.lock().unwrap() = None;
            self.parent_stop()
        }

        fn set_format(
            &self,
            state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
        ) -> Result<(), gst::LoggableError> {
            if let Some(old) = self.state.lock().unwrap().as_mut() {
                self.drain(old)
                    .map_err(|e| gst::loggable_error!(CAT, "cannot drain: {e:?}"))?;
            }
            let info = state.info().clone();
            let config = self.config(&info).map_err(|e| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ["{}", e]);
                gst::loggable_error!(CAT, "{}", e)
            })?;
            let encoder = Encoder::new(config.clone()).map_err(|e| {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ["{}", e]);
                gst::loggable_error!(CAT, "{}", e)
            })?;
            let caps = gst::Caps::builder(crate::MICA_CAPS)
                .field("width", info.width() as i32)
                .field("height", info.height() as i32)
                .field(
                    "framerate",
                    gst::Fraction::new(config.fps_num as i32, config.fps_den as i32),
                )
                .build();
            *self.state.lock().unwrap() = Some(State {
                encoder,
                config,
                info,
                sent: 0,
                system_numbers: HashMap::new(),
            });
            let obj = self.obj();
            // Random access holds a group of up to 32 frames and the
            // temporal filter's four more before it codes.
            let fps = state.info().fps();
            if fps.numer() > 0 && fps.denom() > 0 {
                let frame = gst::ClockTime::SECOND
                    .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
                    .unwrap_or(gst::ClockTime::ZERO);
                let held = match self.settings.lock().unwrap().gop.as_str() {
                    "random-access" => 32 + 4 + 1,
                    _ => 1,
                };
                let latency = frame * held;
                obj.set_latency(latency, latency);
            }
            let output = obj
                .set_output_state(caps, Some(state))
                .map_err(|_| gst::loggable_error!(CAT, "cannot set the output state"))?;
            obj.negotiate(output)
                .map_err(|_| gst::loggable_error!(CAT, "cannot negotiate"))?;
            self.parent_set_format(state)
        }

        fn flush(&self) -> bool {
            // A seek: what is held is thrown away; start afresh.
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                if let Ok(fresh) = Encoder::new(state.config.clone()) {
                    state.encoder = fresh;
                }
                state.sent = 0;
                state.system_numbers.clear();
            }
            true
        }

        fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
            match self.state.lock().unwrap().as_mut() {
                Some(state) => self.drain(state),
                None => Ok(gst::FlowSuccess::Ok),
            }
        }

        fn handle_frame(
            &self,
            frame: gst_video::VideoCodecFrame,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
            let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(input, &state.info)
                .map_err(|_| {
                    gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot map the input"]);
                    gst::FlowError::Error
                })?;
            let picture = read_frame(&vframe, state.config.input_bit_depth);
            drop(vframe);
            if let Err(e) = state.encoder.send_frame(picture) {
                gst::element_imp_error!(self, gst::StreamError::Encode, ["{}", e]);
                return Err(gst::FlowError::Error);
            }
            state
                .system_numbers
                .insert(state.sent, frame.system_frame_number());
            state.sent += 1;
            drop(frame);
            self.output_packets(state)
        }
    }
}
