//! Number formatting shared by the page and the CLI (pure, tested natively).

/// An integer with thin-space thousands separators: `272 695 296`.
pub fn int(x: u64) -> String {
    let digits = x.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// A count in engineering form: `272.7 M`, `1.07 G`.
pub fn si(x: f64) -> String {
    let (value, unit) = if x >= 1e12 {
        (x / 1e12, " T")
    } else if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, " ")
    };
    format!("{value:.3}{unit}").replace(".000 ", " ")
}

/// Bytes in binary units: `1.00 MiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// A measured figure, the one rule for numbers on the page, in the CLI
/// and on the charts: plain decimals where they read well (10⁻³ ≤ |x| <
/// 10⁵: `2.47`, `0.0123`, `1234`), scientific outside (`6.03e-7`,
/// `1.20e8`), three significant digits; exact zero as `0`.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = x.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.2e}");
    }
    // Decimals for three significant digits, from the rounded value's
    // exponent (9.996 has two digits before the point once rounded).
    let digits = |decimals: usize| format!("{x:.decimals$}");
    let exponent = a.log10().floor() as i32;
    let decimals = (2 - exponent).max(0) as usize;
    let text = digits(decimals);
    let rounded: f64 = text.parse().unwrap_or(x);
    if decimals > 0 && rounded.abs() >= 10f64.powi(exponent + 1) {
        digits(decimals - 1)
    } else {
        text
    }
}

/// A small error figure: [`num`] (the name kept for its callers).
pub fn sci(x: f64) -> String {
    num(x)
}

/// An axis tick on a continuous axis: [`num`] with the trailing zeros of
/// its decimals dropped (`0.5`, `2`, `1e-4` rather than `1.00e-4`).
pub fn tick(x: f64) -> String {
    let text = num(x);
    let trim = |m: &str| -> String {
        if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            m.to_string()
        }
    };
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa = trim(mantissa);
            if mantissa == "1" {
                format!("1e{exponent}")
            } else {
                format!("{mantissa}e{exponent}")
            }
        }
        None => trim(&text),
    }
}

/// A tick on an axis of whole numbers (positions, layers, bits): the
/// number where the tick falls on one, else nothing — so that a short axis
/// (n = 1) never repeats a label (`0 0 0 1 1 1`).
pub fn tick_int(x: f64) -> String {
    let r = x.round();
    if (x - r).abs() < 1e-6 * x.abs().max(1.0) {
        format!("{}", r as i64)
    } else {
        String::new()
    }
}

/// Milliseconds with sensible precision: `0.0421 ms`, `12.3 ms`, `1 234 ms`.
pub fn ms(x: f64) -> String {
    if x >= 1000.0 {
        format!("{} ms", int(x.round() as u64))
    } else if x >= 10.0 {
        format!("{x:.1} ms")
    } else {
        format!("{x:.4} ms")
    }
}

/// A count to three significant digits, for tables: `628 k`, `1.04 M`.
pub fn sig3(x: f64) -> String {
    let (value, unit) = [(1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")]
        .into_iter()
        .find(|(scale, _)| x >= *scale)
        .map_or((x, ""), |(scale, unit)| (x / scale, unit));
    format!("{}{unit}", three_digits(value))
}

/// Bytes to three significant digits in binary units, for tables:
/// `24.0 KiB`, `592 KiB`.
pub fn bytes3(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = b as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{} {}", three_digits(value), UNITS[unit])
    }
}

fn three_digits(v: f64) -> String {
    if v >= 99.95 {
        format!("{v:.0}")
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// An error figure: three decimals, or scientific below 10⁻³ (`0.738`,
/// `3.44e-7`).
pub fn err(x: f64) -> String {
    if (1e-3..1e5).contains(&x) {
        format!("{x:.3}")
    } else {
        num(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(int(272695296), "272\u{2009}695\u{2009}296");
        assert_eq!(int(12), "12");
        assert_eq!(si(272695296.0), "272.695 M");
        assert_eq!(si(2.0e9), "2 G");
        assert_eq!(bytes(1052672), "1.00 MiB");
        assert_eq!(bytes(100), "100 B");
        assert_eq!(sci(6.0256e-7), "6.03e-7");
        assert_eq!(sci(0.0), "0");
        assert_eq!(sci(2.47), "2.47");
        assert_eq!(ms(0.04213), "0.0421 ms");
        assert_eq!(ms(1234.4), "1\u{2009}234 ms");
    }

    #[test]
    fn table_figures_keep_three_digits() {
        assert_eq!(sig3(628_224.0), "628 k");
        assert_eq!(sig3(1_037_000.0), "1.04 M");
        assert_eq!(sig3(17_056_000.0), "17.1 M");
        assert_eq!(sig3(999_960.0), "1000 k");
        assert_eq!(sig3(12.0), "12.0");
        assert_eq!(bytes3(24 * 1024), "24.0 KiB");
        assert_eq!(bytes3(605_830), "592 KiB");
        assert_eq!(bytes3(100), "100 B");
        assert_eq!(err(0.73812), "0.738");
        assert_eq!(err(3.44e-7), "3.44e-7");
        assert_eq!(err(0.0), "0");
    }

    #[test]
    fn numbers_read_plainly_where_they_can() {
        assert_eq!(num(2.47), "2.47");
        assert_eq!(num(2.4712), "2.47");
        assert_eq!(num(0.012345), "0.0123");
        assert_eq!(num(0.001), "0.00100");
        assert_eq!(num(123.4), "123");
        assert_eq!(num(1234.4), "1234");
        assert_eq!(num(99_999.0), "99999");
        assert_eq!(num(9.996), "10.0");
        assert_eq!(num(0.9996), "1.00");
        assert_eq!(num(-2.47), "-2.47");
        assert_eq!(num(6.0256e-7), "6.03e-7");
        assert_eq!(num(1.2e8), "1.20e8");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(f64::NAN), "NaN");
        for x in [2.47f64, 0.5, 1e-5, 3.3e9, 42.0] {
            assert!(!num(x).ends_with("e0"), "{x}: {}", num(x));
        }
    }

    #[test]
    fn ticks_are_short_and_never_repeat() {
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(1e-4), "1e-4");
        assert_eq!(tick(2.5e-5), "2.5e-5");
        assert_eq!(tick(1000.0), "1000");
        // An axis from 0 to 1 with six key points: two labels, no repeats.
        let labels: Vec<String> = (0..6)
            .map(|k| tick_int(k as f64 / 5.0))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels, ["0", "1"]);
        assert_eq!(tick_int(4096.0), "4096");
        assert_eq!(tick_int(3.0000001), "3");
    }
}
