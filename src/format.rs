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

/// A small error figure in scientific notation: `6.03e-7`; exact zero as `0`.
pub fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.2e}")
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
        assert_eq!(ms(0.04213), "0.0421 ms");
        assert_eq!(ms(1234.4), "1\u{2009}234 ms");
    }
}
