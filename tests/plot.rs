//! Rendering tests for `latedecay::plot`: files exist, are well formed, have
//! the expected size, carry the axis text, and bad input gives clear errors.
//!
//! Set `LATEDECAY_PLOT_DIR=/some/dir` to keep the figures for inspection.

use std::path::PathBuf;

use latedecay::io::{grid_columns, write_columns, IoError};
use latedecay::plot::*;

struct OutDir {
    _tmp: Option<tempfile::TempDir>,
    path: PathBuf,
}

fn out_dir() -> OutDir {
    match std::env::var_os("LATEDECAY_PLOT_DIR") {
        Some(d) => {
            let path = PathBuf::from(d);
            std::fs::create_dir_all(&path).unwrap();
            OutDir { _tmp: None, path }
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_path_buf();
            OutDir {
                _tmp: Some(tmp),
                path,
            }
        }
    }
}

fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1) as f64))
        .collect()
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect()
}

fn assert_outputs(files: &[PathBuf], dims: (u32, u32), texts: &[&str]) {
    assert_eq!(files.len(), 2, "{files:?}");
    let svg = files
        .iter()
        .find(|p| p.extension().unwrap() == "svg")
        .unwrap();
    let png = files
        .iter()
        .find(|p| p.extension().unwrap() == "png")
        .unwrap();
    for f in files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len > 1000, "{} is only {len} bytes", f.display());
    }
    assert_eq!(check_png(png).unwrap(), dims);
    assert_eq!(check_svg(svg).unwrap(), dims);
    let text = std::fs::read_to_string(svg).unwrap();
    for t in texts {
        assert!(text.contains(t), "SVG lacks text {t:?}");
    }
    assert!(text.contains("DejaVu Sans"));
}

fn convergence_chart() -> LineChart {
    let h = logspace(-4.0, -1.0, 13);
    let euler: Vec<f64> = h.iter().map(|h| 0.8 * h).collect();
    let rk2: Vec<f64> = h.iter().map(|h| 0.5 * h * h).collect();
    let measured: Vec<f64> = h
        .iter()
        .enumerate()
        .map(|(i, h)| 0.03 * h.powf(1.5) * (1.0 + 0.15 * ((i as f64) * 1.7).sin()))
        .collect();
    LineChart {
        axes: Axes::new("Global error vs step size")
            .x("step size h", AxisScale::Log10)
            .y("max |error|", AxisScale::Log10),
        series: vec![
            Series::new("Euler", h.clone(), euler.clone()).with_band(
                euler.iter().map(|e| e * 0.6).collect(),
                euler.iter().map(|e| e * 1.6).collect(),
            ),
            Series::new("Heun (RK2)", h.clone(), rk2.clone())
                .with_kind(LineKind::Dashed)
                .with_band(
                    rk2.iter().map(|e| e * 0.5).collect(),
                    rk2.iter().map(|e| e * 2.0).collect(),
                ),
            Series::new("SGD (measured)", h.clone(), measured).with_kind(LineKind::MarkersOnly),
        ],
        ref_lines: vec![RefLine::new("tolerance 1e-6", 1e-6, true)],
        annotations: vec![
            "fitted order 1.002 ± 0.003".into(),
            "fitted order 2.001 ± 0.004".into(),
        ],
    }
}

#[test]
fn line_chart_log_log_with_bands() {
    let dir = out_dir();
    let chart = convergence_chart();
    let files = chart.render(dir.path.join("convergence")).unwrap();
    assert_outputs(
        &files,
        (640, 440),
        &["step size h", "max |error|", "Euler", "1e-3"],
    );

    let h: Vec<f64> = chart.series[0].xs.clone();
    let e: Vec<f64> = chart.series[0].ys.clone();
    let csv = dir.path.join("convergence.csv");
    write_columns(&csv, &["h", "error"], &[h.clone(), e]).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), h.len() + 1);
    assert!(text.starts_with("h,error\n"));
}

#[test]
fn line_chart_linear_with_gaps_and_markers() {
    let dir = out_dir();
    let t = linspace(0.0, 100.0, 201);
    let early: Vec<f64> = t
        .iter()
        .map(|&t| 0.9 * (-t / 25.0).exp() + 0.12 + if t > 30.0 { 0.0 } else { 0.05 })
        .collect();
    let mut late: Vec<f64> = t
        .iter()
        .map(|&t| 0.9 * (-t / 40.0).exp() + if t > 70.0 { 0.02 } else { 0.08 })
        .collect();
    late[50] = f64::NAN; // a gap
    let chart = LineChart {
        axes: Axes::new("Test loss, step decay at epoch 30 vs 70")
            .x("epoch", AxisScale::Linear)
            .y("test loss", AxisScale::Linear),
        series: vec![
            Series::new("early decay", t.clone(), early).with_kind(LineKind::LineAndMarkers),
            Series::new("late decay", t.clone(), late.clone()).with_band(
                late.iter().map(|v| v - 0.03).collect(),
                late.iter().map(|v| v + 0.03).collect(),
            ),
        ],
        ref_lines: vec![RefLine::new("Bayes risk", 0.05, false)],
        ..Default::default()
    };
    let files = chart.render(dir.path.join("linear.v1")).unwrap();
    assert!(files[0].ends_with("linear.v1.svg"), "{files:?}");
    assert_outputs(&files, (640, 440), &["epoch", "test loss", "late decay"]);
}

