//! The survey's Model Size Comparison figure, live: every model's size at
//! fp32, fp16, int8, int4 and binary as horizontal bars on a logarithmic
//! axis (the sizes span four decades), one row per model — the edited
//! configuration first, highlighted — with the headline precision's size
//! written at the end of its bar. Colours step through viridis from the
//! widest format to the narrowest (ordered, colour-blind safe).
//!
//! Sizes are in decimal units (1 MB = 10⁶ bytes), as model cards give them.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::compress::size::Precision;

/// One row of the chart: a model and its bytes at every precision (the
/// order of [`Precision::ALL`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SizeRow {
    /// The row's label.
    pub label: String,
    /// Bytes at fp32, fp16, int8, int4, binary.
    pub bytes: Vec<u64>,
    /// The configuration being edited (drawn first, highlighted).
    pub highlight: bool,
}

/// Height of the legend strip, in pixels.
const LEGEND: u32 = 30;
/// Width of the model-name column, in pixels.
const NAMES: u32 = 150;
/// Share of a row's height the bars fill.
const FILL: f64 = 0.84;
/// The highlighted row's band and label.
const ACCENT: RGBColor = RGBColor(0x3b, 0x52, 0x8b);

/// The accent in the palette in force (lighter on the dark one).
fn accent() -> RGBColor {
    if crate::chart::style::current().theme == crate::chart::style::Theme::Dark {
        RGBColor(0x9d, 0xb4, 0xf0)
    } else {
        ACCENT
    }
}

/// The highlighted row's band.
fn band() -> RGBColor {
    if crate::chart::style::current().theme == crate::chart::style::Theme::Dark {
        RGBColor(0x24, 0x2a, 0x3a)
    } else {
        RGBColor(0xec, 0xef, 0xf7)
    }
}

/// The colour of a precision: viridis from fp32 (dark) to binary (light).
pub fn precision_colour(p: Precision) -> RGBColor {
    let i = Precision::ALL.iter().position(|&q| q == p).unwrap_or(0);
    ViridisRGB.get_color(0.08 + 0.8 * i as f64 / (Precision::ALL.len() - 1) as f64)
}

/// `438 MB`, `1.34 GB`, `950 kB`: decimal units, three significant figures.
pub fn human_bytes(bytes: u64) -> String {
    let x = bytes as f64;
    let (value, unit) = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        .into_iter()
        .find(|(scale, _)| x >= *scale)
        .map_or((x, "B"), |(scale, unit)| (x / scale, unit));
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// An axis tick: `1 MB`, `10 GB` (no trailing zeros).
fn tick(x: f64) -> String {
    let text = human_bytes(x.round() as u64);
    match text.split_once(' ') {
        Some((number, unit)) if number.contains('.') => {
            format!(
                "{} {unit}",
                number.trim_end_matches('0').trim_end_matches('.')
            )
        }
        _ => text,
    }
}

/// The axis: from a power of ten below the smallest size to one above the
/// largest (defaults while there are no rows).
fn axis(rows: &[SizeRow]) -> (f64, f64) {
    let sizes = rows
        .iter()
        .flat_map(|r| r.bytes.iter().copied())
        .filter(|&b| b > 0);
    let (lo, hi) = sizes.fold((u64::MAX, 0), |(lo, hi), b| (lo.min(b), hi.max(b)));
    if hi == 0 {
        return (1e6, 1e10);
    }
    let decade = |x: f64, f: fn(f64) -> f64| 10f64.powf(f(x.log10()));
    (
        decade(lo as f64 * 0.9, f64::floor),
        decade(hi as f64 * 1.6, f64::ceil),
    )
}

type LogChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::combinators::LogCoord<f64>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// Draws `rows` (top to bottom), writing the size at `selected` beside its
/// bar.
pub fn draw_model_sizes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[SizeRow],
    selected: Precision,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let (legend, body) = root.split_vertically(LEGEND);
    draw_legend(&legend, selected)?;
    let (x0, x1) = axis(rows);
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin_right(16)
        .margin_top(4)
        .x_label_area_size(text_px(40))
        .y_label_area_size(text_px(NAMES))
        .build_cartesian_2d((x0..x1).log_scale(), 0.0..n)?;
    chart
        .configure_mesh()
        .themed()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(
            "size (log scale; int8, int4, binary include fp16 scales and fp16 biases and norms)",
        )
        .x_label_formatter(&|x| tick(*x))
        .light_line_style(grid_light())
        .bold_line_style(grid_bold())
        .label_style(font(12))
        .axis_desc_style(font(12))
        .draw()?;
    for (i, row) in rows.iter().enumerate() {
        let top = n - i as f64;
        if row.highlight {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, top), (x1, top - 1.0)],
                band().filled(),
            )))?;
        }
        draw_row(&mut chart, row, top, x0, selected)?;
        draw_name(root, &chart, row, top - 0.5, x0)?;
    }
    root.present()
}

