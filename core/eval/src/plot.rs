//! The FID-against-NFE picture of a sweep: one line per (run, sampler), NFE on a log axis,
//! FID on a log axis when it spans more than a factor of ten; and, for a guided sweep of a
//! class-conditional run, FID and the class accuracy against the guidance weight `w`.
//!
//! Drawn with `plotters` into an RGB buffer and encoded with the `image` crate. Text needs a
//! TrueType font, which plotters' `ab_glyph` feature loads at run time: the first of
//! [`FONT_PATHS`] that exists (Debian's `fonts-dejavu-core`). Without one, the plot is drawn
//! without text (lines, markers, grid) and a warning says so.

use super::report::EvalReport;
use gpfn_core::{GpfnError, Result};
use image::{ImageFormat, RgbImage};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Where the plot's font is looked for, in order.
pub const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the first font of [`FONT_PATHS`] as plotters' `sans-serif`, once; whether text
/// can be drawn.
fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                // plotters keeps the font for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        tracing::warn!(
            "no font found (looked for {}); the plot has no text — install fonts-dejavu-core",
            FONT_PATHS.join(", ")
        );
        false
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> GpfnError {
    GpfnError::Invalid(format!("drawing {}: {e}", path.display()))
}

/// The series' key: `font_size`-point labels in a white, black-edged box at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    font_size: u32,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font(("sans-serif", font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(|e| plot_err(path, e))
}

/// One line of the plot: run name, sampler, and `(nfe, fid)` points sorted by NFE.
type Line = (String, String, Vec<(f64, f64)>);

fn series(reports: &[EvalReport]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in reports {
        let key = (r.name.clone(), r.sampler.clone());
        let point = (r.nfe, r.metrics.fid.max(1e-6));
        match out.iter_mut().find(|(n, s, _)| (n, s) == (&key.0, &key.1)) {
            Some((_, _, pts)) => pts.push(point),
            None => out.push((key.0, key.1, vec![point])),
        }
    }
    for (_, _, pts) in &mut out {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Ticks of a log axis over `[lo, hi]`: the values `m · 10^k` with `m ∈ {1, 2, 5}` inside it.
/// (plotters' own ticks for a log range gave a dense band of lines around 1 000 and the label
/// "1000" twice.)
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return ticks;
    }
    for k in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(k);
            if (lo..=hi).contains(&v) {
                ticks.push(v);
            }
        }
    }
    ticks
}

/// Draws FID against NFE for `reports` into the PNG `path`.
pub fn fid_against_nfe(reports: &[EvalReport], path: &Path) -> Result<()> {
    fid_against_nfe_with_text(reports, path, font_available())
}

/// [`fid_against_nfe`], with or without text.
pub(crate) fn fid_against_nfe_with_text(
    reports: &[EvalReport],
    path: &Path,
    text: bool,
) -> Result<()> {
    if reports.is_empty() {
        return Err(GpfnError::Invalid("nothing to plot: no reports".into()));
    }
    let lines = series(reports);
    let mut names: Vec<&String> = Vec::new();
    for (n, _, _) in &lines {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let (w, h) = (960u32, 640u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let nfe_lo = reports.iter().map(|r| r.nfe).fold(f64::INFINITY, f64::min);
    let nfe_hi = reports.iter().map(|r| r.nfe).fold(0.0, f64::max);
    let fids: Vec<f64> = lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).collect();
    let fid_lo = fids.iter().copied().fold(f64::INFINITY, f64::min);
    let fid_hi = fids.iter().copied().fold(0.0, f64::max);
    let x_range = (nfe_lo / 1.2)..(nfe_hi * 1.2);
    // Ticks at the NFE values evaluated, not at a log axis's own (which skip some, e.g. 5,
    // and crowd others, e.g. 90 and 100).
    let mut ticks: Vec<f64> = reports.iter().map(|r| r.nfe).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let x_axis = || x_range.clone().log_scale().with_key_points(ticks.clone());
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(24);
        if text {
            builder
                .caption("FID against network evaluations", ("sans-serif", 26))
                .x_label_area_size(48)
                .y_label_area_size(72);
        }
        macro_rules! finish {
            ($chart:expr) => {{
                let mut chart = $chart;
                let x_fmt = |x: &f64| format!("{x:.0}");
                let y_fmt = |y: &f64| {
                    if fid_hi >= 100.0 {
                        format!("{y:.0}")
                    } else {
                        format!("{y:.2}")
                    }
                };
                let mut mesh = chart.configure_mesh();
                if text {
                    mesh.x_desc("NFE (network evaluations per sample)")
                        .y_desc("FID")
                        .x_label_formatter(&x_fmt)
                        .y_label_formatter(&y_fmt)
                        .label_style(("sans-serif", 16));
                } else {
                    mesh.x_labels(0).y_labels(0);
                }
                mesh.draw().map_err(|e| plot_err(path, e))?;
                for (name, sampler, pts) in &lines {
                    let run_index = names.iter().position(|n| *n == name).unwrap_or(0);
                    let color = Palette99::pick(run_index).to_rgba();
                    let style = color.stroke_width(3);
                    let label = format!("{name} · {sampler}");
                    let anno = if sampler == "deterministic" {
                        chart
                            .draw_series(LineSeries::new(pts.iter().copied(), style))
                            .map_err(|e| plot_err(path, e))?
                    } else {
                        chart
                            .draw_series(DashedLineSeries::new(pts.iter().copied(), 10, 6, style))
                            .map_err(|e| plot_err(path, e))?
                    };
                    if text {
                        // A solid key for the deterministic sampler, a dashed one otherwise.
                        let gap = if sampler == "deterministic" { 0 } else { 6 };
                        anno.label(label).legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (9, 0)], color.stroke_width(3))
                                + PathElement::new(
                                    vec![(9 + gap, 0), (24, 0)],
                                    color.stroke_width(3),
                                )
                        });
                    }
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))
                        .map_err(|e| plot_err(path, e))?;
                }
                if text {
                    draw_legend(&mut chart, 16, SeriesLabelPosition::UpperRight, path)?;
                }
            }};
        }
        if fid_hi > 10.0 * fid_lo {
            let (y_lo, y_hi) = (fid_lo / 1.5, fid_hi * 1.5);
            finish!(
                builder
                    .build_cartesian_2d(
                        x_axis(),
                        (y_lo..y_hi)
                            .log_scale()
                            .with_key_points(log_ticks(y_lo, y_hi))
                    )
                    .map_err(|e| plot_err(path, e))?
            );
        } else {
            let pad = ((fid_hi - fid_lo) * 0.1).max(fid_hi * 0.05).max(1e-3);
            finish!(
                builder
                    .build_cartesian_2d(x_axis(), (fid_lo - pad).max(0.0)..(fid_hi + pad))
                    .map_err(|e| plot_err(path, e))?
            );
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    let img = RgbImage::from_raw(w, h, buf).expect("buffer of w·h·3 bytes");
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .map_err(|e| plot_err(path, e))?;
    gpfn_io::atomic_write(path, png.get_ref())
}

