//! The pattern view (survey Fig. 5/15/17): which pairs a method computes,
//! coloured by why — window, global, stride, summary, own block, random,
//! own segment, memory, compressed memory, or (Reformer) the query's LSH
//! bucket — in the Okabe–Ito palette, which stays
//! distinguishable with colour-blindness. A cell's colour fades towards white
//! with the share of its pairs that are computed.
//!
//! Also the Reformer bucket strips: positions in their original order and in
//! the sorted order, coloured by bucket, with the chunk boundaries.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::chart::style::*;

use super::heatmap::PlotRect;
use crate::data::codes::Category;
use crate::data::maps::{LshView, PatternMap};

/// Okabe–Ito colours for LSH buckets (bucket mod 8).
const BUCKET_PALETTE: [RGBColor; 8] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x33, 0x33, 0x33),
];

/// The colour of a category code (0: white).
pub fn code_colour(code: u32) -> RGBColor {
    match code {
        0 => background(),
        1 => RGBColor(0x00, 0x72, 0xB2),  // all pairs: blue
        2 => RGBColor(0x00, 0x9E, 0x73),  // window: bluish green
        3 => RGBColor(0xD5, 0x5E, 0x00),  // global: vermillion
        4 => RGBColor(0xCC, 0x79, 0xA7),  // stride: reddish purple
        5 => RGBColor(0xE6, 0x9F, 0x00),  // summary: orange
        6 => RGBColor(0x56, 0xB4, 0xE9),  // own block: sky blue
        7 => RGBColor(0x33, 0x33, 0x33),  // random: near black
        16 => RGBColor(0x00, 0x9E, 0x73), // own segment: bluish green
        17 => RGBColor(0x56, 0xB4, 0xE9), // memory: sky blue
        18 => RGBColor(0xE6, 0x9F, 0x00), // compressed memory: orange
        c => BUCKET_PALETTE[((c - 8) % 8) as usize],
    }
}

/// A cell's colour: its code's colour, faded towards white as fewer of its
/// pairs are computed (a fully computed cell has the full colour).
pub fn cell_colour(code: u32, fraction: f32) -> RGBColor {
    mixed(code, fraction, background(), adapt(code_colour(code)))
}

/// [`cell_colour`] with the palette's paper and the code's colour given.
fn mixed(code: u32, fraction: f32, paper: RGBColor, base: RGBColor) -> RGBColor {
    if code == 0 || fraction <= 0.0 {
        return paper;
    }
    let t = 0.3 + 0.7 * fraction.clamp(0.0, 1.0);
    let mix = |c: u8, p: u8| (p as f32 + (c as f32 - p as f32) * t).round() as u8;
    RGBColor(
        mix(base.0, paper.0),
        mix(base.1, paper.1),
        mix(base.2, paper.2),
    )
}

/// Legend entries for the codes present in a map.
pub fn legend(map: &PatternMap) -> Vec<(u32, String)> {
    // A set: a map holds up to 512² cells but only a few codes.
    let codes: std::collections::BTreeSet<u32> =
        map.codes.iter().copied().filter(|&c| c != 0).collect();
    codes
        .into_iter()
        .map(|c| {
            let label = match Category::from_code(c) {
                Some(Category::Bucket) | None if c >= 8 => format!("bucket ≡ {} (mod 8)", c - 8),
                Some(cat) => cat.label().to_string(),
                None => format!("code {c}"),
            };
            (c, label)
        })
        .collect()
}

/// Draws the pattern map with axes and a legend; cells are painted as
/// rectangles if `paint_cells`, otherwise left to the caller ([`rgba`]).
pub fn draw_pattern<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    map: &PatternMap,
    title: &str,
    paint_cells: bool,
) -> Result<PlotRect, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let (width, _) = root.dim_in_pixel();
    let (main, side) = root.split_horizontally(width.saturating_sub(150));
    let n = map.n as f64;
    let mut chart = ChartBuilder::on(&main)
        .caption(title, font(16))
        .margin(8)
        .x_label_area_size(text_px(36))
        .y_label_area_size(text_px(52))
        .build_cartesian_2d(0f64..n, n..0f64)?;
    chart
        .configure_mesh()
        .themed()
        .disable_mesh()
        .x_desc("key position j")
        .y_desc("query position i")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .y_label_formatter(&|y| crate::format::tick_int(*y))
        .label_style(font(12))
        .draw()?;
    if paint_cells {
        let f = map.factor as f64;
        chart.draw_series((0..map.cells).flat_map(|a| {
            (0..map.cells).filter_map(move |b| {
                let idx = a * map.cells + b;
                (map.codes[idx] != 0).then(|| {
                    let (x0, y0) = (b as f64 * f, a as f64 * f);
                    let (x1, y1) = (((b + 1) as f64 * f).min(n), ((a + 1) as f64 * f).min(n));
                    Rectangle::new(
                        [(x0, y0), (x1, y1)],
                        cell_colour(map.codes[idx], map.fraction[idx]).filled(),
                    )
                })
            })
        }))?;
    }
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    for (row, (code, label)) in legend(map).into_iter().enumerate() {
        let y = 40 + row as i32 * 22;
        side.draw(&Rectangle::new(
            [(6, y), (22, y + 14)],
            adapt(code_colour(code)).filled(),
        ))?;
        side.draw(&Text::new(label, (28, y), font(12)))?;
    }
    root.present()?;
    Ok(PlotRect {
        x: xs.start,
        y: ys.start,
        width: (xs.end - xs.start).max(0) as u32,
        height: (ys.end - ys.start).max(0) as u32,
    })
}

