//! Measures blur3d on your own GPU, each figure beside its floor on the same device, and prints
//! a markdown table: end to end (host array in, new host array out), `blur_into` (into memory
//! you already have), device-resident (three passes on a `GpuVolume`), each axis's pass alone,
//! and the floors: a plain device copy per pass, the upload and the download of the volume.
//!
//! ```text
//! cargo run --release --example gpu_bench                       # sizes by adapter, sigma 1 2 4 8
//! cargo run --release --example gpu_bench -- 128,256,512 1,2,4,8
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe cargo run --release --example gpu_bench -- 64,128
//! ```
//!
//! Default sizes: 128^3, 256^3, 512^3 and 1024^3 on a GPU (1024^3 when host memory holds three
//! copies of it), 64^3 to 256^3 on a CPU adapter. The volume is
//! `((i0*31 + i1*17 + i2*7) % 101) / 101` in f32, mode reflect, as `benches/compare.py` and the
//! criterion bench use. Times are medians of 5 (resident work: K runs between waits, divided by
//! K). GB/s counts the bytes each step must move: end to end the volume in and out over the
//! bus; a pass or a copy reads and writes the volume once on the device.
//!
//! A second table times each pass family's pass along each axis, forced (`with_pass_family`, no
//! tuning), beside the copy floor: the candidates the tuner chooses among, and the family that
//! ran where one fell back to another; then the tuner's choices.
//!
//! A third table prints what float64 costs: the same volume in f64, blurred into an f64 array
//! (`blur_into`) in f32 (`Precision::Single`) and in f64 (`Precision::Double`: native f64 where
//! the adapter has `SHADER_F64`, double-single arithmetic where it does not), and the ratio.

use std::time::{Duration, Instant};

use blur3d::{BlurOptions, GpuBlur, PassFamily, PassesRun, Precision};
use ndarray::Array3;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = |i: usize| -> Option<Vec<f64>> {
        args.get(i).map(|s| {
            s.split(',')
                .map(|v| v.trim().parse().expect("a number"))
                .collect()
        })
    };
    let gpu = GpuBlur::try_new().unwrap_or_else(|e| {
        eprintln!("gpu_bench: {e}");
        std::process::exit(1);
    });
    let info = gpu.adapter_info().expect("own device").clone();
    let cpu_adapter = info.device_type == wgpu::DeviceType::Cpu;
    let sizes: Vec<usize> = list(0).map_or_else(
        || {
            if cpu_adapter {
                vec![64, 128, 256]
            } else {
                vec![128, 256, 512, 1024]
            }
        },
        |v| v.into_iter().map(|n| n as usize).collect(),
    );
    let sigmas = list(1).unwrap_or_else(|| vec![1.0, 2.0, 4.0, 8.0]);
    println!(
        "adapter: {} ({:?}, {:?}, driver {} {}); pass family {:?}; max buffer {} MiB",
        info.name,
        info.backend,
        info.device_type,
        info.driver,
        info.driver_info,
        gpu.pass_family(),
        gpu.limits().max_storage_buffer_binding_size >> 20
    );
    println!();
    println!(
        "| size | sigma | end to end | blur_into | resident (3 passes) | pass axis 0 / 1 / 2 | copy per pass | upload | download |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let bytes = (n * n * n * 4) as f64;
        if !host_holds(3.0 * bytes) {
            println!(
                "| {n}^3 | | skipped: host memory holds fewer than three copies | | | | | | |"
            );
            continue;
        }
        let vol = Array3::from_shape_fn((n, n, n), |(a, b, c)| {
            ((a * 31 + b * 17 + c * 7) % 101) as f32 / 101.0
        });
        let k = (512 / n).clamp(1, 20) * 2;
        // Floors: the transfers, and a plain copy on the device (a volume that fits one buffer).
        let upload = median(|| {
            let v = gpu.upload(&vol).expect("upload");
            gpu.wait().expect("wait");
            drop(v);
        });
        // A GpuVolume when the volume fits one buffer (else it is blurred in slabs).
        let fits = gpu.upload(&vol).ok();
        let download = fits
            .as_ref()
            .map(|v| median(|| drop(gpu.download(v).expect("download"))));
        let copy =
            fits.map(|mut v| per_run(&gpu, k, || gpu.copy_passes_vec4(&mut v, 1).expect("copy")));
        let mut out = Array3::<f32>::zeros((n, n, n));
        for &sigma in &sigmas {
            let opts = BlurOptions::new(sigma);
            let e2e = median(|| drop(gpu.blur_with(&vol, &opts).expect("blur")));
            let into = median(|| gpu.blur_into(&vol, &opts, &mut out).expect("blur_into"));
            let (resident, axes) = if copy.is_some() {
                let mut v = gpu.upload(&vol).expect("upload");
                let all = per_run(&gpu, k, || gpu.blur_volume(&mut v, &opts).expect("blur"));
                let axes: Vec<Duration> = (0..3)
                    .map(|a| {
                        let mut s = [0.0; 3];
                        s[a] = sigma;
                        let one = BlurOptions::new(s);
                        per_run(&gpu, k, || gpu.blur_volume(&mut v, &one).expect("blur"))
                    })
                    .collect();
                (Some(all), Some(axes))
            } else {
                (None, None)
            };
            println!(
                "| {n}^3 | {sigma} | {} | {} | {} | {} | {} | {} | {} |",
                rate(e2e, 2.0 * bytes),
                rate(into, 2.0 * bytes),
                resident.map_or("slabs".into(), |t| rate(t, 6.0 * bytes)),
                axes.map_or("slabs".into(), |a| a
                    .iter()
                    .map(|t| ms(*t))
                    .collect::<Vec<_>>()
                    .join(" / ")),
                copy.map_or("slabs".into(), |t| rate(t, 2.0 * bytes)),
                rate(upload, bytes),
                download.map_or("slabs".into(), |t| rate(t, bytes)),
            );
        }
    }
    family_table(&sizes, &sigmas);
    println!();
    println!("tuning (BLUR3D_TUNING=off or BLUR3D_PASSES turns it off):");
    for t in gpu.tuning() {
        println!("- {t}");
    }
    for t in gpu.tuned_pairs() {
        println!("- {t}");
    }
    precision_table(&gpu, &sizes, &sigmas);
}