/// One line of the guidance plot: its label and `(w, FID, accuracy)` points sorted by `w`.
type GuidanceLine = (String, Vec<(f64, f64, f64)>);

fn guidance_series(reports: &[EvalReport]) -> Vec<GuidanceLine> {
    let mut out: Vec<GuidanceLine> = Vec::new();
    for r in reports {
        let Some(c) = &r.conditional else { continue };
        // One line per sampler steps: a guided step (w ≠ 0) costs two evaluations.
        let steps = if c.guidance == 0.0 {
            r.nfe
        } else {
            r.nfe / 2.0
        };
        let label = format!(
            "{} · {} · {} steps · class {}",
            r.name,
            r.sampler,
            super::report::format_nfe(steps),
            c.class
        );
        let point = (c.guidance, r.metrics.fid, c.accuracy);
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, pts)) => pts.push(point),
            None => out.push((label, vec![point])),
        }
    }
    for (_, pts) in &mut out {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Draws FID (left) and the conditional accuracy (right) against the guidance weight `w` for
/// the guided `reports` (one line per run, sampler, NFE and class choice) into the PNG `path`.
pub fn fid_and_accuracy_against_guidance(reports: &[EvalReport], path: &Path) -> Result<()> {
    fid_and_accuracy_against_guidance_with_text(reports, path, font_available())
}

/// [`fid_and_accuracy_against_guidance`], with or without text.
pub(crate) fn fid_and_accuracy_against_guidance_with_text(
    reports: &[EvalReport],
    path: &Path,
    text: bool,
) -> Result<()> {
    let lines = guidance_series(reports);
    if lines.is_empty() {
        return Err(GpfnError::Invalid(
            "nothing to plot: no guided reports".into(),
        ));
    }
    let (w, h) = (1280u32, 560u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let pts = || lines.iter().flat_map(|l| l.1.iter());
    let w_lo = pts().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let w_hi = pts().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let w_pad = ((w_hi - w_lo) * 0.05).max(0.1);
    let fid_hi = pts().map(|p| p.1).fold(0.0, f64::max);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let panels = root.split_evenly((1, 2));
        for (panel, accuracy) in panels.iter().zip([false, true]) {
            let mut builder = ChartBuilder::on(panel);
            builder.margin(20);
            if text {
                builder
                    .caption(
                        if accuracy {
                            "class accuracy against guidance w"
                        } else {
                            "FID against guidance w"
                        },
                        ("sans-serif", 22),
                    )
                    .x_label_area_size(44)
                    .y_label_area_size(64);
            }
            let y_range = if accuracy {
                0.0..1.02
            } else {
                0.0..fid_hi * 1.1 + 1e-3
            };
            let mut chart = builder
                .build_cartesian_2d((w_lo - w_pad)..(w_hi + w_pad), y_range)
                .map_err(|e| plot_err(path, e))?;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc("guidance weight w")
                    .y_desc(if accuracy { "class accuracy" } else { "FID" })
                    .label_style(("sans-serif", 15));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|e| plot_err(path, e))?;
            for (i, (label, pts)) in lines.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let xy: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|&(w, f, a)| (w, if accuracy { a } else { f }))
                    .collect();
                let anno = chart
                    .draw_series(LineSeries::new(xy.iter().copied(), color.stroke_width(3)))
                    .map_err(|e| plot_err(path, e))?;
                if text {
                    anno.label(label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                    });
                }
                chart
                    .draw_series(xy.iter().map(|&p| Circle::new(p, 5, color.filled())))
                    .map_err(|e| plot_err(path, e))?;
            }
            if text {
                let position = if accuracy {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                };
                draw_legend(&mut chart, 14, position, path)?;
            }
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    let img = RgbImage::from_raw(w, h, buf).expect("buffer of w·h·3 bytes");
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)
        .map_err(|e| plot_err(path, e))?;
    gpfn_io::atomic_write(path, png.get_ref())
}

#[cfg(test)]
mod tests {
    use super::log_ticks;

    #[test]
    fn log_ticks_are_one_two_five_per_decade_inside_the_range() {
        assert_eq!(
            log_ticks(28.0, 2240.0),
            vec![50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]
        );
        assert_eq!(log_ticks(1.0, 10.0), vec![1.0, 2.0, 5.0, 10.0]);
        assert_eq!(log_ticks(3.0, 4.0), Vec::<f64>::new());
        assert_eq!(log_ticks(0.0, 4.0), Vec::<f64>::new());
    }
}
