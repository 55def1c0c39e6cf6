//! Zarr v2 and v3 arrays and OME-Zarr images (NGFF 0.4 on v2, 0.5 on v3) in a folder, streamed
//! slab by slab through [`blur3d::PlaneSource`] and [`blur3d::PlaneSink`]: volumes larger than
//! memory.
//!
//! The input is read a chunk row (the chunks that share a range of axis 0) at a time, and the
//! last two rows are kept, so a slab's halo reaching back into the previous row reads nothing
//! twice. The output is buffered one chunk row at a time and written as whole chunks when the
//! row is complete. Host memory is therefore about
//! `2 * row_in + row_out + (the GPU's slabs in flight)`, whatever the volume's length along
//! axis 0, where `row_in` and `row_out` are one chunk row of the input and the output.
//!
//! The output keeps the input's format version, chunk grid, codecs, attributes and data type
//! (or `--dtype`'s). It is written into a temporary folder beside the output's path and renamed
//! when complete.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use blur3d::{PlaneSink, PlaneSource, Voxel};
use ndarray::{ArrayView3, ArrayViewMut2, Axis};
use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataOptions, DataType};
use zarrs::array_subset::ArraySubset;
use zarrs::filesystem::FilesystemStore;

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

/// Whether `path` is a folder holding Zarr metadata.
pub fn is_zarr_folder(path: &Path) -> bool {
    path.is_dir()
        && [".zarray", ".zgroup", "zarr.json"]
            .iter()
            .any(|m| path.join(m).is_file())
}

/// Millimetres per `unit`, for the units of length NGFF names.
fn mm_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "angstrom" => 1e-7,
        "nanometer" => 1e-6,
        "micrometer" | "micron" => 1e-3,
        "millimeter" => 1.0,
        "centimeter" => 10.0,
        "decimeter" => 100.0,
        "meter" => 1e3,
        "kilometer" => 1e6,
        "inch" => 25.4,
        "foot" => 304.8,
        "mile" => 1_609_344.0,
        _ => return None,
    })
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
            let first = ms
                .as_array()
                .and_then(|m| m.first())
                .cloned()
                .ok_or_else(|| "the OME-Zarr multiscales list is empty".to_string())?;
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
        let array = Array::open(store, &node).map_err(|e| {
            let e = e.to_string();
            if e.contains("ailed to find") || e.contains("not found") || e.contains("missing") {
                format!("cannot open the Zarr array at {node}: no array there")
            } else {
                format!("cannot open the Zarr array: {e}")
            }
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
                        Some(u) => match mm_per(u) {
                            Some(f) => mm[i] = scale[lead + i] * f,
                            None => {
                                missing = Some(format!(
                                    "the OME-Zarr axis {} has the unit {u:?}, not a length",
                                    axis_names[i]
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

    /// The chunk length along the blurred axis 0 (its largest).
    pub fn chunk_planes(&self) -> usize {
        let rows = row_ranges(&self.array, self.lead);
        rows.iter().map(|r| r.end - r.start).max().unwrap_or(1)
    }
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
                "the Zarr array's data type {other} is not supported: blur3d reads u8, i8, u16, \
                 i16, u32, i32, u64, i64, f32 and f64"
            ));
        }
    })
}

/// The ranges of axis 0 (the first blurred axis) of each chunk row.
fn row_ranges(array: &Array<FilesystemStore>, lead: usize) -> Vec<std::ops::Range<usize>> {
    let rows = array.chunk_grid_shape()[lead];
    (0..rows)
        .filter_map(|r| {
            let mut idx = vec![0; array.dimensionality()];
            idx[lead] = r;
            let s = array.chunk_subset_bounded(&idx).ok()?;
            let start = usize::try_from(s.start()[lead]).ok()?;
            let len = usize::try_from(s.shape()[lead]).ok()?;
            Some(start..start + len)
        })
        .collect()
}

/// The row holding plane `p`.
fn row_of(rows: &[std::ops::Range<usize>], p: usize) -> usize {
    rows.partition_point(|r| r.end <= p)
}

/// Largest number of planes (along axis 0, at the volume's width) a source or sink held at
/// once, for the bounded-memory test.
#[derive(Debug, Default, Clone, Copy)]
pub struct Held {
    pub rows_decoded: usize,
    pub source_planes: usize,
    pub sink_planes: usize,
}

/// Reads planes of element `T` from the array, as voxels `A`, a chunk row at a time.
pub struct Source<'a, T, A> {
    input: &'a Input,
    rows: Vec<std::ops::Range<usize>>,
    /// Planes decoded and kept: the current chunk row, and the last `keep` planes before it
    /// (the next slab's halo reaches back that far), each as (planes, values in C order).
    cache: Vec<(std::ops::Range<usize>, Vec<T>)>,
    keep: usize,
    pub held: usize,
    /// Chunk rows decoded (each once, unless a slab reaches back past the rows kept).
    pub decoded: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<A>,
}

