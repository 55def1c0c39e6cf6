//! Blurs a unit impulse in the centre of a 65^3 volume with a different sigma on each axis
//! (2, 3 and 5 voxels along ndarray axes 0, 1 and 2), checks the GPU result against the direct
//! 3D convolution of `blur3d::cpu::full3d` and against the analytic product of the three 1D
//! kernels, and writes two pictures: `slices.png` (the three orthogonal planes through the centre,
//! in viridis) and `profiles.png` (the samples along each axis over the continuous Gaussian).
//!
//! ```text
//! cargo run --release --example impulse [OUTPUT_DIR]      # default ./blur3d-impulse
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe cargo run --release --example impulse
//! ```
//!
//! The second line forces Mesa's software Vulkan driver (lavapipe), for machines without a GPU.

use std::path::{Path, PathBuf};
use std::time::Instant;

use blur3d::kernel::{DEFAULT_TRUNCATE, gaussian_weights, radius_for};
use blur3d::{BlurOptions, GpuBlur, cpu};
use image::{Rgb, RgbImage};
use ndarray::{Array3, ArrayView2, Axis};

/// Odd, so that the impulse sits exactly in the middle.
const N: usize = 65;
const SIGMA: [f64; 3] = [2.0, 3.0, 5.0];

/// Nearest-neighbour magnification of the slices: 65 voxels become 260 pixels.
const SLICE_SCALE: u32 = 4;
const SLICE_GAP: u32 = 4;

const PLOT_W: u32 = 600;
const PLOT_H: u32 = 300;
/// Plot margins (left, right, top, bottom) in pixels.
const MARGIN: [u32; 4] = [40, 20, 20, 30];
/// Voxels between grid lines in the profiles.
const TICK: i64 = 8;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const CURVE: Rgb<u8> = Rgb([31, 119, 180]);
const SAMPLE: Rgb<u8> = Rgb([230, 85, 13]);

fn main() {
    let out_dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "blur3d-impulse".to_string()),
    );

    let gpu = match GpuBlur::try_new() {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("impulse: {e}");
            std::process::exit(1);
        }
    };
    if let Some(info) = gpu.adapter_info() {
        println!(
            "adapter: {} ({:?}, {:?})",
            info.name, info.backend, info.device_type
        );
    }

    let c = N / 2;
    let mut vol = Array3::<f32>::zeros((N, N, N));
    vol[[c, c, c]] = 1.0;
    let opts = BlurOptions::new(SIGMA);

    let start = Instant::now();
    let out = gpu.blur_with(&vol, &opts).expect("GPU blur");
    println!(
        "blurred {N}^3 with sigma {SIGMA:?} (reflect, truncate {DEFAULT_TRUNCATE}) in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let reference = cpu::full3d(&vol, &opts).expect("CPU reference");
    let vs_full3d = max_abs_diff(&out, |i| reference[i]);
    println!(
        "max |gpu - cpu::full3d|  = {vs_full3d:.3e}   (full3d took {:.1} s)",
        start.elapsed().as_secs_f64()
    );

    let kernels = kernels_1d();
    let vs_analytic = max_abs_diff(&out, |i| analytic(&kernels, c, i));
    println!("max |gpu - analytic|     = {vs_analytic:.3e}   (outer product of the 1D kernels)");
    let sum: f64 = out.iter().map(|&v| f64::from(v)).sum();
    println!("sum of output            = {sum:.7}   (an impulse of 1 keeps its mass)");

    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    let slices = save_slices(&out, &out_dir);
    let profiles = save_profiles(&out, &kernels, &out_dir);

    print_legend(&slices, &profiles);
}