/// RGBA pixels of the map scaled to `width × height` (nearest cell).
pub fn rgba(map: &PatternMap, width: u32, height: u32) -> Vec<u8> {
    let cells = map.cells.max(1);
    // The palette once, each code's colour once (a map has few codes).
    let paper = background();
    let mut bases: Vec<(u32, RGBColor)> = Vec::new();
    let mut base = |code: u32| match bases.iter().find(|(c, _)| *c == code) {
        Some(&(_, colour)) => colour,
        None => {
            let colour = adapt(code_colour(code));
            bases.push((code, colour));
            colour
        }
    };
    let mut out = Vec::with_capacity((width * height * 4) as usize);
    for py in 0..height as usize {
        let a = (py * cells / height.max(1) as usize).min(cells - 1);
        for px in 0..width as usize {
            let b = (px * cells / width.max(1) as usize).min(cells - 1);
            let idx = a * cells + b;
            let code = map.codes[idx];
            let c = mixed(code, map.fraction[idx], paper, base(code));
            out.extend_from_slice(&[c.0, c.1, c.2, 255]);
        }
    }
    out
}

/// The pattern as SVG (`width × height`): axes and legend by
/// [`draw_pattern`], the cells as one embedded PNG, pixel for pixel what
/// the page blits.
pub fn pattern_svg(
    map: &PatternMap,
    title: &str,
    (width, height): (u32, u32),
) -> Result<String, String> {
    let (svg, rect) = super::export::svg_string((width, height), |root| {
        draw_pattern(root, map, title, false).map_err(|e| e.to_string())
    })?;
    Ok(super::export::svg_with_image(
        &svg,
        rect,
        &rgba(map, rect.width, rect.height),
    ))
}

/// Share of the n² pairs computed, per category code: Σ fraction × the
/// cell's pairs / n², from the pooled cells (one pass over them).
pub fn shares(map: &PatternMap) -> Vec<(u32, String, f64)> {
    let n = map.n.max(1) as f64;
    let side = |k: usize| {
        ((k + 1) * map.factor)
            .min(map.n)
            .saturating_sub(k * map.factor) as f64
    };
    let mut pairs = std::collections::BTreeMap::<u32, f64>::new();
    for (i, (&code, &fraction)) in map.codes.iter().zip(&map.fraction).enumerate() {
        if code != 0 {
            *pairs.entry(code).or_default() +=
                f64::from(fraction) * side(i / map.cells) * side(i % map.cells);
        }
    }
    legend(map)
        .into_iter()
        .map(|(code, label)| {
            let share = pairs.get(&code).copied().unwrap_or(0.0) / (n * n);
            (code, label, share)
        })
        .collect()
}

/// The pattern as CSV: one line per pooled cell that holds computed pairs
/// — its first query and key, the category and the fraction of its pairs
/// computed (the colour drawn).
pub fn pattern_csv(map: &PatternMap) -> String {
    let labels = legend(map);
    let label = |code: u32| {
        labels
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(String::new, |(_, l)| l.clone())
    };
    let rows = (0..map.cells * map.cells)
        .filter(|&i| map.codes[i] != 0)
        .map(|i| {
            vec![
                ((i / map.cells) * map.factor).to_string(),
                ((i % map.cells) * map.factor).to_string(),
                label(map.codes[i]),
                super::export::csv_number(f64::from(map.fraction[i])),
            ]
        });
    super::export::csv_table(
        &["query_from", "key_from", "category", "fraction_computed"],
        rows,
    )
}

/// Reformer's buckets as CSV: each position's bucket (round 0) and the
/// position at each place of the sorted order.
pub fn buckets_csv(view: &LshView) -> String {
    let rows = (0..view.bucket.len()).map(|i| {
        vec![
            i.to_string(),
            view.bucket[i].to_string(),
            view.sorted.get(i).map_or_else(String::new, u32::to_string),
        ]
    });
    super::export::csv_table(&["position", "bucket", "sorted_order_position"], rows)
}

