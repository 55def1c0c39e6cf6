//! `blur3d`: Gaussian blur of volumes in files (NIfTI, NumPy .npy, TIFF stacks), on a GPU.
//!
//! Every error is one line, `blur3d: FILE: PROBLEM`, with exit status 1 (2 for a command line
//! clap rejects), and leaves no output behind.

mod alloc;
mod args;
mod blur;
mod formats;
mod progress;
mod spec;
mod streamed;
mod units;
mod volume;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use blur3d::{BlurError, Filter, GpuBlur};
use clap::{CommandFactory, Parser};

use args::Cli;
use blur::{Engine, Plan};
use formats::{Format, Meta, Output};
use progress::Progress;
use spec::{DTypeChoice, FWHM_PER_SIGMA};
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

/// A usage error in clap's words, exit status 2.
fn usage(message: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .exit()
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let (Some(input), Some(output)) = (cli.input.as_deref(), cli.output.as_deref()) else {
        usage("INPUT and --output are required");
    };
    let at_input = Failure::at(input);
    let at_output = Failure::at(output);

    // Everything the command line says is checked before any file is read.
    let (lengths, per_sigma) = match (&cli.sigma, &cli.fwhm) {
        (Some(s), _) => (spec::parse_lengths("--sigma", s), 1.0),
        (None, Some(f)) => (spec::parse_lengths("--fwhm", f), FWHM_PER_SIGMA),
        (None, None) => usage("give the width of the blur with --sigma or --fwhm"),
    };
    let lengths = lengths.map_err(&at_input)?;
    let modes = spec::parse_modes(&cli.mode).map_err(&at_input)?;
    let radius = cli
        .radius
        .as_deref()
        .map(spec::parse_radius)
        .transpose()
        .map_err(&at_input)?;
    let dtype = spec::parse_dtype(&cli.dtype).map_err(&at_input)?;
    let orders = cli
        .order
        .as_deref()
        .map(spec::parse_orders)
        .transpose()
        .map_err(&at_input)?
        .unwrap_or([0; 3]);
    let filter = if cli.laplace {
        Filter::Laplace
    } else if cli.gradient_magnitude {
        Filter::GradientMagnitude
    } else {
        Filter::Gaussian
    };
    let derivative = filter != Filter::Gaussian || orders != [0; 3];
    let axes = cli
        .axes
        .as_deref()
        .map(spec::parse_axes)
        .transpose()
        .map_err(&at_input)?;
    let in_format = Format::of(input).map_err(&at_input)?;
    let out_format = Format::of(output).map_err(&at_output)?;
    if let Some(name) = &cli.adapter {
        check_adapter(name)?;
    }
    if in_format == Format::Zarr || out_format == Format::Zarr {
        let job = streamed::Job {
            cli,
            input,
            output,
            lengths,
            per_sigma,
            modes,
            radius,
            dtype,
            orders,
            filter,
        };
        let progress = Progress::new(cli.quiet);
        return match streamed::run(&job, &progress) {
            Ok(summary) => {
                progress.done(&summary);
                Ok(())
            }
            Err(e) => {
                progress.abandon();
                Err(e)
            }
        };
    }
    // The output's folder is tried before any work: a temporary file there, renamed at the end.
    let out_file = Output::create(output).map_err(&at_output)?;

    let progress = Progress::new(cli.quiet);
    let outcome = (|| {
        progress.stage(format!("reading {}", input.display()));
        let mut volume = in_format.read(input).map_err(&at_input)?;
        // The file's axes in the order of the series and the lists, and back.
        let (order, axis_names) = match axes {
            None => ([0, 1, 2, 3], in_format.axis_names().map(String::from)),
            Some(_) if in_format != Format::Npy || !volume.series => {
                return Err(at_input(
                    "--axes is for 4D .npy files: NIfTI and TIFF say which axis is the series"
                        .to_string(),
                ));
            }
            Some(([a, b, c], series)) => {
                let names = [a, b, c].map(|axis| format!("axis {axis}"));
                ([series, a, b, c], names)
            }
        };
        let axis_names = axis_names.each_ref().map(String::as_str);
        volume.voxels = volume.voxels.permuted_axes(order);
        let sigma = lengths
            .to_voxels(
                per_sigma,
                volume.spacing,
                axis_names,
                in_format.no_spacing_reason(),
            )
            .map_err(&at_input)?;
        let plan = Plan {
            sigma,
            modes,
            truncate: cli.truncate,
            radius,
            orders,
            filter,
        };
        // Validates sigma, truncate and radius (axes in the file's order).
        let radii = plan
            .options(false)
            .radii()
            .map_err(|e| at_input(options_problem(&e, axis_names, radius.is_some())))?;

        let engine = if cli.cpu {
            Engine::Cpu
        } else {
            progress.stage("opening the GPU".to_string());
            let gpu = GpuBlur::try_new()
                .map_err(|e| Failure::general(format!("{e}; or run with --cpu")))?
                .with_max_slab_bytes(slab_cap(volume.voxels.shape(), radii));
            Engine::Gpu(Box::new(gpu))
        };
        let [volumes, n0, n1, n2] = volume.voxels.shape();
        let size = if volume.series {
            format!("{volumes} volumes of {n0}x{n1}x{n2}")
        } else {
            format!("{n0}x{n1}x{n2}")
        };
        let what = match (filter, orders) {
            (Filter::Gaussian, [0, 0, 0]) => "blurring".to_string(),
            (Filter::Gaussian, o) => format!("gaussian_filter order {o:?} of"),
            (f, _) => format!("{} of", f.name()),
        };
        let stage = format!(
            "{what} {size} on {}, sigma {sigma:?} voxels",
            engine.describe()
        );
        progress.stage(stage.clone());
        let out_dtype = match dtype {
            // Derivatives are signed and fractional: an integer type would clamp them.
            DTypeChoice::Same
                if derivative && !matches!(volume.voxels.dtype(), DType::F32 | DType::F64) =>
            {
                DType::F32
            }
            DTypeChoice::Same => volume.voxels.dtype(),
            DTypeChoice::Given(d) => d,
        };
        let blurred = engine
            .blur(&volume.voxels, &plan, out_dtype, &mut |done, total| {
                progress.part(&stage, done, total);
            })
            .map_err(|e| at_input(blur_problem(&e, axis_names, true)))?;
        drop(volume.voxels);

        progress.stage(format!("writing {}", output.display()));
        // A .npy keeps its axes where they were.
        let blurred = if out_format == Format::Npy {
            let mut back = [0; 4];
            for (position, &axis) in order.iter().enumerate() {
                back[axis] = position;
            }
            blurred.permuted_axes(back)
        } else {
            blurred
        };
        let result = for_output(
            volume.spacing,
            volume.series,
            volume.meta,
            blurred,
            in_format,
            out_format,
        );
        let mut out_file = out_file;
        out_format
            .write(&mut out_file, &result)
            .map_err(&at_output)?;
        out_file.persist().map_err(&at_output)?;
        Ok(format!(
            "wrote {} ({size} {}, sigma {sigma:?} voxels, on {})",
            output.display(),
            out_dtype.name(),
            engine.describe()
        ))
    })();
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

/// The library's message, with the axis named as the file's format names it.
fn options_problem(e: &BlurError, axis_names: [&str; 3], radius_given: bool) -> String {
    match e {
        BlurError::RadiusTooLarge {
            axis,
            radius: Some(radius),
            max,
        } if radius_given => format!(
            "--radius along {} is {radius} voxels, more than the {max} blur3d supports: give a \
             smaller one",
            axis_names[*axis]
        ),
        BlurError::RadiusTooLarge { axis, radius, max } => format!(
            "the kernel radius along {} would be {}, more than the {max} voxels blur3d \
             supports: use a smaller sigma or --truncate, or set --radius",
            axis_names[*axis],
            radius.map_or_else(
                || "beyond any number of voxels".to_string(),
                |r| format!("{r} voxels")
            ),
        ),
        BlurError::InvalidSigma { axis, value } => format!(
            "sigma along {} is {value}: it must be a finite number >= 0",
            axis_names[*axis]
        ),
        other => other.to_string(),
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
/// with kernel radii `radii`: about a sixteenth of one volume as f32, so that the slabs in
/// flight (four buffers of half a slab each, twice) add little to the input and the output in
/// memory (a software adapter's GPU memory is the host's, and staging buffers are host memory
/// on every GPU), and never less than a slab with the kernel's halo needs.
fn slab_cap(shape: [usize; 4], radii: [usize; 3]) -> u64 {
    let [_, n0, n1, n2] = shape;
    let volume = (n0 * n1 * n2 * 4) as u64;
    let thinnest = n0.min(n1).min(n2).max(1) as u64;
    let widest_plane = volume / thinnest;
    let reach = radii.into_iter().max().unwrap_or(0) as u64;
    (volume / 16)
        .max(4 << 20)
        .max(2 * (2 * reach + 2) * widest_plane)
}

/// Checks that some adapter's name contains `name`, listing them all when none does.
fn check_adapter(name: &str) -> Result<(), Failure> {
    let adapters = pollster::block_on(blur3d::list_adapters());
    let wanted = name.to_lowercase();
    if adapters
        .iter()
        .any(|a| a.name.to_lowercase().contains(&wanted))
    {
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

    #[test]
    fn a_given_radius_is_not_suggested_again() {
        let e = BlurError::RadiusTooLarge {
            axis: 2,
            radius: Some(100_000),
            max: 4096,
        };
        let given = options_problem(&e, ["x", "y", "z"], true);
        assert!(given.starts_with("--radius along z is 100000") && !given.contains("set --radius"));
        let computed = options_problem(&e, ["x", "y", "z"], false);
        assert!(computed.contains("or set --radius"), "{computed}");
    }
}
