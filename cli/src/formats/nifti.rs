//! NIfTI-1 `.nii` and `.nii.gz`, through the `nifti` crate.
//!
//! NIfTI stores x fastest, then y, then z. A volume of `dim = (nx, ny, nz)` is read into an
//! ndarray of shape `(nx, ny, nz)` in Fortran layout, without a copy: ndarray axis 0 is x, axis 1
//! is y, axis 2 is z, and `pixdim[1..=3]` are the spacings along those axes, in that order.

use std::path::Path;

use ndarray::{Array3, ArrayBase, Axis, Data, Ix3, ShapeBuilder};
use nifti::writer::WriterOptions;
use nifti::{
    DataElement, ExtensionSequence, NiftiError, NiftiHeader, NiftiObject, NiftiType, ReaderOptions,
    Unit,
};

use super::Meta;
use crate::volume::{DType, Element, Volume, Voxels, with_voxels};

/// The header and extensions of the input, written back with the output.
#[derive(Debug)]
pub struct NiftiMeta {
    pub header: NiftiHeader,
    pub extensions: ExtensionSequence,
}

pub fn read(path: &Path) -> Result<Volume, String> {
    // The nifti crate opens the file itself; open it once first for a clear message.
    drop(super::open(path)?);
    let obj = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| problem(&e))?;
    let header = obj.header().clone();
    let extensions = obj.extensions().clone();
    let dims = header.dim().map_err(|e| problem(&e))?.to_vec();
    let [nx, ny, nz] = three_dims(&dims)?;
    let shape = (usize::from(nx), usize::from(ny), usize::from(nz)).f();
    let datatype = header.data_type().map_err(|e| problem(&e))?;
    let volume = obj.into_volume();
    macro_rules! typed {
        ($t:ty, $variant:ident) => {{
            let raw = volume
                .into_nifti_typed_data::<$t>()
                .map_err(|e| problem(&e))?;
            Voxels::$variant(
                Array3::from_shape_vec(shape, raw)
                    .map_err(|_| "the data do not fill the volume the header describes")?,
            )
        }};
    }
    let voxels = match datatype {
        NiftiType::Uint8 => typed!(u8, U8),
        NiftiType::Int8 => typed!(i8, I8),
        NiftiType::Uint16 => typed!(u16, U16),
        NiftiType::Int16 => typed!(i16, I16),
        NiftiType::Uint32 => typed!(u32, U32),
        NiftiType::Int32 => typed!(i32, I32),
        NiftiType::Uint64 => typed!(u64, U64),
        NiftiType::Int64 => typed!(i64, I64),
        NiftiType::Float32 => typed!(f32, F32),
        NiftiType::Float64 => typed!(f64, F64),
        other => {
            return Err(format!(
                "the data type {other:?} is not supported: use integers, float32 or float64"
            ));
        }
    };
    let voxels = apply_scaling(voxels, &header);
    Ok(Volume {
        voxels,
        spacing: spacing(&header),
        meta: Meta::Nifti(Box::new(NiftiMeta { header, extensions })),
    })
}

/// `[nx, ny, nz]`, accepting trailing dimensions of length 1 (a 3D volume stored as 4D).
fn three_dims(dims: &[u16]) -> Result<[u16; 3], String> {
    let text = dims
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("x");
    match dims {
        [x, y, z, rest @ ..] if rest.iter().all(|&d| d == 1) => Ok([*x, *y, *z]),
        [_, _, _, ..] => Err(format!(
            "the image is {}D ({text}): blur3d needs a single 3D volume",
            dims.len()
        )),
        _ => Err(format!(
            "the image is {}D ({text}): blur3d needs a 3D volume",
            dims.len()
        )),
    }
}

