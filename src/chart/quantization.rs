//! The quantization lab's charts:
//!
//! * the weights' histogram on a log count axis (so that the tails and
//!   outlier channels show), with the quantization grid of one group drawn
//!   over it — a thin line at every level x̂ can take — and the clipped
//!   region outside the group's range shaded;
//! * SQNR against bits: the measured points of every granularity, each
//!   with the uniform quantizer's law (s²/12 noise, +6.02 dB per bit) drawn
//!   dashed beside it, and the float formats as separate markers at their
//!   width.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;

use crate::data::maps::Histogram;
use crate::pipeline::quantization::SchemePoint;

/// Bars.
const BARS: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// Grid levels.
const LEVELS: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
/// Clipped region.
const CLIPPED: RGBColor = RGBColor(0xCC, 0x33, 0x33);
/// Most level lines drawn over the histogram.
const MAX_LEVEL_LINES: usize = 64;
/// One colour per granularity (per-tensor, per-channel, group), then floats.
const SERIES: [RGBColor; 4] = [
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
];

/// Draws the histogram with its grid.
pub fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    h: &Histogram,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let bins = h.counts.len().max(1);
    let (lo, hi) = (h.lo as f64, h.hi as f64);
    let width = (hi - lo) / bins as f64;
    let top = h.counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 2.0;
    let mut chart = ChartBuilder::on(root)
        .caption(&h.title, font(15))
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(56))
        .build_cartesian_2d(lo..hi, (0.8f64..top).log_scale())?;
    chart
        .configure_mesh()
        .themed()
        .x_desc("value")
        .y_desc("count (log)")
        .x_labels(7)
        .x_label_formatter(&|x| format_value(*x))
        .y_label_formatter(&|y| crate::format::tick_int(*y))
        .light_line_style(grid_light())
        .label_style(font(11))
        .draw()?;
    if let Some((clo, chi)) = h.clip {
        for (a, b) in [(lo, clo as f64), (chi as f64, hi)] {
            if b > a {
                chart.draw_series([Rectangle::new(
                    [(a, 0.8), (b, top)],
                    CLIPPED.mix(0.12).filled(),
                )])?;
            }
        }
        chart
            .draw_series([Rectangle::new(
                [(lo, 0.8), (lo, 0.8)],
                CLIPPED.mix(0.3).filled(),
            )])?
            .label("clipped: outside the group's range")
            .legend(|(x, y)| {
                Rectangle::new([(x - 6, y - 5), (x + 6, y + 5)], CLIPPED.mix(0.3).filled())
            });
    }
    chart
        .draw_series(
            h.counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, &c)| {
                    let x0 = lo + i as f64 * width;
                    Rectangle::new([(x0, 0.8), (x0 + width, c as f64)], BARS.mix(0.75).filled())
                }),
        )?
        .label("weights")
        .legend(|(x, y)| Rectangle::new([(x - 6, y - 5), (x + 6, y + 5)], BARS.mix(0.75).filled()));
    let shown: Vec<f64> = h
        .levels
        .iter()
        .map(|&v| v as f64)
        .filter(|v| *v >= lo && *v <= hi)
        .collect();
    // More lines than this would hide the bars: say so instead.
    let dense = shown.len() > MAX_LEVEL_LINES;
    let label = if h.levels.is_empty() || dense {
        format!("{} levels: too dense to draw", h.level_count)
    } else {
        format!("{} levels (the grid of one group)", h.level_count)
    };
    let levels = shown.into_iter().filter(|_| !dense);
    chart
        .draw_series(levels.map(|v| PathElement::new(vec![(v, 0.8), (v, top)], LEVELS.mix(0.8))))?
        .label(label)
        .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], LEVELS.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(legend_fill())
        .border_style(border())
        .label_font(font(11))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()
}

/// A value for an axis label: the page's rule ([`crate::format::tick`]).
fn format_value(v: f64) -> String {
    crate::format::tick(v)
}

