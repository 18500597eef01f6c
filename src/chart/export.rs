//! Exports of every chart: the same plotters drawing through its SVG
//! backend, the data drawn as CSV, and the files' names after the settings
//! (`longformer_n4096_w256_g1.svg`). A heatmap's cells, blitted as pixels
//! on the page's canvas, go into the SVG as one embedded PNG image (an
//! `<image>` over the plot rectangle) rather than 512² rectangles; the PNG
//! is written here (stored deflate blocks, CRC-32 and Adler-32: no
//! dependency, a few hundred KiB at most for 512² cells).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::heatmap::PlotRect;
use super::style::{Style, scoped};

/// The SVG of whatever `draw` draws on a `width × height` drawing area, in
/// the light palette at the designed sizes (an export does not depend on
/// the page's theme or width); `draw`'s value comes back beside it.
pub fn svg_string<T>(
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<T, String>,
) -> Result<(String, T), String> {
    let mut text = String::new();
    let value = scoped(Style::LIGHT, || {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        draw(&root)
    })?;
    Ok((text, value))
}

/// Puts an RGBA bitmap (`rect.width × rect.height`) into `svg` over `rect`,
/// as a PNG data URL, drawn last (where the page blits its cells).
pub fn svg_with_image(svg: &str, rect: PlotRect, rgba: &[u8]) -> String {
    let png = png_rgba(rect.width, rect.height, rgba);
    let image = format!(
        "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
         style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
        rect.x,
        rect.y,
        rect.width,
        rect.height,
        base64(&png)
    );
    match svg.rfind("</svg>") {
        Some(end) => format!("{}{image}{}", &svg[..end], &svg[end..]),
        None => format!("{svg}{image}"),
    }
}

/// A PNG file of an RGBA bitmap (8 bits per channel, no interlace), its
/// image data in stored (uncompressed) deflate blocks.
pub fn png_rgba(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    let row = width as usize * 4;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for y in 0..height as usize {
        raw.push(0); // filter: none
        let start = (y * row).min(rgba.len());
        let end = (start + row).min(rgba.len());
        raw.extend_from_slice(&rgba[start..end]);
        raw.resize(raw.len() + row - (end - start), 0);
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        zlib.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        zlib.push(u8::from(last));
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    for (kind, data) in [
        (b"IHDR", &header[..]),
        (b"IDAT", &zlib[..]),
        (b"IEND", &[][..]),
    ] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

/// CRC-32 (IEEE, reflected, as PNG uses it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Adler-32 (zlib's checksum).
pub fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A CSV table: the header, then the rows, each field escaped.
pub fn csv_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

/// A number in a CSV file: Rust's shortest round-trip form (`0.1`,
/// `1e-7`), so that parsing it gives the value drawn bit for bit.
pub fn csv_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// Rows of any serialisable record as CSV: one column per field of the
/// first record (in declaration order), one line per record; numbers in
/// their round-trip form, a missing value empty, a list of numbers
/// space-separated in its cell, any other nested value as JSON.
pub fn csv_of<T: serde::Serialize>(rows: &[T]) -> Result<String, String> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let header: Vec<String> = match values.first() {
        Some(serde_json::Value::Object(first)) => first.keys().cloned().collect(),
        Some(_) => return Err("the rows are not records".into()),
        None => Vec::new(),
    };
    let cell = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::Number(n)) => n.as_f64().map_or_else(|| n.to_string(), csv_number),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        // A list of numbers (a point's samples): space-separated in one cell.
        Some(serde_json::Value::Array(items)) if items.iter().all(serde_json::Value::is_number) => {
            items
                .iter()
                .map(|n| n.as_f64().map_or_else(|| n.to_string(), csv_number))
                .collect::<Vec<_>>()
                .join(" ")
        }
        Some(other) => other.to_string(),
    };
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    Ok(csv_table(
        &header_refs,
        values
            .iter()
            .map(|v| header.iter().map(|k| cell(v.get(k))).collect()),
    ))
}

