//! Blurs a large volume end to end on the GPU, slab by slab when it passes one storage buffer,
//! and prints the time, the throughput and the peak host memory (Linux: `VmHWM`).
//!
//! `cargo run --release --example large -- 512 f32` (or `u16`; the first argument is the edge).
//! The volume holds smooth structure plus noise; sigma (2, 2, 2), reflect.

use std::time::Instant;

use blur3d::{BlurOptions, GpuBlur};
use ndarray::Array3;

fn peak_host_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(512, |a| a.parse().expect("an edge length"));
    let kind = args.next().unwrap_or_else(|| "f32".to_string());
    let gpu = GpuBlur::try_new().unwrap_or_else(|e| {
        eprintln!("large: {e}");
        std::process::exit(1)
    });
    let info = gpu.adapter_info().expect("own device");
    let limit = gpu.limits().max_storage_buffer_binding_size;
    println!(
        "adapter: {} ({:?}); storage binding limit {} MiB",
        info.name,
        info.backend,
        limit >> 20
    );
    let opts = BlurOptions::new(2.0);
    let value = |(a, b, c): (usize, usize, usize)| (a * 7 + b * 13 + c * 29) % 1000;
    let before = peak_host_memory_mib();
    let (seconds, slabs, input_mib) = match kind.as_str() {
        "u16" => {
            let vol = Array3::from_shape_fn((n, n, n), |i| value(i) as u16);
            time(&gpu, &vol, &opts, (vol.len() * 2) as f64)
        }
        "f32" => {
            let vol = Array3::from_shape_fn((n, n, n), |i| value(i) as f32);
            time(&gpu, &vol, &opts, (vol.len() * 4) as f64)
        }
        other => panic!("unknown type {other}: use f32 or u16"),
    };
    let voxels = (n * n * n) as f64;
    println!(
        "{n}^3 {kind}: {seconds:.2} s end to end in {slabs} slab(s), {:.1} Mvoxel/s",
        voxels / seconds / 1e6
    );
    println!(
        "input {input_mib:.0} MiB, output (f32) {:.0} MiB; peak host memory {:.0} MiB (before the volume: {:.0} MiB)",
        voxels * 4.0 / 1048576.0,
        peak_host_memory_mib().unwrap_or(f64::NAN),
        before.unwrap_or(f64::NAN)
    );
}

fn time<A: blur3d::Voxel>(
    gpu: &GpuBlur,
    vol: &Array3<A>,
    opts: &BlurOptions,
    input_bytes: f64,
) -> (f64, usize, f64) {
    let mut slabs = 0;
    let t = Instant::now();
    let out = gpu
        .blur_with_progress(vol, opts, |_, total| slabs = total)
        .expect("blur");
    let seconds = t.elapsed().as_secs_f64();
    std::hint::black_box(out);
    (seconds, slabs, input_bytes / 1048576.0)
}
