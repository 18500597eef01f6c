//! The attention-matrix heatmap: a pooled [`AttentionMap`] in the viridis
//! colour map (perceptually uniform and colour-blind safe), token-position
//! axes (query i downwards, key j rightwards, like the matrix) and a colour
//! bar, on a linear or logarithmic scale.
//!
//! Cells can be painted as rectangles (SVG, small maps) or left to the caller,
//! who blits [`rgba`] pixels into the returned plot rectangle (the page's
//! canvas, where 512² rectangles would be slow).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::measure::AttentionMap;

/// How weights map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourScale {
    /// t = w / max.
    #[default]
    Linear,
    /// t = 1 + log₁₀(w / max) / DECADES, clipped at 0: shows small weights.
    Log,
}

/// Decades shown by [`ColourScale::Log`].
pub const DECADES: f32 = 4.0;

impl ColourScale {
    /// Position in [0, 1] of weight `w` on a map whose largest weight is `max`.
    pub fn position(self, w: f32, max: f32) -> f32 {
        if max <= 0.0 || w.is_nan() || w <= 0.0 {
            return 0.0;
        }
        let t = match self {
            ColourScale::Linear => w / max,
            ColourScale::Log => 1.0 + (w / max).log10() / DECADES,
        };
        t.clamp(0.0, 1.0)
    }

    /// The weight at position `t` (inverse of [`Self::position`]).
    pub fn value_at(self, t: f32, max: f32) -> f32 {
        match self {
            ColourScale::Linear => t * max,
            ColourScale::Log => max * 10f32.powf((t - 1.0) * DECADES),
        }
    }
}

/// The colour of position t ∈ [0, 1].
pub fn colour(t: f32) -> RGBColor {
    ViridisRGB.get_color(t.clamp(0.0, 1.0))
}

/// Drawing options.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapOptions {
    /// Caption above the map.
    pub title: String,
    /// Colour scale.
    pub scale: ColourScale,
    /// Paint the cells as rectangles (otherwise the caller blits pixels).
    pub paint_cells: bool,
}

/// Pixel rectangle of the cell area inside the drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotRect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Width of the colour bar strip on the right, in pixels.
const BAR_STRIP: u32 = 96;

/// Draws the heatmap with axes and colour bar; returns where the cells are.
pub fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    map: &AttentionMap,
    options: &HeatmapOptions,
) -> Result<PlotRect, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (width, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(width.saturating_sub(BAR_STRIP));
    let n = map.n as f64;
    let max = map.max();

    let mut chart = ChartBuilder::on(&main)
        .caption(&options.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..n, n..0f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("key position j")
        .y_desc("query position i")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{}", y.round() as i64))
        .label_style(("sans-serif", 12))
        .draw()?;
    if options.paint_cells {
        let f = map.factor as f64;
        chart.draw_series((0..map.cells).flat_map(|a| {
            (0..map.cells).map(move |b| {
                let t = options.scale.position(map.at(a, b), max);
                let (x0, y0) = (b as f64 * f, a as f64 * f);
                let (x1, y1) = (((b + 1) as f64 * f).min(n), ((a + 1) as f64 * f).min(n));
                Rectangle::new([(x0, y0), (x1, y1)], colour(t).filled())
            })
        }))?;
    }
    let (xs, ys) = chart.plotting_area().get_pixel_range();

    // Colour bar: 128 bands from 0 to max, labelled in weight units.
    let mut legend = ChartBuilder::on(&bar)
        .margin_top(34)
        .margin_bottom(44)
        .margin_right(8)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    let scale = options.scale;
    legend
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|t| format_weight(scale.value_at(*t as f32, max)))
        .label_style(("sans-serif", 11))
        .draw()?;
    let bands = 128;
    legend.draw_series((0..bands).map(|k| {
        let (t0, t1) = (k as f64 / bands as f64, (k + 1) as f64 / bands as f64);
        Rectangle::new(
            [(0.0, t0), (1.0, t1)],
            colour(((t0 + t1) / 2.0) as f32).filled(),
        )
    }))?;
    root.present()?;
    Ok(PlotRect {
        x: xs.start,
        y: ys.start,
        width: (xs.end - xs.start).max(0) as u32,
        height: (ys.end - ys.start).max(0) as u32,
    })
}

