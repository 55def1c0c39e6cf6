//! NIfTI-1 and NIfTI-2, `.nii` and `.nii.gz` (gzip is recognised by its magic bytes, whatever
//! the name says), either byte order.
//!
//! NIfTI stores x fastest, then y, then z, then t. A file of `dim = (nx, ny, nz, nt)` is read
//! into voxels of shape `(nt, nx, ny, nz)` whose spatial axes are in Fortran layout, without a
//! copy: the series axis counts the volumes, then x, y, z, and `pixdim[1..=3]` are the spacings
//! along x, y, z.
//!
//! The header is kept whole (every field, the extensions) and written back as the input's
//! version, or as NIfTI-2 when an axis is longer than NIfTI-1's 32767.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::{Array4, ShapeBuilder};

use super::{Meta, io_problem};
use crate::volume::{DType, Element, Volume, Voxels, with_dtype, with_voxels};

/// Bytes of a NIfTI-1 and a NIfTI-2 header, before the 4 bytes of the extension flag.
const SIZE_1: usize = 348;
const SIZE_2: usize = 540;
const MAGIC_2: &[u8; 8] = b"n+2\0\r\n\x1a\n";

/// The most a gzip (deflate) stream expands: about 1032 to 1. A header that promises more
/// voxels than this times the file's size cannot be right.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Every field of a NIfTI-1 or NIfTI-2 header, in NIfTI-2's widths.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u8,
    pub dim: [i64; 8],
    pub intent_p: [f64; 3],
    pub intent_code: i32,
    pub datatype: i16,
    pub bitpix: i16,
    pub slice_start: i64,
    pub slice_end: i64,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub slice_code: i32,
    pub xyzt_units: i32,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_duration: f64,
    pub toffset: f64,
    pub descrip: [u8; 80],
    pub aux_file: [u8; 24],
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 6],
    pub srow: [[f64; 4]; 3],
    pub intent_name: [u8; 16],
    pub dim_info: u8,
    /// NIfTI-1's unused ANALYZE fields (data_type, db_name, extents, session_error, regular,
    /// glmax, glmin), kept as they were for a NIfTI-1 output.
    pub analyze: Analyze,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analyze {
    data_type: [u8; 10],
    db_name: [u8; 18],
    extents: i32,
    session_error: i16,
    regular: u8,
    glmax: i32,
    glmin: i32,
}

/// The header and extensions of the input, written back with the output.
#[derive(Clone, Debug)]
pub struct NiftiMeta {
    pub header: Header,
    /// The extensions as (ecode, data) pairs.
    pub extensions: Vec<(i32, Vec<u8>)>,
}

/// Reads a header's fields in the file's byte order.
struct Fields<'a> {
    bytes: &'a [u8],
    swap: bool,
}

impl Fields<'_> {
    fn take<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.bytes[at..at + N]);
        if self.swap {
            b.reverse();
        }
        b
    }
    fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.take(at))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.take(at))
    }
    fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.take(at))
    }
    fn f32(&self, at: usize) -> f64 {
        f64::from(f32::from_le_bytes(self.take(at)))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.take(at))
    }
    fn text<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        b.copy_from_slice(&self.bytes[at..at + N]);
        b
    }
}

