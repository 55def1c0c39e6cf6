//! Times `GpuBlur::blur` end to end (upload, three passes, readback) on the volumes that
//! `benches/compare.py` gives scipy and PyTorch, and prints one JSON object per line.
//!
//! `cargo run --release --example time_blur -- 64,128,256 1,2,4,8`
//! (sizes, then sigmas; each a comma-separated list). The volume is
//! `((i0 * 31 + i1 * 17 + i2 * 7) % 101) / 101` in f32, as in the script and the criterion bench.

use std::time::Instant;

use blur3d::GpuBlur;
use ndarray::Array3;

fn list(arg: Option<String>, default: &str) -> Vec<f64> {
    arg.as_deref()
        .unwrap_or(default)
        .split(',')
        .map(|v| v.trim().parse().expect("a comma-separated list of numbers"))
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sizes = list(args.next(), "64,128,256");
    let sigmas = list(args.next(), "1,2,4,8");

    let t = Instant::now();
    let gpu = GpuBlur::try_new().unwrap_or_else(|e| {
        eprintln!("time_blur: {e}");
        std::process::exit(1)
    });
    let info = gpu.adapter_info().expect("own device");
    let first = {
        let vol = Array3::<f32>::zeros((32, 32, 32));
        gpu.blur(&vol, 1.0).expect("blur");
        t.elapsed().as_secs_f64()
    };
    println!(
        "{{\"adapter\": \"{}\", \"backend\": \"{:?}\", \"first_call_s\": {first:.4}}}",
        info.name, info.backend
    );
    for &n in &sizes {
        let n = n as usize;
        let vol = Array3::from_shape_fn((n, n, n), |(a, b, c)| {
            ((a * 31 + b * 17 + c * 7) % 101) as f32 / 101.0
        });
        for &sigma in &sigmas {
            gpu.blur(&vol, sigma).expect("blur"); // warm: buffers made
            let reps = if n <= 128 { 10 } else { 5 };
            let mut times: Vec<f64> = (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(gpu.blur(&vol, sigma).expect("blur"));
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            println!(
                "{{\"size\": {n}, \"sigma\": {sigma}, \"median_s\": {:.5}}}",
                times[reps / 2]
            );
        }
    }
}
