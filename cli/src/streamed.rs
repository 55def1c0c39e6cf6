//! Zarr to Zarr, streamed block by block on the GPU: the input's chunks are decoded as blocks
//! touch them and the output's written as blocks complete them, so host memory depends on the
//! chunks and the blocks, not the volume.

use blur3d::{BlurError, GpuBlur};

use crate::Failure;
use crate::formats::Format;
use crate::formats::zarr::{self, Input, Sink, Source};
use crate::job::Job;
use crate::progress::Progress;
use crate::volume::{Element, with_dtype};

/// The voxel type in which the GPU reads elements of this type: the type itself when the
/// library takes it, else i16 (for i8) or f64 (exact but for the largest 64-bit integers).
pub trait Read: zarrs::array::ElementOwned + Element {
    type V: Element;
}
/// The voxel type the GPU writes for elements of this type: the type itself when the library
/// writes it, else f32 (what the GPU computes), rounded and clamped into the type.
pub trait Write: zarrs::array::Element + Element {
    type V: Element;
}

macro_rules! voxels {
    ($($t:ty => $r:ty, $w:ty);* $(;)?) => {$(
        impl Read for $t { type V = $r; }
        impl Write for $t { type V = $w; }
    )*};
}
voxels! {
    u8 => u8, u8; i8 => i16, f32; u16 => u16, u16; i16 => i16, i16;
    u32 => f64, f32; i32 => f64, f32; u64 => f64, f32; i64 => f64, f32;
    f32 => f32, f32; f64 => f64, f64;
}

/// The default cap of a slab's GPU buffer, in MiB.
pub const DEFAULT_MAX_SLAB_MIB: u64 = 128;

/// Blurs the Zarr array or OME-Zarr image `job.input` into `job.output`; the summary line.
pub fn run(job: &Job<'_>, progress: &Progress) -> Result<String, Failure> {
    let at_input = Failure::at(job.input);
    let at_output = Failure::at(job.output);
    for (path, format) in [
        (job.input, Format::of(job.input)),
        (job.output, Format::of(job.output)),
    ] {
        if format != Ok(Format::Zarr) {
            return Err(Failure::at(path)(
                "Zarr is blurred from Zarr to Zarr: give both INPUT and OUTPUT as .zarr folders"
                    .to_string(),
            ));
        }
    }
    if job.cli.cpu {
        return Err(Failure::general(
            "--cpu blurs the in-memory formats (.nii, .npy, .tif); Zarr is streamed on a GPU \
             (a software adapter such as llvmpipe will do)"
                .to_string(),
        ));
    }
    // The output's path is checked before any work; its temporary folder (renamed at the end)
    // is made once the input has been opened and checked, so that a crafted input leaves
    // nothing behind.
    zarr::check_output(job.output, job.input).map_err(&at_output)?;
    progress.stage(format!("opening {}", job.input.display()));
    let input = Input::open(job.input).map_err(&at_input)?;
    let names: [&str; 3] = std::array::from_fn(|i| input.axis_names[i].as_str());
    let sigma = job
        .lengths
        .to_voxels(job.per_sigma, input.spacing, names, &input.no_spacing)
        .map_err(&at_input)?;
    let plan = job.plan(sigma);
    let opts = plan.options(false);
    let radii = job.radii(&plan, names)?;
    let out = zarr::output_folder(job.output, job.input).map_err(&at_output)?;

    progress.stage("opening the GPU".to_string());
    let [n0, n1, n2] = input.shape;
    // Two blocks are in flight, each of half the cap. By default a block holds a chunk of
    // planes and a chunk of rows of the output plus their halos (every column), so that each
    // block completes whole chunks and no chunk waits in memory; a --max-slab below that cuts
    // smaller blocks (chunks then wait for their other blocks), down to one holding the halos
    // and 2 planes of 2 rows.
    let [r0, r1] = [radii[0], radii[1]];
    let [c0, c1, _] = input.chunk_shape();
    let voxel_bytes = job.gpu_voxel_bytes(input.dtype);
    let block = |planes: usize, rows: usize| {
        GpuBlur::slab_bytes_for_blocks([planes.min(n0), rows.min(n1), n2], voxel_bytes)
    };
    let cap = match job.cli.max_slab {
        Some(mib) => (mib << 20).max(block(2 * r0 + 2, 2 * r1 + 2)),
        None => (DEFAULT_MAX_SLAB_MIB << 20).max(block(c0 + 2 * r0, c1 + 2 * r1)),
    };
    let gpu = GpuBlur::try_new()
        .map_err(|e| Failure::general(format!("{e}: Zarr is blurred on a GPU")))?
        .with_max_slab_bytes(cap);
    let adapter = crate::blur::adapter_name(&gpu);

    let out_dtype = job.out_dtype(input.dtype);
    let array = zarr::create_output(&input, out.folder_path(), out_dtype).map_err(&at_output)?;
    let size = format!("{n0}x{n1}x{n2}");
    progress.stage(format!(
        "blurring {size} on {adapter}, sigma {sigma:?} voxels"
    ));
    let voxels = (n0 * n1 * n2) as u64;
    progress.voxels(voxels);
    let mut blocks = 0;
    let mut tick = |done: usize, total: usize| {
        blocks = total;
        progress.at(voxels * done as u64 / total.max(1) as u64);
    };

    let held = with_dtype!(input.dtype, T => with_dtype!(out_dtype, U => {
        stream::<T, U>(&gpu, &input, &array, &opts, job.filter, names, &mut tick)
    }))
    .map_err(|(side, problem)| match side {
        Side::Input => at_input(problem),
        Side::Output => at_output(problem),
    })?;
    drop(array);
    out.persist().map_err(&at_output)?;
    if std::env::var_os("BLUR3D_STREAM_STATS").is_some() {
        eprintln!(
            "blur3d: stream: source held {} bytes, sink {} bytes, chunks decoded {}, chunks of \
             {:?}, blocks {blocks}, block cap {cap} bytes, peak RSS {} kB",
            held.source_bytes,
            held.sink_bytes,
            held.chunks_decoded,
            input.chunk_shape(),
            peak_rss_kb().unwrap_or(0)
        );
    }
    Ok(format!(
        "wrote {} ({size} {}, sigma {sigma:?} voxels, on {adapter})",
        job.output.display(),
        out_dtype.name(),
    ))
}

/// Which side a failure is on.
enum Side {
    Input,
    Output,
}

fn stream<T: Read, U: Write>(
    gpu: &GpuBlur,
    input: &Input,
    array: &zarrs::array::Array<zarrs::filesystem::FilesystemStore>,
    opts: &blur3d::BlurOptions,
    filter: blur3d::Filter,
    names: [&str; 3],
    tick: &mut dyn FnMut(usize, usize),
) -> Result<zarr::Held, (Side, String)> {
    let mut source = Source::<T, T::V>::new(input);
    let mut sink = Sink::<U::V, U>::new(array, input.lead);
    let result = gpu.filter_stream(&mut source, &mut sink, opts, filter, tick);
    match result {
        Ok(()) => Ok(zarr::Held {
            chunks_decoded: source.decoded,
            source_bytes: source.held,
            sink_bytes: sink.held,
        }),
        Err(BlurError::Io { .. }) if source.failed.is_some() => {
            Err((Side::Input, source.failed.take().unwrap_or_default()))
        }
        Err(BlurError::Io { message }) => {
            Err((Side::Output, sink.failed.take().unwrap_or(message)))
        }
        // Zarr streams only on a GPU: --cpu is no way out here.
        Err(e) => Err((Side::Input, crate::blur_problem(&e, names, false))),
    }
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
