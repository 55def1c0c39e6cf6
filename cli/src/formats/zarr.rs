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

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blur3d::{PlaneSink, PlaneSource, Voxel};
use ndarray::{ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};
use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataOptions, DataType};
use zarrs::array_subset::ArraySubset;
use zarrs::filesystem::FilesystemStore;

use crate::units;
use crate::volume::{DType, Element};

/// An OME-Zarr image's level 0, as read from its group.
#[derive(Debug, Clone)]
pub struct Ome {
    /// The group's attributes, as they are.
    attributes: Map<String, Value>,
    /// Where the group's attributes hold the multiscales: under "ome" (0.5) or at the top (0.4).
    nested: bool,
    /// The path of level 0 in the group.
    dataset: String,
}

/// An input Zarr array (or an OME-Zarr image's level 0), opened.
pub struct Input {
    pub path: PathBuf,
    array: Array<FilesystemStore>,
    /// Leading axes (all of length 1) before the three that are blurred.
    pub lead: usize,
    pub shape: [usize; 3],
    pub dtype: DType,
    /// Millimetres per voxel, from an OME-Zarr image's scale and units.
    pub spacing: Option<[f64; 3]>,
    /// Why there is no spacing, for the message of a sigma in mm or um.
    pub no_spacing: String,
    pub axis_names: [String; 3],
    pub ome: Option<Ome>,
    /// Zarr v2 (`.zarray`) or v3 (`zarr.json`).
    pub v3: bool,
}

fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "cannot read {}: {}",
            path.display(),
            super::io_problem(&e)
        )),
    }
}

/// What kind of JSON value `v` is, in words: "an object", "a number"...
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Whether `path` is a folder holding Zarr metadata.
pub fn is_zarr_folder(path: &Path) -> bool {
    path.is_dir()
        && [".zarray", ".zgroup", "zarr.json"]
            .iter()
            .any(|m| path.join(m).is_file())
}

/// The scale of a list of coordinate transformations (1 on every axis without one).
fn scale_of(transforms: Option<&Value>, ndim: usize) -> Result<Vec<f64>, String> {
    let mut scale = vec![1.0; ndim];
    for t in transforms
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if t.get("type").and_then(Value::as_str) == Some("scale") {
            let values = t
                .get("scale")
                .and_then(Value::as_array)
                .filter(|s| s.len() == ndim)
                .ok_or_else(|| {
                    format!("the OME-Zarr scale transformation is not a list of {ndim} numbers")
                })?;
            for (s, v) in scale.iter_mut().zip(values) {
                *s *= v.as_f64().ok_or_else(|| {
                    "the OME-Zarr scale transformation holds something other than numbers"
                        .to_string()
                })?;
            }
        }
    }
    Ok(scale)
}

