//! `cargo bench`: the GPU end to end, the GPU device-resident, the copy floor and
//! `cpu::separable`, at 64^3, 128^3 and 256^3 and sigma 1, 2, 4, 8, in voxels per second; and
//! the Gaussian family (Laplacian, gradient magnitude, Hessian) beside one blur, the two timed in
//! turns so that a machine whose speed drifts gives both the same conditions.
//!
//! The device is built once. Each GPU measurement waits for the GPU inside the timed loop, so
//! it times what it names. After the groups, a table prints each blur's cost as a multiple of
//! three copy passes over the same buffers (the floor) on this adapter.
//!
//! `BLUR3D_BENCH_SIZES=64,128` limits the sizes; `benches/compare.py` times scipy and PyTorch.

use std::time::{Duration, Instant};

use blur3d::{BlurError, BlurOptions, Filter, GpuBlur, GpuVolume, cpu};
use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::Array3;

const SIGMAS: [f64; 4] = [1.0, 2.0, 4.0, 8.0];

fn sizes() -> Vec<usize> {
    std::env::var("BLUR3D_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 128, 256])
}

fn volume(n: usize) -> Array3<f32> {
    Array3::from_shape_fn((n, n, n), |(a, b, c)| {
        ((a * 31 + b * 17 + c * 7) % 101) as f32 / 101.0
    })
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let t = Instant::now();
    let gpu = GpuBlur::try_new().expect("a GPU adapter (a software one will do)");
    let first_call = t.elapsed();
    let info = gpu.adapter_info().expect("own device");
    println!(
        "adapter: {} ({:?}); GpuBlur::new took {first_call:.2?}",
        info.name, info.backend
    );

    let mut floor_table = Vec::new();
    let mut family_table = Vec::new();
    for n in sizes() {
        let vol = volume(n);
        let voxels = (n * n * n) as u64;

        let mut group = c.benchmark_group(format!("gpu_end_to_end/{n}^3"));
        group.throughput(Throughput::Elements(voxels));
        for sigma in SIGMAS {
            group.bench_with_input(BenchmarkId::from_parameter(sigma), &sigma, |b, &s| {
                b.iter(|| gpu.blur(&vol, s).expect("blur"));
            });
        }
        group.finish();

        let mut on_gpu = gpu.upload(&vol).expect("upload");
        let mut group = c.benchmark_group(format!("gpu_resident/{n}^3"));
        group.throughput(Throughput::Elements(voxels));
        let mut resident = Vec::new();
        for sigma in SIGMAS {
            let opts = BlurOptions::new(sigma);
            group.bench_with_input(BenchmarkId::from_parameter(sigma), &opts, |b, opts| {
                b.iter_custom(|iters| {
                    on_gpu_timed(&gpu, iters, || {
                        gpu.blur_volume(&mut on_gpu, opts).expect("blur");
                    })
                });
            });
            resident.push((
                sigma,
                time(|| gpu.blur_volume(&mut on_gpu, &opts).expect("blur"), &gpu),
            ));
        }
        group.finish();

        let mut group = c.benchmark_group(format!("copy_floor/{n}^3"));
        group.throughput(Throughput::Elements(voxels));
        let copies: [(&str, CopyPasses); 2] = [
            ("3 passes", GpuBlur::copy_passes),
            ("3 passes, vec4", GpuBlur::copy_passes_vec4),
        ];
        let mut floors = [Duration::ZERO; 2];
        for ((name, copy), floor) in copies.into_iter().zip(&mut floors) {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    on_gpu_timed(&gpu, iters, || copy(&gpu, &mut on_gpu, 3).expect("copy"))
                });
            });
            *floor = time(|| copy(&gpu, &mut on_gpu, 3).expect("copy"), &gpu);
        }
        group.finish();
        let [floor, floor4] = floors;
        for (sigma, t) in resident {
            floor_table.push((n, sigma, t, floor, floor4));
        }

        // The Gaussian family end to end, beside one blur of the same volume: shared passes
        // and combinations on the GPU are what keeps them under 3 and 6 separate blurs.
        let mut group = c.benchmark_group(format!("family_end_to_end/{n}^3"));
        group.throughput(Throughput::Elements(voxels));
        let opts = BlurOptions::new(2.0);
        for filter in [Filter::Laplace, Filter::GradientMagnitude, Filter::Hessian] {
            group.bench_function(filter.name(), |b| {
                b.iter(|| gpu.filter(&vol, &opts, filter).expect("filter"));
            });
            let (t, blur, ratio) = in_turns(
                || drop(gpu.filter(&vol, &opts, filter).expect("filter")),
                || drop(gpu.blur_with(&vol, &opts).expect("blur")),
            );
            family_table.push((n, filter, t, blur, ratio));
        }
        group.finish();

        if n <= 128 {
            let mut group = c.benchmark_group(format!("cpu_separable/{n}^3"));
            group.throughput(Throughput::Elements(voxels));
            for sigma in SIGMAS {
                let opts = BlurOptions::new(sigma);
                group.bench_with_input(BenchmarkId::from_parameter(sigma), &opts, |b, opts| {
                    b.iter(|| cpu::separable(&vol, opts).expect("separable"));
                });
            }
            group.finish();
        }
    }

    // A sigma never seen before must not cost more than a warm call (no pipeline rebuild).
    let vol = volume(64);
    let warm = median(|| drop(gpu.blur(&vol, 2.0).expect("blur")));
    let mut fresh_sigma = 2.01;
    let fresh = median(|| {
        fresh_sigma += 0.001;
        drop(gpu.blur(&vol, fresh_sigma).expect("blur"));
    });
    println!("\n64^3 end to end: warm sigma {warm:.2?}, a new sigma each call {fresh:.2?}");

    println!(
        "\nthree blur passes (device-resident) as a multiple of three copy passes, one voxel \
         per invocation (the plain copy) and four (vec4, the fastest copy):"
    );
    println!(
        "{:>6} {:>6} {:>12} {:>12} {:>8} {:>12} {:>8}",
        "size", "sigma", "blur", "copy", "ratio", "copy vec4", "ratio"
    );
    for (n, sigma, t, floor, floor4) in floor_table {
        println!(
            "{:>6} {:>6} {:>12.2?} {:>12.2?} {:>8.2} {:>12.2?} {:>8.2}",
            format!("{n}^3"),
            sigma,
            t,
            floor,
            t.as_secs_f64() / floor.as_secs_f64(),
            floor4,
            t.as_secs_f64() / floor4.as_secs_f64()
        );
    }
    println!(
        "\nthe Gaussian family end to end (sigma 2) as a multiple of one blur of the same volume \
         (separate filters would cost 3x for the Laplacian and gradient magnitude, 6x for the Hessian; \
         the two timed in turns, medians of 7, the ratio the median of the turns' ratios):"
    );
    println!(
        "{:>6} {:>28} {:>12} {:>12} {:>8}",
        "size", "filter", "time", "blur", "ratio"
    );
    for (n, filter, t, blur, ratio) in family_table {
        println!(
            "{:>6} {:>28} {:>12.2?} {:>12.2?} {:>8.2}",
            format!("{n}^3"),
            filter.name(),
            t,
            blur,
            ratio
        );
    }
    c.final_summary();
}

