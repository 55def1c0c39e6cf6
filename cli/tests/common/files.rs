//! The test files of each format, written and read back by other means than blur3d's: NumPy
//! through ndarray-npy, NIfTI through the nifti crate, TIFF through the tiff crate or byte by
//! byte, as tools write them.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD, Ix3};
use ndarray_npy::{ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};
use nifti::writer::WriterOptions;
use nifti::{
    Extender, Extension, ExtensionSequence, IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions,
};

use super::{SHAPE, random};

pub fn write_npy<T: WritableElement, D: ndarray::Dimension>(path: &Path, a: &ndarray::Array<T, D>) {
    a.write_npy(fs::File::create(path).unwrap()).unwrap();
}

pub fn read_npy<T: ReadableElement>(path: &Path) -> Array3<T> {
    Array3::<T>::read_npy(fs::File::open(path).unwrap()).unwrap()
}

/// A header with spacing (x, y, z), an oblique affine and every field blur3d must keep.
pub fn nifti_header(spacing: [f32; 3]) -> NiftiHeader {
    let [sx, sy, sz] = spacing;
    let mut h = NiftiHeader {
        pixdim: [-1.0, sx, sy, sz, 2.5, 1.0, 1.0, 1.0],
        xyzt_units: 2 | 8, // mm, s
        qform_code: 1,
        sform_code: 4,
        quatern_b: 0.0,
        quatern_c: 0.6,
        quatern_d: 0.8,
        quatern_x: -10.0,
        quatern_y: 20.5,
        quatern_z: -5.0,
        srow_x: [0.0, 0.0, sz, -10.0],
        srow_y: [-sx, 0.0, 0.0, 20.5],
        srow_z: [0.0, sy, 0.0, -5.0],
        cal_min: 0.0,
        cal_max: 1000.0,
        intent_name: *b"blur3d-test\0\0\0\0\0",
        ..NiftiHeader::default()
    };
    h.set_description(&b"blur3d cli test volume"[..]).unwrap();
    h
}

pub fn nifti_extensions() -> ExtensionSequence {
    ExtensionSequence::new(
        Extender::from([1, 0, 0, 0]),
        vec![Extension::from_str(6, "a comment that must survive")],
    )
}

/// Writes `vol` (axes x, y, z, ...) as NIfTI with `header`.
pub fn write_nifti<T, D>(path: &Path, vol: &ndarray::Array<T, D>, header: &NiftiHeader)
where
    T: nifti::DataElement + bytemuck::Pod,
    D: ndarray::Dimension + ndarray::RemoveAxis,
{
    WriterOptions::new(path)
        .reference_header(header)
        .with_extensions(nifti_extensions())
        .write_nifti(vol)
        .unwrap();
}

/// Reads a NIfTI file with the nifti crate's own ndarray conversion: axes x, y, z.
pub fn read_nifti<T: nifti::DataElement>(
    path: &Path,
) -> (NiftiHeader, ExtensionSequence, Array3<T>) {
    let obj = ReaderOptions::new().read_file(path).unwrap();
    let (h, e) = (obj.header().clone(), obj.extensions().clone());
    let data: ArrayD<T> = obj.into_volume().into_ndarray::<T>().unwrap();
    (h, e, data.into_dimensionality::<Ix3>().unwrap())
}

/// The NIfTI version (1 or 2) and `dim[0..=4]` of a file blur3d wrote (little-endian).
pub fn nifti_dims(path: &Path) -> (u8, Vec<i64>) {
    let mut bytes = fs::read(path).unwrap();
    if bytes[..2] == [0x1f, 0x8b] {
        use std::io::Read;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut raw)
            .unwrap();
        bytes = raw;
    }
    match i32::from_le_bytes(bytes[..4].try_into().unwrap()) {
        348 => {
            assert_eq!(&bytes[344..348], b"n+1\0");
            let dims = (0..5)
                .map(|i| i64::from(i16::from_le_bytes([bytes[40 + 2 * i], bytes[41 + 2 * i]])));
            (1, dims.collect())
        }
        540 => {
            assert_eq!(&bytes[4..12], b"n+2\0\r\n\x1a\n");
            let dims = (0..5)
                .map(|i| i64::from_le_bytes(bytes[16 + 8 * i..24 + 8 * i].try_into().unwrap()));
            (2, dims.collect())
        }
        other => panic!("not a NIfTI header: sizeof_hdr {other}"),
    }
}

pub const IMAGEJ_DESCRIPTION: &str =
    "ImageJ=1.11a\nimages=10\nslices=10\nunit=micron\nspacing=3000\nloop=false\n";

/// Writes `vol` (pages z, rows y, columns x) as a u16 TIFF stack, with ImageJ's tags saying
/// 1 mm per pixel and 3 mm per page (in microns) when `imagej`.
pub fn write_tiff_u16(path: &Path, vol: &Array3<u16>, imagej: bool) {
    use tiff::encoder::{Rational, TiffEncoder, colortype::Gray16};
    use tiff::tags::Tag;
    let mut enc = TiffEncoder::new(fs::File::create(path).unwrap()).unwrap();
    let (_, h, w) = vol.dim();
    for (z, page) in vol.outer_iter().enumerate() {
        let mut img = enc.new_image::<Gray16>(w as u32, h as u32).unwrap();
        if imagej {
            let res = Rational { n: 1, d: 1000 }; // pixels per micron
            img.encoder()
                .write_tag(Tag::XResolution, res.clone())
                .unwrap();
            img.encoder().write_tag(Tag::YResolution, res).unwrap();
            if z == 0 {
                img.encoder()
                    .write_tag(Tag::ImageDescription, IMAGEJ_DESCRIPTION)
                    .unwrap();
            }
        }
        img.write_data(page.to_slice().unwrap()).unwrap();
    }
}

