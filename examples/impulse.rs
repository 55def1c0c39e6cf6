//! The impulse response of blur3d's Gaussian filter and of its first and second derivatives.
//!
//! A unit impulse sits in the centre of a 65^3 volume; sigma is different on each axis (2, 3 and
//! 5 voxels along ndarray axes 0, 1 and 2). The example filters it on the GPU three times: the
//! Gaussian (orders `[0, 0, 0]`), its first derivative along axis 2 (`[0, 0, 1]`) and its second
//! derivative along axis 2 (`[0, 0, 2]`). Each response is checked against the direct 3D
//! convolution of `blur3d::cpu::full3d` and against the analytic product of scipy's 1D kernels
//! (`blur3d::kernel::gaussian_kernel`); the largest errors are printed, and the example exits
//! with status 1 if one exceeds 1e-5 of the response's peak. Two pictures explain themselves
//! (titles, labelled axes, legends and colour bars are drawn in them):
//!
//! - `slices.png`: for each response, the three orthogonal planes through the voxel where it is
//!   largest in magnitude, in viridis, with a colour bar of its value range;
//! - `profiles.png`: for each response, the GPU's samples along the three axes through that
//!   voxel over the continuous derivative of the Gaussian they sample.
//!
//! ```text
//! cargo run --release --example impulse [OUTPUT_DIR]      # default ./blur3d-impulse
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe cargo run --release --example impulse
//! ```
//!
//! The second line forces Mesa's software Vulkan driver (lavapipe), for machines without a GPU.
//! The text in the pictures is drawn in DejaVu Sans, embedded by the `dejavu` crate, so no
//! system fonts are needed.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use blur3d::kernel::{DEFAULT_TRUNCATE, gaussian_kernel, radius_for};
use blur3d::{BlurOptions, GpuBlur, cpu};
use ndarray::{Array3, ArrayView2, Axis};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// Odd, so that the impulse sits exactly in the middle.
const N: usize = 65;
const SIGMA: [f64; 3] = [2.0, 3.0, 5.0];
/// The axis of the derivatives: the one with the widest kernel, so the curves are smooth.
const DERIVATIVE_AXIS: usize = 2;
/// The largest error accepted, as a fraction of the response's largest magnitude.
const TOLERANCE: f64 = 1e-5;

const FONT: &str = "sans-serif";
const CURVE: RGBColor = RGBColor(31, 119, 180);
const SAMPLE: RGBColor = RGBColor(230, 85, 13);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// One filter of the impulse: its orders, its GPU output and how it compares.
struct Response {
    orders: [u32; 3],
    gpu: Array3<f32>,
    /// The voxel where the analytic response is largest in magnitude (the first such voxel in
    /// index order): the pictures cut through it.
    focus: [usize; 3],
    vs_full3d: f64,
    vs_analytic: f64,
}

impl Response {
    /// What the filter is, in words, with its orders.
    fn name(&self) -> String {
        let what = match self.orders[DERIVATIVE_AXIS] {
            0 => "Gaussian".to_string(),
            1 => format!("first derivative along axis {DERIVATIVE_AXIS}"),
            2 => format!("second derivative along axis {DERIVATIVE_AXIS}"),
            n => format!("derivative of order {n} along axis {DERIVATIVE_AXIS}"),
        };
        let [a, b, c] = self.orders;
        format!("{what} (orders [{a}, {b}, {c}])")
    }

    fn focus_text(&self) -> String {
        let [a, b, c] = self.focus;
        format!("({a}, {b}, {c})")
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("impulse: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let out_dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "blur3d-impulse".to_string()),
    );
    register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "DejaVu Sans is not a font ab_glyph can read")?;
    register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
        .map_err(|_| "DejaVu Sans Bold is not a font ab_glyph can read")?;

    let gpu = GpuBlur::try_new()?;
    if let Some(info) = gpu.adapter_info() {
        println!(
            "adapter: {} ({:?}, {:?})",
            info.name, info.backend, info.device_type
        );
    }