/// Says where the pictures are and how to read them, since they carry no text.
fn print_legend(slices: &Path, profiles: &Path) {
    let c = N / 2;
    println!(
        "
{slices}
  three planes through the centre voxel ({c}, {c}, {c}), left to right, in viridis,
  x{SLICE_SCALE} nearest neighbour, scaled to the output's maximum:
    left:   axis 0 = {c}; rows (down) = axis 1, columns (right) = axis 2
    middle: axis 1 = {c}; rows (down) = axis 0, columns (right) = axis 2
    right:  axis 2 = {c}; rows (down) = axis 0, columns (right) = axis 1
{profiles}
  one panel per axis, top to bottom axis 0, 1, 2;
  horizontal: offset from the centre, -{c}..={c} voxels, grid every {TICK}, longer tick at 0;
  vertical: 0 to 1.1 x the peak, the same on every panel;
  orange squares: GPU samples; blue line: exp(-x^2/(2 s^2)) / (sqrt(2 pi) s) times the
  centre weights of the other two axes' kernels",
        slices = absolute(slices).display(),
        profiles = absolute(profiles).display(),
    );
}

/// The 1D kernels the blur uses, as the library computes them.
fn kernels_1d() -> [Vec<f64>; 3] {
    std::array::from_fn(|a| {
        let radius = radius_for(SIGMA[a], DEFAULT_TRUNCATE).expect("a small radius");
        gaussian_weights(SIGMA[a], radius)
    })
}

/// The blurred impulse as the product of the three 1D kernels centred on voxel `(c, c, c)`.
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

fn max_abs_diff(out: &Array3<f32>, expected: impl Fn((usize, usize, usize)) -> f64) -> f64 {
    out.indexed_iter()
        .map(|(i, &v)| (f64::from(v) - expected(i)).abs())
        .fold(0.0, f64::max)
}

/// Viridis (matplotlib's perceptually uniform map) at `t` in [0, 1]. Nine evenly spaced control
/// points with linear interpolation are indistinguishable from the full 256-entry table by eye.
fn viridis(t: f64) -> Rgb<u8> {
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
    Rgb(std::array::from_fn(|k| {
        (f64::from(a[k]) + f * (f64::from(b[k]) - f64::from(a[k]))).round() as u8
    }))
}

/// Writes the three planes through the centre side by side.
fn save_slices(out: &Array3<f32>, dir: &Path) -> PathBuf {
    let c = N / 2;
    let peak = f64::from(out.fold(f32::MIN, |m, &v| m.max(v)));
    let planes: Vec<ArrayView2<f32>> = (0..3).map(|a| out.index_axis(Axis(a), c)).collect();

    let width = planes
        .iter()
        .map(|p| p.ncols() as u32 * SLICE_SCALE)
        .sum::<u32>()
        + SLICE_GAP * (planes.len() as u32 - 1);
    let height = planes
        .iter()
        .map(|p| p.nrows() as u32 * SLICE_SCALE)
        .max()
        .unwrap_or(0);
    let mut img = RgbImage::from_pixel(width, height, WHITE);

    let mut left = 0;
    for plane in &planes {
        for ((row, col), &v) in plane.indexed_iter() {
            let colour = viridis(f64::from(v) / peak);
            let (x0, y0) = (left + col as u32 * SLICE_SCALE, row as u32 * SLICE_SCALE);
            for dy in 0..SLICE_SCALE {
                for dx in 0..SLICE_SCALE {
                    img.put_pixel(x0 + dx, y0 + dy, colour);
                }
            }
        }
        left += plane.ncols() as u32 * SLICE_SCALE + SLICE_GAP;
    }

    let path = dir.join("slices.png");
    img.save(&path).expect("write slices.png");
    path
}