/// A pooled matrix as CSV: a corner cell naming the axes, the first
/// entry of each column of cells across, then one line per row of cells
/// (its first entry, then the values). Every value drawn, in the drawing's
/// layout.
pub fn grid_csv(grid: &super::heatmap::Grid<'_>) -> String {
    let corner = format!("{} \\ {}", grid.y_label, grid.x_label);
    let mut out = csv_field(&corner);
    for b in 0..grid.col_cells {
        out.push(',');
        out.push_str(&(b * grid.col_factor).to_string());
    }
    out.push('\n');
    for a in 0..grid.row_cells {
        out.push_str(&(a * grid.row_factor).to_string());
        for b in 0..grid.col_cells {
            out.push(',');
            out.push_str(&csv_number(f64::from(grid.values[a * grid.col_cells + b])));
        }
        out.push('\n');
    }
    out
}

/// The short form of a knob's key in a file name: the first letter of
/// each word (`window` → `w`, `proj-dim` → `pd`, `shared-qk` → `sq`).
pub fn short_key(key: &str) -> String {
    key.split('-').filter_map(|w| w.chars().next()).collect()
}

/// A file name's stem from the settings: `what` (a method, a lab), then
/// each `(key, value)` as the key's short form and the value, joined by
/// `_` (`longformer_n4096_w256_g1`). A key whose short form collides with
/// an earlier one keeps its full key; characters outside `[A-Za-z0-9.-]`
/// become `-`.
pub fn file_stem(what: &str, settings: &[(&str, String)]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let mut used: Vec<String> = Vec::new();
    let mut parts = vec![clean(what)];
    for (key, value) in settings {
        let mut short = short_key(key);
        if used.contains(&short) {
            short = (*key).to_string();
        }
        used.push(short.clone());
        parts.push(clean(&format!("{short}{value}")));
    }
    parts.join("_")
}

/// The stem of an attention run's files: the method, n, then its knobs in
/// the method's order (a choice by its name), `causal` when causal:
/// `longformer_n4096_w256_g1`.
pub fn attention_stem(
    method: &str,
    n: usize,
    params: &std::collections::BTreeMap<String, u64>,
    choices: &std::collections::BTreeMap<String, String>,
    causal: bool,
) -> String {
    let mut settings = vec![("n", n.to_string())];
    if let Some(id) = crate::attention::MethodId::from_key(method) {
        for spec in id.info().params {
            let value = choices
                .get(spec.key)
                .cloned()
                .or_else(|| params.get(spec.key).map(u64::to_string));
            if let Some(value) = value {
                settings.push((spec.key, value));
            }
        }
    }
    let mut stem = file_stem(method, &settings);
    if causal {
        stem.push_str("_causal");
    }
    stem
}