impl Header {
    fn parse_1(f: &Fields<'_>) -> Header {
        Header {
            version: 1,
            analyze: Analyze {
                data_type: f.text(4),
                db_name: f.text(14),
                extents: f.i32(32),
                session_error: f.i16(36),
                regular: f.bytes[38],
                glmax: f.i32(140),
                glmin: f.i32(144),
            },
            dim_info: f.bytes[39],
            dim: std::array::from_fn(|i| i64::from(f.i16(40 + 2 * i))),
            intent_p: std::array::from_fn(|i| f.f32(56 + 4 * i)),
            intent_code: i32::from(f.i16(68)),
            datatype: f.i16(70),
            bitpix: f.i16(72),
            slice_start: i64::from(f.i16(74)),
            pixdim: std::array::from_fn(|i| f.f32(76 + 4 * i)),
            vox_offset: f.f32(108),
            scl_slope: f.f32(112),
            scl_inter: f.f32(116),
            slice_end: i64::from(f.i16(120)),
            slice_code: i32::from(f.bytes[122]),
            xyzt_units: i32::from(f.bytes[123]),
            cal_max: f.f32(124),
            cal_min: f.f32(128),
            slice_duration: f.f32(132),
            toffset: f.f32(136),
            descrip: f.text(148),
            aux_file: f.text(228),
            qform_code: i32::from(f.i16(252)),
            sform_code: i32::from(f.i16(254)),
            quatern: std::array::from_fn(|i| f.f32(256 + 4 * i)),
            srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f32(280 + 16 * r + 4 * c))),
            intent_name: f.text(328),
        }
    }

    fn parse_2(f: &Fields<'_>) -> Header {
        Header {
            version: 2,
            analyze: Analyze::default(),
            datatype: f.i16(12),
            bitpix: f.i16(14),
            dim: std::array::from_fn(|i| f.i64(16 + 8 * i)),
            intent_p: std::array::from_fn(|i| f.f64(80 + 8 * i)),
            pixdim: std::array::from_fn(|i| f.f64(104 + 8 * i)),
            #[allow(clippy::cast_precision_loss)] // offsets below 2^53
            vox_offset: f.i64(168) as f64,
            scl_slope: f.f64(176),
            scl_inter: f.f64(184),
            cal_max: f.f64(192),
            cal_min: f.f64(200),
            slice_duration: f.f64(208),
            toffset: f.f64(216),
            slice_start: f.i64(224),
            slice_end: f.i64(232),
            descrip: f.text(240),
            aux_file: f.text(320),
            qform_code: f.i32(344),
            sform_code: f.i32(348),
            quatern: std::array::from_fn(|i| f.f64(352 + 8 * i)),
            srow: std::array::from_fn(|r| std::array::from_fn(|c| f.f64(400 + 32 * r + 8 * c))),
            slice_code: f.i32(496),
            xyzt_units: f.i32(500),
            intent_code: f.i32(504),
            intent_name: f.text(508),
            dim_info: f.bytes[524],
        }
    }

    /// The header in `version`'s layout, little-endian, with the extension flag.
    #[allow(clippy::cast_possible_truncation)] // NIfTI-1's narrow fields, checked by the caller
    fn to_bytes(&self, version: u8, has_extensions: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(SIZE_2 + 4);
        let f32s = |b: &mut Vec<u8>, v: &[f64]| {
            for x in v {
                b.extend_from_slice(&(*x as f32).to_le_bytes());
            }
        };
        let f64s = |b: &mut Vec<u8>, v: &[f64]| {
            for x in v {
                b.extend_from_slice(&x.to_le_bytes());
            }
        };
        if version == 1 {
            let a = &self.analyze;
            b.extend_from_slice(&(SIZE_1 as i32).to_le_bytes());
            b.extend_from_slice(&a.data_type);
            b.extend_from_slice(&a.db_name);
            b.extend_from_slice(&a.extents.to_le_bytes());
            b.extend_from_slice(&a.session_error.to_le_bytes());
            b.push(a.regular);
            b.push(self.dim_info);
            for d in self.dim {
                b.extend_from_slice(&(d as i16).to_le_bytes());
            }
            f32s(&mut b, &self.intent_p);
            b.extend_from_slice(&(self.intent_code as i16).to_le_bytes());
            b.extend_from_slice(&self.datatype.to_le_bytes());
            b.extend_from_slice(&self.bitpix.to_le_bytes());
            b.extend_from_slice(&(self.slice_start as i16).to_le_bytes());
            f32s(&mut b, &self.pixdim);
            f32s(&mut b, &[self.vox_offset, self.scl_slope, self.scl_inter]);
            b.extend_from_slice(&(self.slice_end as i16).to_le_bytes());
            b.push(self.slice_code as u8);
            b.push(self.xyzt_units as u8);
            f32s(
                &mut b,
                &[
                    self.cal_max,
                    self.cal_min,
                    self.slice_duration,
                    self.toffset,
                ],
            );
            b.extend_from_slice(&a.glmax.to_le_bytes());
            b.extend_from_slice(&a.glmin.to_le_bytes());
            b.extend_from_slice(&self.descrip);
            b.extend_from_slice(&self.aux_file);
            b.extend_from_slice(&(self.qform_code as i16).to_le_bytes());
            b.extend_from_slice(&(self.sform_code as i16).to_le_bytes());
            f32s(&mut b, &self.quatern);
            for row in &self.srow {
                f32s(&mut b, row);
            }
            b.extend_from_slice(&self.intent_name);
            b.extend_from_slice(b"n+1\0");
            debug_assert_eq!(b.len(), SIZE_1);
        } else {
            b.extend_from_slice(&(SIZE_2 as i32).to_le_bytes());
            b.extend_from_slice(MAGIC_2);
            b.extend_from_slice(&self.datatype.to_le_bytes());
            b.extend_from_slice(&self.bitpix.to_le_bytes());
            for d in self.dim {
                b.extend_from_slice(&d.to_le_bytes());
            }
            f64s(&mut b, &self.intent_p);
            f64s(&mut b, &self.pixdim);
            b.extend_from_slice(&(self.vox_offset as i64).to_le_bytes());
            f64s(
                &mut b,
                &[
                    self.scl_slope,
                    self.scl_inter,
                    self.cal_max,
                    self.cal_min,
                    self.slice_duration,
                    self.toffset,
                ],
            );
            b.extend_from_slice(&self.slice_start.to_le_bytes());
            b.extend_from_slice(&self.slice_end.to_le_bytes());
            b.extend_from_slice(&self.descrip);
            b.extend_from_slice(&self.aux_file);
            b.extend_from_slice(&self.qform_code.to_le_bytes());
            b.extend_from_slice(&self.sform_code.to_le_bytes());
            f64s(&mut b, &self.quatern);
            for row in &self.srow {
                f64s(&mut b, row);
            }
            b.extend_from_slice(&self.slice_code.to_le_bytes());
            b.extend_from_slice(&self.xyzt_units.to_le_bytes());
            b.extend_from_slice(&self.intent_code.to_le_bytes());
            b.extend_from_slice(&self.intent_name);
            b.push(self.dim_info);
            b.extend_from_slice(&[0; 15]);
            debug_assert_eq!(b.len(), SIZE_2);
        }
        b.extend_from_slice(&[u8::from(has_extensions), 0, 0, 0]);
        b
    }

    /// A header for a volume that comes from another format: `spacing` (mm) in pixdim and in an
    /// axis-aligned sform, as nibabel makes for `Nifti1Image(data, diag(spacing))`.
    fn new(spacing: Option<[f64; 3]>) -> Header {
        let s = spacing.unwrap_or([1.0; 3]);
        Header {
            version: 1,
            dim: [0; 8],
            intent_p: [0.0; 3],
            intent_code: 0,
            datatype: 0,
            bitpix: 0,
            slice_start: 0,
            slice_end: 0,
            pixdim: [1.0, s[0], s[1], s[2], 1.0, 1.0, 1.0, 1.0],
            vox_offset: 0.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            slice_code: 0,
            xyzt_units: 2, // mm
            cal_max: 0.0,
            cal_min: 0.0,
            slice_duration: 0.0,
            toffset: 0.0,
            descrip: [0; 80],
            aux_file: [0; 24],
            qform_code: 0,
            sform_code: 2,
            quatern: [0.0; 6],
            srow: [
                [s[0], 0.0, 0.0, 0.0],
                [0.0, s[1], 0.0, 0.0],
                [0.0, 0.0, s[2], 0.0],
            ],
            intent_name: [0; 16],
            dim_info: 0,
            analyze: Analyze::default(),
        }
    }
}

