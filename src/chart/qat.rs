//! The QAT section's charts, drawn from a [`QatSnapshot`] (while training
//! and from the finished report):
//!
//! * test accuracy against bits for PTQ and QAT, with the f32 model's
//!   accuracy and chance (1/C) drawn across — the survey's PTQ/QAT
//!   trade-off ("Some accuracy loss" against "Better accuracy") measured;
//! * the training loss per epoch: f32 training, then each width's QAT
//!   fine-tuning starting from the f32 weights (log scale).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;

use crate::pipeline::qat::QatSnapshot;

/// PTQ (Okabe–Ito vermillion).
pub const PTQ: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
/// QAT (Okabe–Ito blue).
pub const QAT: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// The f32 model.
const F32: RGBColor = RGBColor(0x22, 0x22, 0x2a);
/// Chance.
const CHANCE: RGBColor = RGBColor(0x99, 0x99, 0xa3);
/// QAT loss curves by width, most bits first (lighter to darker blue).
const WIDTHS: [RGBColor; 4] = [
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0x00, 0x3F, 0x63),
    RGBColor(0x00, 0x1F, 0x33),
];

/// The colour of width `index` (in run order) in the loss chart.
fn width_colour(index: usize) -> RGBColor {
    WIDTHS[index.min(WIDTHS.len() - 1)]
}