/// [`attention_stem`] of the page's settings (before any run).
pub fn settings_stem(s: &crate::settings::Settings) -> String {
    let choices = s
        .method
        .info()
        .params
        .iter()
        .filter_map(|spec| {
            let name = spec.choice_name(*s.params.get(spec.key)?)?;
            Some((spec.key.to_string(), name.to_string()))
        })
        .collect();
    attention_stem(s.method.key(), s.n, &s.params, &choices, s.causal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_name_the_settings_shortly() {
        assert_eq!(
            file_stem(
                "longformer",
                &[
                    ("n", "4096".into()),
                    ("window", "256".into()),
                    ("global", "1".into())
                ]
            ),
            "longformer_n4096_w256_g1"
        );
        // Colliding short forms keep the full key; odd characters go.
        assert_eq!(
            file_stem(
                "sparse fixed",
                &[("stride", "8".into()), ("summary", "2".into())]
            ),
            "sparse-fixed_s8_summary2"
        );
        assert_eq!(short_key("proj-dim"), "pd");
        let params = [("window".to_string(), 256), ("global".to_string(), 1)]
            .into_iter()
            .collect();
        assert_eq!(
            attention_stem("longformer", 4096, &params, &Default::default(), false),
            "longformer_n4096_w256_g1"
        );
        let params = [
            ("proj-dim".to_string(), 64),
            ("share-ef".to_string(), 0),
            ("projection".to_string(), 1),
        ]
        .into_iter()
        .collect();
        let choices = [("projection".to_string(), "mean-pool".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            attention_stem("linformer", 512, &params, &choices, true),
            "linformer_n512_pd64_se0_pmean-pool_causal"
        );
        assert_eq!(
            attention_stem("full", 8, &Default::default(), &Default::default(), false),
            "full_n8"
        );
    }

    #[test]
    fn checksums_match_their_references() {
        // Known values: CRC-32 and Adler-32 of "123456789" and of "IEND".
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(adler32(b"123456789"), 0x091e_01de);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }

    #[test]
    fn png_has_its_chunks_and_the_pixels_stored() {
        let rgba: Vec<u8> = (0..3 * 2 * 4).map(|i| i as u8).collect();
        let png = png_rgba(3, 2, &rgba);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 3);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 2);
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
        // IDAT: zlib header, one final stored block of 2 rows × (1 + 12)
        // bytes, the rows with filter 0 and the pixels as given.
        let idat = &png[33 + 8..];
        assert_eq!(&idat[..2], &[0x78, 0x01]);
        assert_eq!(idat[2], 1);
        assert_eq!(u16::from_le_bytes([idat[3], idat[4]]), 26);
        assert_eq!(idat[7], 0);
        assert_eq!(&idat[8..20], &rgba[..12]);
        assert_eq!(idat[20], 0);
        assert_eq!(&idat[21..33], &rgba[12..]);
        // Large images span several stored blocks.
        let big = png_rgba(300, 300, &vec![7; 300 * 300 * 4]);
        assert!(big.len() > 300 * 300 * 4 && big.len() < 300 * 300 * 4 + 2000);
    }

    #[test]
    fn csv_escapes_and_round_trips_numbers() {
        let t = csv_table(&["a", "b,c"], [vec!["1".into(), "say \"x\"".into()]]);
        assert_eq!(t, "a,\"b,c\"\n1,\"say \"\"x\"\"\"\n");
        for x in [0.1f64, 1e-7, 2.47, 1.0 / 3.0] {
            assert_eq!(csv_number(x).parse::<f64>().unwrap(), x);
        }
        assert_eq!(csv_number(f64::NAN), "");
    }

    #[test]
    fn records_become_columns() {
        #[derive(serde::Serialize)]
        struct Point {
            bits: u32,
            sqnr_db: Option<f64>,
            label: &'static str,
            samples: Vec<f64>,
        }
        let csv = csv_of(&[
            Point {
                bits: 8,
                sqnr_db: Some(49.9),
                label: "int, per tensor",
                samples: vec![0.5, 0.25],
            },
            Point {
                bits: 32,
                sqnr_db: None,
                label: "f32",
                samples: vec![],
            },
        ])
        .unwrap();
        assert_eq!(
            csv,
            "bits,sqnr_db,label,samples\n8,49.9,\"int, per tensor\",0.5 0.25\n32,,f32,\n"
        );
        assert_eq!(csv_of::<Point>(&[]).unwrap(), "\n");
    }

    #[test]
    fn grid_csv_holds_every_cell() {
        let values: Vec<f32> = (0..6).map(|i| i as f32 / 8.0).collect();
        let grid = super::super::heatmap::Grid {
            rows: 4,
            cols: 6,
            row_factor: 2,
            col_factor: 2,
            row_cells: 2,
            col_cells: 3,
            values: &values,
            x_label: "key position j",
            y_label: "query position i",
        };
        let csv = grid_csv(&grid);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "query position i \\ key position j,0,2,4");
        assert_eq!(lines[1], "0,0,0.125,0.25");
        assert_eq!(lines[2], "2,0.375,0.5,0.625");
    }

    #[test]
    fn svg_gets_the_image_before_its_end() {
        let (svg, ()) = svg_string((40, 30), |root| {
            root.fill(&WHITE).map_err(|e| e.to_string())
        })
        .unwrap();
        let rect = PlotRect {
            x: 2,
            y: 3,
            width: 2,
            height: 1,
        };
        let out = svg_with_image(&svg, rect, &[255; 8]);
        let image = out
            .find("<image x=\"2\" y=\"3\" width=\"2\" height=\"1\"")
            .unwrap();
        assert!(image > out.find("<rect").unwrap() && image < out.find("</svg>").unwrap());
        assert!(out.contains("href=\"data:image/png;base64,iVBORw0KGgo"));
    }
}
