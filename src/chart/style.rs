//! The charts' look: the light or dark palette and the text scale, one
//! [`Style`] in force while a chart draws ([`scoped`]). Every chart takes
//! its background, ink, grid, legend box and fonts from here, so one
//! drawing serves the page in either theme, the exports (always light) and
//! a narrow screen, where the page raises `text_scale` so that a canvas
//! shown at less than its pixel width keeps its text readable (the label
//! areas grow with the text).

use std::cell::Cell;

use plotters::coord::ranged1d::Ranged;
use plotters::prelude::*;
use plotters::style::FontFamily;

/// Light (default) or dark palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Dark ink on white.
    #[default]
    Light,
    /// Light ink on a near-black background.
    Dark,
}

/// What a chart draws with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// The palette.
    pub theme: Theme,
    /// Factor on every font size and text area (1: as designed).
    pub text_scale: f64,
}

impl Style {
    /// The light palette at the designed sizes: exports, the CLI, tests.
    pub const LIGHT: Style = Style {
        theme: Theme::Light,
        text_scale: 1.0,
    };
}

impl Default for Style {
    fn default() -> Style {
        Style::LIGHT
    }
}

thread_local! {
    static CURRENT: Cell<Style> = const { Cell::new(Style::LIGHT) };
}

/// Runs `f` with `style` in force (restored afterwards, also on a panic).
pub fn scoped<R>(style: Style, f: impl FnOnce() -> R) -> R {
    struct Restore(Style);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(style)));
    f()
}

/// The style in force.
pub fn current() -> Style {
    CURRENT.with(Cell::get)
}

fn dark() -> bool {
    current().theme == Theme::Dark
}

/// The chart's background.
pub fn background() -> RGBColor {
    if dark() {
        RGBColor(0x17, 0x19, 0x1f)
    } else {
        WHITE
    }
}

/// Text and axes.
pub fn ink() -> RGBColor {
    if dark() {
        RGBColor(0xe6, 0xe6, 0xeb)
    } else {
        RGBColor(0x1b, 0x1b, 0x22)
    }
}

/// Secondary lines (baselines, ceilings) and notes.
pub fn muted() -> RGBColor {
    if dark() {
        RGBColor(0xa8, 0xa8, 0xb2)
    } else {
        RGBColor(0x55, 0x55, 0x55)
    }
}

/// Light grid lines.
pub fn grid_light() -> RGBColor {
    if dark() {
        RGBColor(0x2c, 0x2f, 0x38)
    } else {
        RGBColor(235, 235, 240)
    }
}

/// Bold grid lines.
pub fn grid_bold() -> RGBColor {
    if dark() {
        RGBColor(0x40, 0x44, 0x50)
    } else {
        RGBColor(220, 220, 228)
    }
}

/// The legend box's border.
pub fn border() -> RGBColor {
    if dark() {
        RGBColor(0x55, 0x59, 0x66)
    } else {
        RGBColor(200, 200, 210)
    }
}

/// The legend box's fill.
pub fn legend_fill() -> RGBAColor {
    background().mix(0.9)
}

/// A series colour made visible on the background: in the dark palette,
/// a colour too dark to see on it (relative luminance below 0.05) is
/// replaced by its mirror in lightness.
pub fn adapt(c: RGBColor) -> RGBColor {
    if dark() && luminance(c) < 0.05 {
        RGBColor(255 - c.0 / 2, 255 - c.1 / 2, 255 - c.2 / 2)
    } else {
        c
    }
}

/// WCAG relative luminance of an sRGB colour.
pub fn luminance(c: RGBColor) -> f64 {
    let channel = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(c.0) + 0.7152 * channel(c.1) + 0.0722 * channel(c.2)
}

/// WCAG contrast ratio of two colours (1 to 21).
pub fn contrast(a: RGBColor, b: RGBColor) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// A size in pixels that holds text (a font, a label area), scaled.
pub fn text_px(size: u32) -> u32 {
    (f64::from(size) * current().text_scale).round() as u32
}

/// The sans-serif font of `size` pixels (scaled) in the ink colour.
pub fn font(size: u32) -> TextStyle<'static> {
    let size = f64::from(size) * current().text_scale;
    inked(TextStyle::from((FontFamily::SansSerif, size).into_font()))
}

/// The bold sans-serif font of `size` pixels (scaled) in the ink colour.
pub fn bold(size: u32) -> TextStyle<'static> {
    let size = f64::from(size) * current().text_scale;
    inked(TextStyle::from(
        (FontFamily::SansSerif, size, FontStyle::Bold).into_font(),
    ))
}

fn inked(mut style: TextStyle<'static>) -> TextStyle<'static> {
    style.color = ink().to_backend_color();
    style
}

/// The mesh in the palette: axes, grid lines, tick labels and axis
/// descriptions (a chart may override any of them afterwards).
pub trait Themed {
    /// Applies the style in force.
    fn themed(&mut self) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> Themed
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn themed(&mut self) -> &mut Self {
        self.axis_style(ink())
            .bold_line_style(grid_bold())
            .light_line_style(grid_light())
            .label_style(font(11))
            .axis_desc_style(font(12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_meets_wcag_contrast_on_both_palettes() {
        for theme in [Theme::Light, Theme::Dark] {
            scoped(
                Style {
                    theme,
                    text_scale: 1.0,
                },
                || {
                    let ratio = contrast(ink(), background());
                    assert!(ratio >= 7.0, "{theme:?}: ink on background {ratio:.2}");
                    assert!(contrast(border(), background()) >= 1.5);
                },
            );
        }
    }

    #[test]
    fn scoped_restores_and_scales() {
        assert_eq!(current(), Style::LIGHT);
        let big = Style {
            theme: Theme::Dark,
            text_scale: 1.5,
        };
        scoped(big, || {
            assert_eq!(text_px(12), 18);
            assert_eq!(background(), RGBColor(0x17, 0x19, 0x1f));
            // A near-black series colour is mirrored, a mid colour kept.
            assert!(luminance(adapt(RGBColor(0x22, 0x22, 0x2a))) > 0.3);
            assert_eq!(
                adapt(RGBColor(0x00, 0x72, 0xB2)),
                RGBColor(0x00, 0x72, 0xB2)
            );
        });
        assert_eq!(current(), Style::LIGHT);
        assert_eq!(text_px(12), 12);
        assert_eq!(
            adapt(RGBColor(0x22, 0x22, 0x2a)),
            RGBColor(0x22, 0x22, 0x2a)
        );
    }
}
