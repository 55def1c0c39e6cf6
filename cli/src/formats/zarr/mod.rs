//! Zarr v2 and v3 arrays and OME-Zarr images (NGFF 0.4 on v2, 0.5 on v3) in a folder, streamed
//! slab by slab through [`blur3d::PlaneSource`] and [`blur3d::PlaneSink`]: volumes larger than
//! memory.
//!
//! The blur asks for blocks (planes x rows, every column) and the sink takes tiles of its chunk
//! shape, so neither side holds whole planes: the input decodes the chunks a block touches and
//! keeps them for the next block (which shares most of them), and the output buffers the chunks
//! a block writes into and writes each, whole, as soon as it is complete. When blocks align with
//! the output's chunks (the command line sizes them so where the GPU allows) no chunk waits, and
//! host memory is about `chunks_in(block) + 2 * block + (the GPU's blocks in flight)`, whatever
//! the volume's size, where `chunks_in(block)` are the input chunks one block touches (its halo
//! reaches into the neighbouring chunks).
//!
//! The output keeps the input's format version, chunk grid, codecs, attributes and data type
//! (or `--dtype`'s). It is written into a temporary folder beside the output's path and renamed
//! when complete.

mod input;
mod output;
mod sink;
mod source;

use std::ops::Range;
use std::path::Path;

use serde_json::Value;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

pub use input::{Input, is_zarr_folder};
pub use output::{check_output, create_output, output_folder};
pub use sink::Sink;
pub use source::Source;

fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "cannot read {}: {}",
            path.display(),
            crate::formats::io_problem(&e)
        )),
    }
}

/// The chunks' ranges along the three blurred axes.
fn grid_ranges(array: &Array<FilesystemStore>, lead: usize) -> [Vec<Range<usize>>; 3] {
    let grid = array.chunk_grid_shape();
    std::array::from_fn(|axis| {
        (0..grid[lead + axis])
            .filter_map(|k| {
                let mut idx = vec![0; array.dimensionality()];
                idx[lead + axis] = k;
                let s = array.chunk_subset_bounded(&idx).ok()?;
                let start = usize::try_from(s.start()[lead + axis]).ok()?;
                let len = usize::try_from(s.shape()[lead + axis]).ok()?;
                Some(start..start + len)
            })
            .collect()
    })
}

/// The chunk (along one axis) holding index `i`.
fn chunk_of(ranges: &[Range<usize>], i: usize) -> usize {
    ranges.partition_point(|r| r.end <= i)
}

/// The chunks (along one axis) holding any of `indices`, in order.
fn chunks_of(ranges: &[Range<usize>], indices: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut ks: Vec<usize> = indices.map(|i| chunk_of(ranges, i)).collect();
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// The chunk's index in the array's chunk grid, leading axes included.
fn chunk_index(lead: usize, k: [usize; 3]) -> Vec<u64> {
    let mut idx = vec![0; lead];
    idx.extend(k.map(|k| k as u64));
    idx
}

/// Most bytes a source or sink held at once, and chunks decoded, for the bounded-memory test.
#[derive(Debug, Default, Clone, Copy)]
pub struct Held {
    pub chunks_decoded: usize,
    pub source_bytes: usize,
    pub sink_bytes: usize,
}

/// A storage error in words, without Rust's "(os error N)".
fn storage_problem(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}