/// `GpuBlur::copy_passes` or `copy_passes_vec4`.
type CopyPasses = fn(&GpuBlur, &mut GpuVolume, usize) -> Result<(), BlurError>;

/// Time of `iters` runs of `work` on an idle GPU, until the GPU has finished them.
fn on_gpu_timed(gpu: &GpuBlur, iters: u64, mut work: impl FnMut()) -> Duration {
    gpu.wait().expect("idle");
    let t = Instant::now();
    for _ in 0..iters {
        work();
    }
    gpu.wait().expect("finish");
    t.elapsed()
}

/// Median of 5 timed runs of `work` followed by a wait for the GPU.
fn time(mut work: impl FnMut(), gpu: &GpuBlur) -> Duration {
    median(|| {
        work();
        gpu.wait().expect("finish");
    })
}

/// `work` and `reference` timed in turns (after one warm run each), so that both see the same
/// machine: the median of 7 runs of each, and the median of the 7 ratios of a turn's two times.
fn in_turns(mut work: impl FnMut(), mut reference: impl FnMut()) -> (Duration, Duration, f64) {
    let timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    work();
    reference();
    let mut turns: Vec<(Duration, Duration)> = (0..7)
        .map(|_| (timed(&mut work), timed(&mut reference)))
        .collect();
    let mut ratios: Vec<f64> = turns
        .iter()
        .map(|(w, r)| w.as_secs_f64() / r.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    turns.sort_by_key(|&(w, _)| w);
    let work_time = turns[3].0;
    turns.sort_by_key(|&(_, r)| r);
    (work_time, turns[3].1, ratios[3])
}

fn median(mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            work();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}