    let c = N / 2;
    let mut vol = Array3::<f32>::zeros((N, N, N));
    vol[[c, c, c]] = 1.0;
    let all_orders: Vec<[u32; 3]> = (0..3)
        .map(|n| {
            let mut o = [0; 3];
            o[DERIVATIVE_AXIS] = n;
            o
        })
        .collect();

    // The direct 3D convolutions take seconds each on a CPU: run them side by side, and while
    // they run, the GPU.
    let start = Instant::now();
    let (outputs, references) = std::thread::scope(|s| -> Result<_> {
        let cpu_jobs: Vec<_> = all_orders
            .iter()
            .map(|&orders| {
                let vol = &vol;
                s.spawn(move || cpu::full3d(vol, &BlurOptions::new(SIGMA).orders(orders)))
            })
            .collect();
        let mut outputs = Vec::new();
        for &orders in &all_orders {
            let t = Instant::now();
            outputs.push(gpu.blur_with(&vol, &BlurOptions::new(SIGMA).orders(orders))?);
            println!(
                "GPU: orders {orders:?}, sigma {SIGMA:?} (reflect, truncate {DEFAULT_TRUNCATE}) \
                 on {N}^3 in {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        let mut references = Vec::new();
        for job in cpu_jobs {
            references.push(job.join().map_err(|_| "cpu::full3d panicked")??);
        }
        Ok((outputs, references))
    })?;
    println!(
        "cpu::full3d of the three responses, side by side: {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let mut responses = Vec::new();
    let mut failed = false;
    for ((orders, gpu_out), reference) in all_orders.into_iter().zip(outputs).zip(references) {
        let kernels = kernels_1d(orders);
        let analytic = Array3::from_shape_fn((N, N, N), |i| analytic(&kernels, c, i));
        let peak = analytic.fold(0.0_f64, |m, &v| m.max(v.abs()));
        let focus = analytic
            .indexed_iter()
            .find(|&(_, &v)| v.abs() == peak)
            .map(|((i, j, k), _)| [i, j, k])
            .expect("a non-empty volume");
        let response = Response {
            orders,
            vs_full3d: max_abs_diff(&gpu_out, |i| reference[i]),
            vs_analytic: max_abs_diff(&gpu_out, |i| analytic[i]),
            gpu: gpu_out,
            focus,
        };
        let ok = response.vs_full3d <= TOLERANCE * peak && response.vs_analytic <= TOLERANCE * peak;
        failed |= !ok;
        let sum: f64 = response.gpu.iter().map(|&v| f64::from(v)).sum();
        println!(
            "{}:\n  max |gpu - cpu::full3d| = {:.3e}, max |gpu - analytic| = {:.3e} \
             (peak {peak:.3e}): {}\n  sum of output = {sum:.3e}",
            response.name(),
            response.vs_full3d,
            response.vs_analytic,
            if ok { "ok" } else { "TOO LARGE" }
        );
        responses.push(response);
    }

    std::fs::create_dir_all(&out_dir)?;
    let slices = out_dir.join("slices.png");
    save_slices(&responses, &slices)?;
    let profiles = out_dir.join("profiles.png");
    save_profiles(&responses, &profiles)?;
    println!("wrote {}", absolute(&slices).display());
    println!("wrote {}", absolute(&profiles).display());

    if failed {
        return Err(format!("an error exceeds {TOLERANCE:e} of the response's peak").into());
    }
    Ok(())
}

/// scipy's 1D kernels of the three axes for `orders`, indexed by offset + radius.
fn kernels_1d(orders: [u32; 3]) -> [Vec<f64>; 3] {
    std::array::from_fn(|a| {
        let radius = radius_for(SIGMA[a], DEFAULT_TRUNCATE).expect("a small radius");
        gaussian_kernel(SIGMA[a], orders[a], radius)
    })
}

/// The filtered impulse as the product of the three 1D kernels centred on voxel `(c, c, c)`.
/// scipy convolves with the kernels, so the response at offset `x` is the kernel at `x`.
/// Exact here because no kernel reaches the volume's edges, so the boundary mode plays no part.
fn analytic(kernels: &[Vec<f64>; 3], c: usize, index: (usize, usize, usize)) -> f64 {
    let index = [index.0, index.1, index.2];
    (0..3)
        .map(|a| {
            let radius = (kernels[a].len() / 2) as i64;
            let offset = index[a] as i64 - c as i64;
            if offset.abs() > radius {
                0.0
            } else {
                kernels[a][(offset + radius) as usize]
            }
        })
        .product()
}

/// The `order`-th derivative of the continuous, normalised Gaussian of `sigma` at `x`:
/// `(-1 / sigma)^n He_n(x / sigma) G(x)`, with the probabilists' Hermite polynomials.
fn gaussian_derivative(sigma: f64, order: u32, x: f64) -> f64 {
    let t = x / sigma;
    let (mut he_prev, mut he) = (0.0, 1.0);
    for n in 0..order {
        (he_prev, he) = (he, t * he - f64::from(n) * he_prev);
    }
    let g = (-0.5 * t * t).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sigma);
    (-1.0 / sigma).powi(order as i32) * he * g
}

fn max_abs_diff(out: &Array3<f32>, expected: impl Fn((usize, usize, usize)) -> f64) -> f64 {
    out.indexed_iter()
        .map(|(i, &v)| (f64::from(v) - expected(i)).abs())
        .fold(0.0, |m: f64, d| {
            if m.is_nan() || d.is_nan() {
                f64::NAN
            } else {
                m.max(d)
            }
        })
}

/// Viridis (matplotlib's perceptually uniform map) at `t` in [0, 1]. Nine evenly spaced control
/// points with linear interpolation are indistinguishable from the full 256-entry table by eye.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [[u8; 3]; 9] = [
        [0x44, 0x01, 0x54],
        [0x47, 0x2d, 0x7b],
        [0x3b, 0x52, 0x8b],
        [0x2c, 0x72, 0x8e],
        [0x21, 0x90, 0x8c],
        [0x27, 0xad, 0x81],
        [0x5d, 0xc8, 0x63],
        [0xaa, 0xdc, 0x32],
        [0xfd, 0xe7, 0x25],
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let [r, g, b] = std::array::from_fn(|k| {
        (f64::from(a[k]) + f * (f64::from(b[k]) - f64::from(a[k]))).round() as u8
    });
    RGBColor(r, g, b)
}

/// A tick label: plain for zero, else scientific with two significant digits.
fn sci(v: f64) -> String {
    if v.abs() < 1e-12 {
        "0".to_string()
    } else {
        format!("{v:.1e}")
    }
}

fn style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

fn bold(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().style(FontStyle::Bold).into()
}

fn sigmas_text() -> String {
    format!(
        "σ = ({}, {}, {}) voxels along axes (0, 1, 2)",
        SIGMA[0], SIGMA[1], SIGMA[2]
    )
}

/// Draws on a white RGB canvas of `size` and writes it to `path` as PNG.
fn save_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![255_u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, buf).ok_or("a buffer of the wrong size")?;
    img.save(path)?;
    Ok(())
}

