//! The views' exports natively: `flt run --svg/--png/--csv` write one
//! drawing and its data (the PNG is the SVG rasterised at 2×, the CSV the
//! cells drawn), the files' names after the settings, and the number rule
//! every view prints with.

use std::path::PathBuf;
use std::process::{Command, Output};

use flt_explorer::chart::export::{attention_stem, grid_csv, svg_string};
use flt_explorer::chart::heatmap::{
    ColourScale, HeatmapOptions, attention_grid, colour, draw_heatmap,
};
use flt_explorer::data::maps::AttentionMap;
use flt_explorer::format;

fn flt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flt"))
        .args(args)
        .output()
        .expect("run flt")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("views-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The CSV's cells: (first query of each row of cells, values).
fn parse_grid(csv: &str) -> (Vec<usize>, Vec<usize>, Vec<Vec<f64>>) {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header[0], "query position i \\ key position j");
    let cols = header[1..].iter().map(|c| c.parse().unwrap()).collect();
    let (mut rows, mut values) = (Vec::new(), Vec::new());
    for line in lines {
        let mut fields = line.split(',');
        rows.push(fields.next().unwrap().parse().unwrap());
        values.push(fields.map(|v| v.parse().unwrap()).collect());
    }
    (rows, cols, values)
}

#[test]
fn run_writes_the_heatmap_as_svg_png_and_csv() {
    let dir = scratch("run");
    let (svg, png, csv) = (dir.join("m.svg"), dir.join("m.png"), dir.join("m.csv"));
    let o = flt(&[
        "run",
        "--n",
        "24",
        "--d",
        "4",
        "--causal",
        "--backend",
        "cpu",
        "--svg",
        svg.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The CSV: 24 × 24 cells of one entry each, causal rows of softmax
    // weights (each sums to 1, nothing above the diagonal).
    let (rows, cols, values) = parse_grid(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(rows, (0..24).collect::<Vec<_>>());
    assert_eq!(cols, (0..24).collect::<Vec<_>>());
    for (i, row) in values.iter().enumerate() {
        let sum: f64 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
        assert!(row[i + 1..].iter().all(|&w| w == 0.0), "row {i}: {row:?}");
        assert!(row[..=i].iter().all(|&w| w > 0.0), "row {i}: {row:?}");
    }

    // The PNG: the SVG's drawing at 2×; its cells where the library puts
    // the plot rectangle: row 0's first cell is its only weight (1: the
    // top of viridis), above the diagonal the bottom of viridis.
    let map = AttentionMap {
        n: 24,
        factor: 1,
        cells: 24,
        values: values.iter().flatten().map(|&v| v as f32).collect(),
    };
    let options = HeatmapOptions {
        title: "Full softmax — n = 24".into(),
        scale: ColourScale::Linear,
        paint_cells: true,
    };
    let (_, rect) = svg_string((640, 540), |root| {
        draw_heatmap(root, &map, &options).map_err(|e| e.to_string())
    })
    .unwrap();
    let bytes = std::fs::read(&png).unwrap();
    let image = resvg::tiny_skia::Pixmap::decode_png(&bytes).expect("a PNG");
    assert_eq!((image.width(), image.height()), (1280, 1080));
    let cell = |i: usize, j: usize| {
        let x = 2 * rect.x as u32 + (2 * rect.width * (2 * j as u32 + 1)) / 48;
        let y = 2 * rect.y as u32 + (2 * rect.height * (2 * i as u32 + 1)) / 48;
        let p = image.pixel(x, y).unwrap();
        (p.red(), p.green(), p.blue())
    };
    let near = |a: (u8, u8, u8), b: plotters::style::RGBColor| {
        (a.0 as i32 - b.0 as i32).abs() <= 2
            && (a.1 as i32 - b.1 as i32).abs() <= 2
            && (a.2 as i32 - b.2 as i32).abs() <= 2
    };
    assert!(near(cell(0, 0), colour(1.0)), "{:?}", cell(0, 0));
    assert!(near(cell(3, 20), colour(0.0)), "{:?}", cell(3, 20));
    assert!(!near(cell(20, 3), colour(0.0)), "{:?}", cell(20, 3));
    // The SVG is the same drawing (cells as rectangles, natively).
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.matches("<rect").count() >= 24 * 24);
}

#[test]
fn csv_to_an_unwritable_path_fails_naming_it() {
    let o = flt(&[
        "run",
        "--n",
        "8",
        "--d",
        "4",
        "--backend",
        "cpu",
        "--csv",
        "/nonexistent-folder/m.csv",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent-folder/m.csv"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn export_names_follow_the_settings() {
    let params = [("window".to_string(), 256u64), ("global".to_string(), 1)]
        .into_iter()
        .collect();
    assert_eq!(
        attention_stem("longformer", 4096, &params, &Default::default(), false),
        "longformer_n4096_w256_g1"
    );
    let params = [
        ("buckets".to_string(), 8u64),
        ("rounds".to_string(), 2),
        ("chunk".to_string(), 32),
        ("shared-qk".to_string(), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        attention_stem("reformer", 1024, &params, &Default::default(), true),
        "reformer_n1024_b8_r2_c32_sq1_causal"
    );
}

#[test]
fn grid_csv_is_the_pooled_map() {
    // n = 1000 pools by 2 into 500 cells: the header names each cell's
    // first key, the values are the block means drawn.
    let (factor, cells) = AttentionMap::geometry(1000);
    let values: Vec<f32> = (0..cells * cells).map(|i| (i % 7) as f32 / 7.0).collect();
    let map = AttentionMap {
        n: 1000,
        factor,
        cells,
        values: values.clone(),
    };
    let (rows, cols, parsed) = parse_grid(&grid_csv(&attention_grid(&map)));
    assert_eq!((factor, cells), (2, 500));
    assert_eq!(rows.len(), 500);
    assert_eq!(cols[1], 2);
    assert_eq!(rows[499], 998);
    for (a, row) in parsed.iter().enumerate() {
        for (b, v) in row.iter().enumerate() {
            assert_eq!(*v as f32, values[a * cells + b]);
        }
    }
}

#[test]
fn numbers_follow_one_rule() {
    assert_eq!(format::num(2.47), "2.47");
    assert_eq!(format::sci(2.47), "2.47");
    assert_eq!(format::num(3.44e-7), "3.44e-7");
    assert_eq!(format::err(0.73812), "0.738");
    assert_eq!(format::tick(1e-3), "0.001");
    assert_eq!(format::tick(1e-5), "1e-5");
    let labels: Vec<String> = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        .iter()
        .map(|&x| format::tick_int(x))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(labels, ["0", "1"]);
}
