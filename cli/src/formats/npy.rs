//! NumPy `.npy`: the array's axes are the volume's axes (C or Fortran order alike); no spacing.
//! A 4D array is a series of volumes along its first axis.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use ndarray::{ArrayD, Axis, Ix4, IxDyn, ShapeBuilder};
use ndarray_npy::WriteNpyExt;
use ndarray_npy::npy::header::{Header, Layout};

use super::{Meta, io_problem};
use crate::volume::{DType, Element, Volume, with_dtype, with_voxels};

pub fn read(path: &Path) -> Result<Volume, String> {
    let (file, len) = super::open(path)?;
    if len == 0 {
        return Err("the file is empty: not a .npy file".to_string());
    }
    let mut r = BufReader::new(file);
    let not_npy = || "not a .npy file (it does not start with numpy's magic string)".to_string();
    // Magic, version, and the header's length (2 bytes in version 1, 4 in 2 and 3).
    let mut preamble = [0u8; 12];
    r.read_exact(&mut preamble[..10]).map_err(|_| not_npy())?;
    if &preamble[..6] != b"\x93NUMPY" {
        return Err(not_npy());
    }
    let (header_len, start) = match preamble[6] {
        1 => (
            u64::from(u16::from_le_bytes([preamble[8], preamble[9]])),
            10,
        ),
        2 | 3 => {
            r.read_exact(&mut preamble[10..12]).map_err(|_| not_npy())?;
            let n = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
            (u64::from(n), 12)
        }
        v => {
            return Err(format!(
                "unknown .npy version {v}: blur3d reads versions 1 to 3"
            ));
        }
    };
    let data_start = start + header_len;
    if data_start > len {
        return Err(format!(
            "the file is truncated: its header says it is {header_len} bytes long, the file \
             holds {len}"
        ));
    }
    let mut bytes = preamble[..start as usize].to_vec();
    r.by_ref()
        .take(header_len)
        .read_to_end(&mut bytes)
        .map_err(|e| io_problem(&e))?;
    let header =
        Header::from_reader(&mut &bytes[..]).map_err(|e| format!("not a valid .npy file: {e}"))?;

    let shape = header.shape.clone();
    let shape_text = format!("{shape:?}");
    let series = match shape.len() {
        3 => false,
        4 => true,
        n => {
            return Err(format!(
                "the array is {n}-dimensional (shape {shape_text}): blur3d needs a 3D volume, or \
                 a 4D series of volumes along the first axis"
            ));
        }
    };
    let descr = header
        .type_descriptor
        .as_string()
        .cloned()
        .unwrap_or_else(|| format!("{:?}", header.type_descriptor));
    let dtype = dtype_of(&descr)?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count == Some(0) {
        return Err(format!(
            "the array is empty (shape {shape_text}): there is nothing to blur"
        ));
    }
    let data_len = len - data_start;
    let bytes = count.and_then(|n| n.checked_mul(dtype.size()));
    let Some(count) = count.filter(|_| bytes.is_some_and(|b| b as u64 <= data_len)) else {
        return Err(format!(
            "the file is truncated: its header promises an array of shape {shape_text} of {} \
             ({}), the file holds {data_len} bytes of data",
            dtype.numpy_name(),
            bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes"))
        ));
    };
    let big_endian = descr.starts_with('>');
    let fortran = matches!(header.layout, Layout::Fortran);
    let dim = IxDyn(&shape).set_f(fortran);
    let voxels = with_dtype!(dtype, T => {
        let values = super::read_values::<T>(&mut r, count, big_endian)
            .map_err(|e| io_problem(&e))?;
        let a = ArrayD::from_shape_vec(dim, values).map_err(|e| e.to_string())?;
        let a = if series { a } else { a.insert_axis(Axis(0)) };
        T::wrap(a.into_dimensionality::<Ix4>().map_err(|e| e.to_string())?)
    });
    Ok(Volume {
        voxels,
        spacing: None,
        series,
        meta: Meta::None,
    })
}

/// The element type of a numpy type descriptor such as `<f4`.
fn dtype_of(descr: &str) -> Result<DType, String> {
    let kind = descr.trim_start_matches(['<', '>', '|', '=']);
    DType::ALL
        .into_iter()
        .find(|d| {
            let code = match d {
                DType::F32 | DType::F64 => 'f',
                DType::I8 | DType::I16 | DType::I32 | DType::I64 => 'i',
                _ => 'u',
            };
            kind == format!("{code}{}", d.size())
        })
        .ok_or_else(|| {
            format!(
                "the data type {descr:?} is not supported: use unsigned or signed integers of \
                 1 to 8 bytes, float32 or float64"
            )
        })
}

pub fn write(w: &mut impl Write, volume: &Volume) -> Result<(), String> {
    fn write_array<T: Element + ndarray_npy::WritableElement>(
        w: &mut impl Write,
        a: &ndarray::Array4<T>,
        series: bool,
    ) -> Result<(), ndarray_npy::WriteNpyError> {
        if series {
            a.write_npy(w)
        } else {
            a.index_axis(Axis(0), 0).write_npy(w)
        }
    }
    with_voxels!(&volume.voxels, a => write_array(w, a, volume.series)).map_err(|e| match e {
        ndarray_npy::WriteNpyError::Io(e) => format!("cannot write: {}", io_problem(&e)),
        other => format!("cannot write: {other}"),
    })
}