/// Writes one plot per axis, stacked: the GPU samples along the line through the centre over the
/// continuous Gaussian they sample.
fn save_profiles(out: &Array3<f32>, kernels: &[Vec<f64>; 3], dir: &Path) -> PathBuf {
    let c = N / 2;
    let half = c as i64;
    let centre_weight = |a: usize| kernels[a][kernels[a].len() / 2];
    let peak = f64::from(out[[c, c, c]]);
    let y_max = 1.1 * peak;

    let mut img = RgbImage::from_pixel(PLOT_W, PLOT_H * 3, WHITE);
    let [ml, mr, mt, mb] = MARGIN.map(|m| m as f32);
    let plot_w = PLOT_W as f32 - ml - mr;
    let plot_h = PLOT_H as f32 - mt - mb;

    for axis in 0..3 {
        let top = (axis as u32 * PLOT_H) as f32;
        let px = |x: f64| ml + ((x + half as f64) / (2 * half) as f64) as f32 * plot_w;
        let py = |y: f64| top + mt + (1.0 - (y / y_max) as f32) * plot_h;
        let (x_left, x_right) = (px(-half as f64), px(half as f64));
        let (y_zero, y_top) = (py(0.0), py(y_max));

        for t in (-half / TICK..=half / TICK).map(|k| k * TICK) {
            let x = px(t as f64);
            draw_line(&mut img, (x, y_top), (x, y_zero), 1, GRID);
            let tick = if t == 0 { 8.0 } else { 4.0 };
            draw_line(&mut img, (x, y_zero), (x, y_zero + tick), 1, BLACK);
        }
        draw_line(&mut img, (x_left, y_zero), (x_right, y_zero), 1, BLACK);
        draw_line(&mut img, (x_left, y_top), (x_left, y_zero), 1, BLACK);

        // The continuous Gaussian integrates to 1 along its axis; the other two axes contribute
        // their centre weights, which is what the line through the centre is multiplied by.
        let s = SIGMA[axis];
        let others: f64 = (0..3).filter(|&a| a != axis).map(centre_weight).product();
        let curve = |x: f64| {
            others * (-x * x / (2.0 * s * s)).exp() / ((2.0 * std::f64::consts::PI).sqrt() * s)
        };
        let steps = plot_w as usize;
        let points: Vec<(f32, f32)> = (0..=steps)
            .map(|k| {
                let x = -(half as f64) + (2 * half) as f64 * k as f64 / steps as f64;
                (px(x), py(curve(x)))
            })
            .collect();
        for pair in points.windows(2) {
            draw_line(&mut img, pair[0], pair[1], 2, CURVE);
        }

        for offset in -half..=half {
            let mut index = [c; 3];
            index[axis] = (half + offset) as usize;
            let v = f64::from(out[index]);
            fill_square(&mut img, (px(offset as f64), py(v)), 2, SAMPLE);
        }

        if axis > 0 {
            draw_line(&mut img, (0.0, top), (PLOT_W as f32, top), 1, GRID);
        }
    }

    let path = dir.join("profiles.png");
    img.save(&path).expect("write profiles.png");
    path
}

/// A straight line `width` pixels thick, drawn by stamping squares every half pixel: no
/// antialiasing, but no gaps at any slope either.
fn draw_line(img: &mut RgbImage, from: (f32, f32), to: (f32, f32), width: u32, colour: Rgb<u8>) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let steps = (dx.abs().max(dy.abs()) * 2.0).ceil().max(1.0) as usize;
    for k in 0..=steps {
        let t = k as f32 / steps as f32;
        let (x, y) = (from.0 + t * dx, from.1 + t * dy);
        // A square of side `width` whose top-left pixel is the point itself for width 1.
        let x0 = (x - (width - 1) as f32 / 2.0).round() as i64;
        let y0 = (y - (width - 1) as f32 / 2.0).round() as i64;
        for j in 0..i64::from(width) {
            for i in 0..i64::from(width) {
                put(img, x0 + i, y0 + j, colour);
            }
        }
    }
}

/// A filled square of side `2 * half + 1` centred on `centre`.
fn fill_square(img: &mut RgbImage, centre: (f32, f32), half: i64, colour: Rgb<u8>) {
    let (cx, cy) = (centre.0.round() as i64, centre.1.round() as i64);
    for y in cy - half..=cy + half {
        for x in cx - half..=cx + half {
            put(img, x, y, colour);
        }
    }
}

/// Sets a pixel, ignoring coordinates outside the image so callers need not clip.
fn put(img: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) {
        if x < img.width() && y < img.height() {
            img.put_pixel(x, y, colour);
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