impl<'a, T, A> Source<'a, T, A> {
    /// A source that keeps `keep` planes of the rows before the current one: twice the
    /// kernel's radius along axis 0, since a slab's halo starts that far before the last plane
    /// of the slab before it.
    pub fn new(input: &'a Input, keep: usize) -> Self {
        Source {
            rows: row_ranges(&input.array, input.lead),
            input,
            cache: Vec::with_capacity(2),
            keep,
            held: 0,
            decoded: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }
}

fn subset(lead: usize, ranges: [std::ops::Range<u64>; 3]) -> ArraySubset {
    let mut all = vec![0..1; lead];
    all.extend(ranges);
    ArraySubset::new_with_ranges(&all)
}

impl<T, A> PlaneSource for Source<'_, T, A>
where
    T: zarrs::array::ElementOwned + Element,
    A: Voxel + Element,
{
    type Voxel = A;

    fn shape(&self) -> [usize; 3] {
        self.input.shape
    }

    fn read_plane(&mut self, index: usize, mut plane: ArrayViewMut2<'_, A>) -> std::io::Result<()> {
        let r = row_of(&self.rows, index);
        let Some(range) = self.rows.get(r).cloned() else {
            return Err(std::io::Error::other(format!(
                "{}: plane {index} is outside the array",
                self.input.path.display()
            )));
        };
        if !self.cache.iter().any(|(planes, _)| planes.contains(&index)) {
            let [_, n1, n2] = self.input.shape;
            let s = subset(
                self.input.lead,
                [
                    range.start as u64..range.end as u64,
                    0..n1 as u64,
                    0..n2 as u64,
                ],
            );
            let values = self
                .input
                .array
                .retrieve_array_subset_elements::<T>(&s)
                .map_err(|e| {
                    let problem = format!(
                        "cannot read the chunks of planes {}..{} along {}: {}",
                        range.start,
                        range.end,
                        self.input.axis_names[0],
                        storage_problem(&e.to_string())
                    );
                    self.failed = Some(problem.clone());
                    std::io::Error::other(problem)
                })?;
            // Slabs go forward, with halos reaching back `keep` planes: of the planes before
            // this row, only those are kept; planes after it (read out of order at an edge)
            // are read again when needed.
            let plane = n1 * n2;
            let from = range.start.saturating_sub(self.keep);
            let mut kept = Vec::with_capacity(2);
            for (planes, values) in self.cache.drain(..) {
                if planes.end <= range.start && planes.end > from {
                    let start = planes.start.max(from);
                    let tail = values[(start - planes.start) * plane..].to_vec();
                    kept.push((start..planes.end, tail));
                }
            }
            self.cache = kept;
            self.cache.push((range.clone(), values));
            self.decoded += 1;
            let held: usize = self.cache.iter().map(|(planes, _)| planes.len()).sum();
            self.held = self.held.max(held);
        }
        let (planes, values) = self
            .cache
            .iter()
            .find(|(planes, _)| planes.contains(&index))
            .expect("the plane was just read");
        let [_, n1, n2] = self.input.shape;
        let at = (index - planes.start) * n1 * n2;
        let src = &values[at..at + n1 * n2];
        for (o, &v) in plane.iter_mut().zip(src) {
            *o = A::from_f64(Element::to_f64(v));
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
    /// Makes the temporary folder beside `path`, checking first that `path` can be replaced.
    pub fn create(path: &Path, input: &Path) -> Result<Output, String> {
        if path.exists() {
            if !is_zarr_folder(path) {
                return Err(if path.is_dir() {
                    "exists and is not a Zarr folder: blur3d replaces only a Zarr array or image"
                        .to_string()
                } else {
                    "exists and is a file: blur3d replaces only a Zarr array or image".to_string()
                });
            }
            let same = match (path.canonicalize(), input.canonicalize()) {
                (Ok(a), Ok(b)) => a == b || b.starts_with(&a) || a.starts_with(&b),
                _ => false,
            };
            if same {
                return Err(
                    "is the input (or holds it): give another output folder, the input is \
                     read while the output is written"
                        .to_string(),
                );
            }
        }
        let dir = super::folder_of(path);
        if !dir.is_dir() {
            return Err(format!(
                "cannot create a folder in {}: no such folder",
                dir.display()
            ));
        }
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

/// Writes planes of voxels `B` into the array as elements `T`, a whole chunk row at a time.
pub struct Sink<'a, B, T> {
    array: &'a Array<FilesystemStore>,
    lead: usize,
    shape: [usize; 3],
    rows: Vec<std::ops::Range<usize>>,
    /// The current row's chunks, as the codec takes them (padded to whole chunks).
    buffer: Vec<T>,
    /// The buffer's shape: the row's chunks, unbounded.
    padded: [usize; 3],
    row: usize,
    pub held: usize,
    /// What went wrong, in words, for the command line.
    pub failed: Option<String>,
    _voxel: std::marker::PhantomData<B>,
}

impl<'a, B, T: Element + zarrs::array::Element> Sink<'a, B, T> {
    pub fn new(array: &'a Array<FilesystemStore>, lead: usize) -> Self {
        let full = array.shape();
        let shape = [full[lead], full[lead + 1], full[lead + 2]].map(|n| n as usize);
        Sink {
            array,
            lead,
            shape,
            rows: row_ranges(array, lead),
            buffer: Vec::new(),
            padded: [0; 3],
            row: usize::MAX,
            held: 0,
            failed: None,
            _voxel: std::marker::PhantomData,
        }
    }

    /// The chunk indices of row `r`, as an array subset of the chunk grid.
    fn row_chunks(&self, r: usize) -> ArraySubset {
        let grid = self.array.chunk_grid_shape();
        let mut ranges = vec![0..1; self.lead];
        ranges.push(r as u64..r as u64 + 1);
        ranges.push(0..grid[self.lead + 1]);
        ranges.push(0..grid[self.lead + 2]);
        ArraySubset::new_with_ranges(&ranges)
    }

    fn start_row(&mut self, r: usize) -> std::io::Result<()> {
        let chunks = self
            .array
            .chunks_subset(&self.row_chunks(r))
            .map_err(|e| std::io::Error::other(format!("chunk row {r}: {e}")))?;
        let s = chunks.shape();
        self.padded = [s[self.lead], s[self.lead + 1], s[self.lead + 2]].map(|n| n as usize);
        let len = self.padded.iter().product();
        self.buffer.clear();
        self.buffer.resize(len, T::zeroed());
        self.row = r;
        self.held = self.held.max(self.padded[0]);
        Ok(())
    }

    /// Encodes and stores the chunks of the current row, in parallel, each copied out of the
    /// row's buffer on its own (no copy of the whole row).
    fn flush(&mut self) -> std::io::Result<()> {
        use rayon::prelude::*;
        let grid = self.array.chunk_grid_shape();
        let (g1, g2) = (grid[self.lead + 1], grid[self.lead + 2]);
        let [_, p1, p2] = self.padded;
        let (lead, row, buffer, array) = (self.lead, self.row as u64, &self.buffer, self.array);
        (0..g1 * g2)
            .into_par_iter()
            .try_for_each(|k| {
                let mut idx = vec![0; lead];
                idx.extend([row, k / g2, k % g2]);
                let sub = array.chunk_subset(&idx)?;
                let (st, sh) = (sub.start(), sub.shape());
                let [s0, s1, s2] = [sh[lead], sh[lead + 1], sh[lead + 2]].map(|n| n as usize);
                let (b1, b2) = (st[lead + 1] as usize, st[lead + 2] as usize);
                let mut chunk = Vec::with_capacity(s0 * s1 * s2);
                for a in 0..s0 {
                    for b in 0..s1 {
                        let at = (a * p1 + b1 + b) * p2 + b2;
                        chunk.extend_from_slice(&buffer[at..at + s2]);
                    }
                }
                array.store_chunk_elements::<T>(&idx, &chunk)
            })
            .map_err(|e| {
                let range = &self.rows[self.row];
                let problem = format!(
                    "cannot write the chunks of planes {}..{}: {}",
                    range.start,
                    range.end,
                    storage_problem(&e.to_string())
                );
                self.failed = Some(problem.clone());
                std::io::Error::other(problem)
            })
    }
}

impl<B, T> PlaneSink for Sink<'_, B, T>
where
    B: Voxel + Element,
    T: zarrs::array::Element + Element,
{
    type Voxel = B;

    fn write_planes(
        &mut self,
        output: usize,
        first: usize,
        planes: ArrayView3<'_, B>,
    ) -> std::io::Result<()> {
        if output != 0 {
            return Err(std::io::Error::other("a Zarr sink takes one output"));
        }
        let [_, n1, n2] = self.shape;
        for (i, plane) in planes.axis_iter(Axis(0)).enumerate() {
            let p = first + i;
            let r = row_of(&self.rows, p);
            if r != self.row {
                self.start_row(r)?;
            }
            let range = self.rows[r].clone();
            let [_, p1, p2] = self.padded;
            let base = (p - range.start) * p1 * p2;
            for (j, line) in plane.outer_iter().enumerate() {
                let out = &mut self.buffer[base + j * p2..base + j * p2 + n2];
                for (o, &v) in out.iter_mut().zip(line.iter()) {
                    *o = T::from_f64(Element::to_f64(v));
                }
            }
            debug_assert!(n1 <= p1);
            if p + 1 == range.end {
                self.flush()?;
                self.buffer = Vec::new();
            }
        }
        Ok(())
    }
}
