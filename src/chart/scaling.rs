//! The scaling chart: time (or memory) against n on log–log axes, one
//! series per method — its points joined, the reference (exact attention,
//! `full`) in black — with each method's fitted exponent beside its
//! theoretical one in the legend and, on the time chart, the crossover n
//! from which a method is faster than `full` marked by a dashed drop line
//! and a ring. The same code draws the page's canvas, its SVG export and
//! `flt bench --svg`.

use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::prelude::*;

use crate::chart::style::*;

use crate::attention::MethodId;
use crate::pipeline::scaling::{Fit, ScalingReport, Series, Theory};

/// What the chart plots against n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// The warm median time of the timed kernel, in ms.
    Time,
    /// The memory the run allocates, in bytes.
    Memory,
}

/// The reference's colour.
const REFERENCE: RGBColor = RGBColor(0x22, 0x22, 0x2a);

/// Colours of the other methods (Okabe–Ito, then Paul Tol's muted and
/// bright schemes): by the method's place in the registry, so a method has
/// one colour on every chart and in every table.
const PALETTE: [RGBColor; 15] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x88, 0x22, 0x55),
    RGBColor(0x11, 0x77, 0x33),
    RGBColor(0x33, 0x22, 0x88),
    RGBColor(0xAA, 0x44, 0x99),
    RGBColor(0x99, 0x99, 0x33),
    RGBColor(0x44, 0xAA, 0x99),
    RGBColor(0xCC, 0x66, 0x77),
    RGBColor(0x88, 0xCC, 0xEE),
    RGBColor(0xDD, 0xCC, 0x77),
];

/// The colour of a method's series.
pub fn series_colour(method: &str) -> RGBColor {
    if method == crate::pipeline::scaling::REFERENCE.key() {
        return adapt(REFERENCE);
    }
    let index = MethodId::ALL
        .iter()
        .filter(|m| **m != crate::pipeline::scaling::REFERENCE)
        .position(|m| m.key() == method)
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// The colour as CSS (`#0072b2`), for the page's tables.
pub fn series_css(method: &str) -> String {
    let RGBColor(r, g, b) = series_colour(method);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// An exponent as the legend and tables show it (`"1.97"`, `"—"`).
pub fn exponent_text(fit: &Fit) -> String {
    fit.exponent
        .map(|e| format!("{e:.2}"))
        .unwrap_or_else(|| "—".into())
}

/// A theory as the legend shows it (`"2"`, `"1 × log"`, `"—"`).
pub fn theory_text(theory: Option<&Theory>) -> String {
    match theory {
        None => "—".into(),
        Some(t) => {
            let mut s = if (t.exponent - t.exponent.round()).abs() < 1e-9 {
                format!("{}", t.exponent.round() as i64)
            } else {
                format!("{}", t.exponent)
            };
            if t.log_factor {
                s.push_str(" × log");
            }
            if t.sqrt_knob {
                s.push('*');
            }
            s
        }
    }
}

/// The value a series plots at a point.
fn value(quantity: Quantity, p: &crate::pipeline::scaling::ScalingPoint) -> f64 {
    match quantity {
        Quantity::Time => p.time_ms,
        Quantity::Memory => p.memory_bytes as f64,
    }
}

fn plotted(quantity: Quantity, s: &Series) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .map(|p| (p.n as f64, value(quantity, p)))
        .filter(|(_, v)| v.is_finite() && *v > 0.0)
        .collect()
}

/// The axes: n from half the smallest to twice the largest n asked for
/// (or plotted); the values snapped out to whole decades (time) or powers of
/// four (memory) so that the axis always has labelled ticks.
fn ranges(report: &ScalingReport, quantity: Quantity) -> ((f64, f64), (f64, f64)) {
    let ns = report.ns.iter().map(|&n| n as f64).chain(
        report
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.n as f64)),
    );
    let (n0, n1) = ns.fold((f64::INFINITY, 0f64), |(a, b), n| (a.min(n), b.max(n)));
    let x = if n0.is_finite() && n1 > 0.0 {
        (n0 / 1.4, n1 * 1.4)
    } else {
        (32.0, 4096.0)
    };
    let (v0, v1) = report
        .series
        .iter()
        .flat_map(|s| plotted(quantity, s))
        .fold((f64::INFINITY, 0f64), |(a, b), (_, v)| (a.min(v), b.max(v)));
    let base: f64 = match quantity {
        Quantity::Time => 10.0,
        Quantity::Memory => 4.0,
    };
    let y = if v0.is_finite() && v1 > 0.0 {
        let lo = base.powf((v0.ln() / base.ln()).floor());
        let mut hi = base.powf((v1.ln() / base.ln()).ceil());
        if hi <= lo * 1.000001 {
            hi = lo * base;
        }
        // A hair outside the powers, so that rounding in the axis's own
        // logarithms keeps them as labelled ticks.
        (lo * 0.999, hi * 1.001)
    } else {
        match quantity {
            Quantity::Time => (0.01, 100.0),
            Quantity::Memory => (1024.0, 16.0 * 1024.0 * 1024.0),
        }
    };
    (x, y)
}