/// NIfTI's code of a data type, and back.
fn datatype_code(d: DType) -> i16 {
    match d {
        DType::U8 => 2,
        DType::I16 => 4,
        DType::I32 => 8,
        DType::F32 => 16,
        DType::F64 => 64,
        DType::I8 => 256,
        DType::U16 => 512,
        DType::U32 => 768,
        DType::I64 => 1024,
        DType::U64 => 1280,
    }
}

fn dtype_of(code: i16) -> Result<DType, String> {
    Ok(match code {
        2 => DType::U8,
        4 => DType::I16,
        8 => DType::I32,
        16 => DType::F32,
        64 => DType::F64,
        256 => DType::I8,
        512 => DType::U16,
        768 => DType::U32,
        1024 => DType::I64,
        1280 => DType::U64,
        other => {
            let name = match other {
                1 => "binary (1 bit)",
                32 => "complex64",
                128 => "RGB",
                1536 => "float128",
                1792 => "complex128",
                2048 => "complex256",
                2304 => "RGBA",
                _ => "unknown",
            };
            return Err(format!(
                "the data type (code {other}, {name}) is not supported: use integers, float32 \
                 or float64"
            ));
        }
    })
}

pub fn read(path: &Path) -> Result<Volume, String> {
    let (file, len) = super::open(path)?;
    let mut raw = BufReader::new(file);
    let mut magic = [0u8; 2];
    let gz = raw.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let raw = super::rewound(raw)?;
    if gz {
        read_from(MultiGzDecoder::new(raw), len, true)
    } else {
        read_from(raw, len, false)
    }
}