impl Input {
    /// Opens the Zarr array, or the OME-Zarr image's level 0, at `path`.
    pub fn open(path: &Path) -> Result<Input, String> {
        if !path.exists() {
            return Err("no such file or folder".to_string());
        }
        if !path.is_dir() {
            return Err("is a file: a Zarr array or OME-Zarr image is a folder".to_string());
        }
        let v3_meta = read_json(&path.join("zarr.json"))?;
        let v2_array = path.join(".zarray").is_file();
        let v2_group = path.join(".zgroup").is_file();
        let (v3, node_is_group, group_attrs) = match &v3_meta {
            Some(m) => {
                let group = m.get("node_type").and_then(Value::as_str) == Some("group");
                let attrs = m
                    .get("attributes")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                (true, group, attrs)
            }
            None if v2_array => (false, false, Map::new()),
            None if v2_group => {
                let attrs = read_json(&path.join(".zattrs"))?
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                (false, true, attrs)
            }
            None => {
                return Err(
                    "is not a Zarr array or OME-Zarr image (no zarr.json, .zarray or .zgroup in \
                     the folder)"
                        .to_string(),
                );
            }
        };

        let store = Arc::new(
            FilesystemStore::new(path).map_err(|e| format!("cannot open the folder: {e}"))?,
        );
        let (ome, multiscale) = if node_is_group {
            let (nested, ms) = match group_attrs.get("ome").and_then(|o| o.get("multiscales")) {
                Some(ms) => (true, ms),
                None => match group_attrs.get("multiscales") {
                    Some(ms) => (false, ms),
                    None => {
                        return Err(
                            "is a Zarr group, not an array, and not an OME-Zarr image (its \
                             attributes have no multiscales): give the path of an array in it"
                                .to_string(),
                        );
                    }
                },
            };
            let Some(list) = ms.as_array() else {
                return Err(format!(
                    "the OME-Zarr multiscales is {}, not a list: OME-NGFF makes it a list of \
                     multiscale images ([{{\"axes\": ..., \"datasets\": ...}}]); fix the \
                     group's attributes ({})",
                    json_kind(ms),
                    if v3 { "zarr.json" } else { ".zattrs" }
                ));
            };
            let first = list.first().cloned().ok_or_else(|| {
                "the OME-Zarr multiscales list is empty: it needs one multiscale image with \
                 its datasets"
                    .to_string()
            })?;
            let dataset = first
                .get("datasets")
                .and_then(Value::as_array)
                .and_then(|d| d.first())
                .and_then(|d| d.get("path"))
                .and_then(Value::as_str)
                .ok_or_else(|| "the OME-Zarr multiscale has no dataset with a path".to_string())?
                .to_string();
            if dataset.is_empty() || dataset.contains("..") || dataset.starts_with('/') {
                return Err(format!(
                    "the OME-Zarr dataset path {dataset:?} is not a path inside the image"
                ));
            }
            (
                Some(Ome {
                    attributes: group_attrs,
                    nested,
                    dataset,
                }),
                Some(first),
            )
        } else {
            (None, None)
        };
        let node = ome
            .as_ref()
            .map_or("/".to_string(), |o| format!("/{}", o.dataset));
        let node_dir = match &ome {
            Some(o) => path.join(&o.dataset),
            None => path.to_path_buf(),
        };
        let meta_file = check_array_metadata(&node_dir, &node)?;
        let array = Array::open(store, &node).map_err(|e| {
            let e = storage_problem(&e.to_string());
            let hint = if e.contains("array to bytes codec") {
                " (the codecs need exactly one array-to-bytes codec, such as \"bytes\")"
            } else {
                ""
            };
            format!(
                "cannot open the Zarr array at {node}: its metadata ({meta_file}) is not valid: \
                 {e}{hint}"
            )
        })?;
        let v3 = match array.metadata() {
            ArrayMetadata::V3(_) => true,
            ArrayMetadata::V2(_) => false,
        } && v3;
        let dtype = dtype_of(array.data_type())?;
        let full: Vec<u64> = array.shape().to_vec();
        let ndim = full.len();
        if ndim < 3 {
            return Err(format!(
                "the Zarr array has {ndim} axes (shape {full:?}): blur3d blurs 3D volumes"
            ));
        }
        let lead = ndim - 3;
        if full[..lead].iter().any(|&n| n != 1) {
            return Err(format!(
                "the Zarr array has shape {full:?}: blur3d blurs the last three axes, and the \
                 others must have length 1 (series are not streamed yet)"
            ));
        }
        // Before anything is allocated per chunk: a crafted shape or chunk grid is refused here.
        check_grid(&array, dtype, meta_file)?;
        let shape = [
            usize::try_from(full[lead]).map_err(|e| e.to_string())?,
            usize::try_from(full[lead + 1]).map_err(|e| e.to_string())?,
            usize::try_from(full[lead + 2]).map_err(|e| e.to_string())?,
        ];

        let meta_json = serde_json::to_value(array.metadata()).unwrap_or(Value::Null);
        let dim_names: Option<Vec<String>> = meta_json
            .get("dimension_names")
            .and_then(Value::as_array)
            .map(|n| {
                n.iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect()
            });
        let mut axis_names: [String; 3] =
            std::array::from_fn(|i| match dim_names.as_ref().map(|n| n[lead + i].as_str()) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => format!("axis {}", lead + i),
            });

