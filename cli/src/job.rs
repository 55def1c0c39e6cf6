//! What the command line asks for, parsed and checked before any file is read: the paths and
//! their formats, the widths, modes, radius, orders, filter, output type and axes, and the
//! rules that follow from them for every format (the plan of the blur, the output's type).

use std::path::Path;

use blur3d::{BlurError, Filter, Mode};
use clap::CommandFactory;

use crate::Failure;
use crate::args::Cli;
use crate::blur::Plan;
use crate::formats::Format;
use crate::spec::{self, DTypeChoice, FWHM_PER_SIGMA, LengthSpec};
use crate::volume::{DType, with_dtype};

/// What the command line asked for, parsed.
pub struct Job<'a> {
    pub cli: &'a Cli,
    pub input: &'a Path,
    pub output: &'a Path,
    pub lengths: LengthSpec,
    pub per_sigma: f64,
    pub modes: [Mode; 3],
    pub radius: Option<[usize; 3]>,
    pub dtype: DTypeChoice,
    pub orders: [u32; 3],
    pub filter: Filter,
    /// `--axes`: the volume's three axes of a 4D .npy, and the series axis.
    pub axes: Option<([usize; 3], usize)>,
    pub in_format: Format,
    pub out_format: Format,
}

impl<'a> Job<'a> {
    /// Parses and checks everything the command line says, in the order of its options; a
    /// missing input, output or width is a usage error (exit status 2).
    pub fn parse(cli: &'a Cli) -> Result<Job<'a>, Failure> {
        let (Some(input), Some(output)) = (cli.input.as_deref(), cli.output.as_deref()) else {
            usage("INPUT and --output are required");
        };
        let at_input = Failure::at(input);
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
        let axes = cli
            .axes
            .as_deref()
            .map(spec::parse_axes)
            .transpose()
            .map_err(&at_input)?;
        let in_format = Format::of(input).map_err(&at_input)?;
        let out_format = Format::of(output).map_err(Failure::at(output))?;
        Ok(Job {
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
            axes,
            in_format,
            out_format,
        })
    }

    /// Whether the run streams Zarr (either side a Zarr folder) rather than holding volumes in
    /// memory.
    pub fn streams(&self) -> bool {
        self.in_format == Format::Zarr || self.out_format == Format::Zarr
    }

    /// The blur with `sigma` in voxels (axes in the file's order) and the rest as asked.
    pub fn plan(&self, sigma: [f64; 3]) -> Plan {
        Plan {
            sigma,
            modes: self.modes,
            truncate: self.cli.truncate,
            radius: self.radius,
            orders: self.orders,
            filter: self.filter,
        }
    }

    /// The kernel radii of `plan`, which checks sigma, truncate and radius; a problem names the
    /// axis as `axis_names` do.
    pub fn radii(&self, plan: &Plan, axis_names: [&str; 3]) -> Result<[usize; 3], Failure> {
        plan.options(false).radii().map_err(|e| {
            Failure::at(self.input)(options_problem(&e, axis_names, self.radius.is_some()))
        })
    }

    /// The output's type for an input of `input`: `--dtype`, else the input's, but float32 for
    /// the derivatives of integers (signed and fractional: an integer type would clamp them).
    /// Bytes per voxel the GPU holds blurring `input` into this job's output type: the
    /// library's rule ([`blur3d::Precision::voxel_bytes`]), 8 where it computes in f64.
    pub fn gpu_voxel_bytes(&self, input: DType) -> usize {
        let output = self.out_dtype(input);
        with_dtype!(input, T => with_dtype!(output, U => {
            blur3d::Precision::Auto.voxel_bytes::<T, U>()
        }))
    }

    pub fn out_dtype(&self, input: DType) -> DType {
        let derivative = self.filter != Filter::Gaussian || self.orders != [0; 3];
        match self.dtype {
            DTypeChoice::Same if derivative && !matches!(input, DType::F32 | DType::F64) => {
                DType::F32
            }
            DTypeChoice::Same => input,
            DTypeChoice::Given(d) => d,
        }
    }
}

/// A usage error in clap's words, exit status 2.
fn usage(message: &str) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::MissingRequiredArgument, message)
        .exit()
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

#[cfg(test)]
mod tests {
    use super::*;

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