/// The first two lines of a picture's title: what it shows, and the impulse and kernels.
fn heading(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    what: &str,
) -> Result<()> {
    area.draw_text(
        &format!("Impulse response in a {N}³ volume: {what}"),
        &bold(24),
        (15, 10),
    )?;
    area.draw_text(
        &format!(
            "GPU output for a unit impulse at voxel ({c}, {c}, {c}), {}, reflect, truncate \
             {DEFAULT_TRUNCATE}.",
            sigmas_text(),
            c = N / 2
        ),
        &style(16),
        (15, 42),
    )?;
    Ok(())
}

/// One row per response: the three planes through its focus voxel, on one colour scale, and
/// the colour bar of that scale.
fn save_slices(responses: &[Response], path: &Path) -> Result<()> {
    const PANEL: u32 = 330;
    const BAR: u32 = 150;
    const ROW: u32 = 390;
    const TITLE: u32 = 92;
    let size = (3 * PANEL + BAR, TITLE + ROW * responses.len() as u32);
    save_png(path, size, |root| {
        let (title, rows) = root.split_vertically(TITLE);
        heading(&title, "planes through the focus voxel")?;
        title.draw_text(
            "Each row: the three planes through its focus voxel (where |response| is largest), \
             in viridis on one scale (the bar).",
            &style(16),
            (15, 64),
        )?;
        for (row, response) in rows
            .split_evenly((responses.len(), 1))
            .iter()
            .zip(responses)
        {
            let (caption, body) = row.split_vertically(30);
            caption.draw_text(
                &format!("{}, focus voxel {}", response.name(), response.focus_text()),
                &bold(18),
                (15, 6),
            )?;
            let planes: Vec<ArrayView2<f32>> = (0..3)
                .map(|a| response.gpu.index_axis(Axis(a), response.focus[a]))
                .collect();
            let lo = f64::from(planes.iter().flatten().fold(f32::MAX, |m, &v| m.min(v)));
            let hi = f64::from(planes.iter().flatten().fold(f32::MIN, |m, &v| m.max(v)));
            let (panels, bar) = body.split_horizontally(3 * PANEL);
            for (a, (area, plane)) in panels.split_evenly((1, 3)).iter().zip(&planes).enumerate() {
                // The plane keeps the other two axes in order: rows, then columns.
                let others: Vec<usize> = (0..3).filter(|&k| k != a).collect();
                draw_plane(
                    area,
                    plane,
                    &format!("plane axis {a} = {}", response.focus[a]),
                    [others[0], others[1]],
                    (lo, hi),
                )?;
            }
            draw_colour_bar(&bar, (lo, hi))?;
        }
        Ok(())
    })
}

