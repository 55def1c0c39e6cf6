//! The command line, as clap parses it. Values with a grammar of their own (sigma, modes, dtype)
//! are kept as text here and parsed in `spec.rs`, so that their errors name the input file.

use std::path::PathBuf;

use clap::Parser;

const AFTER_HELP: &str = "\
Axis order: a list of three (--sigma, --fwhm, --radius, --mode) is given in the order in which
the format's own tools report the voxel spacing:
  .nii, .nii.gz   x, y, z   (like fslmaths and c3d)
  .npy            axis 0, 1, 2 (numpy's order; .npy has no spacing, so no mm or um)
  .tif, .tiff     z, y, x   (page, row, column)

Series (4D): each 3D volume is blurred on its own and time is left alone, as fslmaths -s does.
The series axis is NIfTI's 4th (t), a 4D .npy's first (shape (t, 0, 1, 2)) or the one --axes
leaves out, and an ImageJ hyperstack's frames and channels (frames=, channels=: volume
t * channels + c).

Units: a number may end with vox (voxels, the default) or a unit of length: mm, um (or µm,
micron), nm, cm, m... (through the voxel spacing in the file's header: NIfTI's pixdim and
xyzt_units, ImageJ's TIFF tags, OME-Zarr's scale and axis units). A number without a unit takes
the unit at the end of the list, as in c3d: 2x1x1vox, 1,1,2mm. FWHM = 2 sqrt(2 ln 2) sigma.

Derivatives: --order, --laplace and --gradient-magnitude compute scipy's gaussian_filter with
order=, gaussian_laplace and gaussian_gradient_magnitude. Their values are signed and fractional:
with an integer input and --dtype same, they are written as float32 (give --dtype to choose).

Output: the format follows OUTPUT's extension. The header (NIfTI-1 or NIfTI-2: all of it, with
its extensions; TIFF: the description, the resolution tags) is kept when the output has the
input's format; between formats only the spacing carries over. NIfTI is written as NIfTI-2 when
the input was, or when an axis is longer than NIfTI-1's 32767. TIFF stacks are written as ImageJ
writes them (the pixels of all pages in one block). Integer data stay integer (rounded to
nearest, halves away from zero, and clamped to the type's range) unless --dtype says otherwise.
The output is written to a temporary file beside OUTPUT, made before the input is read, and
renamed when complete: a failed or interrupted run leaves no output and never touches an
existing one.

Memory (.nii, .nii.gz, .npy, .tif): the input and the output in their types, plus the slabs in
flight, which are f32 on a GPU (f64 for float64 and 32/64-bit integer data, computed in f64)
and f64 on the CPU: two of a sixteenth of the volume, or as deep as the kernel (2 r + 2
planes, r about 4 sigma) when that is more.
.nii.gz is decompressed as it is read, straight into the voxels. Peak beyond what a tiny run
takes (about 135 MiB on llvmpipe, 8 MiB with --cpu), as multiples of the input's size, for
256^3 float32 at sigma 2 and 256x512x512 8- and 16-bit files at sigma 2 (a kernel of 17 planes
of 512x512), measured on llvmpipe:
  float32   about 2.4x (GPU and --cpu)
  int16     2.6x (GPU), 2.45x (--cpu)
  uint8     3.05x (GPU), 2.95x (--cpu)
A larger sigma takes more: the uint8 volume above took 3.9-4.0x at sigma 4 and 5.7x at sigma 8
(GPU and --cpu). Zarr is streamed, in memory bounded by its blocks (below).

Zarr and OME-Zarr (folders ending in .zarr, or any folder with Zarr metadata): Zarr v2 and v3
arrays (zstd, gzip, blosc, sharding) and OME-Zarr images (NGFF 0.4 on v2, 0.5 on v3) are
streamed from Zarr to Zarr on a GPU, block by block, so volumes larger than memory work;
--cpu is for the in-memory formats. The output keeps the input's Zarr version, chunks, codecs,
attributes and data type (or --dtype). Axes are the array's (z, y, x for OME-Zarr, named by its
axes or dimension_names); the last three are blurred and any before them must have length 1.
An OME-Zarr image is read at level 0 of its first multiscale, with the spacing from its scale
and axis units (so --sigma 1um works), and written with level 0 only: lower levels are not
regenerated. A block is a chunk of planes by a chunk of rows of the output, every column,
plus the kernel's halo: each block completes whole output chunks, written at once. Host memory
is about 140 MiB + the input chunks one block touches + 6 blocks of f32 on a software adapter
(whose GPU buffers are host memory; about 1 block on a discrete GPU): it grows with the rows'
length, not with the volume. --max-slab MiB caps 2 blocks of f32 (default: 128, or 2 aligned
blocks when larger).
The output goes to a temporary folder beside OUTPUT, renamed when complete; an existing Zarr
OUTPUT is replaced only then.

