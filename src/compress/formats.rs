//! The floating-point formats of the quantization lab, rounded to nearest,
//! ties to even:
//!
//! * fp16 — IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits; largest
//!   finite 65504), and bf16 — bfloat16 (1, 8, 7; the exponent range of
//!   f32): plain casts, which overflow to ±∞ like a cast does (the lab
//!   refuses a tensor that would overflow, see [`FloatFormat::overflows`]);
//! * fp8 E4M3 and E5M2 — the OCP 8-bit floating point specification
//!   (OFP8, Open Compute Project, rev. 1.0, 2023; Micikevicius et al.,
//!   "FP8 Formats for Deep Learning", arXiv:2209.05433): E4M3 has bias 7, no
//!   infinities and a single NaN mantissa (S.1111.111), so its largest finite
//!   value is 1.75 · 2⁸ = 448; E5M2 has bias 15 and IEEE-style infinities and
//!   NaNs, largest finite 1.75 · 2¹⁵ = 57344. Conversions saturate: a value
//!   beyond the largest finite one becomes ± that value (OCP's saturating
//!   mode).
//!
//! [`FloatFormat::round`] is one routine for all four — the exponent read
//! from the f32's bits, a scale by a power of two, `round_ties_even`, and the
//! scale back, every step exact in f32 — and is what `gpu/quantize.wgsl`
//! does, so the GPU and the twin agree bit for bit. Tests check it against
//! the `half` crate for fp16 and bf16 and against the OCP tables for fp8.

use serde::{Deserialize, Serialize};

/// A floating-point storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FloatFormat {
    /// IEEE binary16.
    Fp16,
    /// bfloat16.
    Bf16,
    /// OCP fp8 E4M3 (saturating).
    Fp8E4M3,
    /// OCP fp8 E5M2 (saturating).
    Fp8E5M2,
}

/// The parameters of a binary floating-point format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Exponent bits.
    pub exponent_bits: u32,
    /// Mantissa (fraction) bits.
    pub mantissa_bits: u32,
    /// Exponent bias.
    pub bias: i32,
    /// Largest finite value.
    pub max_finite: f32,
    /// Whether an overflow saturates to ±`max_finite` (fp8) or gives ±∞.
    pub saturating: bool,
}

impl Layout {
    /// The exponent of the smallest normal number, 1 − bias.
    pub fn min_exponent(&self) -> i32 {
        1 - self.bias
    }

    /// Storage bits per value.
    pub fn bits(&self) -> u32 {
        1 + self.exponent_bits + self.mantissa_bits
    }
}

impl FloatFormat {
    /// Every format, in the order the controls list them.
    pub const ALL: [FloatFormat; 4] = [
        FloatFormat::Fp16,
        FloatFormat::Bf16,
        FloatFormat::Fp8E4M3,
        FloatFormat::Fp8E5M2,
    ];

