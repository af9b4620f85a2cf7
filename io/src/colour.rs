//! Text forms of the colour description and HDR metadata, shared by Mica's
//! y4m tags ([`crate::y4m`]) and the encoder's command line.
//!
//! | what | text | example |
//! |---|---|---|
//! | [`ColourDescription`] | `<primaries>,<transfer>,<matrix>` (ITU-T H.273 code points) | `9,16,9` |
//! | [`MasteringDisplay`] | `G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)` (x265's `--master-display`) | `G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)` |
//! | [`ContentLight`] | `<max_cll>,<max_fall>` (cd/m², x265's `--max-cll`) | `1000,400` |
//!
//! Mastering display chromaticities are in units of 0.00002 (0..=50000),
//! luminances in units of 0.0001 cd/m² (as HEVC's SEI and x265 have them).
//! Numbers are plain decimal digits: no signs, spaces or fractions.

use mica::{ColourDescription, ContentLight, MasteringDisplay};
use thiserror::Error;

/// Largest chromaticity coordinate, 1.0 in units of 0.00002.
pub const MAX_CHROMATICITY: u16 = 50_000;

/// Why a text form of colour metadata was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// The text does not have the expected shape.
    #[error("expected {expected}")]
    Shape {
        /// The shape it must have.
        expected: &'static str,
    },
    /// A field is not a whole number in its range.
    #[error("{field} is \"{value}\": expected a whole number from 0 to {max}")]
    Number {
        /// Which field.
        field: &'static str,
        /// The text given, escaped.
        value: String,
        /// Its largest value.
        max: u64,
    },
    /// The numbers cannot describe a mastering display.
    #[error("{0}")]
    Values(&'static str),
}

const COLOUR_SHAPE: &str = "<primaries>,<transfer>,<matrix> (three H.273 code points 0..=255)";
const MASTERING_SHAPE: &str =
    "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min) (chromaticities in 0.00002 units, luminances in 0.0001 cd/m2)";
const LIGHT_SHAPE: &str = "<max_cll>,<max_fall> (cd/m2, 0..=65535)";

/// Parses a plain decimal number no larger than `max`.
fn number(field: &'static str, text: &str, max: u64) -> Result<u64, MetadataError> {
    let bad = || MetadataError::Number {
        field,
        value: text.escape_debug().to_string(),
        max,
    };
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(bad()),
    }
}

/// Splits `a,b` (exactly one comma).
fn pair<'a>(text: &'a str, shape: &'static str) -> Result<(&'a str, &'a str), MetadataError> {
    match text.split_once(',') {
        Some((a, b)) if !b.contains(',') => Ok((a, b)),
        _ => Err(MetadataError::Shape { expected: shape }),
    }
}

/// Parses `<primaries>,<transfer>,<matrix>`.
pub fn parse_colour(text: &str) -> Result<ColourDescription, MetadataError> {
    let parts: Vec<&str> = text.split(',').collect();
    let [p, t, m] = parts[..] else {
        return Err(MetadataError::Shape {
            expected: COLOUR_SHAPE,
        });
    };
    Ok(ColourDescription {
        primaries: number("primaries", p, 255)? as u8,
        transfer: number("transfer", t, 255)? as u8,
        matrix: number("matrix", m, 255)? as u8,
    })
}

/// The text [`parse_colour`] reads.
pub fn format_colour(c: &ColourDescription) -> String {
    format!("{},{},{}", c.primaries, c.transfer, c.matrix)
}

/// Parses x265's `--master-display` syntax, `G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)`,
/// and checks the values describe a display (chromaticities at most 50000,
/// the minimum luminance below a non-zero maximum).
pub fn parse_mastering_display(text: &str) -> Result<MasteringDisplay, MetadataError> {
    const FIELDS: [(&str, [&str; 2]); 4] = [
        ("G", ["green x", "green y"]),
        ("B", ["blue x", "blue y"]),
        ("R", ["red x", "red y"]),
        ("WP", ["white point x", "white point y"]),
    ];
    let shape = MetadataError::Shape {
        expected: MASTERING_SHAPE,
    };
    let mut rest = text;
    let mut xy = [[0u16; 2]; 4];
    for (slot, (name, fields)) in xy.iter_mut().zip(FIELDS) {
        let (x, y, r) = group(rest, name).ok_or(shape.clone())?;
        let max = MAX_CHROMATICITY as u64;
        *slot = [
            number(fields[0], x, max)? as u16,
            number(fields[1], y, max)? as u16,
        ];
        rest = r;
    }
    let (max, min, r) = group(rest, "L").ok_or(shape.clone())?;
    if !r.is_empty() {
        return Err(shape);
    }
    let m = MasteringDisplay {
        primaries: [xy[0], xy[1], xy[2]],
        white_point: xy[3],
        max_luminance: number("max luminance", max, u32::MAX as u64)? as u32,
        min_luminance: number("min luminance", min, u32::MAX as u64)? as u32,
    };
    match m.problem() {
        Some(problem) => Err(MetadataError::Values(problem)),
        None => Ok(m),
    }
}

