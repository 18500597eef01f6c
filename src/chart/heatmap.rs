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

use crate::data::maps::AttentionMap;

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

/// A pooled matrix to draw: `rows × cols` entries in `row_cells ×
/// col_cells` cells of `row_factor × col_factor` entries (block means).
#[derive(Debug, Clone, Copy)]
pub struct Grid<'a> {
    /// Entries down.
    pub rows: usize,
    /// Entries across.
    pub cols: usize,
    /// Entries per cell down.
    pub row_factor: usize,
    /// Entries per cell across.
    pub col_factor: usize,
    /// Cells down.
    pub row_cells: usize,
    /// Cells across.
    pub col_cells: usize,
    /// Row-major cell values.
    pub values: &'a [f32],
    /// What the columns index.
    pub x_label: &'a str,
    /// What the rows index.
    pub y_label: &'a str,
}

impl Grid<'_> {
    fn at(&self, a: usize, b: usize) -> f32 {
        self.values[a * self.col_cells + b]
    }

    fn max(&self) -> f32 {
        self.values.iter().fold(0.0f32, |m, &v| m.max(v))
    }
}

/// The attention map as a grid (queries down, keys across).
pub fn attention_grid(map: &AttentionMap) -> Grid<'_> {
    Grid {
        rows: map.n,
        cols: map.n,
        row_factor: map.factor,
        col_factor: map.factor,
        row_cells: map.cells,
        col_cells: map.cells,
        values: &map.values,
        x_label: "key position j",
        y_label: "query position i",
    }
}

/// A factor view as a grid (queries down).
pub fn factor_grid(map: &crate::data::maps::FactorMap) -> Grid<'_> {
    Grid {
        rows: map.rows,
        cols: map.cols,
        row_factor: map.row_factor,
        col_factor: map.col_factor,
        row_cells: map.row_cells,
        col_cells: map.col_cells,
        values: &map.values,
        x_label: &map.x_label,
        y_label: &map.y_label,
    }
}

/// Draws the heatmap with axes and colour bar; returns where the cells are.
pub fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    map: &AttentionMap,
    options: &HeatmapOptions,
) -> Result<PlotRect, DrawingAreaErrorKind<DB::ErrorType>> {
    draw_grid(root, &attention_grid(map), options)
}

/// Draws any pooled matrix with axes and a colour bar (negative values
/// show as 0); returns where the cells are.
pub fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    grid: &Grid<'_>,
    options: &HeatmapOptions,
) -> Result<PlotRect, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (width, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(width.saturating_sub(BAR_STRIP));
    let (rows, cols) = (grid.rows as f64, grid.cols as f64);
    let max = grid.max();

    let mut chart = ChartBuilder::on(&main)
        .caption(&options.title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..cols, rows..0f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(grid.x_label)
        .y_desc(grid.y_label)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{}", y.round() as i64))
        .label_style(("sans-serif", 12))
        .draw()?;
    if options.paint_cells {
        let (fr, fc) = (grid.row_factor as f64, grid.col_factor as f64);
        chart.draw_series((0..grid.row_cells).flat_map(|a| {
            (0..grid.col_cells).map(move |b| {
                let t = options.scale.position(grid.at(a, b), max);
                let (x0, y0) = (b as f64 * fc, a as f64 * fr);
                let (x1, y1) = (
                    ((b + 1) as f64 * fc).min(cols),
                    ((a + 1) as f64 * fr).min(rows),
                );
                Rectangle::new([(x0, y0), (x1, y1)], colour(t).filled())
            })
        }))?;
    }
    let (xs, ys) = chart.plotting_area().get_pixel_range();

    // Colour bar: 128 bands from 0 to max, labelled in value units.
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
    rgba_grid(&attention_grid(map), scale, width, height)
}

/// [`rgba`] for any grid.
pub fn rgba_grid(grid: &Grid<'_>, scale: ColourScale, width: u32, height: u32) -> Vec<u8> {
    let max = grid.max();
    let (rc, cc) = (grid.row_cells.max(1), grid.col_cells.max(1));
    let mut out = Vec::with_capacity((width * height * 4) as usize);
    for py in 0..height as usize {
        let a = (py * rc / height.max(1) as usize).min(rc - 1);
        for px in 0..width as usize {
            let b = (px * cc / width.max(1) as usize).min(cc - 1);
            let c = colour(scale.position(grid.at(a, b), max));
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
    fn rectangular_grids_draw_and_sample() {
        let m = crate::data::maps::FactorMap::pool(
            &ndarray::Array2::from_shape_fn((40, 6), |(i, j)| (i * j) as f32),
            "factor",
            "feature",
        );
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (480, 400)).into_drawing_area();
            let opts = HeatmapOptions {
                title: "φ(Q)".into(),
                scale: ColourScale::Linear,
                paint_cells: true,
            };
            draw_grid(&root, &factor_grid(&m), &opts).unwrap();
        }
        assert!(svg.contains("feature") && svg.matches("<rect").count() >= 240);
        let px = rgba_grid(&factor_grid(&m), ColourScale::Linear, 6, 40);
        let last = colour(1.0);
        assert_eq!(&px[px.len() - 4..px.len() - 1], &[last.0, last.1, last.2]);
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
