//! The error-law chart: rel_err against a method's budget on log-log axes,
//! the mean over seeds with a bar from the smallest to the largest error,
//! the slope theory predicts (drawn through the first mean) — e.g.
//! Performer's 1/√m — and the two baselines any method must beat, drawn
//! across: outputting the mean of V, and outputting zeros (rel_err 1).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;

use crate::pipeline::sweep::SweepPoint;

/// Mean line and points.
const MEAN: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// Theory line.
const THEORY: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// A closed range of an axis, or a pair of baselines.
type Span = (f64, f64);

/// The axes' ranges: the budgets with a margin, and the errors (bars and
/// baselines) with a margin; defaults while no point has arrived. Also the
/// baselines (mean of V, zeros), when the points carry them.
fn ranges(points: &[SweepPoint]) -> (Span, Span, Option<Span>) {
    let (bx0, bx1) = points
        .iter()
        .map(|p| p.budget as f64)
        .fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(x), b.max(x)));
    let x = if points.is_empty() {
        (1.0, 1024.0)
    } else {
        (bx0 / 1.5, (bx1 * 1.5).max(bx0 * 3.0))
    };
    let baselines = points
        .first()
        .map(|p| (p.baseline_mean_v_rel_err, p.baseline_zero_rel_err))
        .filter(|(m, z)| *m > 0.0 && *z > 0.0);
    let lo = points
        .iter()
        .map(|p| p.min)
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let lo = baselines.map_or(lo, |(m, z)| lo.min(m).min(z));
    let hi = points
        .iter()
        .map(|p| p.max)
        .chain(baselines.map(|(m, z)| m.max(z)))
        .fold(0f64, f64::max);
    let y = if points.is_empty() || !lo.is_finite() || hi <= 0.0 {
        (1e-3, 1.0)
    } else {
        (lo / 2.0, (hi * 2.0).max(lo * 4.0))
    };
    (x, y, baselines)
}

type LogLog<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::combinators::LogCoord<f64>,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

/// Draws the points so far (any number, possibly none yet).
pub fn draw_error_law<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    knob: &str,
    points: &[SweepPoint],
    theory_slope: Option<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let ((x0, x1), (y0, y1), baselines) = ranges(points);
    let mut chart = ChartBuilder::on(root)
        .caption(format!("rel_err against {knob} (log–log)"), font(15))
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(60))
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .themed()
        .x_desc(knob)
        .y_desc("rel_err vs exact")
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .y_label_formatter(&|y| crate::format::tick(*y))
        .light_line_style(grid_light())
        .label_style(font(11))
        .draw()?;
    draw_points(&mut chart, points, y0)?;
    if let Some(b) = baselines {
        draw_baselines(&mut chart, b, (x0, x1))?;
    }
    if let (Some(slope), Some(first)) = (theory_slope, points.first()) {
        let anchor = (first.budget as f64, first.mean);
        let line = [x0, x1].map(|x| (x, (anchor.1 * (x / anchor.0).powf(slope)).clamp(y0, y1)));
        chart
            .draw_series(LineSeries::new(line, THEORY.stroke_width(1)))?
            .label(format!("theory: slope {slope}"))
            .legend(|(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], THEORY.stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .background_style(legend_fill())
        .border_style(border())
        .label_font(font(11))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()
}

/// The min–max bars, the mean line and its points.
fn draw_points<DB: DrawingBackend>(
    chart: &mut LogLog<'_, DB>,
    points: &[SweepPoint],
    y0: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .draw_series(points.iter().map(|p| {
            let x = p.budget as f64;
            PathElement::new(
                vec![(x, p.min.max(y0)), (x, p.max.max(y0))],
                MEAN.mix(0.5).stroke_width(2),
            )
        }))?
        .label("min – max over seeds")
        .legend(|(x, y)| {
            PathElement::new(vec![(x, y - 6), (x, y + 6)], MEAN.mix(0.5).stroke_width(2))
        });
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.budget as f64, p.mean.max(y0))),
            MEAN.stroke_width(2),
        ))?
        .label("mean")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], MEAN.stroke_width(2)));
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.budget as f64, p.mean.max(y0)), 4, MEAN.filled())),
    )?;
    Ok(())
}

/// The two baselines across the chart: the mean of V and zeros.
fn draw_baselines<DB: DrawingBackend>(
    chart: &mut LogLog<'_, DB>,
    (mean_v, zero): (f64, f64),
    (x0, x1): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (value, label, dash) in [
        (mean_v, format!("baseline: mean of V ({mean_v:.2})"), 6),
        (zero, format!("baseline: zeros ({zero:.2})"), 2),
    ] {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, value), (x1, value)],
                dash,
                4,
                muted().stroke_width(1),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], muted().stroke_width(1))
            });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_error_law_has_points_bars_and_theory() {
        let points: Vec<SweepPoint> = [8u64, 32, 128]
            .iter()
            .map(|&b| {
                let e = 0.5 / (b as f64).sqrt();
                SweepPoint {
                    budget: b,
                    rel_errs: vec![e * 0.9, e * 1.1],
                    mean: e,
                    std: 0.1 * e,
                    min: e * 0.9,
                    max: e * 1.1,
                    baseline_mean_v_rel_err: 0.8,
                    baseline_zero_rel_err: 1.0,
                }
            })
            .collect();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 360)).into_drawing_area();
            draw_error_law(&root, "features", &points, Some(-0.5)).unwrap();
        }
        assert!(svg.contains("theory: slope -0.5") && svg.contains("features"));
        assert!(
            svg.contains("baseline: mean of V (0.80)") && svg.contains("baseline: zeros (1.00)")
        );
        assert!(svg.matches("<circle").count() >= 3);
        let mut empty = String::new();
        {
            let root = SVGBackend::with_string(&mut empty, (560, 360)).into_drawing_area();
            draw_error_law(&root, "landmarks", &[], None).unwrap();
        }
        assert!(empty.contains("landmarks"));
    }
}