/// The granularities in series order.
const GRANULARITIES: [&str; 3] = ["per-tensor", "per-channel", "group"];

/// Draws SQNR against bits for every granularity with its law, and the
/// float formats, for the points so far.
pub fn draw_sqnr<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[SchemePoint],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let values = points
        .iter()
        .flat_map(|p| [p.sqnr_db, p.law_db])
        .flatten()
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((0f64, 10f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(root)
        .caption("SQNR against bits", font(15))
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(52))
        .build_cartesian_2d(0.5f64..16.5f64, (lo - 3.0)..(hi + 6.0))?;
    chart
        .configure_mesh()
        .themed()
        .x_desc("bits per stored element")
        .y_desc("SQNR (dB)")
        .x_labels(16)
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .light_line_style(grid_light())
        .label_style(font(11))
        .draw()?;
    for (i, g) in GRANULARITIES.iter().enumerate() {
        let colour = SERIES[i];
        let mut ints: Vec<&SchemePoint> = points
            .iter()
            .filter(|p| p.format == "int" && p.granularity == *g)
            .collect();
        ints.sort_by_key(|p| p.bits);
        let measured: Vec<(f64, f64)> = ints
            .iter()
            .filter_map(|p| p.sqnr_db.map(|s| (p.bits as f64, s)))
            .collect();
        chart
            .draw_series(LineSeries::new(measured.clone(), colour.stroke_width(2)))?
            .label(format!("int, {g}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], colour.stroke_width(2))
            });
        chart.draw_series(measured.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        let law: Vec<(f64, f64)> = ints
            .iter()
            .filter_map(|p| p.law_db.map(|s| (p.bits as f64, s)))
            .collect();
        chart.draw_series(DashedLineSeries::new(
            law,
            4,
            3,
            colour.mix(0.7).stroke_width(1),
        ))?;
    }
    let floats: Vec<&SchemePoint> = points.iter().filter(|p| p.format != "int").collect();
    let colour = SERIES[3];
    chart
        .draw_series(floats.iter().filter_map(|p| {
            p.sqnr_db
                .map(|s| TriangleMarker::new((p.bits as f64, s), 5, colour.filled()))
        }))?
        .label("float formats (fp8, bf16, fp16)")
        .legend(move |(x, y)| TriangleMarker::new((x, y), 5, colour.filled()));
    chart.draw_series(floats.iter().filter_map(|p| {
        p.sqnr_db
            .map(|s| Text::new(p.format.clone(), (p.bits as f64 - 1.6, s + 1.5), font(10)))
    }))?;
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
        .label("dashed: uniform-noise law s²/12 (+6.02 dB per bit)")
        .legend(|(x, y)| {
            PathElement::new(
                vec![(x - 8, y), (x - 3, y), (x + 2, y), (x + 8, y)],
                ink().mix(0.5),
            )
        });
    chart
        .configure_series_labels()
        .background_style(legend_fill())
        .border_style(border())
        .label_font(font(11))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::weights::Generator;
    use crate::pipeline::quantization::{QuantizationProblem, run, sweep};
    use crate::pipeline::{Backend, Quiet};

    #[test]
    fn both_charts_draw_a_real_run_as_svg() {
        let problem = QuantizationProblem::seeded(Generator::HeavyTailed, 32, 96, 1);
        let cpu = Backend::Cpu { reason: None };
        let report = pollster::block_on(run(&problem, &cpu, &Quiet)).unwrap();
        let h = report.artifacts.histogram().unwrap();
        let mut svg = String::new();
        draw_histogram(
            &SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area(),
            h,
        )
        .unwrap();
        assert!(svg.contains("weights") && svg.contains("levels"), "legend");
        let points = pollster::block_on(sweep(&problem, &cpu, &Quiet, |_| {})).unwrap();
        assert_eq!(points.len(), 19);
        let mut svg = String::new();
        draw_sqnr(
            &SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area(),
            &points,
        )
        .unwrap();
        assert!(svg.contains("int, per-channel") && svg.contains("6.02 dB"));
    }
}