/// The axes of the accuracy chart: bits (with a margin) and accuracy from
/// a little below the lowest value (chance included) to 1.
fn accuracy_ranges(s: &QatSnapshot) -> ((f64, f64), (f64, f64)) {
    let (lo_bits, hi_bits) = s
        .bits
        .iter()
        .map(|b| b.bits as f64)
        .fold((2.0f64, 4.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let chance = 1.0 / s.classes.max(1) as f64;
    let lowest = s
        .bits
        .iter()
        .flat_map(|b| [Some(b.ptq_test_accuracy), b.qat_test_accuracy])
        .flatten()
        .chain(s.f32_test_accuracy)
        .fold(chance, f64::min);
    (
        (lo_bits - 0.4, hi_bits + 0.4),
        ((lowest - 0.06).max(0.0), 1.03),
    )
}

/// Test accuracy against bits: PTQ and QAT with their values, the f32
/// model and chance across. Draws the axes alone before any result.
pub fn draw_accuracy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &QatSnapshot,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let ((x0, x1), (y0, y1)) = accuracy_ranges(s);
    let mut chart = ChartBuilder::on(root)
        .caption("Test accuracy against bits (weights only)", font(15))
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(52))
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .themed()
        .x_desc("bits per weight")
        .y_desc("test accuracy")
        .x_labels(((x1 - x0).round() as usize + 1).max(2))
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                crate::format::tick_int(*x)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{:.0}%", 100.0 * y))
        .light_line_style(TRANSPARENT)
        .label_style(font(11))
        .draw()?;
    let chance = 1.0 / s.classes.max(1) as f64;
    if chance >= y0 {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, chance), (x1, chance)],
                3,
                4,
                CHANCE.stroke_width(1),
            ))?
            .label(format!("chance (1/{})", s.classes))
            .legend(|(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], CHANCE.stroke_width(1))
            });
    }
    if let Some(f) = s.f32_test_accuracy {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, f), (x1, f)],
                6,
                4,
                adapt(F32).stroke_width(1),
            ))?
            .label(format!("f32 ({:.1}%)", 100.0 * f))
            .legend(|(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], adapt(F32).stroke_width(1))
            });
    }
    let mut ptq: Vec<(f64, f64)> = s
        .bits
        .iter()
        .map(|b| (b.bits as f64, b.ptq_test_accuracy))
        .collect();
    let mut qat: Vec<(f64, f64)> = s
        .bits
        .iter()
        .filter_map(|b| b.qat_test_accuracy.map(|a| (b.bits as f64, a)))
        .collect();
    ptq.sort_by(|a, b| a.0.total_cmp(&b.0));
    qat.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (points, colour, name, above) in [(&ptq, PTQ, "PTQ", false), (&qat, QAT, "QAT", true)] {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], colour.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        // Each point's value, above (QAT) or below (PTQ) it.
        let offset = if above { -16 } else { 6 };
        chart.draw_series(points.iter().map(|&(x, y)| {
            EmptyElement::at((x, y))
                + Text::new(
                    format!("{:.1}%", 100.0 * y),
                    (6, offset),
                    font(11).color(&colour),
                )
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(legend_fill())
        .border_style(border())
        .label_font(font(11))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()
}

/// The loss axes: epochs of f32 training then of QAT, and the losses
/// (positive; log scale) with a margin, spanning at least 10⁻³ to 1 so the
/// axes hold still while the curves come in.
fn loss_ranges(s: &QatSnapshot) -> ((f64, f64), (f64, f64)) {
    let epochs = (s.epochs + s.qat_epochs).max(2) as f64;
    let all = s
        .f32_train_loss
        .iter()
        .chain(s.bits.iter().flat_map(|b| b.qat_train_loss.iter()))
        .copied()
        .filter(|l| *l > 0.0 && l.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, 0f64), |(a, b), l| (a.min(l), b.max(l)));
    let y = if lo.is_finite() && hi > 0.0 {
        ((lo / 1.5).min(1e-3), (hi * 1.5).max(1.0))
    } else {
        (1e-3, 1.0)
    };
    ((0.5, epochs + 0.5), y)
}

/// Mean training loss per epoch: f32 training, then QAT at each width from
/// the f32 weights (each curve starts after the last f32 epoch).
pub fn draw_losses<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &QatSnapshot,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let ((x0, x1), (y0, y1)) = loss_ranges(s);
    let mut chart = ChartBuilder::on(root)
        .caption("Training loss per epoch (log scale)", font(15))
        .margin(10)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(52))
        .build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .themed()
        .x_desc("epoch")
        .y_desc("cross-entropy")
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .y_label_formatter(&|y| crate::format::tick(*y))
        .light_line_style(grid_light())
        .label_style(font(11))
        .draw()?;
    let boundary = s.epochs as f64 + 0.5;
    chart.draw_series(DashedLineSeries::new(
        [(boundary, y0), (boundary, y1)],
        4,
        4,
        CHANCE.stroke_width(1),
    ))?;
    chart.draw_series(std::iter::once(
        EmptyElement::at((boundary, y1))
            + Text::new(
                "QAT, from the f32 weights →",
                (4, 4),
                font(11).color(&CHANCE),
            ),
    ))?;
    if !s.f32_train_loss.is_empty() {
        chart
            .draw_series(LineSeries::new(
                s.f32_train_loss
                    .iter()
                    .enumerate()
                    .map(|(e, &l)| ((e + 1) as f64, l.max(y0))),
                adapt(F32).stroke_width(2),
            ))?
            .label("f32 training")
            .legend(|(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], adapt(F32).stroke_width(2))
            });
    }
    for (i, b) in s.bits.iter().enumerate() {
        if b.qat_train_loss.is_empty() {
            continue;
        }
        let colour = width_colour(i);
        chart
            .draw_series(LineSeries::new(
                b.qat_train_loss
                    .iter()
                    .enumerate()
                    .map(|(e, &l)| ((s.epochs + e + 1) as f64, l.max(y0))),
                colour.stroke_width(2),
            ))?
            .label(format!("QAT, {} bits", b.bits))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(legend_fill())
        .border_style(border())
        .label_font(font(11))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()?;
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::qat::BitsSnapshot;

    fn snapshot(done: bool) -> QatSnapshot {
        QatSnapshot {
            classes: 6,
            epochs: 4,
            qat_epochs: 2,
            f32_train_loss: vec![1.2, 0.4, 0.1, 0.05],
            f32_test_accuracy: Some(0.98),
            bits: [(4, 0.975, 0.98), (3, 0.96, 0.975), (2, 0.7, 0.95)]
                .iter()
                .map(|&(bits, ptq, qat)| BitsSnapshot {
                    bits,
                    ptq_test_accuracy: ptq,
                    qat_test_accuracy: (done || bits != 2).then_some(qat),
                    qat_train_loss: vec![0.3, 0.08],
                })
                .collect(),
        }
    }

    #[test]
    fn svg_accuracy_chart_has_both_series_f32_and_chance() {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 320)).into_drawing_area();
            draw_accuracy(&root, &snapshot(true)).unwrap();
        }
        for text in [
            "PTQ",
            "QAT",
            "f32 (98.0%)",
            "chance (1/6)",
            "70.0%",
            "95.0%",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.matches("<circle").count() >= 6);
        // While the 2-bit QAT trains: its point is not drawn yet.
        let mut partial = String::new();
        {
            let root = SVGBackend::with_string(&mut partial, (560, 320)).into_drawing_area();
            draw_accuracy(&root, &snapshot(false)).unwrap();
        }
        assert!(!partial.contains("95.0%") && partial.contains("70.0%"));
        // Before anything: the axes alone.
        let mut empty = String::new();
        {
            let root = SVGBackend::with_string(&mut empty, (560, 320)).into_drawing_area();
            draw_accuracy(&root, &QatSnapshot::default()).unwrap();
        }
        assert!(empty.contains("bits per weight"));
    }

    #[test]
    fn svg_loss_chart_has_the_f32_and_every_qat_curve() {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 320)).into_drawing_area();
            draw_losses(&root, &snapshot(true)).unwrap();
        }
        for text in [
            "f32 training",
            "QAT, 4 bits",
            "QAT, 2 bits",
            "QAT, from the f32 weights",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        let mut empty = String::new();
        {
            let root = SVGBackend::with_string(&mut empty, (560, 320)).into_drawing_area();
            draw_losses(&root, &QatSnapshot::default()).unwrap();
        }
        assert!(empty.contains("epoch"));
    }
}