        let mut spacing = None;
        let mut no_spacing = "a plain Zarr array has no voxel spacing (an OME-Zarr image has, \
                              in its scale and axis units)"
            .to_string();
        if let Some(ms) = &multiscale {
            let axes = ms.get("axes").and_then(Value::as_array);
            if let Some(axes) = axes.filter(|a| a.len() == ndim) {
                let names: Vec<String> = axes
                    .iter()
                    .map(|a| match a {
                        Value::String(s) => s.clone(),
                        _ => a
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    })
                    .collect();
                for i in 0..3 {
                    if !names[lead + i].is_empty() {
                        axis_names[i].clone_from(&names[lead + i]);
                    }
                }
                let dataset = ms
                    .get("datasets")
                    .and_then(Value::as_array)
                    .and_then(|d| d.first());
                let mut scale = scale_of(
                    dataset.and_then(|d| d.get("coordinateTransformations")),
                    ndim,
                )?;
                for (s, g) in scale
                    .iter_mut()
                    .zip(scale_of(ms.get("coordinateTransformations"), ndim)?)
                {
                    *s *= g;
                }
                let units: Vec<Option<&str>> = axes
                    .iter()
                    .map(|a| a.get("unit").and_then(Value::as_str))
                    .collect();
                let mut mm = [0.0; 3];
                let mut missing = None;
                for i in 0..3 {
                    match units[lead + i] {
                        Some(u) => match units::length(u) {
                            Some(length) => mm[i] = scale[lead + i] * length.mm,
                            None => {
                                missing = Some(format!(
                                    "the OME-Zarr axis {} has the unit {u:?}, which is not a \
                                     unit of length blur3d knows ({}, or the OME-NGFF names \
                                     such as \"micrometer\")",
                                    axis_names[i],
                                    units::USUAL
                                ));
                            }
                        },
                        None => {
                            missing =
                                Some(format!("the OME-Zarr axis {} has no unit", axis_names[i]));
                        }
                    }
                }
                match missing {
                    None => spacing = Some(mm),
                    Some(m) => no_spacing = m,
                }
            } else {
                no_spacing = format!("the OME-Zarr multiscale does not list {ndim} axes");
            }
        }
        Ok(Input {
            path: path.to_path_buf(),
            array,
            lead,
            shape,
            dtype,
            spacing,
            no_spacing,
            axis_names,
            ome,
            v3,
        })
    }

    /// The chunk shape along the blurred axes (the largest chunk's, for irregular grids).
    pub fn chunk_shape(&self) -> [usize; 3] {
        grid_ranges(&self.array, self.lead)
            .map(|ranges| ranges.iter().map(|r| r.len()).max().unwrap_or(1))
    }
}

/// The data types blur3d reads, for messages.
const SUPPORTED_TYPES: &str = "uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32 \
                               and float64";

/// The array's metadata file in `dir` (`zarr.json` or `.zarray`), read before zarrs parses it
/// so that what is wrong is said in a user's words: no array there, a data type blur3d does not
/// read (zarrs may fail on its fill value first), a v3 array without codecs.
fn check_array_metadata(dir: &Path, node: &str) -> Result<&'static str, String> {
    let unsupported = |name: String| {
        format!(
            "the Zarr array's data type {name} is not supported: blur3d reads {SUPPORTED_TYPES}; \
             convert the array to one of them first"
        )
    };
    if let Some(m) = read_json(&dir.join("zarr.json"))? {
        match m.get("node_type").and_then(Value::as_str) {
            Some("array") => {}
            Some("group") => {
                return Err(format!(
                    "cannot open the Zarr array at {node}: it is a group, not an array"
                ));
            }
            _ => {
                return Err(format!(
                    "cannot open the Zarr array at {node}: its zarr.json has no node_type \
                     \"array\""
                ));
            }
        }
        let name = match m.get("data_type") {
            Some(Value::String(n)) => n.clone(),
            Some(Value::Object(o)) => o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_string(),
            Some(other) => other.to_string(),
            None => {
                return Err(format!(
                    "cannot open the Zarr array at {node}: its zarr.json has no data_type"
                ));
            }
        };
        let known = DType::ALL.iter().any(|d| d.numpy_name() == name);
        if !known {
            return Err(unsupported(name));
        }
        if m.get("codecs")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            return Err(format!(
                "cannot open the Zarr array at {node}: its zarr.json lists no codecs (\"codecs\": \
                 {}); a Zarr v3 array needs at least an array-to-bytes codec, such as \
                 [{{\"name\": \"bytes\", \"configuration\": {{\"endian\": \"little\"}}}}]",
                m.get("codecs")
                    .map_or("missing".to_string(), Value::to_string)
            ));
        }
        return Ok("zarr.json");
    }
    let Some(m) = read_json(&dir.join(".zarray"))? else {
        return Err(format!(
            "cannot open the Zarr array at {node}: no array there (no zarr.json or .zarray)"
        ));
    };
    match m.get("dtype") {
        Some(Value::String(t)) => {
            let code = t.trim_start_matches(['<', '>', '|', '=']);
            let known = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"];
            if !known.contains(&code) {
                let kind = match code {
                    "b1" => "bool",
                    "f2" => "float16",
                    "c8" => "complex64",
                    "c16" => "complex128",
                    "f16" => "float128",
                    _ if code.starts_with("M8") => "datetime64",
                    _ if code.starts_with("m8") => "timedelta64",
                    _ if code.starts_with('U') || code.starts_with('S') => "string",
                    _ if code.starts_with('O') => "object",
                    _ => "",
                };
                return Err(unsupported(if kind.is_empty() {
                    format!("{t:?}")
                } else {
                    format!("{kind} ({t:?})")
                }));
            }
        }
        Some(Value::Array(_)) => return Err(unsupported("a structured type".to_string())),
        Some(other) => return Err(unsupported(other.to_string())),
        None => {
            return Err(format!(
                "cannot open the Zarr array at {node}: its .zarray has no dtype"
            ));
        }
    }
    Ok(".zarray")
}