Examples:
  blur3d t1.nii.gz -o t1_s2.nii.gz --sigma 2                # 2 voxels on every axis
  blur3d t1.nii.gz -o t1_s.nii.gz --sigma 1.5mm             # fslmaths t1 -s 1.5
  blur3d t1.nii.gz -o t1_f.nii.gz --fwhm 4mm                # AFNI 3dmerge -1blur_fwhm 4
  blur3d t1.nii.gz -o t1_c.nii.gz --sigma 2x1x1vox          # c3d t1 -smooth 2x1x1vox
  blur3d stack.tif -o smooth.tif --sigma 0.8um --mode nearest  # an ImageJ stack
  blur3d stack.tif -o smooth.tif --sigma 1,2,2 --dtype f32  # (z, y, x) voxels
  blur3d vol.npy -o out.npy --sigma 3 --cpu                 # no GPU needed
  blur3d cells.tif -o log.tif --sigma 2 --laplace           # spots: Laplacian of Gaussian
  blur3d ct.nii.gz -o dx.nii.gz --sigma 1mm --order 1,0,0   # d/dx of the smoothed volume
  blur3d bold.nii.gz -o bold_s.nii.gz --sigma 2.5mm         # a 4D series, volume by volume
  blur3d in.zarr -o out.zarr --sigma 2                     # Zarr v2 or v3, streamed
  blur3d cells.ome.zarr -o smooth.ome.zarr --sigma 1um      # OME-Zarr, through its scale
  blur3d --list-adapters";

/// Gaussian blur of 3D volumes and 4D series of them (NIfTI-1/2, NumPy .npy, TIFF stacks) on a
/// GPU, with the semantics of scipy.ndimage.gaussian_filter.
#[derive(Debug, Parser)]
#[command(
    name = "blur3d",
    version,
    after_help = AFTER_HELP,
    override_usage = "blur3d [OPTIONS] INPUT -o OUTPUT (--sigma SIGMA | --fwhm FWHM)\n       \
                      blur3d --list-adapters"
)]
pub struct Cli {
    /// The volume or series to blur: .nii, .nii.gz, .npy, .tif, .tiff or a .zarr folder.
    #[arg(required_unless_present = "list_adapters")]
    pub input: Option<PathBuf>,

    /// Where to write the result; its extension chooses the format.
    #[arg(
        short,
        long,
        value_name = "OUTPUT",
        required_unless_present = "list_adapters"
    )]
    pub output: Option<PathBuf>,

    /// Standard deviation: one value, or three in the file's axis order (see below).
    /// Voxels by default, or with a unit: 2, 1,2,2, 2x1x1vox, 1.5mm, 0.8um.
    #[arg(short, long, value_name = "SIGMA", allow_hyphen_values = true)]
    pub sigma: Option<String>,

    /// Full width at half maximum instead of sigma, with the same syntax: 4mm, 3,3,6.
    #[arg(
        long,
        value_name = "FWHM",
        conflicts_with = "sigma",
        allow_hyphen_values = true
    )]
    pub fwhm: Option<String>,

    /// Boundary mode, as scipy names it: reflect, mirror, nearest, wrap or constant[=VALUE];
    /// one, or three separated by commas.
    #[arg(short, long, value_name = "MODE", default_value = "reflect")]
    pub mode: String,

    /// Kernel half-width in sigmas: radius = floor(truncate * sigma + 0.5).
    #[arg(
        long,
        value_name = "T",
        default_value_t = 4.0,
        allow_hyphen_values = true
    )]
    pub truncate: f64,

    /// Derivative order of the Gaussian, one or three in the file's axis order (scipy's
    /// order=): 0 blurs, 1 is the first derivative along that axis, 2 the second, ...
    #[arg(
        long,
        value_name = "ORDER",
        conflicts_with_all = ["laplace", "gradient_magnitude"],
        allow_hyphen_values = true
    )]
    pub order: Option<String>,

    /// The Laplacian of the Gaussian (scipy's gaussian_laplace): the sum of the second
    /// derivatives along the three axes.
    #[arg(long, conflicts_with = "gradient_magnitude")]
    pub laplace: bool,

    /// The magnitude of the Gaussian gradient (scipy's gaussian_gradient_magnitude).
    #[arg(long)]
    pub gradient_magnitude: bool,

    /// Kernel radius in voxels, one or three, instead of --truncate.
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    pub radius: Option<String>,

    /// Data type of the output: same (the input's), f32, f64, u8, i8, u16, i16, u32, i32, u64 or
    /// i64 (numpy names such as float32 and uint16 work too).
    #[arg(long, value_name = "TYPE", default_value = "same")]
    pub dtype: String,

    /// For a 4D .npy: its three axes (of 0 to 3) that hold a volume, in the order of the lists
    /// of --sigma, --radius and --mode; the fourth counts the volumes. Default 1,2,3 (the first
    /// axis is the series).
    #[arg(long, value_name = "A,B,C")]
    pub axes: Option<String>,

    /// Run the blur on the CPU (f64) instead of a GPU.
    #[arg(long, conflicts_with = "adapter")]
    pub cpu: bool,

    /// Use the GPU adapter whose name contains NAME (case-insensitive); see --list-adapters.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,

    /// List the GPU adapters and exit.
    #[arg(long, exclusive = true)]
    pub list_adapters: bool,

    /// Zarr: the GPU buffers of two blocks in flight, in MiB (default 128, or two blocks of one
    /// output chunk each, with halos, when larger). Host memory grows with it (see the Zarr
    /// section below); smaller blocks cost more halo.
    #[arg(long, value_name = "MIB")]
    pub max_slab: Option<u64>,

    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}