/// A time in ms as an axis label (`"0.01 ms"`, `"10 ms"`, `"1 s"`).
pub fn time_label(ms: f64) -> String {
    if ms >= 1000.0 {
        trim(format!("{:.3}", ms / 1000.0)) + " s"
    } else if ms >= 1.0 {
        trim(format!("{ms:.3}")) + " ms"
    } else {
        format!("{} ms", trim(format!("{ms:.6}")))
    }
}

/// Bytes as an axis label (`"64 KiB"`, `"1 MiB"`).
pub fn bytes_label(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{} {}", trim(format!("{v:.2}")), UNITS[u])
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn is_power(x: f64, base: f64) -> bool {
    let k = x.ln() / base.ln();
    (k - k.round()).abs() < 1e-6
}

type LogLog<'a, DB> = ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// The caption: what is plotted, on what.
fn caption(report: &ScalingReport, quantity: Quantity) -> String {
    let on = if report.backend == "gpu" {
        format!("GPU: {}", report.adapter)
    } else {
        "CPU twins".to_string()
    };
    let what = match quantity {
        Quantity::Time => "Time (warm median) vs n",
        Quantity::Memory => "Memory (allocated) vs n",
    };
    format!("{what} — {on}, d = {}", report.d)
}

/// One series' legend entry.
fn legend(s: &Series, quantity: Quantity) -> String {
    let (fit, theory) = match quantity {
        Quantity::Time => (&s.time_fit, s.theory_time.as_ref()),
        Quantity::Memory => (&s.memory_fit, s.theory_space.as_ref()),
    };
    let mut text = format!(
        "{}: fitted {}, theory {}",
        s.method,
        exponent_text(fit),
        theory_text(theory)
    );
    if quantity == Quantity::Time {
        if s.reference {
            text.push_str(" (reference)");
        } else if let Some(n) = s.crossover.n {
            text.push_str(&format!(", faster from n = {n}"));
        }
    }
    text
}

/// Draws the chart of `quantity` for the report so far (any number of
/// points, possibly none yet).
pub fn draw_scaling<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &ScalingReport,
    quantity: Quantity,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    draw_chart(root, report, quantity)?;
    root.present()
}

/// The chart, not yet presented (an SVG document is closed by `present`).
fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &ScalingReport,
    quantity: Quantity,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let ((x0, x1), (y0, y1)) = ranges(report, quantity);
    let y_base = match quantity {
        Quantity::Time => 10.0,
        Quantity::Memory => 4.0,
    };
    let mut chart = ChartBuilder::on(root)
        .caption(caption(report, quantity), font(14))
        .margin(12)
        .x_label_area_size(text_px(38))
        .y_label_area_size(text_px(70))
        .build_cartesian_2d(
            (x0..x1).log_scale().base(2.0),
            (y0..y1).log_scale().base(y_base),
        )?;
    let x_label = |x: &f64| {
        if is_power(*x, 2.0) {
            format!("{}", x.round() as u64)
        } else {
            String::new()
        }
    };
    let y_label = move |y: &f64| {
        if !is_power(*y, y_base) {
            return String::new();
        }
        match quantity {
            Quantity::Time => time_label(*y),
            Quantity::Memory => bytes_label(*y),
        }
    };
    chart
        .configure_mesh()
        .themed()
        .x_desc("sequence length n")
        .y_desc(match quantity {
            Quantity::Time => "time (ms)",
            Quantity::Memory => "memory",
        })
        .x_labels(16)
        .y_labels(12)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .light_line_style(grid_light())
        .bold_line_style(grid_bold())
        .label_style(font(12))
        .axis_desc_style(font(12))
        .draw()?;
    // The reference first in the legend, and its points again on top.
    for s in &report.series {
        draw_series(&mut chart, s, quantity, y0)?;
    }
    if let Some(reference) = report.series.iter().find(|s| s.reference) {
        chart.draw_series(
            plotted(quantity, reference)
                .into_iter()
                .map(|p| Circle::new(p, 4, adapt(REFERENCE).filled())),
        )?;
    }
    if report.series.iter().any(|s| !s.points.is_empty()) {
        let corner = legend_corner(&chart, report, quantity);
        chart
            .configure_series_labels()
            .background_style(legend_fill())
            .border_style(border())
            .label_font(font(LEGEND_FONT))
            .legend_area_size(24)
            .position(corner)
            .draw()?;
    }
    Ok(())
}

/// The legend's font size, in pixels.
const LEGEND_FONT: u32 = 12;