/// A weight for a label: plain decimals, scientific below 0.01.
pub fn format_weight(w: f32) -> String {
    if w == 0.0 {
        "0".into()
    } else if w.abs() < 0.01 {
        format!("{w:.0e}")
    } else {
        format!("{w:.2}")
    }
}

/// RGBA pixels (row-major, `width × height × 4`) of the map scaled to the
/// given size by nearest-cell sampling, for a canvas `ImageData`.
pub fn rgba(map: &AttentionMap, scale: ColourScale, width: u32, height: u32) -> Vec<u8> {
    let max = map.max();
    let cells = map.cells.max(1);
    let mut out = Vec::with_capacity((width * height * 4) as usize);
    for py in 0..height as usize {
        let a = (py * cells / height.max(1) as usize).min(cells - 1);
        for px in 0..width as usize {
            let b = (px * cells / width.max(1) as usize).min(cells - 1);
            let c = colour(scale.position(map.at(a, b), max));
            out.extend_from_slice(&[c.0, c.1, c.2, 255]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagonal(n: usize) -> AttentionMap {
        let (factor, cells) = AttentionMap::geometry(n);
        let values = (0..cells * cells)
            .map(|i| if i / cells == i % cells { 1.0 } else { 0.001 })
            .collect();
        AttentionMap {
            n,
            factor,
            cells,
            values,
        }
    }

    #[test]
    fn svg_has_axes_colour_bar_and_one_rect_per_cell() {
        let map = diagonal(16);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (480, 400)).into_drawing_area();
            let opts = HeatmapOptions {
                title: "attention".into(),
                scale: ColourScale::Linear,
                paint_cells: true,
            };
            let rect = draw_heatmap(&root, &map, &opts).unwrap();
            assert!(rect.width > 200 && rect.height > 200, "{rect:?}");
        }
        assert!(svg.contains("key position j") && svg.contains("query position i"));
        assert!(svg.contains("attention"));
        // The diagonal's colour (viridis at 1.0) and the background's (near 0).
        let top = colour(1.0);
        let hex = format!("#{:02X}{:02X}{:02X}", top.0, top.1, top.2);
        assert!(svg.contains(&hex), "no cell painted {hex}");
        let rects = svg.matches("<rect").count();
        assert!(rects >= 16 * 16 + 128, "only {rects} rectangles");
    }

    #[test]
    fn log_scale_lifts_small_weights() {
        assert_eq!(ColourScale::Linear.position(0.001, 1.0), 0.001);
        assert!((ColourScale::Log.position(0.001, 1.0) - 0.25).abs() < 1e-6);
        assert_eq!(ColourScale::Log.position(0.0, 1.0), 0.0);
        assert_eq!(ColourScale::Log.position(1e-9, 1.0), 0.0);
        for t in [0.0f32, 0.3, 1.0] {
            let w = ColourScale::Log.value_at(t, 2.0);
            assert!((ColourScale::Log.position(w, 2.0) - t).abs() < 1e-5);
        }
    }

    #[test]
    fn rgba_samples_cells() {
        let map = diagonal(4);
        let px = rgba(&map, ColourScale::Linear, 8, 8);
        assert_eq!(px.len(), 8 * 8 * 4);
        let top = colour(1.0);
        assert_eq!(&px[0..3], &[top.0, top.1, top.2]); // (0,0) on the diagonal
        let off = colour(0.001);
        assert_eq!(&px[(7 * 4)..(7 * 4 + 3)], &[off.0, off.1, off.2]); // (0,7)
    }
}
