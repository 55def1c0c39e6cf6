//! `blur3d`: Gaussian blur of volumes in files (NIfTI, NumPy .npy, TIFF stacks), on a GPU.
//!
//! Every error is one line, `blur3d: FILE: PROBLEM`, with exit status 1 (2 for a command line
//! clap rejects), and leaves no output behind.

mod alloc;
mod args;
mod atomic;
mod blur;
mod formats;
mod job;
mod progress;
mod spec;
mod streamed;
mod units;
mod volume;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use blur3d::{BlurError, Filter, GpuBlur};
use clap::Parser;

use args::Cli;
use atomic::Output;
use blur::{Engine, Plan};
use formats::{Format, Meta};
use job::Job;
use progress::Progress;
use volume::{DType, Volume};

/// What went wrong, and with which file.
struct Failure {
    path: Option<PathBuf>,
    problem: String,
}

impl Failure {
    /// A problem with `path`, or with the job on it.
    fn at(path: &Path) -> impl Fn(String) -> Failure + '_ {
        move |problem| Failure {
            path: Some(path.to_path_buf()),
            problem,
        }
    }

    fn general(problem: String) -> Failure {
        Failure {
            path: None,
            problem,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the problem's text holds.
        let problem = self.problem.replace('\n', " ");
        match &self.path {
            Some(p) => write!(f, "{}: {problem}", p.display()),
            None => f.write_str(&problem),
        }
    }
}

