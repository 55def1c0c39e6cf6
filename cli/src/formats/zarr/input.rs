//! Opening a Zarr array or an OME-Zarr image's level 0: its metadata read and checked in a
//! user's words, its three blurred axes, their names and spacing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, DataType};
use zarrs::filesystem::FilesystemStore;

use super::{grid_ranges, read_json, storage_problem};
use crate::units;
use crate::volume::DType;

/// An OME-Zarr image's level 0, as read from its group.
#[derive(Debug, Clone)]
pub struct Ome {
    /// The group's attributes, as they are.
    pub(super) attributes: Map<String, Value>,
    /// Where the group's attributes hold the multiscales: under "ome" (0.5) or at the top (0.4).
    pub(super) nested: bool,
    /// The path of level 0 in the group.
    pub(super) dataset: String,
}

/// An input Zarr array (or an OME-Zarr image's level 0), opened.
pub struct Input {
    pub path: PathBuf,
    pub(super) array: Array<FilesystemStore>,
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
        let node = Node::read(path)?;
        let store = Arc::new(
            FilesystemStore::new(path).map_err(|e| format!("cannot open the folder: {e}"))?,
        );
        let (ome, multiscale) = if node.group {
            let (ome, multiscale) = ome_image(node.attributes, node.v3)?;
            (Some(ome), Some(multiscale))
        } else {
            (None, None)
        };
        let (array, meta_file) = open_array(store, path, ome.as_ref())?;
        let v3 = match array.metadata() {
            ArrayMetadata::V3(_) => true,
            ArrayMetadata::V2(_) => false,
        } && node.v3;
        let dtype = dtype_of(array.data_type())?;
        let (lead, shape) = blurred_axes(&array, dtype, meta_file)?;
        let mut axis_names = dimension_names(&array, lead);
        let (spacing, no_spacing) = match &multiscale {
            Some(ms) => ome_spacing(ms, array.shape().len(), lead, &mut axis_names)?,
            None => (None, PLAIN_NO_SPACING.to_string()),
        };
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

/// What the folder holds, from its metadata files: a v3 node (`zarr.json`), a v2 array
/// (`.zarray`) or a v2 group (`.zgroup`, with `.zattrs`).
struct Node {
    v3: bool,
    group: bool,
    /// A group's attributes.
    attributes: Map<String, Value>,
}

impl Node {
    fn read(path: &Path) -> Result<Node, String> {
        if !path.exists() {
            return Err("no such file or folder".to_string());
        }
        if !path.is_dir() {
            return Err("is a file: a Zarr array or OME-Zarr image is a folder".to_string());
        }
        let v3_meta = read_json(&path.join("zarr.json"))?;
        let v2_array = path.join(".zarray").is_file();
        let v2_group = path.join(".zgroup").is_file();
        let (v3, group, attributes) = match &v3_meta {
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
        Ok(Node {
            v3,
            group,
            attributes,
        })
    }
}

/// The OME-Zarr image a group's `attributes` describe (v3: in `zarr.json`, else `.zattrs`):
/// its level 0, and its first multiscale image.
fn ome_image(attributes: Map<String, Value>, v3: bool) -> Result<(Ome, Value), String> {
    let (nested, ms) = match attributes.get("ome").and_then(|o| o.get("multiscales")) {
        Some(ms) => (true, ms),
        None => match attributes.get("multiscales") {
            Some(ms) => (false, ms),
            None => {
                return Err(
                    "is a Zarr group, not an array, and not an OME-Zarr image (its attributes \
                     have no multiscales): give the path of an array in it"
                        .to_string(),
                );
            }
        },
    };
    let Some(list) = ms.as_array() else {
        return Err(format!(
            "the OME-Zarr multiscales is {}, not a list: OME-NGFF makes it a list of \
             multiscale images ([{{\"axes\": ..., \"datasets\": ...}}]); fix the group's \
             attributes ({})",
            json_kind(ms),
            if v3 { "zarr.json" } else { ".zattrs" }
        ));
    };
    let first = list.first().cloned().ok_or_else(|| {
        "the OME-Zarr multiscales list is empty: it needs one multiscale image with its datasets"
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
    let ome = Ome {
        attributes,
        nested,
        dataset,
    };
    Ok((ome, first))
}

/// Opens the array at `path` (an OME-Zarr image's level 0 in it), its metadata checked first;
/// the array and the name of its metadata file.
fn open_array(
    store: Arc<FilesystemStore>,
    path: &Path,
    ome: Option<&Ome>,
) -> Result<(Array<FilesystemStore>, &'static str), String> {
    let node = ome.map_or("/".to_string(), |o| format!("/{}", o.dataset));
    let node_dir = match ome {
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
    Ok((array, meta_file))
}

/// The number of leading axes (each of length 1) and the shape of the three blurred axes,
/// once the shape and chunk grid are checked.
fn blurred_axes(
    array: &Array<FilesystemStore>,
    dtype: DType,
    meta_file: &str,
) -> Result<(usize, [usize; 3]), String> {
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
    check_grid(array, dtype, meta_file)?;
    let shape = [
        usize::try_from(full[lead]).map_err(|e| e.to_string())?,
        usize::try_from(full[lead + 1]).map_err(|e| e.to_string())?,
        usize::try_from(full[lead + 2]).map_err(|e| e.to_string())?,
    ];
    Ok((lead, shape))
}

/// The blurred axes' names: the array's dimension names, else "axis N".
fn dimension_names(array: &Array<FilesystemStore>, lead: usize) -> [String; 3] {
    let meta_json = serde_json::to_value(array.metadata()).unwrap_or(Value::Null);
    let dim_names: Option<Vec<String>> = meta_json
        .get("dimension_names")
        .and_then(Value::as_array)
        .map(|n| {
            n.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        });
    std::array::from_fn(|i| match dim_names.as_ref().map(|n| n[lead + i].as_str()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("axis {}", lead + i),
    })
}

/// Why a plain Zarr array has no spacing.
const PLAIN_NO_SPACING: &str =
    "a plain Zarr array has no voxel spacing (an OME-Zarr image has, in its scale and axis units)";

/// The spacing in millimetres of the blurred axes from the multiscale image `ms` (of `ndim`
/// axes) and its level 0's scale, or why there is none; the axes' names as OME names them
/// replace `axis_names`.
fn ome_spacing(
    ms: &Value,
    ndim: usize,
    lead: usize,
    axis_names: &mut [String; 3],
) -> Result<(Option<[f64; 3]>, String), String> {
    let axes = ms.get("axes").and_then(Value::as_array);
    let Some(axes) = axes.filter(|a| a.len() == ndim) else {
        return Ok((
            None,
            format!("the OME-Zarr multiscale does not list {ndim} axes"),
        ));
    };
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
                        "the OME-Zarr axis {} has the unit {u:?}, which is not a unit of length \
                         blur3d knows ({}, or the OME-NGFF names such as \"micrometer\")",
                        axis_names[i],
                        units::USUAL
                    ));
                }
            },
            None => {
                missing = Some(format!("the OME-Zarr axis {} has no unit", axis_names[i]));
            }
        }
    }
    Ok(match missing {
        None => (Some(mm), PLAIN_NO_SPACING.to_string()),
        Some(m) => (None, m),
    })
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