    /// URL / CLI name.
    pub fn key(self) -> &'static str {
        match self {
            FloatFormat::Fp16 => "fp16",
            FloatFormat::Bf16 => "bf16",
            FloatFormat::Fp8E4M3 => "fp8-e4m3",
            FloatFormat::Fp8E5M2 => "fp8-e5m2",
        }
    }

    /// The format's layout.
    pub fn layout(self) -> Layout {
        match self {
            FloatFormat::Fp16 => Layout {
                exponent_bits: 5,
                mantissa_bits: 10,
                bias: 15,
                max_finite: 65504.0,
                saturating: false,
            },
            FloatFormat::Bf16 => Layout {
                exponent_bits: 8,
                mantissa_bits: 7,
                bias: 127,
                max_finite: f32::from_bits(0x7f7f_0000), // (2 − 2⁻⁷) · 2¹²⁷
                saturating: false,
            },
            FloatFormat::Fp8E4M3 => Layout {
                exponent_bits: 4,
                mantissa_bits: 3,
                bias: 7,
                max_finite: 448.0,
                saturating: true,
            },
            FloatFormat::Fp8E5M2 => Layout {
                exponent_bits: 5,
                mantissa_bits: 2,
                bias: 15,
                max_finite: 57344.0,
                saturating: true,
            },
        }
    }

    /// Whether the format is stored with a per-group scale (the fp8 formats:
    /// x̂ = s · fp8(x / s)); fp16 and bf16 are plain casts.
    pub fn scaled(self) -> bool {
        matches!(self, FloatFormat::Fp8E4M3 | FloatFormat::Fp8E5M2)
    }

    /// The nearest value of the format to `x`, ties to even; beyond the
    /// largest finite value ±max (saturating formats) or ±∞; NaN stays NaN.
    pub fn round(self, x: f32) -> f32 {
        round_to(self.layout(), x)
    }

    /// Whether casting `x` gives an infinity (fp16 and bf16 only; the fp8
    /// formats saturate).
    pub fn overflows(self, x: f32) -> bool {
        x.is_finite() && self.round(x).is_infinite()
    }

    /// The bits of `x` in the format (the nearest value, as [`Self::round`]),
    /// right-aligned in a u16: sign, exponent, mantissa. NaN gives the
    /// format's canonical NaN.
    pub fn encode(self, x: f32) -> u16 {
        let l = self.layout();
        let sign = if x.is_sign_negative() { 1u16 } else { 0 } << (l.bits() - 1);
        let all_ones = (1u16 << l.exponent_bits) - 1;
        if x.is_nan() {
            // E4M3: S.1111.111; the others: the quiet NaN S.1…1.10…0.
            return match self {
                FloatFormat::Fp8E4M3 => 0x7f,
                _ => (all_ones << l.mantissa_bits) | (1 << (l.mantissa_bits - 1)),
            };
        }
        let r = self.round(x).abs();
        if r.is_infinite() {
            return sign | (all_ones << l.mantissa_bits);
        }
        if r == 0.0 {
            return sign;
        }
        let e = exponent_of(r).max(l.min_exponent());
        let mantissa = (r / pow2(e - l.mantissa_bits as i32)) as u32; // exact
        let biased = if mantissa < (1 << l.mantissa_bits) {
            0 // subnormal
        } else {
            (e + l.bias) as u16
        };
        sign | (biased << l.mantissa_bits) | (mantissa as u16 & ((1 << l.mantissa_bits) - 1))
    }

    /// The value of the bits `code` (as [`Self::encode`] lays them out).
    pub fn decode(self, code: u16) -> f32 {
        let l = self.layout();
        let sign = if code >> (l.bits() - 1) & 1 == 1 {
            -1.0
        } else {
            1.0
        };
        let all_ones = (1u16 << l.exponent_bits) - 1;
        let biased = (code >> l.mantissa_bits) & all_ones;
        let mantissa = (code & ((1 << l.mantissa_bits) - 1)) as f32;
        let specials = match self {
            FloatFormat::Fp8E4M3 => biased == all_ones && mantissa as u16 == 0x7,
            _ => biased == all_ones,
        };
        if specials {
            return if self != FloatFormat::Fp8E4M3 && mantissa == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            };
        }
        let m = l.mantissa_bits as i32;
        if biased == 0 {
            sign * mantissa * pow2(l.min_exponent() - m)
        } else {
            sign * (mantissa + pow2(m)) * pow2(biased as i32 - l.bias - m)
        }
    }

    /// Every finite non-negative value of the format in increasing order
    /// (the fp8 grids the histogram draws; 2¹⁵ values for fp16).
    pub fn non_negative_values(self) -> Vec<f32> {
        let l = self.layout();
        let count = 1u32 << (l.bits() - 1);
        (0..count as u16)
            .map(|code| self.decode(code))
            .filter(|v| v.is_finite())
            .collect()
    }
}

/// 2^e as an f32 (exact for −149 ≤ e ≤ 127).
pub fn pow2(e: i32) -> f32 {
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1 << (e + 149))
    }
}

/// ⌊log₂ |x|⌋ from the bits of a normal f32 (subnormals give −127, below any
/// format's smallest exponent here).
pub fn exponent_of(x: f32) -> i32 {
    ((x.to_bits() >> 23) & 0xff) as i32 - 127
}