/// Each family's pass along each axis, forced, per pass on a resident volume, beside a copy.
fn family_table(sizes: &[usize], sigmas: &[f64]) {
    let families = [PassFamily::Cpu, PassFamily::Gpu, PassFamily::Tile];
    let blurs: Vec<GpuBlur> = families
        .iter()
        .map(|&f| {
            GpuBlur::try_new()
                .expect("a second blur")
                .with_pass_family(f)
                .with_tuning(false)
        })
        .collect();
    println!();
    println!("| size | sigma | axis | CPU family | GPU family | tile family | copy per pass |");
    println!("|---|---|---|---|---|---|---|");
    for &n in sizes {
        if !host_holds(3.0 * (n * n * n * 4) as f64) {
            continue;
        }
        let vol = Array3::from_shape_fn((n, n, n), |(a, b, c)| {
            ((a * 31 + b * 17 + c * 7) % 101) as f32 / 101.0
        });
        let k = (512 / n).clamp(1, 20) * 2;
        let Ok(mut v) = blurs[0].upload(&vol) else {
            continue;
        };
        let copy = per_run(&blurs[0], k, || {
            blurs[0].copy_passes_vec4(&mut v, 1).expect("copy")
        });
        for &sigma in sigmas {
            for axis in 0..3 {
                let mut s = [0.0; 3];
                s[axis] = sigma;
                let one = BlurOptions::new(s);
                let cells: Vec<String> = blurs
                    .iter()
                    .map(|gpu| {
                        let mut v = gpu.upload(&vol).expect("upload");
                        let before = gpu.passes_run();
                        let t = per_run(gpu, k, || gpu.blur_volume(&mut v, &one).expect("blur"));
                        let ran = ran_family(before, gpu.passes_run());
                        if ran == Some(gpu.pass_family()) {
                            ms(t)
                        } else {
                            format!("{} (ran {ran:?})", ms(t))
                        }
                    })
                    .collect();
                println!(
                    "| {n}^3 | {sigma} | {axis} | {} | {} |",
                    cells.join(" | "),
                    ms(copy)
                );
            }
        }
    }
}

/// The one family that ran the passes between two counts.
fn ran_family(before: PassesRun, after: PassesRun) -> Option<PassFamily> {
    let ran = [
        (PassFamily::Cpu, after.cpu_family - before.cpu_family),
        (PassFamily::Gpu, after.gpu_family - before.gpu_family),
        (PassFamily::Tile, after.tile_family - before.tile_family),
    ];
    let mut ran = ran.into_iter().filter(|&(_, n)| n > 0);
    match (ran.next(), ran.next()) {
        (Some((family, _)), None) => Some(family),
        _ => None,
    }
}

/// float64 volumes blurred in f32 and in f64 (native or double-single), end to end into f64.
fn precision_table(gpu: &GpuBlur, sizes: &[usize], sigmas: &[f64]) {
    let double = if gpu.has_f64() {
        "native f64"
    } else {
        "double-single"
    };
    println!();
    println!("| size | sigma | f64 volume, f32 passes | f64 passes ({double}) | f64 / f32 |");
    println!("|---|---|---|---|---|");
    for &n in sizes {
        let bytes = (n * n * n * 8) as f64;
        if !host_holds(3.0 * bytes) {
            println!("| {n}^3 | | skipped: host memory holds fewer than three copies | | |");
            continue;
        }
        let vol = Array3::from_shape_fn((n, n, n), |(a, b, c)| {
            ((a * 31 + b * 17 + c * 7) % 101) as f64 / 101.0
        });
        let mut out = Array3::<f64>::zeros((n, n, n));
        for &sigma in sigmas {
            let mut time = |precision| {
                let opts = BlurOptions::new(sigma).precision(precision);
                median(|| gpu.blur_into(&vol, &opts, &mut out).expect("blur_into"))
            };
            let (single, double) = (time(Precision::Single), time(Precision::Double));
            println!(
                "| {n}^3 | {sigma} | {} | {} | {:.2} |",
                rate(single, 2.0 * bytes),
                rate(double, 2.0 * bytes),
                double.as_secs_f64() / single.as_secs_f64()
            );
        }
    }
}

/// Whether the host has `bytes` of memory available (Linux; elsewhere assumed).
fn host_holds(bytes: f64) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return true;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .is_none_or(|kb| kb * 1024.0 > bytes)
}

/// Time per run of `work` on the device: `k` runs between waits, divided by `k`, median of 5.
fn per_run(gpu: &GpuBlur, k: usize, mut work: impl FnMut()) -> Duration {
    median(|| {
        for _ in 0..k {
            work();
        }
        gpu.wait().expect("wait");
    }) / k as u32
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

fn ms(t: Duration) -> String {
    format!("{:.3} ms", t.as_secs_f64() * 1e3)
}

/// `t` in ms with the rate of moving `bytes` in it.
fn rate(t: Duration, bytes: f64) -> String {
    format!("{} ({:.1} GB/s)", ms(t), bytes / t.as_secs_f64() / 1e9)
}