/// One `NAME(a,b)` group at the start of `rest`: the two values' texts and what follows.
fn group<'a>(rest: &'a str, name: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let inner = rest.strip_prefix(name)?.strip_prefix('(')?;
    let (args, rest) = inner.split_once(')')?;
    let (a, b) = pair(args, MASTERING_SHAPE).ok()?;
    Some((a, b, rest))
}

/// The text [`parse_mastering_display`] reads.
pub fn format_mastering_display(m: &MasteringDisplay) -> String {
    let [g, b, r] = m.primaries;
    let wp = m.white_point;
    format!(
        "G({},{})B({},{})R({},{})WP({},{})L({},{})",
        g[0], g[1], b[0], b[1], r[0], r[1], wp[0], wp[1], m.max_luminance, m.min_luminance
    )
}

/// Parses `<max_cll>,<max_fall>`.
pub fn parse_content_light(text: &str) -> Result<ContentLight, MetadataError> {
    let (cll, fall) = pair(text, LIGHT_SHAPE)?;
    Ok(ContentLight {
        max_cll: number("max_cll", cll, u16::MAX as u64)? as u16,
        max_fall: number("max_fall", fall, u16::MAX as u64)? as u16,
    })
}

/// The text [`parse_content_light`] reads.
pub fn format_content_light(l: &ContentLight) -> String {
    format!("{},{}", l.max_cll, l.max_fall)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR10: &str = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)";

    #[test]
    fn round_trips() {
        let m = parse_mastering_display(HDR10).unwrap();
        assert_eq!(
            m,
            MasteringDisplay {
                primaries: [[13250, 34500], [7500, 3000], [34000, 16000]],
                white_point: [15635, 16450],
                max_luminance: 10_000_000,
                min_luminance: 1,
            }
        );
        assert_eq!(format_mastering_display(&m), HDR10);
        let c = parse_colour("9,16,9").unwrap();
        assert_eq!((c.primaries, c.transfer, c.matrix), (9, 16, 9));
        assert_eq!(format_colour(&c), "9,16,9");
        let l = parse_content_light("1000,400").unwrap();
        assert_eq!((l.max_cll, l.max_fall), (1000, 400));
        assert_eq!(format_content_light(&l), "1000,400");
        // Edge values.
        let edge = "G(0,50000)B(50000,0)R(0,0)WP(50000,50000)L(4294967295,4294967294)";
        assert_eq!(
            format_mastering_display(&parse_mastering_display(edge).unwrap()),
            edge
        );
        assert!(parse_content_light("65535,0").is_ok());
        assert!(parse_colour("255,0,2").is_ok());
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)",
            "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)X",
            "B(7500,3000)G(13250,34500)R(34000,16000)WP(15635,16450)L(10000000,1)",
            "G(13250,34500,1)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)",
            "G(13250;34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)",
            "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1",
            "G 13250,34500",
        ] {
            assert!(
                matches!(
                    parse_mastering_display(bad),
                    Err(MetadataError::Shape { .. })
                ),
                "{bad}: {:?}",
                parse_mastering_display(bad)
            );
        }
        let e = parse_mastering_display(&HDR10.replace("13250", "50001")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "green x is \"50001\": expected a whole number from 0 to 50000"
        );
        let e = parse_mastering_display(&HDR10.replace("7500", "x")).unwrap_err();
        assert!(
            matches!(
                e,
                MetadataError::Number {
                    field: "blue x",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse_mastering_display(&HDR10.replace("3000", "-3")).unwrap_err();
        assert!(
            matches!(
                e,
                MetadataError::Number {
                    field: "blue y",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse_mastering_display(&HDR10.replace("L(10000000,1)", "L(100,100)")).unwrap_err();
        assert!(matches!(e, MetadataError::Values(_)), "{e:?}");
        assert!(e.to_string().contains("minimum luminance"), "{e}");
        let e = parse_mastering_display(&HDR10.replace("L(10000000,1)", "L(0,0)")).unwrap_err();
        assert!(matches!(e, MetadataError::Values(_)), "{e:?}");
        let e = parse_mastering_display(&HDR10.replace("L(10000000,1)", "L(4294967296,1)"))
            .unwrap_err();
        assert!(
            matches!(
                e,
                MetadataError::Number {
                    field: "max luminance",
                    ..
                }
            ),
            "{e:?}"
        );

        for bad in ["", "1000", "1000,400,1", "1000;400"] {
            assert!(
                matches!(parse_content_light(bad), Err(MetadataError::Shape { .. })),
                "{bad}"
            );
        }
        for bad in ["65536,1", "1, 2", "+1,2", "1,", "a,b"] {
            assert!(
                matches!(parse_content_light(bad), Err(MetadataError::Number { .. })),
                "{bad}"
            );
        }
        for bad in ["", "9,16", "9,16,9,1", "9;16;9"] {
            assert!(
                matches!(parse_colour(bad), Err(MetadataError::Shape { .. })),
                "{bad}"
            );
        }
        for bad in ["256,1,1", "1,x,1", "1,1,", "1,1,99999999999999999999999"] {
            assert!(
                matches!(parse_colour(bad), Err(MetadataError::Number { .. })),
                "{bad}"
            );
        }
    }
}