/// The data type of a Zarr array, if blur3d takes it.
fn dtype_of(d: &DataType) -> Result<DType, String> {
    Ok(match d {
        DataType::UInt8 => DType::U8,
        DataType::Int8 => DType::I8,
        DataType::UInt16 => DType::U16,
        DataType::Int16 => DType::I16,
        DataType::UInt32 => DType::U32,
        DataType::Int32 => DType::I32,
        DataType::UInt64 => DType::U64,
        DataType::Int64 => DType::I64,
        DataType::Float32 => DType::F32,
        DataType::Float64 => DType::F64,
        other => {
            return Err(format!(
                "the Zarr array's data type {other} is not supported: blur3d reads \
                 {SUPPORTED_TYPES}; convert the array to one of them first"
            ));
        }
    })
}

/// Most chunks along one axis that blur3d streams: each block holds every chunk across a row
/// of chunks, and the chunks' ranges are kept per axis.
const MAX_CHUNKS_PER_AXIS: u64 = 1 << 20;
/// Most chunks in all: each is visited (decoded, or found missing) at least once, at several
/// microseconds each.
const MAX_CHUNKS: u64 = 1 << 28;

/// Refuses a shape that no storage holds, and a chunk grid finer than blur3d streams (per
/// chunk it keeps a range per axis and, for a block, the chunk's values): what a crafted
/// header could otherwise make it allocate (or take hours over) before reading a byte.
fn check_grid(array: &Array<FilesystemStore>, dtype: DType, meta_file: &str) -> Result<(), String> {
    let shape = array.shape();
    let bytes = shape
        .iter()
        .try_fold(dtype.size() as u64, |acc, &n| acc.checked_mul(n))
        .filter(|&b| b <= i64::MAX as u64);
    if bytes.is_none() {
        return Err(format!(
            "the Zarr array's shape {shape:?} holds more than 2^63 bytes of {}: no storage holds \
             that, so its metadata ({meta_file}) is wrong: fix its shape",
            dtype.numpy_name()
        ));
    }
    let grid = array.chunk_grid_shape();
    let chunks: Vec<u64> = array
        .chunk_shape(&vec![0; shape.len()])
        .map(|c| c.iter().map(|n| n.get()).collect())
        .unwrap_or_default();
    let grid_text = grid
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" x ");
    if grid.iter().zip(shape).any(|(&g, &n)| g > n.max(1)) {
        return Err(format!(
            "the Zarr array's chunk grid ({grid_text} chunks) has more chunks along an axis than \
             its shape {shape:?} has voxels: its metadata ({meta_file}) is corrupt"
        ));
    }
    // Each block holds at least a row of chunks (every chunk along the last axis), decoded.
    let row = chunks
        .iter()
        .try_fold(dtype.size() as u64, |acc, &n| acc.checked_mul(n))
        .and_then(|chunk| chunk.checked_mul(*grid.last().unwrap_or(&1)));
    if let Some(memory) = crate::alloc::physical_memory()
        && row.is_none_or(|r| r > memory)
    {
        return Err(format!(
            "the Zarr array's chunks of {chunks:?} are too large to stream on this machine: a \
             row of chunks across the array (shape {shape:?}) holds {} of {}, more than its \
             {} bytes of memory: rewrite the array in smaller chunks, or fix its metadata \
             ({meta_file}) if the shape or chunks are wrong",
            row.map_or("more than 2^64 bytes".to_string(), |r| format!("{r} bytes")),
            dtype.numpy_name(),
            memory
        ));
    }
    let total = grid.iter().try_fold(1u64, |acc, &g| acc.checked_mul(g));
    if grid.iter().any(|&g| g > MAX_CHUNKS_PER_AXIS) || total.is_none_or(|t| t > MAX_CHUNKS) {
        return Err(format!(
            "the Zarr array's shape {shape:?} in chunks of {chunks:?} makes {grid_text} chunks, \
             more than blur3d streams (at most {MAX_CHUNKS_PER_AXIS} along an axis and \
             {MAX_CHUNKS} in all): rewrite the array in larger chunks (64 or more voxels along \
             each axis is usual), or fix the shape in its metadata ({meta_file}) if it is wrong"
        ));
    }
    Ok(())
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

/// A chunk's index along the three blurred axes and its values.
type Decoded<T> = ([usize; 3], Vec<T>);

/// Reads blocks of element `T` from the array, as voxels `A`, decoding the chunks they touch.
pub struct Source<'a, T, A> {
    input: &'a Input,
    grid: [Vec<Range<usize>>; 3],
    /// The chunks of the last block, decoded (their part inside the array, in C order).
    cache: HashMap<[usize; 3], Vec<T>>,
    /// Most bytes of decoded chunks kept at once.
    pub held: usize,
    /// Chunks decoded (each once per run of blocks that touch it).
    pub decoded: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<A>,
}