fn read_from(mut r: impl Read, file_len: u64, gz: bool) -> Result<Volume, String> {
    let early = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "the file ends inside the header (truncated, or not a NIfTI file)".to_string()
        } else if gz {
            format!("cannot decompress: {}", io_problem(&e))
        } else {
            io_problem(&e)
        }
    };
    let mut bytes = vec![0u8; SIZE_2 + 4];
    r.read_exact(&mut bytes[..4]).map_err(early)?;
    let size = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (version, swap) = match size {
        348 => (1, false),
        540 => (2, false),
        _ if size.swap_bytes() == 348 => (1, true),
        _ if size.swap_bytes() == 540 => (2, true),
        _ => {
            return Err(
                "not a NIfTI file (its header size is neither NIfTI-1's 348 nor NIfTI-2's 540)"
                    .to_string(),
            );
        }
    };
    let header_len = if version == 1 { SIZE_1 } else { SIZE_2 };
    r.read_exact(&mut bytes[4..header_len + 4]).map_err(early)?;
    let magic_ok = if version == 1 {
        &bytes[344..348] == b"n+1\0"
    } else {
        &bytes[4..12] == MAGIC_2
    };
    if !magic_ok {
        let pair = version == 1 && &bytes[344..348] == b"ni1\0";
        return Err(if pair {
            "the file holds a header only (a .hdr/.img pair): use a single-file .nii or .nii.gz"
                .to_string()
        } else {
            format!("not a NIfTI-{version} file (its header has the wrong magic code)")
        });
    }
    let fields = Fields {
        bytes: &bytes,
        swap,
    };
    let header = if version == 1 {
        Header::parse_1(&fields)
    } else {
        Header::parse_2(&fields)
    };
    let has_extensions = bytes[header_len] != 0;

    let dtype = dtype_of(header.datatype)?;
    let ndim = header.dim[0];
    let dims_text = || {
        let n = usize::try_from(ndim.clamp(0, 7)).unwrap_or(0);
        header.dim[1..=n]
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join("x")
    };
    if !(1..=7).contains(&ndim) {
        return Err(format!(
            "corrupt header: dim[0] (the number of dimensions) is {ndim}, not 1 to 7"
        ));
    }
    let mut dims = [1usize; 7];
    for (i, d) in dims.iter_mut().enumerate().take(ndim as usize) {
        *d = usize::try_from(header.dim[i + 1])
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| {
                format!(
                    "corrupt header: the image is {} voxels (dim[{}] is {})",
                    dims_text(),
                    i + 1,
                    header.dim[i + 1]
                )
            })?;
    }
    if dims[4..].iter().any(|&d| d > 1) {
        return Err(format!(
            "the image is {ndim}D ({}): blur3d blurs 3D volumes and 4D series of them",
            dims_text()
        ));
    }
    let [nx, ny, nz, nt] = [dims[0], dims[1], dims[2], dims[3]];
    let count = [nx, ny, nz, nt]
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let data_bytes = count
        .and_then(|n| n.checked_mul(dtype.size()))
        .map(|b| b as u64);

    // Extensions, between the header and the voxels.
    let start = (header_len + 4) as u64;
    let offset = if header.vox_offset == 0.0 {
        None
    } else if header.vox_offset.is_finite()
        && header.vox_offset >= start as f64
        && header.vox_offset.fract() == 0.0
    {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(header.vox_offset as u64)
    } else {
        return Err(format!(
            "corrupt header: vox_offset is {}, but the voxels of a single-file NIfTI-{version} \
             start at byte {start} or later",
            header.vox_offset
        ));
    };
    let most = if gz {
        file_len.saturating_mul(MAX_DEFLATE_RATIO)
    } else {
        file_len
    };
    let too_long = |what: String| {
        if gz {
            format!(
                "{what}, more than this {file_len}-byte compressed file can hold: the header \
                 is corrupt"
            )
        } else {
            format!("the file is truncated: {what}, the file holds {file_len} bytes")
        }
    };
    if let Some(o) = offset {
        if o > most {
            return Err(too_long(format!("the header puts the voxels at byte {o}")));
        }
    }
    // (Without a vox_offset the voxels follow the header.)
    let extensions = match offset {
        Some(o) if has_extensions => read_extensions(&mut r, o - start, swap).map_err(early)?,
        Some(o) => {
            skip(&mut r, o - start).map_err(early)?;
            Vec::new()
        }
        None => Vec::new(),
    };
    let voxel_start = offset.unwrap_or(start + extensions_len(&extensions));
    let Some(data_bytes) = data_bytes.filter(|&b| b.saturating_add(voxel_start) <= most) else {
        return Err(too_long(format!(
            "the header promises {} voxels of {} ({})",
            dims_text(),
            dtype.numpy_name(),
            data_bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes"))
        )));
    };

    let shape = (nx, ny, nz, nt).f();
    let voxels = with_dtype!(dtype, T => {
        let values = super::read_values::<T>(&mut r, data_bytes as usize / size_of::<T>(), swap)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    format!(
                        "the file is truncated: the header promises {data_bytes} bytes of \
                         voxels, the file ends before them"
                    )
                } else {
                    early(e)
                }
            })?;
        let a = Array4::from_shape_vec(shape, values).map_err(|e| e.to_string())?;
        T::wrap(a.permuted_axes([3, 0, 1, 2]))
    });
    let scaled = scaling(&header);
    let voxels = match scaled {
        Some((slope, inter)) => apply_scaling(&voxels, slope, inter),
        None => voxels,
    };
    Ok(Volume {
        voxels,
        spacing: spacing(&header),
        series: ndim >= 4,
        meta: Meta::Nifti(Box::new(NiftiMeta { header, extensions })),
    })
}