/// The pages of a TIFF stack, with the first page's description and x resolution.
pub struct Stack<T> {
    pub voxels: Array3<T>,
    pub description: Option<String>,
    pub x_resolution: Option<(u32, u32)>,
}

pub fn read_tiff<T: Clone>(
    path: &Path,
    take: fn(tiff::decoder::DecodingResult) -> Vec<T>,
) -> Stack<T> {
    use tiff::decoder::{Decoder, ifd::Value};
    use tiff::tags::Tag;
    let mut dec = Decoder::new(fs::File::open(path).unwrap()).unwrap();
    let description = dec
        .find_tag(Tag::ImageDescription)
        .unwrap()
        .map(|v| v.into_string().unwrap());
    let x_resolution = match dec.find_tag(Tag::XResolution).unwrap() {
        Some(Value::Rational(n, d)) => Some((n, d)),
        _ => None,
    };
    let (w, h) = dec.dimensions().unwrap();
    let mut values = Vec::new();
    let mut depth = 0;
    loop {
        values.extend(take(dec.read_image().unwrap()));
        depth += 1;
        if !dec.more_images() {
            break;
        }
        dec.next_image().unwrap();
    }
    Stack {
        voxels: Array3::from_shape_vec((depth, h as usize, w as usize), values).unwrap(),
        description,
        x_resolution,
    }
}

pub fn u16_pages(d: tiff::decoder::DecodingResult) -> Vec<u16> {
    match d {
        tiff::decoder::DecodingResult::U16(v) => v,
        other => panic!("expected u16 pages, got {other:?}"),
    }
}

pub fn f32_pages(d: tiff::decoder::DecodingResult) -> Vec<f32> {
    match d {
        tiff::decoder::DecodingResult::F32(v) => v,
        other => panic!("expected f32 pages, got {other:?}"),
    }
}

/// A classic little-endian TIFF of uncompressed pages, each followed by nothing but its IFD,
/// with the given tags on every page (StripOffsets, StripByteCounts, size and bits added).
pub fn tiff_bytes(
    width: u32,
    height: u32,
    pages: &[Vec<u8>],
    bits: u16,
    extra: &[(u16, u16, u32)],
) -> Vec<u8> {
    let mut out = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    for (i, data) in pages.iter().enumerate() {
        let mut tags: Vec<(u16, u16, u32)> = vec![
            (256, 4, width),
            (257, 4, height),
            (258, 3, u32::from(bits)),
            (259, 3, 1),
            (277, 3, 1),
            (278, 4, height),
            (279, 4, data.len() as u32),
        ];
        tags.extend_from_slice(extra);
        if !tags.iter().any(|t| t.0 == 262) {
            tags.push((262, 3, 1));
        }
        tags.push((273, 4, 0)); // set below
        tags.sort_by_key(|t| t.0);
        let ifd_at = out.len();
        let ifd_len = 2 + 12 * tags.len() + 4;
        let data_at = (ifd_at + ifd_len) as u32;
        out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        for (tag, kind, value) in &tags {
            let value = if *tag == 273 { data_at } else { *value };
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            if *kind == 3 {
                out.extend_from_slice(&(value as u16).to_le_bytes());
                out.extend_from_slice(&[0, 0]);
            } else {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        let next = if i + 1 < pages.len() {
            data_at + data.len() as u32
        } else {
            0
        };
        out.extend_from_slice(&next.to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// Each page's (StripOffsets, StripByteCounts, PhotometricInterpretation) in a classic
/// little-endian TIFF with one strip per page, read straight from the bytes.
pub fn tiff_strips(bytes: &[u8]) -> Vec<(u64, u64, u16)> {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(&bytes[..4], b"II\x2a\x00", "a classic little-endian TIFF");
    let mut pages = Vec::new();
    let mut at = u32_at(4) as usize;
    while at != 0 {
        let n = u16_at(at) as usize;
        let (mut offset, mut count, mut photometric) = (0, 0, 1);
        for e in 0..n {
            let entry = at + 2 + 12 * e;
            let value = if u16_at(entry + 2) == 3 {
                u32::from(u16_at(entry + 8))
            } else {
                u32_at(entry + 8)
            };
            match u16_at(entry) {
                273 => offset = u64::from(value),
                279 => count = u64::from(value),
                262 => photometric = value as u16,
                _ => {}
            }
        }
        pages.push((offset, count, photometric));
        at = u32_at(at + 2 + 12 * n) as usize;
    }
    pages
}

/// One of each kind of input file, valid, in `dir`.
pub fn valid_inputs(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let npy = dir.join("ok.npy");
    write_npy(&npy, &random(SHAPE, 10, 1.0).mapv(|v| v as f32));
    let nii = dir.join("ok.nii");
    write_nifti(
        &nii,
        &random(SHAPE, 11, 1.0),
        &nifti_header([1.0, 1.0, 3.0]),
    );
    let niigz = dir.join("ok.nii.gz");
    write_nifti(
        &niigz,
        &random(SHAPE, 12, 1.0),
        &nifti_header([1.0, 1.0, 3.0]),
    );
    let tif = dir.join("ok.tif");
    write_tiff_u16(
        &tif,
        &random((10, 9, 8), 13, 100.0).mapv(|v| v as u16),
        true,
    );
    (npy, nii, niigz, tif)
}

pub fn truncated(from: &Path, to: &Path, len: usize) -> PathBuf {
    let bytes = fs::read(from).unwrap();
    fs::write(to, &bytes[..len.min(bytes.len())]).unwrap();
    to.to_path_buf()
}