/// The nearest value of `layout` to `x` (see [`FloatFormat::round`]):
/// q = 2^(max(e, e_min) − m) is the spacing of the format around |x|;
/// |x| / q is exact, `round_ties_even` picks the neighbour, × q is exact.
pub fn round_to(layout: Layout, x: f32) -> f32 {
    if !x.is_finite() {
        return if x.is_nan() || !layout.saturating {
            x
        } else {
            layout.max_finite.copysign(x)
        };
    }
    let a = x.abs();
    let e = exponent_of(a).max(layout.min_exponent());
    let spacing_exponent = e - layout.mantissa_bits as i32;
    // 2^-spacing_exponent exceeds f32's range only for bf16 at f32's
    // subnormals (up to 2^133): scale in two exact steps there.
    let up = -spacing_exponent;
    let scaled = if up > 127 {
        a * pow2(up - 127) * pow2(127)
    } else {
        a * pow2(up)
    };
    let r = scaled.round_ties_even() * pow2(spacing_exponent);
    let r = if r > layout.max_finite {
        // Rounded beyond the largest finite value: an overflow.
        if layout.saturating {
            layout.max_finite
        } else {
            f32::INFINITY
        }
    } else {
        r
    };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    fn samples() -> impl Iterator<Item = f32> {
        // Every 997th f32 bit pattern up to +∞, both signs, plus edges.
        (0..0x7f80_0000u32)
            .step_by(997)
            .map(f32::from_bits)
            .flat_map(|x| [x, -x])
            .chain([
                0.0,
                -0.0,
                65504.0,
                65520.0,
                65519.996,
                f32::MAX,
                f32::MIN_POSITIVE,
            ])
    }

    #[test]
    fn fp16_and_bf16_round_as_the_half_crate_does() {
        for x in samples() {
            let ours = FloatFormat::Fp16.round(x);
            let theirs = f16::from_f32(x).to_f32();
            assert!(
                ours.to_bits() == theirs.to_bits(),
                "fp16({x:e}) = {ours:e}, half says {theirs:e}"
            );
            let ours = FloatFormat::Bf16.round(x);
            let theirs = bf16::from_f32(x).to_f32();
            assert!(
                ours.to_bits() == theirs.to_bits(),
                "bf16({x:e}) = {ours:e}, half says {theirs:e}"
            );
        }
    }

    #[test]
    fn fp16_encode_is_the_half_crate_bit_pattern() {
        for x in samples().step_by(13) {
            assert_eq!(
                FloatFormat::Fp16.encode(x),
                f16::from_f32(x).to_bits(),
                "{x:e}"
            );
            assert_eq!(
                FloatFormat::Bf16.encode(x),
                bf16::from_f32(x).to_bits(),
                "{x:e}"
            );
        }
    }

    #[test]
    fn every_fp8_code_round_trips_and_decoding_follows_the_ocp_tables() {
        for f in [FloatFormat::Fp8E4M3, FloatFormat::Fp8E5M2] {
            for code in 0..=255u16 {
                let v = f.decode(code);
                if v.is_finite() {
                    assert_eq!(f.round(v), v, "{f:?} {code:#x} = {v} is a fixed point");
                    // -0 encodes as 0x80; everything else round-trips.
                    assert_eq!(f.encode(v), code, "{f:?} {code:#x} = {v}");
                }
            }
        }
        let e4 = FloatFormat::Fp8E4M3;
        assert_eq!(e4.decode(0x7e), 448.0);
        assert!(e4.decode(0x7f).is_nan() && e4.decode(0xff).is_nan());
        assert_eq!(
            e4.decode(0x78),
            256.0,
            "E4M3 has no infinity: S.1111.000 is 256"
        );
        assert_eq!(e4.decode(0x01), 2f32.powi(-9), "smallest subnormal 2^-9");
        assert_eq!(e4.decode(0x08), 2f32.powi(-6), "smallest normal 2^-6");
        let e5 = FloatFormat::Fp8E5M2;
        assert_eq!(e5.decode(0x7b), 57344.0);
        assert_eq!(e5.decode(0x7c), f32::INFINITY);
        assert_eq!(e5.decode(0xfc), f32::NEG_INFINITY);
        assert!(e5.decode(0x7d).is_nan() && e5.decode(0x7e).is_nan() && e5.decode(0x7f).is_nan());
        assert_eq!(e5.decode(0x01), 2f32.powi(-16));
        assert_eq!(
            e4.non_negative_values().len(),
            127,
            "0 and 126 positive finite"
        );
        assert_eq!(
            e5.non_negative_values().len(),
            124,
            "0 and 123 positive finite"
        );
    }

    #[test]
    fn fp8_saturates_and_keeps_nan() {
        let e4 = FloatFormat::Fp8E4M3;
        assert_eq!(e4.round(1e6), 448.0);
        assert_eq!(e4.round(-1e6), -448.0);
        assert_eq!(e4.round(f32::INFINITY), 448.0);
        assert_eq!(e4.round(463.9), 448.0, "below the midpoint to 480");
        assert_eq!(e4.round(470.0), 448.0, "beyond max: saturates");
        assert!(e4.round(f32::NAN).is_nan());
        assert_eq!(e4.encode(f32::NAN), 0x7f);
        assert_eq!(e4.encode(1e9), 0x7e);
        let e5 = FloatFormat::Fp8E5M2;
        assert_eq!(e5.round(1e9), 57344.0);
        assert_eq!(e5.encode(-1e9), 0xfb);
        assert!(!e5.overflows(1e9) && FloatFormat::Fp16.overflows(1e5));
        assert!(!FloatFormat::Fp16.overflows(65519.0) && FloatFormat::Fp16.overflows(65520.0));
    }

    #[test]
    fn ties_go_to_the_even_neighbour() {
        let e4 = FloatFormat::Fp8E4M3;
        // Between 1 (mantissa 000) and 1.125 (001): 1.0625 → 1.
        assert_eq!(e4.round(1.0625), 1.0);
        // Between 1.125 (001) and 1.25 (010): 1.1875 → 1.25.
        assert_eq!(e4.round(1.1875), 1.25);
        // Subnormal tie: half the smallest subnormal goes to 0 (even).
        assert_eq!(e4.round(2f32.powi(-10)), 0.0);
        assert_eq!(e4.round(3.0 * 2f32.powi(-10)), 2.0 * 2f32.powi(-9));
        assert_eq!(FloatFormat::Fp16.round(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            FloatFormat::Fp16.round(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
    }
}
