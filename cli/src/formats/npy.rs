//! NumPy `.npy`: the array's axes are the volume's axes (C or Fortran order alike); no spacing.

use std::io::{Read, Write};
use std::path::Path;

use ndarray::{Array3, ArrayBase, Data, Ix3};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};

use super::Meta;
use crate::volume::{Volume, Voxels, with_voxels};

pub fn read(path: &Path) -> Result<Volume, String> {
    let mut bytes = Vec::new();
    super::open(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| super::io_problem(&e))?;
    let header =
        Header::from_reader(&mut &bytes[..]).map_err(|e| format!("not a valid .npy file: {e}"))?;
    if header.shape.len() != 3 {
        return Err(format!(
            "the array is {}-dimensional (shape {:?}): blur3d needs a 3D volume",
            header.shape.len(),
            header.shape
        ));
    }
    let descr = header
        .type_descriptor
        .as_string()
        .cloned()
        .unwrap_or_else(|| header.type_descriptor.to_string());
    // '<f4', '>i2', '|u1': byte order, then kind and size.
    let kind = descr.trim_start_matches(['<', '>', '|', '=']);
    let voxels = match kind {
        "u1" => Voxels::U8(array(&bytes)?),
        "i1" => Voxels::I8(array(&bytes)?),
        "u2" => Voxels::U16(array(&bytes)?),
        "i2" => Voxels::I16(array(&bytes)?),
        "u4" => Voxels::U32(array(&bytes)?),
        "i4" => Voxels::I32(array(&bytes)?),
        "u8" => Voxels::U64(array(&bytes)?),
        "i8" => Voxels::I64(array(&bytes)?),
        "f4" => Voxels::F32(array(&bytes)?),
        "f8" => Voxels::F64(array(&bytes)?),
        _ => {
            return Err(format!(
                "the data type {descr:?} is not supported: use unsigned or signed integers of \
                 1 to 8 bytes, float32 or float64"
            ));
        }
    };
    Ok(Volume {
        voxels,
        spacing: None,
        meta: Meta::None,
    })
}

fn array<T: ReadableElement>(bytes: &[u8]) -> Result<Array3<T>, String> {
    Array3::<T>::read_npy(bytes).map_err(|e| format!("not a valid .npy file: {e}"))
}

pub fn write(w: &mut impl Write, volume: &Volume) -> Result<(), String> {
    with_voxels!(&volume.voxels, a => write_array(w, a))
}

fn write_array<S, T>(w: &mut impl Write, a: &ArrayBase<S, Ix3>) -> Result<(), String>
where
    S: Data<Elem = T>,
    T: WritableElement,
{
    a.write_npy(w).map_err(|e| format!("cannot write: {e}"))
}