/// The corner of the plot whose legend box would cover the fewest of the
/// lines (sampled along each segment): upper left, lower right, upper
/// right, lower left, in that order of preference.
fn legend_corner<DB: DrawingBackend>(
    chart: &LogLog<'_, DB>,
    report: &ScalingReport,
    quantity: Quantity,
) -> SeriesLabelPosition {
    let drawn: Vec<&Series> = report
        .series
        .iter()
        .filter(|s| !plotted(quantity, s).is_empty())
        .collect();
    let chars = drawn
        .iter()
        .map(|s| legend(s, quantity).chars().count())
        .max()
        .unwrap_or(0) as i32;
    // Glyphs of a 12 px sans-serif font are about 0.55 em wide on average.
    let (w, h) = (
        34 + chars * LEGEND_FONT as i32 * 55 / 100,
        8 + drawn.len() as i32 * (LEGEND_FONT as i32 + 5),
    );
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let margin = 10;
    let boxes = [
        (
            SeriesLabelPosition::UpperLeft,
            xr.start + margin,
            yr.start + margin,
        ),
        (
            SeriesLabelPosition::LowerRight,
            xr.end - margin - w,
            yr.end - margin - h,
        ),
        (
            SeriesLabelPosition::UpperRight,
            xr.end - margin - w,
            yr.start + margin,
        ),
        (
            SeriesLabelPosition::LowerLeft,
            xr.start + margin,
            yr.end - margin - h,
        ),
    ];
    let mut samples = Vec::new();
    for s in &drawn {
        let pts = plotted(quantity, s);
        for pair in pts.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            for k in 0..8 {
                let t = k as f64 / 8.0;
                let x = (x0.ln() + t * (x1.ln() - x0.ln())).exp();
                let y = (y0.ln() + t * (y1.ln() - y0.ln())).exp();
                samples.push(chart.backend_coord(&(x, y)));
            }
        }
        if let Some(&last) = pts.last() {
            samples.push(chart.backend_coord(&last));
        }
    }
    let covered = |&(_, bx, by): &(SeriesLabelPosition, i32, i32)| {
        samples
            .iter()
            .filter(|(x, y)| *x >= bx && *x <= bx + w && *y >= by && *y <= by + h)
            .count()
    };
    boxes
        .iter()
        .min_by_key(|b| covered(b))
        .map_or(SeriesLabelPosition::UpperLeft, |b| b.0.clone())
}

/// The figure the exports and `flt bench --svg` write: the time chart above
/// the memory chart.
pub fn draw_scaling_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &ScalingReport,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
    draw_chart(&top, report, Quantity::Time)?;
    draw_chart(&bottom, report, Quantity::Memory)?;
    root.present()
}

/// The size of [`draw_scaling_figure`]'s output, in pixels.
pub const FIGURE_SIZE: (u32, u32) = (820, 1000);

/// The figure as an SVG document.
pub fn figure_svg(report: &ScalingReport) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, FIGURE_SIZE).into_drawing_area();
        draw_scaling_figure(&root, report).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// One method: its line, its points and, on the time chart, its crossover.
fn draw_series<DB: DrawingBackend>(
    chart: &mut LogLog<'_, DB>,
    s: &Series,
    quantity: Quantity,
    y0: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = plotted(quantity, s);
    if points.is_empty() {
        return Ok(());
    }
    let colour = series_colour(&s.method);
    let width = if s.reference { 3 } else { 2 };
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(width),
        ))?
        .label(legend(s, quantity))
        .legend(move |(x, y)| {
            PathElement::new(vec![(x - 9, y), (x + 9, y)], colour.stroke_width(width))
        });
    chart.draw_series(
        points
            .iter()
            .map(|&p| Circle::new(p, if s.reference { 4 } else { 3 }, colour.filled())),
    )?;
    if quantity == Quantity::Time
        && let Some(n) = s.crossover.n
        && let Some(&(x, y)) = points.iter().find(|(x, _)| *x as usize == n)
    {
        chart.draw_series(DashedLineSeries::new(
            [(x, y0), (x, y)],
            5,
            4,
            colour.mix(0.8).stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Circle::new(
            (x, y),
            8,
            colour.stroke_width(2),
        )))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_well() {
        assert_eq!(time_label(0.01), "0.01 ms");
        assert_eq!(time_label(10.0), "10 ms");
        assert_eq!(time_label(1000.0), "1 s");
        assert_eq!(bytes_label(65536.0), "64 KiB");
        assert_eq!(bytes_label(4.0 * 1024.0 * 1024.0), "4 MiB");
        assert!(is_power(1024.0, 2.0) && !is_power(96.0, 2.0));
        assert_eq!(series_css("full"), "#22222a");
        assert_ne!(series_colour("linear"), series_colour("longformer"));
        let t = |s: &str| crate::pipeline::scaling::theory_exponent(s);
        assert_eq!(theory_text(t("O(n log n)").as_ref()), "1 × log");
        assert_eq!(theory_text(t("O(n√n)").as_ref()), "1.5*");
        assert_eq!(theory_text(t("O(n²d)").as_ref()), "2");
        assert_eq!(theory_text(None), "—");
    }
}