fn landscape(xs: &[f64], ys: &[f64], shift: f64) -> Vec<Vec<f64>> {
    ys.iter()
        .map(|&y| {
            xs.iter()
                .map(|&x| {
                    let lx = x.log10();
                    1e-3 + (lx + 1.5 - shift).powi(2) * 0.5
                        + ((y - 50.0) / 40.0).powi(2)
                        + 0.3 * (3.0 * lx).sin().powi(2) * (y / 100.0)
                })
                .collect()
        })
        .collect()
}

fn contour_figure() -> ContourFigure {
    let xs = logspace(-3.0, 0.0, 120);
    let ys = linspace(0.0, 100.0, 120);
    let path = |lr0: f64| -> Vec<(f64, f64)> {
        (0..40)
            .map(|k| {
                let s = k as f64 / 39.0;
                (
                    lr0 * 10f64.powf(-1.2 * s),
                    95.0 - 45.0 * s + 8.0 * (6.0 * s).sin(),
                )
            })
            .collect()
    };
    let boundary: Vec<(f64, f64)> = linspace(-3.0, 0.0, 50)
        .into_iter()
        .map(|lx| (10f64.powf(lx), 20.0 + 60.0 * ((lx + 3.0) / 3.0).powi(2)))
        .collect();
    let panel = |title: &str, shift: f64| ContourPanel {
        axes: Axes::new(title)
            .x("learning rate η", AxisScale::Log10)
            .y("decay epoch", AxisScale::Linear),
        xs: xs.clone(),
        ys: ys.clone(),
        values: landscape(&xs, &ys, shift),
        log_color: true,
        paths: vec![
            PathOverlay {
                label: "stability edge".into(),
                points: boundary.clone(),
                color_index: Some(6),
                dashed: true,
            },
            PathOverlay {
                label: "GD, η₀ = 0.5".into(),
                points: path(0.5),
                color_index: None,
                dashed: false,
            },
            PathOverlay {
                label: "GD, η₀ = 0.05".into(),
                points: path(0.05),
                color_index: None,
                dashed: false,
            },
        ],
        markers: vec![
            Marker {
                label: "start".into(),
                x: 0.5,
                y: 95.0,
                shape: MarkerShape::Circle,
                color_index: None,
            },
            Marker {
                label: "optimum".into(),
                x: 10f64.powf(-1.5 + shift),
                y: 50.0,
                shape: MarkerShape::Star,
                color_index: Some(3),
            },
            Marker {
                label: "SGD end".into(),
                x: 0.02,
                y: 30.0,
                shape: MarkerShape::Triangle,
                color_index: Some(1),
            },
            Marker {
                label: "diverged".into(),
                x: 0.8,
                y: 10.0,
                shape: MarkerShape::Cross,
                color_index: None,
            },
        ],
    };
    ContourFigure {
        panels: vec![panel("early decay", 0.0), panel("late decay", 0.6)],
        colorbar_label: "test loss".into(),
        shared_color_scale: true,
        iso_lines: true,
    }
}

#[test]
fn contour_two_panels_with_overlays() {
    let dir = out_dir();
    let fig = contour_figure();
    let style = Style::default();
    let dims = fig.dimensions(&style);
    assert_eq!(
        dims,
        (
            2 * style.contour_panel_width + style.colorbar_width,
            style.contour_height
        )
    );
    let files = fig.render(dir.path.join("contour")).unwrap();
    assert_outputs(
        &files,
        dims,
        &[
            "learning rate η",
            "decay epoch",
            "test loss",
            "early decay",
            "optimum",
        ],
    );

    let p = &fig.panels[0];
    let cols = grid_columns(&p.xs, &p.ys, &p.values).unwrap();
    assert_eq!(cols[0].len(), p.xs.len() * p.ys.len());
    write_columns(
        dir.path.join("contour.csv"),
        &["eta", "epoch", "loss"],
        &cols,
    )
    .unwrap();
}

#[test]
fn contour_single_panel_own_scale_linear_color() {
    let dir = out_dir();
    let xs = linspace(-2.0, 2.0, 60);
    let ys = linspace(-1.0, 3.0, 50);
    let mut values: Vec<Vec<f64>> = ys
        .iter()
        .map(|&y| {
            xs.iter()
                .map(|&x| (1.0 - x).powi(2) + 5.0 * (y - x * x).powi(2))
                .collect()
        })
        .collect();
    values[0][0] = f64::NAN; // shown as missing
    let fig = ContourFigure {
        panels: vec![ContourPanel {
            axes: Axes::new("Rosenbrock")
                .x("x", AxisScale::Linear)
                .y("y", AxisScale::Linear),
            xs,
            ys,
            values,
            ..Default::default()
        }],
        colorbar_label: "f(x, y)".into(),
        shared_color_scale: false,
        iso_lines: false,
    };
    let style = Style::default();
    let files = fig.render(dir.path.join("rosenbrock")).unwrap();
    assert_outputs(&files, fig.dimensions(&style), &["Rosenbrock", "f(x, y)"]);
}

