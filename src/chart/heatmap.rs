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

use crate::chart::style::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::data::maps::AttentionMap;

/// How weights map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourScale {
    /// t = w / max.
    #[default]
    Linear,
    /// t = log(w / lo) / log(max / lo), clipped to [0, 1], where lo is the
    /// [`LOG_QUANTILE`] quantile of the positive cells (at most
    /// [`DECADES`] below max): shows small weights, and keeps contrast
    /// when every cell is of one size (large n).
    Log,
}

/// Decades shown at most by [`ColourScale::Log`].
pub const DECADES: f32 = 4.0;

/// The quantile of the positive cells at the bottom of the log scale.
pub const LOG_QUANTILE: f64 = 0.05;

/// The range a scale spans on one map: values map to t ∈ [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourRange {
    /// The scale.
    pub scale: ColourScale,
    /// The value at t = 0 (0 on the linear scale).
    pub lo: f32,
    /// The value at t = 1 (the largest cell).
    pub hi: f32,
}

impl ColourRange {
    /// The range of `scale` over `values` (the cells drawn).
    pub fn of(values: &[f32], scale: ColourScale) -> ColourRange {
        let hi = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f32, f32::max);
        let lo = match scale {
            ColourScale::Linear => 0.0,
            ColourScale::Log => {
                let floor = hi * 10f32.powf(-DECADES);
                let mut positive: Vec<f32> = values
                    .iter()
                    .copied()
                    .filter(|&v| v.is_finite() && v > floor)
                    .collect();
                if positive.is_empty() {
                    floor
                } else {
                    let k = ((positive.len() - 1) as f64 * LOG_QUANTILE).round() as usize;
                    let (_, q, _) = positive.select_nth_unstable_by(k, f32::total_cmp);
                    // A map of one value keeps a decade below it.
                    if *q >= hi * 0.999 {
                        hi / 10.0
                    } else {
                        q.max(floor)
                    }
                }
            }
        };
        ColourRange { scale, lo, hi }
    }

    /// Position in [0, 1] of weight `w`.
    pub fn position(&self, w: f32) -> f32 {
        if self.hi <= 0.0 || w.is_nan() || w <= 0.0 {
            return 0.0;
        }
        let t = match self.scale {
            ColourScale::Linear => w / self.hi,
            ColourScale::Log => (w / self.lo).log10() / (self.hi / self.lo).log10(),
        };
        t.clamp(0.0, 1.0)
    }

    /// The weight at position `t` (inverse of [`Self::position`]).
    pub fn value_at(&self, t: f32) -> f32 {
        match self.scale {
            ColourScale::Linear => t * self.hi,
            ColourScale::Log => self.lo * (self.hi / self.lo).powf(t),
        }
    }

    /// What the colour bar spans, for its caption.
    pub fn describe(&self) -> String {
        match self.scale {
            ColourScale::Linear => format!("linear, 0 to max {}", format_weight(self.hi)),
            ColourScale::Log => format!(
                "log, {}th percentile {} to max {}",
                (LOG_QUANTILE * 100.0).round(),
                format_weight(self.lo),
                format_weight(self.hi)
            ),
        }
    }
}

/// Levels of the colour table: viridis sampled finely enough that
/// neighbouring levels differ by at most one unit per channel.
const LEVELS: usize = 1024;