/// Reformer's buckets: two strips of at most 512 columns (each the bucket
/// most of its positions fall in), positions in original order above and in
/// sorted order below, with the chunk boundaries of the sorted order.
pub fn draw_buckets<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    view: &LshView,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&background())?;
    let n = view.bucket.len();
    let columns = n.clamp(1, 512);
    let per = n.div_ceil(columns).max(1);
    let column_bucket = |order: &dyn Fn(usize) -> usize, c: usize| -> u32 {
        let mut counts = vec![0usize; view.buckets.max(1) as usize];
        for s in c * per..((c + 1) * per).min(n) {
            let b = view.bucket[order(s)] as usize;
            if b < counts.len() {
                counts[b] += 1;
            }
        }
        counts
            .iter()
            .enumerate()
            .max_by_key(|&(b, &k)| (k, usize::MAX - b))
            .map(|(b, _)| b as u32)
            .unwrap_or(0)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            "LSH buckets (round 0): original order, then sorted",
            font(14),
        )
        .margin(8)
        .x_label_area_size(text_px(30))
        .y_label_area_size(text_px(70))
        .build_cartesian_2d(0f64..n as f64, 0f64..2f64)?;
    chart
        .configure_mesh()
        .themed()
        .disable_mesh()
        .x_desc("position / sorted index")
        .y_labels(2)
        .y_label_formatter(&|y| {
            if *y < 1.0 {
                "sorted".into()
            } else {
                "original".into()
            }
        })
        .x_labels(6)
        .x_label_formatter(&|x| crate::format::tick_int(*x))
        .label_style(font(11))
        .draw()?;
    let original = |s: usize| s;
    let sorted = |s: usize| view.sorted[s] as usize;
    let strips: [(&dyn Fn(usize) -> usize, f64); 2] = [(&original, 1.1), (&sorted, 0.1)];
    for (order, y) in strips {
        chart.draw_series((0..columns.min(n)).map(|c| {
            let x0 = (c * per) as f64;
            let x1 = (((c + 1) * per).min(n)) as f64;
            Rectangle::new(
                [(x0, y), (x1, y + 0.8)],
                code_colour(8 + column_bucket(order, c)).filled(),
            )
        }))?;
    }
    let chunk = view.chunk.max(1) as usize;
    if n / chunk <= 256 {
        chart.draw_series((1..n.div_ceil(chunk)).map(|c| {
            let x = (c * chunk) as f64;
            PathElement::new(vec![(x, 0.0), (x, 0.95)], ink().stroke_width(1))
        }))?;
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::maps::PatternPooler;

    #[test]
    fn svg_pattern_has_a_legend_and_coloured_cells() {
        let p = crate::attention::pattern::Pattern::Longformer {
            window: 2,
            global: 1,
        };
        let n = 24;
        let mut pooler = PatternPooler::new(n);
        for i in 0..n {
            let row = p
                .row(i, n, false)
                .into_iter()
                .map(|(j, c)| (j, c as u32))
                .collect();
            pooler.add_row(i, &crate::data::shape::RowPattern::Sparse(row));
        }
        let map = pooler.finish();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 420)).into_drawing_area();
            draw_pattern(&root, &map, "Longformer", true).unwrap();
        }
        assert!(
            svg.contains("window") && svg.contains("global"),
            "legend missing: {}",
            &svg[svg.len().saturating_sub(600)..]
        );
        let green = code_colour(2);
        assert!(svg.contains(&format!("#{:02X}{:02X}{:02X}", green.0, green.1, green.2)));
        assert_eq!(legend(&map).len(), 2);
    }

    #[test]
    fn colours_fade_with_the_computed_share() {
        assert_eq!(cell_colour(2, 1.0), code_colour(2));
        assert_eq!(cell_colour(0, 1.0), WHITE);
        let faint = cell_colour(2, 0.01);
        assert!(faint.0 > code_colour(2).0 && faint.1 > code_colour(2).1);
        let px = rgba(
            &PatternMap {
                n: 2,
                factor: 1,
                cells: 2,
                codes: vec![1, 0, 0, 1],
                fraction: vec![1.0, 0.0, 0.0, 1.0],
            },
            4,
            4,
        );
        assert_eq!(&px[..3], &[0x00, 0x72, 0xB2]);
        assert_eq!(&px[3 * 4..3 * 4 + 3], &[255, 255, 255]);
    }

    #[test]
    fn bucket_strips_render() {
        let view = LshView {
            buckets: 4,
            bucket: vec![0, 1, 2, 3, 1, 0],
            sorted: vec![0, 5, 1, 4, 2, 3],
            chunk: 2,
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (560, 160)).into_drawing_area();
            draw_buckets(&root, &view).unwrap();
        }
        assert!(svg.contains("sorted") && svg.contains("original"));
        assert!(svg.matches("<rect").count() >= 12);
    }
}