/// The extensions, read up to `end` bytes after the extension flag (vox_offset), and the
/// padding after them.
fn read_extensions(
    r: &mut impl Read,
    end: u64,
    swap: bool,
) -> std::io::Result<Vec<(i32, Vec<u8>)>> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut pos = 0u64;
    let mut out = Vec::new();
    while pos + 8 <= end {
        let mut head = [0u8; 8];
        r.read_exact(&mut head)?;
        let fields = Fields { bytes: &head, swap };
        let (esize, ecode) = (fields.i32(0), fields.i32(4));
        let size = u64::try_from(esize)
            .ok()
            .filter(|&s| s >= 8 && s % 8 == 0 && pos + s <= end)
            .ok_or_else(|| {
                invalid("corrupt header extension (its size does not fit before the voxels)")
            })?;
        let mut data = Vec::new();
        r.take(size - 8).read_to_end(&mut data)?;
        if (data.len() as u64) < size - 8 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.push((ecode, data));
        pos += size;
    }
    skip(r, end - pos)?;
    Ok(out)
}

fn extensions_len(extensions: &[(i32, Vec<u8>)]) -> u64 {
    extensions.iter().map(|(_, d)| d.len() as u64 + 8).sum()
}

fn skip(r: &mut impl Read, n: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    if copied < n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// `(scl_slope, scl_inter)` when the header scales the values.
fn scaling(header: &Header) -> Option<(f64, f64)> {
    let (slope, inter) = (header.scl_slope, header.scl_inter);
    let inter = if inter.is_finite() { inter } else { 0.0 };
    (slope != 0.0 && slope.is_finite() && (slope != 1.0 || inter != 0.0)).then_some((slope, inter))
}

/// The values `scl_slope * raw + scl_inter`; they are no longer integers then, so they become
/// f32 (f64 for f64 data).
fn apply_scaling(voxels: &Voxels, slope: f64, inter: f64) -> Voxels {
    fn scale<T: Element, U: Element>(a: &Array4<T>, slope: f64, inter: f64) -> Voxels {
        U::wrap(a.mapv(|v| U::from_f64(v.to_f64() * slope + inter)))
    }
    if voxels.dtype() == DType::F64 {
        with_voxels!(voxels, a => scale::<_, f64>(a, slope, inter))
    } else {
        with_voxels!(voxels, a => scale::<_, f32>(a, slope, inter))
    }
}

/// `pixdim[1..=3]` in millimetres (unknown units are taken as mm, as FSL does).
fn spacing(header: &Header) -> Option<[f64; 3]> {
    let to_mm = match header.xyzt_units & 7 {
        1 => 1000.0,
        3 => 0.001,
        _ => 1.0,
    };
    let s = [1, 2, 3].map(|i| header.pixdim[i] * to_mm);
    s.iter().all(|v| v.is_finite() && *v > 0.0).then_some(s)
}

/// The header and the extensions of the output, the same as the input's but for what the blur
/// changed: the data type, the dimensions and the scaling.
fn output_header(volume: &Volume) -> (Header, Vec<(i32, Vec<u8>)>, u8) {
    let [nt, nx, ny, nz] = volume.voxels.shape();
    let (mut h, extensions) = match &volume.meta {
        Meta::Nifti(m) => {
            let mut h = m.header.clone();
            if scaling(&h).is_some() {
                // The values were scaled on reading.
                h.scl_slope = 1.0;
                h.scl_inter = 0.0;
            }
            (h, m.extensions.clone())
        }
        _ => (Header::new(volume.spacing), Vec::new()),
    };
    let kept = h.dim[0].clamp(3, 7);
    let ndim = if volume.series { kept.max(4) } else { kept };
    let mut dim = [1i64; 8];
    dim[0] = ndim;
    for (i, n) in [nx, ny, nz, nt].into_iter().enumerate() {
        dim[i + 1] = n as i64;
    }
    h.dim = dim;
    let dtype = volume.voxels.dtype();
    h.datatype = datatype_code(dtype);
    h.bitpix = (dtype.size() * 8) as i16;
    // NIfTI-1 stores dimensions as i16.
    let version = if h.version == 2 || dim.iter().any(|&d| d > i64::from(i16::MAX)) {
        2
    } else {
        1
    };
    let header_len = if version == 1 { SIZE_1 } else { SIZE_2 };
    h.vox_offset = (header_len as u64 + 4 + extensions_len(&extensions)) as f64;
    (h, extensions, version)
}

pub fn write(w: &mut impl Write, volume: &Volume) -> Result<(), String> {
    let (header, extensions, version) = output_header(volume);
    let cannot = |e: std::io::Error| format!("cannot write: {}", io_problem(&e));
    w.write_all(&header.to_bytes(version, !extensions.is_empty()))
        .map_err(cannot)?;
    for (code, data) in &extensions {
        let size = (data.len() + 8) as i32;
        w.write_all(&size.to_le_bytes()).map_err(cannot)?;
        w.write_all(&code.to_le_bytes()).map_err(cannot)?;
        w.write_all(data).map_err(cannot)?;
    }
    // x fastest, then y, z, t: the series in Fortran order.
    with_voxels!(&volume.voxels, a => {
        let f = a.view().permuted_axes([1, 2, 3, 0]);
        super::write_values(w, f.reversed_axes()).map_err(cannot)
    })
}