impl<'a, T, A> Source<'a, T, A> {
    pub fn new(input: &'a Input) -> Self {
        Source {
            grid: grid_ranges(&input.array, input.lead),
            input,
            cache: HashMap::new(),
            held: 0,
            decoded: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }
}

fn subset(lead: usize, ranges: [Range<u64>; 3]) -> ArraySubset {
    let mut all = vec![0..1; lead];
    all.extend(ranges);
    ArraySubset::new_with_ranges(&all)
}

impl<T, A> Source<'_, T, A>
where
    T: zarrs::array::ElementOwned + Element + Send,
{
    /// Keeps the chunks `needed` (dropping the others) and decodes those not kept, in parallel.
    fn fetch(&mut self, needed: &[[usize; 3]]) -> std::io::Result<()> {
        use rayon::prelude::*;
        self.cache.retain(|k, _| needed.contains(k));
        let missing: Vec<[usize; 3]> = needed
            .iter()
            .filter(|k| !self.cache.contains_key(*k))
            .copied()
            .collect();
        let (input, grid) = (self.input, &self.grid);
        let decoded: Result<Vec<Decoded<T>>, String> = missing
            .par_iter()
            .map(|&k| {
                let r: [Range<u64>; 3] = std::array::from_fn(|a| {
                    let r = &grid[a][k[a]];
                    r.start as u64..r.end as u64
                });
                let planes = r[0].clone();
                input
                    .array
                    .retrieve_array_subset_elements::<T>(&subset(input.lead, r))
                    .map(|values| (k, values))
                    .map_err(|e| {
                        format!(
                            "cannot read the chunk at planes {}..{} along {}: {}",
                            planes.start,
                            planes.end,
                            input.axis_names[0],
                            storage_problem(&e.to_string())
                        )
                    })
            })
            .collect();
        let decoded = decoded.map_err(|problem| {
            self.failed = Some(problem.clone());
            std::io::Error::other(problem)
        })?;
        self.decoded += decoded.len();
        self.cache.extend(decoded);
        let bytes: usize = self.cache.values().map(|v| v.len() * size_of::<T>()).sum();
        self.held = self.held.max(bytes);
        Ok(())
    }
}

impl<T, A> PlaneSource for Source<'_, T, A>
where
    T: zarrs::array::ElementOwned + Element + Send,
    A: Voxel + Element,
{
    type Voxel = A;

    fn shape(&self) -> [usize; 3] {
        self.input.shape
    }

    fn read_plane(&mut self, index: usize, plane: ArrayViewMut2<'_, A>) -> std::io::Result<()> {
        let rows: Vec<usize> = (0..self.input.shape[1]).collect();
        self.read_block(&[index], &rows, plane.insert_axis(Axis(0)))
    }

    fn read_block(
        &mut self,
        planes: &[usize],
        rows: &[usize],
        mut block: ArrayViewMut3<'_, A>,
    ) -> std::io::Result<()> {
        let [n0, n1, _] = self.input.shape;
        if let Some(&bad) = planes.iter().find(|&&p| p >= n0) {
            return Err(std::io::Error::other(format!(
                "{}: plane {bad} is outside the array",
                self.input.path.display()
            )));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= n1) {
            return Err(std::io::Error::other(format!(
                "{}: row {bad} is outside the array",
                self.input.path.display()
            )));
        }
        let kz = chunks_of(&self.grid[0], planes.iter().copied());
        let ky = chunks_of(&self.grid[1], rows.iter().copied());
        let kx = self.grid[2].len();
        let needed: Vec<[usize; 3]> = kz
            .iter()
            .flat_map(|&z| {
                ky.iter()
                    .flat_map(move |&y| (0..kx).map(move |x| [z, y, x]))
            })
            .collect();
        self.fetch(&needed)?;
        let g = &self.grid;
        for (&p, mut out) in planes.iter().zip(block.outer_iter_mut()) {
            let z = chunk_of(&g[0], p);
            let pz = p - g[0][z].start;
            for (&r, mut line) in rows.iter().zip(out.outer_iter_mut()) {
                let y = chunk_of(&g[1], r);
                let (py, sy) = (r - g[1][y].start, g[1][y].len());
                for (x, xs) in g[2].iter().enumerate() {
                    let chunk = &self.cache[&[z, y, x]];
                    let at = (pz * sy + py) * xs.len();
                    let src = &chunk[at..at + xs.len()];
                    let dst = line.slice_mut(ndarray::s![xs.clone()]);
                    for (o, &v) in dst.into_iter().zip(src) {
                        *o = A::from_f64(Element::to_f64(v));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The output array in the making: a temporary folder beside `path`, renamed over it when
/// complete. Dropped before, it removes itself.
pub struct Output {
    path: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

impl Output {
    /// Checks, before any work, that `path` can take the output of `input`: a new path or an
    /// older Zarr folder, in a folder that exists, apart from the input (neither inside it nor
    /// holding it).
    pub fn check(path: &Path, input: &Path) -> Result<(), String> {
        if path.exists() && !is_zarr_folder(path) {
            return Err(if path.is_dir() {
                "exists and is not a Zarr folder: blur3d replaces only a Zarr array or image"
                    .to_string()
            } else {
                "exists and is a file: blur3d replaces only a Zarr array or image".to_string()
            });
        }
        let dir = super::folder_of(path);
        if !dir.is_dir() {
            return Err(format!(
                "cannot create a folder in {}: no such folder",
                dir.display()
            ));
        }
        if let Ok(input) = input.canonicalize() {
            // The output (or the folder it would be made in) inside the input: a new array in
            // the input's folder, written while the input is read.
            let inside = match path.canonicalize() {
                Ok(out) => out.starts_with(&input),
                Err(_) => dir.canonicalize().is_ok_and(|d| d.starts_with(&input)),
            };
            if inside {
                return Err(format!(
                    "is the input or inside it ({}): write the output outside the input \
                     folder, for example beside it",
                    input.display()
                ));
            }
            // The input inside an output folder that would be replaced.
            if path.canonicalize().is_ok_and(|out| input.starts_with(&out)) {
                return Err(format!(
                    "holds the input ({}): replacing it would delete the input; write the \
                     output elsewhere",
                    input.display()
                ));
            }
        }
        Ok(())
    }

    /// Makes the temporary folder beside `path`, once [`Output::check`] has passed and the
    /// input has been opened and checked (so that a crafted input leaves nothing behind, even
    /// if it kills the process).
    pub fn create(path: &Path, input: &Path) -> Result<Output, String> {
        Output::check(path, input)?;
        let dir = super::folder_of(path);
        super::watch_signals();
        let mut pending = super::PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tmp = tempfile::Builder::new()
            .prefix(".blur3d-")
            .suffix(".zarr.part")
            .tempdir_in(&dir)
            .map_err(|e| {
                format!(
                    "cannot create a folder in {}: {}",
                    dir.display(),
                    super::io_problem(&e)
                )
            })?;
        *pending = Some(tmp.path().to_path_buf());
        Ok(Output {
            path: path.to_path_buf(),
            tmp: Some(tmp),
        })
    }

    /// The temporary folder.
    pub fn folder(&self) -> &Path {
        self.tmp
            .as_ref()
            .map_or(&self.path, tempfile::TempDir::path)
    }

    /// Renames the complete folder to its path, replacing an older Zarr folder there.
    pub fn persist(mut self) -> Result<(), String> {
        let mut pending = super::PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let done = tmp.keep();
        let result = (|| {
            if self.path.exists() {
                // The old output goes aside first, and is removed once the new one is in place.
                let old = tempfile::Builder::new()
                    .prefix(".blur3d-old-")
                    .tempdir_in(super::folder_of(&self.path))
                    .map_err(|e| super::io_problem(&e))?;
                let aside = old.path().join("old");
                std::fs::rename(&self.path, &aside).map_err(|e| super::io_problem(&e))?;
                if let Err(e) = std::fs::rename(&done, &self.path) {
                    let _ = std::fs::rename(&aside, &self.path);
                    return Err(super::io_problem(&e));
                }
                drop(old);
                Ok(())
            } else {
                std::fs::rename(&done, &self.path).map_err(|e| super::io_problem(&e))
            }
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&done);
        }
        *pending = None;
        result.map_err(|e| format!("cannot write: {e}"))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let mut pending = super::PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The temporary folder removes itself when dropped.
        self.tmp.take();
        *pending = None;
    }
}

/// The v2 and v3 names of a data type.
fn zarr_names(d: DType) -> (&'static str, &'static str) {
    match d {
        DType::U8 => ("|u1", "uint8"),
        DType::I8 => ("|i1", "int8"),
        DType::U16 => ("<u2", "uint16"),
        DType::I16 => ("<i2", "int16"),
        DType::U32 => ("<u4", "uint32"),
        DType::I32 => ("<i4", "int32"),
        DType::U64 => ("<u8", "uint64"),
        DType::I64 => ("<i8", "int64"),
        DType::F32 => ("<f4", "float32"),
        DType::F64 => ("<f8", "float64"),
    }
}

/// The v3 codecs for another data type: the bytes codec little-endian, blosc's type size.
fn retype_codecs(codecs: &mut Value, size: usize) {
    let Some(list) = codecs.as_array_mut() else {
        return;
    };
    for c in list {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(obj) = c.as_object_mut() else {
            continue;
        };
        let config = obj
            .entry("configuration")
            .or_insert_with(|| Value::Object(Map::new()));
        match name.as_str() {
            "bytes" if size > 1 => {
                config["endian"] = Value::from("little");
            }
            "blosc" => {
                config["typesize"] = Value::from(size);
            }
            "sharding_indexed" => {
                if let Some(inner) = config.get_mut("codecs") {
                    retype_codecs(inner, size);
                }
            }
            _ => {}
        }
    }
}

/// The output array's metadata: the input's, with the data type `dtype`.
fn output_metadata(input: &Input, dtype: DType) -> Result<ArrayMetadata, String> {
    let meta = input.array.metadata().clone();
    if dtype == input.dtype {
        return Ok(meta);
    }
    let mut json = serde_json::to_value(&meta).map_err(|e| e.to_string())?;
    let (v2_name, v3_name) = zarr_names(dtype);
    let zero = if matches!(dtype, DType::F32 | DType::F64) {
        Value::from(0.0)
    } else {
        Value::from(0)
    };
    match &meta {
        ArrayMetadata::V3(_) => {
            json["data_type"] = Value::from(v3_name);
            json["fill_value"] = zero;
            if let Some(codecs) = json.get_mut("codecs") {
                retype_codecs(codecs, dtype.size());
            }
        }
        ArrayMetadata::V2(_) => {
            json["dtype"] = Value::from(v2_name);
            json["fill_value"] = zero;
        }
    }
    serde_json::from_value(json).map_err(|e| format!("cannot make the output's metadata: {e}"))
}

/// The output's OME-Zarr group attributes: level 0 only, as blur3d does not make the others.
fn output_group_attributes(ome: &Ome) -> Map<String, Value> {
    let mut attrs = ome.attributes.clone();
    let ms = if ome.nested {
        attrs.get_mut("ome").and_then(|o| o.get_mut("multiscales"))
    } else {
        attrs.get_mut("multiscales")
    };
    if let Some(Value::Array(list)) = ms {
        list.truncate(1);
        if let Some(Value::Array(datasets)) = list.get_mut(0).and_then(|m| m.get_mut("datasets")) {
            datasets.truncate(1);
        }
        // Units of length as OME-NGFF names them ("um" is read, "micrometer" written).
        if let Some(Value::Array(axes)) = list.get_mut(0).and_then(|m| m.get_mut("axes")) {
            for axis in axes {
                let Some(unit) = axis.get_mut("unit") else {
                    continue;
                };
                if let Some(length) = unit.as_str().and_then(units::length) {
                    *unit = Value::from(length.ome);
                }
            }
        }
    }
    attrs
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("cannot write: {}", super::io_problem(&e)))
}

/// Creates the output array (and its OME-Zarr group) in `folder`, metadata only.
pub fn create_output(
    input: &Input,
    folder: &Path,
    dtype: DType,
) -> Result<Array<FilesystemStore>, String> {
    let _writing = super::start_writing().map_err(|e| e.to_string())?;
    let node = match &input.ome {
        Some(ome) => {
            let attrs = Value::Object(output_group_attributes(ome));
            if input.v3 {
                let mut group = read_json(&input.path.join("zarr.json"))?.unwrap_or_default();
                group["attributes"] = attrs;
                write_json(&folder.join("zarr.json"), &group)?;
            } else {
                let zgroup = read_json(&input.path.join(".zgroup"))?
                    .unwrap_or_else(|| serde_json::json!({"zarr_format": 2}));
                write_json(&folder.join(".zgroup"), &zgroup)?;
                write_json(&folder.join(".zattrs"), &attrs)?;
            }
            format!("/{}", ome.dataset)
        }
        None => "/".to_string(),
    };
    let store = Arc::new(
        FilesystemStore::new(folder).map_err(|e| format!("cannot create the folder: {e}"))?,
    );
    let metadata = output_metadata(input, dtype)?;
    let array = Array::new_with_metadata(store, &node, metadata)
        .map_err(|e| format!("cannot make the output array: {e}"))?;
    array
        .store_metadata_opt(&ArrayMetadataOptions::default().with_include_zarrs_metadata(false))
        .map_err(|e| format!("cannot write: {}", storage_problem(&e.to_string())))?;
    if !input.v3 {
        // zarrs writes a v3 "node_type" into .zarray too; Zarr v2 has no such key.
        let zarray = folder.join(node.trim_start_matches('/')).join(".zarray");
        if let Some(Value::Object(mut m)) = read_json(&zarray)? {
            if m.remove("node_type").is_some() {
                write_json(&zarray, &Value::Object(m))?;
            }
        }
    }
    Ok(array)
}

/// A storage error in words, without Rust's "(os error N)".
fn storage_problem(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Writes blocks of voxels `B` into the array as elements `T`, each chunk whole, as soon as
/// the blocks have filled it.
pub struct Sink<'a, B, T> {
    array: &'a Array<FilesystemStore>,
    lead: usize,
    grid: [Vec<Range<usize>>; 3],
    /// Chunks partly written: their values (the chunk's whole shape, as the codec takes it)
    /// and how many of its voxels inside the array are written.
    partial: HashMap<[usize; 3], (Vec<T>, usize)>,
    /// Most bytes of partly written chunks held at once.
    pub held: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<B>,
}

impl<'a, B, T: Element + zarrs::array::Element> Sink<'a, B, T> {
    pub fn new(array: &'a Array<FilesystemStore>, lead: usize) -> Self {
        Sink {
            array,
            lead,
            grid: grid_ranges(array, lead),
            partial: HashMap::new(),
            held: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }

    /// Encodes and stores `chunks`, in parallel.
    fn store(&mut self, chunks: Vec<([usize; 3], Vec<T>)>) -> std::io::Result<()> {
        use rayon::prelude::*;
        let (lead, array) = (self.lead, self.array);
        chunks
            .into_par_iter()
            .try_for_each(|(k, values)| {
                let _writing = super::start_writing().map_err(|e| e.to_string())?;
                array
                    .store_chunk_elements::<T>(&chunk_index(lead, k), &values)
                    .map_err(|e| storage_problem(&e.to_string()))
            })
            .map_err(|e| {
                let problem = format!("cannot write a chunk: {e}");
                self.failed = Some(problem.clone());
                std::io::Error::other(problem)
            })
    }
}

impl<B, T> PlaneSink for Sink<'_, B, T>
where
    B: Voxel + Element,
    T: zarrs::array::Element + Element + Send,
{
    type Voxel = B;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        self.write_block(output, [first, 0], planes)
    }

    fn tiles(&self) -> Option<[usize; 2]> {
        let [a, b, _] = self
            .grid
            .clone()
            .map(|ranges| ranges.iter().map(|r| r.len()).max().unwrap_or(1));
        Some([a, b])
    }

    fn write_block(
        &mut self,
        output: usize,
        [p0, r0]: [usize; 2],
        block: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        if output != 0 {
            return Err(std::io::Error::other("a Zarr sink takes one output"));
        }
        let [np, nr, _] = [0, 1, 2].map(|a| block.len_of(Axis(a)));
        if np == 0 || nr == 0 {
            return Ok(());
        }
        let g = &self.grid;
        let kz = chunk_of(&g[0], p0)..=chunk_of(&g[0], p0 + np - 1);
        let ky = chunk_of(&g[1], r0)..=chunk_of(&g[1], r0 + nr - 1);
        let mut complete = Vec::new();
        for z in kz {
            for y in ky.clone() {
                for (x, xs) in g[2].iter().enumerate() {
                    let k = [z, y, x];
                    let (zs, ys) = (&g[0][z], &g[1][y]);
                    // The chunk's whole shape (past the array's edge too), as the codec takes it.
                    let sub = self
                        .array
                        .chunk_subset(&chunk_index(self.lead, k))
                        .map_err(std::io::Error::other)?;
                    let (values, written) = self
                        .partial
                        .entry(k)
                        .or_insert_with(|| (vec![T::zeroed(); sub.num_elements_usize()], 0));
                    let shape = sub.shape();
                    let (fy, fx) = (shape[self.lead + 1] as usize, shape[self.lead + 2] as usize);
                    let planes = zs.start.max(p0)..zs.end.min(p0 + np);
                    let rows = ys.start.max(r0)..ys.end.min(r0 + nr);
                    for p in planes.clone() {
                        for r in rows.clone() {
                            let line = block.slice(ndarray::s![p - p0, r - r0, xs.clone()]);
                            let at = ((p - zs.start) * fy + (r - ys.start)) * fx;
                            for (o, &v) in values[at..at + xs.len()].iter_mut().zip(line) {
                                *o = T::from_f64(Element::to_f64(v));
                            }
                        }
                    }
                    *written += planes.len() * rows.len() * xs.len();
                    if *written == zs.len() * ys.len() * xs.len()
                        && let Some((values, _)) = self.partial.remove(&k)
                    {
                        complete.push((k, values));
                    }
                }
            }
        }
        let bytes: usize = self.partial.values().map(|(v, _)| v.len()).sum::<usize>()
            + complete.iter().map(|(_, v)| v.len()).sum::<usize>();
        let bytes = bytes * size_of::<T>();
        self.held = self.held.max(bytes);
        self.store(complete)
    }
}