/// The colour of position t ∈ [0, 1]: viridis, from a table of
/// [`LEVELS`] samples of plotters' `ViridisRGB` (built once; a page blits
/// 512² cells, and the colour map's interpolation per pixel cost more than
/// the drawing).
pub fn colour(t: f32) -> RGBColor {
    static TABLE: std::sync::OnceLock<Vec<RGBColor>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..LEVELS)
            .map(|k| ViridisRGB.get_color(k as f32 / (LEVELS - 1) as f32))
            .collect()
    });
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    table[(t * (LEVELS - 1) as f32).round() as usize]
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
    root.fill(&background())?;
    let (width, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(width.saturating_sub(text_px(BAR_STRIP)));
    let (rows, cols) = (grid.rows as f64, grid.cols as f64);
    let range = ColourRange::of(grid.values, options.scale);

    let mut chart = ChartBuilder::on(&main)
        .caption(&options.title, font(16))
        .margin(8)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(52))
        .build_cartesian_2d(0f64..cols, rows..0f64)?;
    chart
        .configure_mesh()
        .themed()
        .disable_mesh()
        .x_desc(grid.x_label)
        .y_desc(grid.y_label)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .y_label_formatter(&|y| crate::format::tick_int(*y))
        .label_style(font(12))
        .draw()?;
    if options.paint_cells {
        let (fr, fc) = (grid.row_factor as f64, grid.col_factor as f64);
        chart.draw_series((0..grid.row_cells).flat_map(|a| {
            (0..grid.col_cells).map(move |b| {
                let t = range.position(grid.at(a, b));
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

    // Colour bar: 128 bands from lo to hi, labelled in value units, with
    // what it spans above it.
    let scale_name = match range.scale {
        ColourScale::Linear => "linear: 0–max".to_string(),
        ColourScale::Log => format!("log: p{}–max", (LOG_QUANTILE * 100.0).round()),
    };
    bar.draw(&Text::new(scale_name, (4, text_px(14) as i32), font(10)))?;
    let mut legend = ChartBuilder::on(&bar)
        .margin_top(text_px(34))
        .margin_bottom(text_px(44))
        .margin_right(8)
        .y_label_area_size(text_px(56))
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    legend
        .configure_mesh()
        .themed()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|t| format_weight(range.value_at(*t as f32)))
        .label_style(font(11))
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

/// A weight for a label: the page's number rule ([`crate::format::tick`]).
pub fn format_weight(w: f32) -> String {
    crate::format::tick(f64::from(w))
}

/// RGBA pixels (row-major, `width × height × 4`) of the map scaled to the
/// given size by nearest-cell sampling, for a canvas `ImageData`.
pub fn rgba(map: &AttentionMap, scale: ColourScale, width: u32, height: u32) -> Vec<u8> {
    rgba_grid(&attention_grid(map), scale, width, height)
}

/// [`rgba`] for any grid.
pub fn rgba_grid(grid: &Grid<'_>, scale: ColourScale, width: u32, height: u32) -> Vec<u8> {
    let range = ColourRange::of(grid.values, scale);
    let (rc, cc) = (grid.row_cells.max(1), grid.col_cells.max(1));
    let mut out = Vec::with_capacity((width * height * 4) as usize);
    for py in 0..height as usize {
        let a = (py * rc / height.max(1) as usize).min(rc - 1);
        for px in 0..width as usize {
            let b = (px * cc / width.max(1) as usize).min(cc - 1);
            let c = colour(range.position(grid.at(a, b)));
            out.extend_from_slice(&[c.0, c.1, c.2, 255]);
        }
    }
    out
}

/// The heatmap as SVG (`width × height`): axes and colour bar drawn by
/// [`draw_grid`] through the SVG backend, the cells as one embedded PNG
/// over the plot rectangle, pixel for pixel what the page blits.
pub fn grid_svg(
    grid: &Grid<'_>,
    options: &HeatmapOptions,
    (width, height): (u32, u32),
) -> Result<String, String> {
    let options = HeatmapOptions {
        paint_cells: false,
        ..options.clone()
    };
    let (svg, rect) = super::export::svg_string((width, height), |root| {
        draw_grid(root, grid, &options).map_err(|e| e.to_string())
    })?;
    let pixels = rgba_grid(grid, options.scale, rect.width, rect.height);
    Ok(super::export::svg_with_image(&svg, rect, &pixels))
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
        // A diagonal of 1 over 1e-3 elsewhere: the 5th percentile is 1e-3.
        let values = diagonal(16).values;
        let linear = ColourRange::of(&values, ColourScale::Linear);
        assert_eq!(linear.position(0.001), 0.001);
        let log = ColourRange::of(&values, ColourScale::Log);
        assert!((log.lo - 0.001).abs() < 1e-9, "{log:?}");
        assert_eq!(log.position(0.001), 0.0);
        assert!((log.position(0.0316) - 0.5).abs() < 1e-3);
        assert_eq!(log.position(0.0), 0.0);
        assert_eq!(log.position(1e-9), 0.0);
        for t in [0.0f32, 0.3, 1.0] {
            let w = log.value_at(t);
            assert!((log.position(w) - t).abs() < 1e-5);
        }
    }

    #[test]
    fn log_scale_keeps_contrast_at_large_n() {
        // Near-uniform weights, as pooled at n = 16384: all within 1.5× of
        // each other. Four fixed decades below max put every cell in the top
        // 5% of the bar (one yellow); the quantile range spreads them.
        let values: Vec<f32> = (0..512 * 512)
            .map(|i| (1.0 + 0.5 * ((i * 7919 % 1000) as f32 / 1000.0)) / 16384.0)
            .collect();
        let log = ColourRange::of(&values, ColourScale::Log);
        let (lo, hi) = values.iter().fold((1f32, 0f32), |(a, b), &v| {
            let t = log.position(v);
            (a.min(t), b.max(t))
        });
        assert!(hi - lo > 0.9, "positions span {lo}..{hi}");
        let max = values.iter().copied().fold(0f32, f32::max);
        let fixed = 1.0 + (values[0] / max).log10() / DECADES;
        assert!(fixed > 0.95, "the old scale: {fixed}");
        assert!(log.describe().starts_with("log, 5th percentile"));
        // A constant map keeps a decade below its value.
        let flat = ColourRange::of(&[0.5; 9], ColourScale::Log);
        assert!((flat.lo - 0.05).abs() < 1e-6 && flat.position(0.5) == 1.0);
    }

    #[test]
    fn one_position_axes_do_not_repeat_labels() {
        let map = AttentionMap {
            n: 1,
            factor: 1,
            cells: 1,
            values: vec![1.0],
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (480, 400)).into_drawing_area();
            let opts = HeatmapOptions {
                title: "n = 1".into(),
                scale: ColourScale::Linear,
                paint_cells: true,
            };
            draw_heatmap(&root, &map, &opts).unwrap();
        }
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .collect();
        let zeros = texts.iter().filter(|t| **t == "0").count();
        let ones = texts.iter().filter(|t| **t == "1").count();
        // One 0 and one 1 per axis (and the colour bar's 0 and 1).
        assert!(zeros <= 3 && ones <= 3, "{texts:?}");
    }

    #[test]
    fn svg_export_embeds_the_blitted_cells() {
        let map = diagonal(64);
        let opts = HeatmapOptions {
            title: "attention".into(),
            scale: ColourScale::Log,
            paint_cells: false,
        };
        let svg = grid_svg(&attention_grid(&map), &opts, (640, 540)).unwrap();
        assert!(svg.contains("key position j") && svg.contains("log: p5–max"));
        assert_eq!(svg.matches("<image").count(), 1);
        // The image holds the plot rectangle's pixels: far fewer bytes than
        // one rectangle per cell would take.
        assert!(svg.matches("<rect").count() < 200);
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
    fn the_colour_table_is_viridis() {
        for k in 0..=100 {
            let t = k as f32 / 100.0;
            let (a, b) = (colour(t), ViridisRGB.get_color(t));
            for (x, y) in [(a.0, b.0), (a.1, b.1), (a.2, b.2)] {
                assert!(x.abs_diff(y) <= 1, "t = {t}: {a:?} against {b:?}");
            }
        }
        assert_eq!(colour(0.0), ViridisRGB.get_color(0.0));
        assert_eq!(colour(1.0), ViridisRGB.get_color(1.0));
        assert_eq!(colour(f32::NAN), colour(0.0));
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
