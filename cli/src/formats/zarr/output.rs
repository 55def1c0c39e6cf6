//! The output Zarr array: its place checked, its temporary folder, and its metadata (the
//! input's, with the output's data type, and an OME-Zarr image's group of level 0 only).

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataOptions};
use zarrs::filesystem::FilesystemStore;

use super::input::Ome;
use super::{Input, is_zarr_folder, read_json, storage_problem};
use crate::atomic::{Output, folder_of, start_writing};
use crate::formats::io_problem;
use crate::units;
use crate::volume::DType;

/// Checks, before any work, that `path` can take the output of `input`: a new path or an
/// older Zarr folder, in a folder that exists, apart from the input (neither inside it nor
/// holding it).
pub fn check_output(path: &Path, input: &Path) -> Result<(), String> {
    if path.exists() && !is_zarr_folder(path) {
        return Err(if path.is_dir() {
            "exists and is not a Zarr folder: blur3d replaces only a Zarr array or image"
                .to_string()
        } else {
            "exists and is a file: blur3d replaces only a Zarr array or image".to_string()
        });
    }
    let dir = folder_of(path);
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

/// The temporary folder of the output array beside `path`, once [`check_output`] has passed
/// and the input has been opened and checked (so that a crafted input leaves nothing behind,
/// even if it kills the process); renamed over `path` when complete.
pub fn output_folder(path: &Path, input: &Path) -> Result<Output, String> {
    check_output(path, input)?;
    Output::folder(path, ".zarr.part")
}

/// A data type's name in Zarr v2 (numpy's type code, little-endian); v3 names it as numpy does
/// (`DType::numpy_name`).
fn v2_name(d: DType) -> &'static str {
    match d {
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::U16 => "<u2",
        DType::I16 => "<i2",
        DType::U32 => "<u4",
        DType::I32 => "<i4",
        DType::U64 => "<u8",
        DType::I64 => "<i8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
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
    let zero = if matches!(dtype, DType::F32 | DType::F64) {
        Value::from(0.0)
    } else {
        Value::from(0)
    };
    match &meta {
        ArrayMetadata::V3(_) => {
            json["data_type"] = Value::from(dtype.numpy_name());
            json["fill_value"] = zero;
            if let Some(codecs) = json.get_mut("codecs") {
                retype_codecs(codecs, dtype.size());
            }
        }
        ArrayMetadata::V2(_) => {
            json["dtype"] = Value::from(v2_name(dtype));
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
    std::fs::write(path, text).map_err(|e| format!("cannot write: {}", io_problem(&e)))
}

/// Creates the output array (and its OME-Zarr group) in `folder`, metadata only.
pub fn create_output(
    input: &Input,
    folder: &Path,
    dtype: DType,
) -> Result<Array<FilesystemStore>, String> {
    let _writing = start_writing().map_err(|e| e.to_string())?;
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