fn draw_plane(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    plane: &ArrayView2<f32>,
    caption: &str,
    [rows_axis, cols_axis]: [usize; 2],
    (lo, hi): (f64, f64),
) -> Result<()> {
    let n = |len: usize| len as f64 - 0.5;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, style(16))
        .margin(8)
        .x_label_area_size(45)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5..n(plane.ncols()), n(plane.nrows())..-0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc(format!("axis {cols_axis} (voxel)"))
        .y_desc(format!("axis {rows_axis} (voxel)"))
        .label_style(style(13))
        .axis_desc_style(style(14))
        .draw()?;
    let span = if hi > lo { hi - lo } else { 1.0 };
    chart.draw_series(plane.indexed_iter().map(|((r, c), &v)| {
        let (x, y) = (c as f64, r as f64);
        Rectangle::new(
            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
            viridis((f64::from(v) - lo) / span).filled(),
        )
    }))?;
    Ok(())
}

/// A vertical viridis bar from `lo` (bottom) to `hi` (top) with its values on the right.
fn draw_colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    (lo, hi): (f64, f64),
) -> Result<()> {
    const STEPS: usize = 200;
    let hi_shown = if hi > lo { hi } else { lo + 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption("value", style(16))
        .margin_top(8)
        .margin_bottom(8 + 45)
        .margin_left(10)
        .right_y_label_area_size(75)
        .build_cartesian_2d(0.0..1.0, lo..hi_shown)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(7)
        .y_label_formatter(&|v| sci(*v))
        .label_style(style(13))
        .draw()?;
    let step = (hi_shown - lo) / STEPS as f64;
    chart.draw_series((0..STEPS).map(|k| {
        let y = lo + k as f64 * step;
        Rectangle::new(
            [(0.0, y), (1.0, y + step)],
            viridis(k as f64 / (STEPS - 1) as f64).filled(),
        )
    }))?;
    Ok(())
}

/// One row per response, one panel per axis: the GPU samples along the line through the focus
/// voxel over the continuous product of Gaussian derivatives they sample.
fn save_profiles(responses: &[Response], path: &Path) -> Result<()> {
    const PANEL_W: u32 = 440;
    const ROW: u32 = 360;
    const TITLE: u32 = 114;
    let size = (3 * PANEL_W, TITLE + ROW * responses.len() as u32);
    save_png(path, size, |root| {
        let (title, rows) = root.split_vertically(TITLE);
        heading(&title, "profiles through the focus voxel")?;
        title.draw_text(
            "Each row: the lines along the three axes through its focus voxel (where |response| \
             is largest); the curve is the product of",
            &style(16),
            (15, 64),
        )?;
        title.draw_text(
            "the derivatives of continuous Gaussians, dⁿ/dxⁿ exp(−x²/2σ²)/(σ√(2π)), that the \
             samples should lie on.",
            &style(16),
            (15, 86),
        )?;
        for (row, response) in rows
            .split_evenly((responses.len(), 1))
            .iter()
            .zip(responses)
        {
            let (caption, body) = row.split_vertically(52);
            caption.draw_text(
                &format!(
                    "{}, through voxel {}",
                    response.name(),
                    response.focus_text()
                ),
                &bold(18),
                (15, 6),
            )?;
            caption.draw_text(
                &format!(
                    "max |GPU − cpu::full3d| = {:.1e},  max |GPU − analytic| = {:.1e} \
                     (over the whole volume)",
                    response.vs_full3d, response.vs_analytic
                ),
                &style(15),
                (15, 30),
            )?;
            for (axis, area) in body.split_evenly((1, 3)).iter().enumerate() {
                draw_profile(area, response, axis)?;
            }
        }
        Ok(())
    })
}

fn draw_profile(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    response: &Response,
    axis: usize,
) -> Result<()> {
    let c = N / 2;
    let half = c as f64;
    let focus = response.focus;
    // The continuous response along `axis` through the focus voxel.
    let curve = |x: f64| -> f64 {
        (0..3)
            .map(|a| {
                let offset = if a == axis { x } else { focus[a] as f64 - half };
                gaussian_derivative(SIGMA[a], response.orders[a], offset)
            })
            .product()
    };
    let samples: Vec<(f64, f64)> = (0..N)
        .map(|i| {
            let mut index = focus;
            index[axis] = i;
            (i as f64 - half, f64::from(response.gpu[index]))
        })
        .collect();
    let steps = 600;
    let line: Vec<(f64, f64)> = (0..=steps)
        .map(|k| {
            let x = -half + 2.0 * half * f64::from(k) / f64::from(steps);
            (x, curve(x))
        })
        .collect();
    let (lo, hi) = line
        .iter()
        .chain(&samples)
        .fold((0.0_f64, 0.0_f64), |(lo, hi), &(_, y)| {
            (lo.min(y), hi.max(y))
        });
    let pad = 0.06 * (hi - lo);

    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "along axis {axis} (σ = {}, order {})",
                SIGMA[axis], response.orders[axis]
            ),
            style(16),
        )
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(70)
        // Room above the data for the legend.
        .build_cartesian_2d(-half..half, (lo - pad)..(hi + 7.5 * pad))?;
    chart
        .configure_mesh()
        .x_labels(9)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| sci(*v))
        .x_desc(format!(
            "offset along axis {axis} from voxel {}",
            response.focus_text()
        ))
        .y_desc("response")
        .label_style(style(13))
        .axis_desc_style(style(14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    chart
        .draw_series(LineSeries::new(line, CURVE.stroke_width(2)))?
        .label("analytic (continuous)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], CURVE.stroke_width(2)));
    chart
        .draw_series(samples.iter().map(|&p| Circle::new(p, 3, SAMPLE.filled())))?
        .label("GPU samples")
        .legend(|(x, y)| Circle::new((x + 10, y), 3, SAMPLE.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(style(13))
        .draw()?;
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
