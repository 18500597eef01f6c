//! The effective-context chart (survey §"Memory-based Architectures":
//! Transformer-XL's "longer effective context"; Dai et al. 2019, §3.2: the
//! largest dependency grows as O(N·L)): how far back the last token reaches
//! against the number of layers, composed layer by layer from the method's
//! per-layer pattern ([`crate::attention::effective_context::effective_context`]),
//! beside the rule of thumb L·M (or L·(M + c·M_c) with a compressed memory),
//! Transformer-XL with the same S and M for the Compressive Transformer, and
//! the settings' sequence length (the curve is composed on a sequence
//! extended by whole segments, so that the growth shows).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;

use crate::attention::effective_context::ContextCurve;

/// The composed reach.
const REACH: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// The rule of thumb.
const RULE: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
/// Transformer-XL beside the Compressive Transformer.
const WITHOUT: RGBColor = RGBColor(0x00, 0x9E, 0x73);

/// Draws `curve`: reach against depth on linear axes.
pub fn draw_context<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curve: &ContextCurve,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let depth = curve.layers.last().copied().unwrap_or(1).max(1);
    let top = curve
        .reach
        .iter()
        .chain(&curve.rule)
        .copied()
        .max()
        .unwrap_or(1)
        .max(curve.settings_n) as f64
        * 1.08;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Effective context of the last token against depth",
            font(15),
        )
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(60))
        .build_cartesian_2d(0.5f64..depth as f64 + 0.5, 0f64..top)?;
    chart
        .configure_mesh()
        .themed()
        .x_desc("layers L")
        .y_desc("positions reached back")
        .x_labels(depth.min(16))
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .y_label_formatter(&|y| crate::format::tick_int(*y))
        .light_line_style(grid_light())
        .label_style(font(11))
        .draw()?;
    let points = |ys: &[usize]| -> Vec<(f64, f64)> {
        curve
            .layers
            .iter()
            .zip(ys)
            .map(|(&l, &y)| (l as f64, y as f64))
            .collect()
    };
    let n = curve.settings_n as f64;
    chart
        .draw_series(DashedLineSeries::new(
            [(0.5, n), (depth as f64 + 0.5, n)],
            6,
            4,
            muted().stroke_width(1),
        ))?
        .label(format!("n = {} (these settings)", curve.settings_n))
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], muted().stroke_width(1)));
    if let Some(xl) = &curve.without_compression {
        chart
            .draw_series(LineSeries::new(points(xl), WITHOUT.stroke_width(2)))?
            .label("Transformer-XL, same S and M (composed)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], WITHOUT.stroke_width(2))
            });
    }
    chart
        .draw_series(LineSeries::new(points(&curve.reach), REACH.stroke_width(2)))?
        .label(format!(
            "composed reach (BFS over the per-layer pattern, {} positions)",
            curve.n
        ))
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], REACH.stroke_width(2)));
    chart.draw_series(
        points(&curve.reach)
            .into_iter()
            .map(|p| Circle::new(p, 3, REACH.filled())),
    )?;
    // The rule on top, dashed: where it holds it lies on the reach.
    chart
        .draw_series(DashedLineSeries::new(
            points(&curve.rule),
            5,
            5,
            RULE.stroke_width(2),
        ))?
        .label(format!("rule of thumb: {}", curve.rule_label))
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RULE.stroke_width(2)));
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
    use crate::attention::effective_context::effective_context;
    use crate::attention::memory::MemoryLayout;

    fn svg(curve: &ContextCurve) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
            draw_context(&root, curve).unwrap();
        }
        svg
    }

    #[test]
    fn svg_context_has_the_reach_the_rule_and_the_ceiling() {
        let xl = effective_context(&MemoryLayout::transformer_xl(1024, 32, 64), 12);
        let out = svg(&xl);
        assert!(out.contains("composed reach") && out.contains("L·M + offset"));
        assert!(out.contains("n = 1024 (these settings)"));
        assert!(out.matches("<circle").count() >= 12);
        assert!(!out.contains("Transformer-XL, same S and M"));
        let compressive = MemoryLayout {
            n: 4096,
            segment: 64,
            memory: 64,
            rate: 4,
            compressed: 32,
        };
        let out = svg(&effective_context(&compressive, 8));
        assert!(out.contains("L·(M + c·M_c)") && out.contains("Transformer-XL, same S and M"));
    }
}
