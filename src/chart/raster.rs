//! PNG natively (`flt run --png`): the SVG that plotters wrote, rasterised
//! by resvg at a zoom factor, so the PNG and the SVG are one drawing.
//!
//! Why resvg: plotters' bitmap backend draws text only through FreeType
//! and fontconfig (its `ttf` feature, system libraries) or through a font
//! registered at run time (`ab_glyph`); without either it panics on the
//! first label. resvg is pure Rust (usvg + tiny-skia + fontdb, which reads
//! font files, e.g. `/usr/share/fonts`, without any system library); with
//! no font at all the PNG is refused with a clear message rather than
//! drawn without its text.

/// The PNG of `svg` at `zoom` × its size.
pub fn svg_to_png(svg: &str, zoom: f32) -> Result<Vec<u8>, String> {
    let mut options = resvg::usvg::Options {
        font_family: "DejaVu Sans".into(),
        ..Default::default()
    };
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    if fonts.is_empty() {
        return Err(
            "no font found for the PNG's text (install one, e.g. fonts-dejavu-core); --svg needs none"
                .into(),
        );
    }
    // plotters names the generic family; map it to a font that exists.
    let sans = fonts
        .faces()
        .find(|f| f.families.iter().any(|(name, _)| name.contains("Sans")))
        .or_else(|| fonts.faces().next())
        .and_then(|f| f.families.first().map(|(name, _)| name.clone()));
    if let Some(sans) = sans {
        fonts.set_sans_serif_family(&sans);
        options.font_family = sans;
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| format!("the SVG: {e}"))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(zoom)
        .ok_or("empty drawing")?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or("the image is too large")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(zoom, zoom),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| format!("encoding the PNG: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawing_rasterises_at_twice_its_size_with_its_text() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20" viewBox="0 0 60 20">
            <rect x="0" y="0" width="60" height="20" fill="#FFFFFF"/>
            <rect x="0" y="0" width="10" height="10" fill="#FF0000"/>
            <text x="20" y="15" font-family="sans-serif" font-size="14">Ab</text></svg>"##;
        let png = match svg_to_png(svg, 2.0) {
            Ok(png) => png,
            Err(e) if e.starts_with("no font") => return, // a machine without fonts
            Err(e) => panic!("{e}"),
        };
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 120);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 40);
        // The text is drawn: without it the image compresses to almost
        // nothing; decoding is left to the CLI test, which checks pixels.
        let no_text = svg.replace("Ab", "");
        let plain = svg_to_png(&no_text, 2.0).unwrap();
        assert!(
            png.len() > plain.len() + 50,
            "{} vs {}",
            png.len(),
            plain.len()
        );
    }
}