fn main() -> ExitCode {
    alloc::fix_mmap_threshold();
    let cli = Cli::parse();
    if let Some(name) = &cli.adapter {
        // SAFETY: nothing has started a thread yet (only clap has run), so no other thread can
        // read the environment while it changes. The library picks its adapter by this variable.
        unsafe { std::env::set_var("WGPU_ADAPTER_NAME", name) };
    }
    let result = if cli.list_adapters {
        list_adapters()
    } else {
        run(&cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blur3d: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list_adapters() -> Result<(), Failure> {
    let adapters = pollster::block_on(blur3d::list_adapters());
    if adapters.is_empty() {
        return Err(Failure::general(
            "no GPU adapter found (WGPU_BACKEND restricts the search when set); --cpu blurs \
             without one"
                .to_string(),
        ));
    }
    for a in adapters {
        println!("{}", blur3d::describe_adapter(&a));
    }
    Ok(())
}

/// Checks what the command line asks for, then blurs INPUT into OUTPUT: streamed for Zarr,
/// in memory for the other formats.
fn run(cli: &Cli) -> Result<(), Failure> {
    // Everything the command line says is checked before any file is read.
    let job = Job::parse(cli)?;
    if let Some(name) = &cli.adapter {
        check_adapter(name)?;
    }
    if job.streams() {
        let progress = Progress::new(cli.quiet);
        let outcome = streamed::run(&job, &progress);
        return finish(progress, outcome);
    }
    // The output's folder is tried before any work: a temporary file there, renamed at the end.
    let out_file = Output::file(job.output).map_err(Failure::at(job.output))?;
    let progress = Progress::new(cli.quiet);
    let outcome = in_memory(&job, out_file, &progress);
    finish(progress, outcome)
}

/// Shows the summary line of a run that succeeded, or takes the spinner away from one that
/// failed.
fn finish(progress: Progress, outcome: Result<String, Failure>) -> Result<(), Failure> {
    match outcome {
        Ok(summary) => {
            progress.done(&summary);
            Ok(())
        }
        Err(e) => {
            progress.abandon();
            Err(e)
        }
    }
}

/// Reads the input, blurs it and writes the output through `out_file`; the summary line.
fn in_memory(job: &Job<'_>, out_file: Output, progress: &Progress) -> Result<String, Failure> {
    let (volume, axes) = read(job, progress)?;
    let (plan, radii) = plan(job, &volume, &axes)?;
    let voxel_bytes = job.gpu_voxel_bytes(volume.voxels.dtype());
    let engine = engine(
        job.cli,
        progress,
        slab_cap(volume.voxels.shape(), radii, voxel_bytes),
    )?;
    let out_dtype = job.out_dtype(volume.voxels.dtype());
    let size = size(&volume);
    let sigma = plan.sigma;
    let stage = format!(
        "{} {size} on {}, sigma {sigma:?} voxels",
        what(job.filter, job.orders),
        engine.describe()
    );
    let blurred = blur(&engine, volume.voxels, &plan, out_dtype, &stage, progress)
        .map_err(|e| Failure::at(job.input)(blur_problem(&e, axes.names(), true)))?;
    progress.stage(format!("writing {}", job.output.display()));
    let result = for_output(
        volume.spacing,
        volume.series,
        volume.meta,
        axes.restored(blurred, job.out_format),
        job.in_format,
        job.out_format,
    );
    write(job, out_file, &result)?;
    Ok(format!(
        "wrote {} ({size} {}, sigma {sigma:?} voxels, on {})",
        job.output.display(),
        out_dtype.name(),
        engine.describe()
    ))
}

/// The file's axes in the order of the series and the lists (`--axes` for a 4D .npy), and
/// their names in messages.
struct Axes {
    order: [usize; 4],
    names: [String; 3],
}

impl Axes {
    fn names(&self) -> [&str; 3] {
        self.names.each_ref().map(String::as_str)
    }

    /// `voxels` in the file's axis order again where the output keeps it: a .npy keeps its
    /// axes where they were.
    fn restored(&self, voxels: volume::Voxels, out_format: Format) -> volume::Voxels {
        if out_format != Format::Npy {
            return voxels;
        }
        let mut back = [0; 4];
        for (position, &axis) in self.order.iter().enumerate() {
            back[axis] = position;
        }
        voxels.permuted_axes(back)
    }
}

/// Reads the input, its axes in the order of the series and the lists.
fn read(job: &Job<'_>, progress: &Progress) -> Result<(Volume, Axes), Failure> {
    progress.stage(format!("reading {}", job.input.display()));
    let mut volume = job
        .in_format
        .read(job.input)
        .map_err(Failure::at(job.input))?;
    let axes = match job.axes {
        None => Axes {
            order: [0, 1, 2, 3],
            names: job.in_format.axis_names().map(String::from),
        },
        Some(_) if job.in_format != Format::Npy || !volume.series => {
            return Err(Failure::at(job.input)(
                "--axes is for 4D .npy files: NIfTI and TIFF say which axis is the series"
                    .to_string(),
            ));
        }
        Some(([a, b, c], series)) => Axes {
            order: [series, a, b, c],
            names: [a, b, c].map(|axis| format!("axis {axis}")),
        },
    };
    volume.voxels = volume.voxels.permuted_axes(axes.order);
    Ok((volume, axes))
}

/// The blur asked for, with sigma in voxels through the volume's spacing, and its kernel
/// radii, checked.
fn plan(job: &Job<'_>, volume: &Volume, axes: &Axes) -> Result<(Plan, [usize; 3]), Failure> {
    let sigma = job
        .lengths
        .to_voxels(
            job.per_sigma,
            volume.spacing,
            axes.names(),
            job.in_format.no_spacing_reason(),
        )
        .map_err(Failure::at(job.input))?;
    let plan = job.plan(sigma);
    let radii = job.radii(&plan, axes.names())?;
    Ok((plan, radii))
}

/// The CPU with `--cpu`, else the GPU with slabs of at most `slab_cap` bytes.
fn engine(cli: &Cli, progress: &Progress, slab_cap: u64) -> Result<Engine, Failure> {
    if cli.cpu {
        return Ok(Engine::Cpu);
    }
    progress.stage("opening the GPU".to_string());
    let gpu = GpuBlur::try_new()
        .map_err(|e| Failure::general(format!("{e}; or run with --cpu")))?
        .with_max_slab_bytes(slab_cap);
    Ok(Engine::Gpu(Box::new(gpu)))
}

/// The size of the volume or series, in words.
fn size(volume: &Volume) -> String {
    let [volumes, n0, n1, n2] = volume.voxels.shape();
    if volume.series {
        format!("{volumes} volumes of {n0}x{n1}x{n2}")
    } else {
        format!("{n0}x{n1}x{n2}")
    }
}

/// What the filter does, in words for the progress line.
fn what(filter: Filter, orders: [u32; 3]) -> String {
    match (filter, orders) {
        (Filter::Gaussian, [0, 0, 0]) => "blurring".to_string(),
        (Filter::Gaussian, o) => format!("gaussian_filter order {o:?} of"),
        (f, _) => format!("{} of", f.name()),
    }
}

/// Blurs `voxels` into a series of `out_dtype`, showing `stage` and the volumes done; the
/// input's voxels are gone when it returns.
fn blur(
    engine: &Engine,
    voxels: volume::Voxels,
    plan: &Plan,
    out_dtype: DType,
    stage: &str,
    progress: &Progress,
) -> Result<volume::Voxels, BlurError> {
    progress.stage(stage.to_string());
    engine.blur(&voxels, plan, out_dtype, &mut |done, total| {
        progress.part(stage, done, total);
    })
}

/// Writes `result` through `out_file` and renames it to the output's name.
fn write(job: &Job<'_>, mut out_file: Output, result: &Volume) -> Result<(), Failure> {
    let at_output = Failure::at(job.output);
    job.out_format
        .write(&mut out_file, result)
        .map_err(&at_output)?;
    out_file.persist().map_err(&at_output)
}

/// The output volume: the input's header when the formats agree, and the axes turned round
/// between NIfTI (x, y, z) and TIFF (z, y, x) so that each keeps its meaning.
fn for_output(
    spacing: Option<[f64; 3]>,
    series: bool,
    meta: Meta,
    voxels: volume::Voxels,
    from: Format,
    to: Format,
) -> Volume {
    let same_kind = std::mem::discriminant(&from) == std::mem::discriminant(&to);
    let meta = if same_kind { meta } else { Meta::None };
    let turn = matches!(
        (from.xyz_reversed(), to.xyz_reversed()),
        (Some(a), Some(b)) if a != b
    );
    if turn {
        Volume {
            voxels: voxels.reversed_axes(),
            spacing: spacing.map(|[a, b, c]| [c, b, a]),
            series,
            meta,
        }
    } else {
        Volume {
            voxels,
            spacing,
            series,
            meta,
        }
    }
}

/// The library's message for what goes wrong in the blur, in the command line's words.
fn blur_problem(e: &BlurError, axis_names: [&str; 3], cpu_possible: bool) -> String {
    match e {
        BlurError::VolumeTooLarge {
            limit, limit_name, ..
        } => format!(
            "the volume is too large for this GPU: not even one plane of it with the kernel's \
             halo fits its largest buffer ({limit} bytes, {limit_name}): {}lower the sigma \
             along {}, or use a GPU with larger buffers",
            if cpu_possible {
                "run with --cpu, or "
            } else {
                ""
            },
            axis_names[0]
        ),
        other => other.to_string(),
    }
}

/// The largest GPU buffer the blur may use for a series of `shape` (`[volumes, n0, n1, n2]`)
/// with kernel radii `radii`, `voxel_bytes` per voxel on the GPU (4 in f32, 8 in f64): about a
/// sixteenth of one volume as f32, so that the slabs in
/// flight (four buffers of half a slab each, twice) add little to the input and the output in
/// memory (a software adapter's GPU memory is the host's, and staging buffers are host memory
/// on every GPU), and never less than a slab with the kernel's halo needs.
fn slab_cap(shape: [usize; 4], radii: [usize; 3], voxel_bytes: usize) -> u64 {
    let [_, n0, n1, n2] = shape;
    let volume = (n0 * n1 * n2 * 4) as u64;
    let reach = radii.into_iter().max().unwrap_or(0);
    // The widest plane, across the thinnest axis, and the kernel's reach of them plus two.
    let mut axes = [n0, n1, n2];
    axes.sort_unstable();
    let block = [2 * reach + 2, axes[1], axes[2]];
    (volume / 16)
        .max(4 << 20)
        .max(GpuBlur::slab_bytes_for_blocks(block, voxel_bytes))
}

/// Checks that some adapter's name contains `name`, listing them all when none does.
fn check_adapter(name: &str) -> Result<(), Failure> {
    let adapters = pollster::block_on(blur3d::list_adapters());
    if adapters.iter().any(|a| blur3d::adapter_matches(a, name)) {
        return Ok(());
    }
    let available = if adapters.is_empty() {
        "none".to_string()
    } else {
        adapters
            .iter()
            .map(|a| format!("{:?}", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Failure::general(format!(
        "--adapter {name:?}: no GPU adapter's name contains it; available: {available}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_too_large_for_the_gpu_points_to_cpu() {
        let e = BlurError::VolumeTooLarge {
            bytes: 1 << 40,
            limit: 1 << 27,
            limit_name: "max_storage_buffer_binding_size",
        };
        let m = blur_problem(&e, ["x", "y", "z"], true);
        assert!(m.contains("run with --cpu") && m.contains("along x"), "{m}");
        assert!(
            !m.contains("GpuBlur") && !m.contains(&(1u64 << 40).to_string()),
            "{m}"
        );
        // Zarr streams only on a GPU: no --cpu to point to.
        let zarr = blur_problem(&e, ["x", "y", "z"], false);
        assert!(
            !zarr.contains("--cpu") && zarr.contains("along x"),
            "{zarr}"
        );
    }
}