/// One row's bars, fp32 on top, and the selected precision's size.
fn draw_row<DB: DrawingBackend>(
    chart: &mut LogChart<'_, DB>,
    row: &SizeRow,
    top: f64,
    x0: f64,
    selected: Precision,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let bar = FILL / Precision::ALL.len() as f64;
    let first = top - (1.0 - FILL) / 2.0;
    for (j, (&p, &bytes)) in Precision::ALL.iter().zip(&row.bytes).enumerate() {
        let (y_top, y_bottom) = (first - j as f64 * bar, first - (j + 1) as f64 * bar);
        let x = (bytes as f64).max(x0);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, y_top), (x, y_bottom)],
            precision_colour(p).filled(),
        )))?;
        if p == selected {
            let style = font(11).pos(Pos::new(HPos::Left, VPos::Center));
            chart.draw_series(std::iter::once(Text::new(
                format!(" {}", human_bytes(bytes)),
                (x, (y_top + y_bottom) / 2.0),
                style,
            )))?;
        }
    }
    Ok(())
}

/// The row's name, right-aligned left of the axis.
fn draw_name<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LogChart<'_, DB>,
    row: &SizeRow,
    centre: f64,
    x0: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (px, py) = chart.backend_coord(&(x0, centre));
    let accent = accent();
    let style = if row.highlight {
        bold(12).color(&accent)
    } else {
        font(12)
    }
    .pos(Pos::new(HPos::Right, VPos::Center));
    let (ox, oy) = root.get_base_pixel();
    root.draw(&Text::new(row.label.clone(), (px - ox - 8, py - oy), style))
}

/// The precisions' colours across the top; the headline one marked.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    selected: Precision,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut x = text_px(NAMES) as i32;
    let style = font(12).pos(Pos::new(HPos::Left, VPos::Center));
    let width = |text: &str| {
        area.estimate_text_size(text, &style)
            .map_or(8 * text.len() as i32, |(w, _)| w as i32)
    };
    for p in Precision::ALL {
        area.draw(&Rectangle::new(
            [(x, 9), (x + 14, 23)],
            precision_colour(p).filled(),
        ))?;
        area.draw(&Text::new(p.label(), (x + 19, 16), style.clone()))?;
        x += 19 + width(p.label()) + 18;
    }
    let note = format!("· sizes written: {}", selected.label());
    area.draw(&Text::new(note, (x, 16), style.color(&accent())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::size::presets::PRESETS;

    fn rows() -> Vec<SizeRow> {
        PRESETS
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, p)| SizeRow {
                label: p.label.into(),
                bytes: p.arch.count().sizes().iter().map(|s| s.bytes).collect(),
                highlight: i == 0,
            })
            .collect()
    }

    fn svg(rows: &[SizeRow], selected: Precision) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
            draw_model_sizes(&root, rows, selected).unwrap();
        }
        svg
    }

    #[test]
    fn every_row_has_five_bars_a_name_and_the_selected_size() {
        let rows = rows();
        let svg = svg(&rows, Precision::Int8);
        for r in &rows {
            assert!(svg.contains(&r.label), "{}", r.label);
            assert!(svg.contains(&human_bytes(r.bytes[2])), "{}", r.label);
        }
        // The background, 5 legend swatches, 5 bars per row, one highlight band.
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 5 + 5 * rows.len() + 1,
            "{svg}"
        );
        for p in Precision::ALL {
            let c = precision_colour(p);
            assert!(
                svg.contains(&format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)),
                "{p}"
            );
        }
        assert!(svg.contains("sizes written: INT8"));
        assert!(svg.contains("100 MB") && svg.contains("1 GB"), "{svg}");
    }

    #[test]
    fn empty_and_degenerate_rows_still_draw() {
        svg(&[], Precision::Fp32);
        let zero = SizeRow {
            label: "nothing".into(),
            bytes: vec![0; 5],
            highlight: true,
        };
        assert!(svg(&[zero], Precision::Binary).contains("nothing"));
    }

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(human_bytes(437_928_960), "438 MB");
        assert_eq!(human_bytes(1_340_567_552), "1.34 GB");
        assert_eq!(human_bytes(14_100_000), "14.1 MB");
        assert_eq!(human_bytes(950), "950 B");
        assert_eq!(axis(&rows()), (1e6, 1e10));
        assert_eq!(
            (tick(1e6), tick(1e10), tick(1e8)),
            ("1 MB".into(), "10 GB".into(), "100 MB".into())
        );
    }
}