/// The values `scl_slope * raw + scl_inter` when the header scales them; they are no longer
/// integers then, so they become f32 (f64 for f64 data).
fn apply_scaling(voxels: Voxels, header: &NiftiHeader) -> Voxels {
    let (slope, inter) = (f64::from(header.scl_slope), f64::from(header.scl_inter));
    let scaled = slope != 0.0 && slope.is_finite() && (slope != 1.0 || inter != 0.0);
    if !scaled {
        return voxels;
    }
    fn scale<T: Element>(a: &Array3<T>, slope: f64, inter: f64) -> Array3<f64> {
        a.mapv(|v| v.to_f64() * slope + inter)
    }
    let dtype = if voxels.dtype() == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let values = with_voxels!(&voxels, a => scale(a, slope, inter));
    Voxels::from_values(values.view(), dtype)
}

/// `pixdim[1..=3]` in millimetres (unknown units are taken as mm, as FSL does).
fn spacing(header: &NiftiHeader) -> Option<[f64; 3]> {
    let to_mm = match header.xyzt_to_space() {
        Ok(Unit::Meter) => 1000.0,
        Ok(Unit::Micron) => 0.001,
        _ => 1.0,
    };
    let s = [1, 2, 3].map(|i| f64::from(header.pixdim[i]) * to_mm);
    s.iter().all(|v| v.is_finite() && *v > 0.0).then_some(s)
}

/// A header for a volume that comes from another format: `spacing` (mm) in pixdim and in an
/// axis-aligned sform, as nibabel makes for `Nifti1Image(data, diag(spacing))`.
fn new_header(spacing: Option<[f64; 3]>) -> NiftiHeader {
    let s = spacing.unwrap_or([1.0; 3]).map(|v| v as f32);
    let mut h = NiftiHeader {
        xyzt_units: Unit::Mm as u8,
        qform_code: 0,
        sform_code: 2,
        srow_x: [s[0], 0.0, 0.0, 0.0],
        srow_y: [0.0, s[1], 0.0, 0.0],
        srow_z: [0.0, 0.0, s[2], 0.0],
        ..NiftiHeader::default()
    };
    h.pixdim[1..4].copy_from_slice(&s);
    h
}

pub fn write(path: &Path, gz: bool, volume: &Volume) -> Result<(), String> {
    let (header, extensions, dims) = match &volume.meta {
        Meta::Nifti(m) => (
            m.header.clone(),
            Some(m.extensions.clone()),
            m.header.dim[0],
        ),
        _ => (new_header(volume.spacing), None, 3),
    };
    let mut options = WriterOptions::new(path)
        .reference_header(&header)
        .compress(gz);
    if let Some(extensions) = extensions {
        options = options.with_extensions(extensions);
    }
    let trailing = usize::from(dims).saturating_sub(3);
    with_voxels!(&volume.voxels, a => write_array(&options, a, trailing))
        .map_err(|e| format!("cannot write: {}", problem(&e)))
}

/// Writes `a` (x, y, z) with `trailing` dimensions of length 1 after z, as the input had.
fn write_array<S, T>(
    options: &WriterOptions<'_>,
    a: &ArrayBase<S, Ix3>,
    trailing: usize,
) -> Result<(), NiftiError>
where
    S: Data<Elem = T>,
    T: DataElement + bytemuck::Pod,
{
    let mut view = a.view().into_dyn();
    for _ in 0..trailing {
        let n = view.ndim();
        view = view.insert_axis(Axis(n));
    }
    options.write_nifti(&view)
}

/// A NIfTI error in words.
fn problem(e: &NiftiError) -> String {
    match e {
        NiftiError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends inside the header or the data (truncated?)".to_string()
        }
        NiftiError::Io(io) => format!("not a valid NIfTI-1 file: {}", super::io_problem(io)),
        NiftiError::InvalidFormat => {
            "not a NIfTI-1 file (its header is corrupt or has the wrong magic code)".to_string()
        }
        NiftiError::IncompatibleLength(got, expected) => format!(
            "the file is truncated: the header promises {expected} bytes of voxels, the file \
             holds {got}"
        ),
        NiftiError::NoVolumeData | NiftiError::MissingVolumeFile(_) => {
            "the file holds a header only (a .hdr/.img pair?): use a single-file .nii or .nii.gz"
                .to_string()
        }
        other => format!("corrupt NIfTI-1 header: {other}"),
    }
}