#[test]
fn scaled_style_doubles_png() {
    let dir = out_dir();
    let style = Style::default().scaled(2.0);
    let files = convergence_chart()
        .render_with_style(dir.path.join("convergence@2x"), &style)
        .unwrap();
    assert_eq!(check_png(&files[1]).unwrap(), (1280, 880));
}

type Check = fn(&PlotError) -> bool;

#[test]
fn errors_are_clear() {
    let dir = out_dir();
    let stem = |i: usize, ext: &str| dir.path.join(format!("e{i}{ext}"));
    let chart = |s: Series, y_scale, ref_lines| LineChart {
        axes: Axes::new("").y("", y_scale),
        series: vec![s],
        ref_lines,
        ..Default::default()
    };
    let (lin, log) = (AxisScale::Linear, AxisScale::Log10);
    let s = |ys: Vec<f64>| Series::new("s", vec![1.0, 2.0], ys);
    let empty: Check = |e| matches!(e, PlotError::EmptySeries { .. });
    let nothing: Check = |e| matches!(e, PlotError::NothingToPlot { .. });
    let no_data: Check = |e| matches!(e, PlotError::NoFiniteData { .. });
    let length: Check = |e| matches!(e, PlotError::LengthMismatch { .. });
    let grid: Check = |e| matches!(e, PlotError::InvalidGrid(_));
    let input: Check = |e| matches!(e, PlotError::InvalidInput(_));
    // (chart, error kind, text the message names)
    let charts: Vec<(LineChart, Check, &str)> = vec![
        (
            chart(Series::new("none", vec![], vec![]), lin, vec![]),
            empty,
            "`none` is empty",
        ),
        (LineChart::default(), nothing, "line chart: nothing to plot"),
        (
            chart(s(vec![f64::NAN, f64::INFINITY]), lin, vec![]),
            no_data,
            "series `s`",
        ),
        (
            chart(s(vec![0.0, -1.0]), log, vec![]),
            no_data,
            "series `s`",
        ),
        (chart(s(vec![1.0]), lin, vec![]), length, "ys vs xs"),
        (
            chart(
                s(vec![1.0, 2.0]).with_band(vec![0.0], vec![3.0, 3.0]),
                lin,
                vec![],
            ),
            length,
            "band lower",
        ),
        (
            chart(
                s(vec![1.0, 2.0]),
                log,
                vec![RefLine::new("zero", 0.0, true)],
            ),
            input,
            "`zero` at y = 0",
        ),
    ];
    let mut figs: Vec<(ContourFigure, Check, &str)> =
        vec![(ContourFigure::default(), nothing, "contour figure")];
    let mut edit = |f: fn(&mut ContourFigure), check, text| {
        let mut fig = contour_figure();
        f(&mut fig);
        figs.push((fig, check, text));
    };
    edit(
        |f| drop(f.panels[0].values.pop()),
        grid,
        "values has 119 rows but ys has 120",
    );
    edit(
        |f| f.panels[0].values[3].push(1.0),
        grid,
        "values row 3 has 121 entries",
    );
    edit(
        |f| f.panels[1].xs[5] = f.panels[1].xs[4],
        grid,
        "`late decay`: xs must be strictly increasing",
    );
    edit(|f| f.panels[1].ys[0] = f64::NAN, grid, "ys contains NaN");
    edit(
        |f| {
            f.panels[1]
                .values
                .iter_mut()
                .flatten()
                .for_each(|v| *v = -1.0)
        },
        no_data,
        "`late decay`",
    );
    edit(|f| f.panels[1].log_color = false, input, "same log_color");
    let renders = charts
        .iter()
        .map(|(c, k, t)| (c.render(stem(0, "")).unwrap_err(), k, t));
    let fig_renders = figs
        .iter()
        .map(|(f, k, t)| (f.render(stem(0, "")).unwrap_err(), k, t));
    for (e, check, text) in renders.chain(fig_renders) {
        assert!(check(&e) && e.to_string().contains(*text), "{e}");
    }
    // Nothing was written for failed renders.
    assert!(!stem(0, ".png").exists() && !stem(0, ".svg").exists());

    let e = write_columns(stem(1, ".csv"), &["a", "b"], &[vec![1.0, 2.0], vec![1.0]]).unwrap_err();
    assert!(matches!(e, IoError::LengthMismatch { .. }), "{e}");
    assert!(write_columns(stem(2, ".csv"), &["a"], &[vec![1.0], vec![1.0]]).is_err());

    // The checkers reject garbage.
    std::fs::write(stem(3, ".png"), b"not a png").unwrap();
    let e = check_png(stem(3, ".png")).unwrap_err();
    assert!(matches!(e, PlotError::Malformed { .. }), "{e}");
    std::fs::write(stem(3, ".svg"), "<svg width=\"10\" height=\"10\">").unwrap();
    let e = check_svg(stem(3, ".svg")).unwrap_err();
    assert!(matches!(e, PlotError::Malformed { .. }), "{e}");
}
