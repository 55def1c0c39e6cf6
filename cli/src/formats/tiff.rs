//! Multi-page TIFF stacks `.tif`/`.tiff`, through the `tiff` crate: pages are z, rows y and
//! columns x, so the volume's axes are (z, y, x), in standard layout.
//!
//! The spacing is read as ImageJ writes it: `unit=` and `spacing=` (z) in the ImageDescription,
//! XResolution and YResolution in pixels per unit. The description and the resolution tags are
//! written back.

use std::io::{Seek, Write};
use std::path::Path;

use ndarray::{Array3, ArrayBase, Data, Ix3};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::colortype::{
    ColorType, Gray8, Gray16, Gray32, Gray32Float, Gray64, Gray64Float, GrayI8, GrayI16, GrayI32,
    GrayI64,
};
use tiff::encoder::{Rational, TiffEncoder, TiffKind, TiffValue};
use tiff::tags::{ResolutionUnit, Tag};
use tiff::{TiffError, TiffFormatError};

use super::Meta;
use crate::volume::{Volume, Voxels, with_voxels};

/// The tags of the first page that say how large a voxel is.
#[derive(Debug, Clone, Default)]
pub struct TiffMeta {
    pub description: Option<String>,
    pub x_resolution: Option<(u32, u32)>,
    pub y_resolution: Option<(u32, u32)>,
    pub resolution_unit: Option<u16>,
}

pub fn read(path: &Path) -> Result<Volume, String> {
    let file = std::io::BufReader::new(super::open(path)?);
    let mut dec = Decoder::new(file)
        .map_err(|e| problem(&e))?
        .with_limits(Limits::unlimited());
    let meta = read_meta(&mut dec);
    let (width, height) = dec.dimensions().map_err(|e| problem(&e))?;
    let mut pages = Pages::None;
    let mut depth = 0usize;
    loop {
        depth += 1;
        let dims = dec.dimensions().map_err(|e| problem(&e))?;
        if dims != (width, height) {
            return Err(format!(
                "page {depth} is {}x{} pixels but page 1 is {width}x{height}: every page of a \
                 stack must have the same size",
                dims.0, dims.1
            ));
        }
        match dec.colortype().map_err(|e| problem(&e))? {
            tiff::ColorType::Gray(_) => {}
            other => {
                return Err(format!(
                    "page {depth} has {other:?} pixels: blur3d needs one value per voxel \
                     (grayscale pages)"
                ));
            }
        }
        let image = dec.read_image().map_err(|e| problem(&e))?;
        pages.push(image, depth)?;
        if !dec.more_images() {
            break;
        }
        dec.next_image().map_err(|e| problem(&e))?;
    }
    let shape = (depth, height as usize, width as usize);
    let voxels = pages.into_voxels(shape)?;
    Ok(Volume {
        voxels,
        spacing: spacing(&meta),
        meta: Meta::Tiff(meta),
    })
}

fn read_meta<R: std::io::Read + Seek>(dec: &mut Decoder<R>) -> TiffMeta {
    let rational = |v: Option<tiff::decoder::ifd::Value>| match v {
        Some(tiff::decoder::ifd::Value::Rational(n, d)) => Some((n, d)),
        _ => None,
    };
    TiffMeta {
        description: dec
            .find_tag(Tag::ImageDescription)
            .ok()
            .flatten()
            .and_then(|v| v.into_string().ok()),
        x_resolution: rational(dec.find_tag(Tag::XResolution).ok().flatten()),
        y_resolution: rational(dec.find_tag(Tag::YResolution).ok().flatten()),
        resolution_unit: dec.find_tag_unsigned(Tag::ResolutionUnit).ok().flatten(),
    }
}

/// The pages read so far, concatenated, in the type of the first.
enum Pages {
    None,
    Some(Voxels1),
}

/// One flat vector per element type.
enum Voxels1 {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Pages {
    fn push(&mut self, image: DecodingResult, page: usize) -> Result<(), String> {
        let first = match image {
            DecodingResult::U8(v) => Voxels1::U8(v),
            DecodingResult::I8(v) => Voxels1::I8(v),
            DecodingResult::U16(v) => Voxels1::U16(v),
            DecodingResult::I16(v) => Voxels1::I16(v),
            DecodingResult::U32(v) => Voxels1::U32(v),
            DecodingResult::I32(v) => Voxels1::I32(v),
            DecodingResult::U64(v) => Voxels1::U64(v),
            DecodingResult::I64(v) => Voxels1::I64(v),
            DecodingResult::F32(v) => Voxels1::F32(v),
            DecodingResult::F64(v) => Voxels1::F64(v),
            DecodingResult::F16(_) => {
                return Err(
                    "16-bit float pages are not supported: use integers, float32 or float64"
                        .to_string(),
                );
            }
        };
        match self {
            Pages::None => *self = Pages::Some(first),
            Pages::Some(all) => {
                macro_rules! append {
                    ($($v:ident),*) => {
                        match (all, first) {
                            $((Voxels1::$v(all), Voxels1::$v(new)) => all.extend_from_slice(&new),)*
                            _ => {
                                return Err(format!(
                                    "page {page} has another data type than page 1: every page \
                                     of a stack must have the same type"
                                ));
                            }
                        }
                    };
                }
                append!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64);
            }
        }
        Ok(())
    }

    fn into_voxels(self, shape: (usize, usize, usize)) -> Result<Voxels, String> {
        let err = |_| "the pages do not hold the pixels their size says".to_string();
        macro_rules! arrays {
            ($v:expr, $($t:ident),*) => {
                match $v {
                    $(Voxels1::$t(v) => Voxels::$t(Array3::from_shape_vec(shape, v).map_err(err)?),)*
                }
            };
        }
        match self {
            Pages::None => Err("the file has no pages".to_string()),
            Pages::Some(v) => Ok(arrays!(v, U8, I8, U16, I16, U32, I32, U64, I64, F32, F64)),
        }
    }
}

/// Millimetres per unit of an ImageJ `unit=`.
fn mm_per_unit(unit: &str) -> Option<f64> {
    let unit = unit.trim().replace("\\u00B5", "µ").replace("\\u00b5", "µ");
    Some(match unit.as_str() {
        "mm" | "millimeter" | "millimetre" | "millimeters" | "millimetres" => 1.0,
        "micron" | "microns" | "um" | "µm" | "μm" | "micrometer" | "micrometre" => 1e-3,
        "nm" | "nanometer" | "nanometre" => 1e-6,
        "cm" | "centimeter" | "centimetre" => 10.0,
        "m" | "meter" | "metre" => 1000.0,
        "inch" | "in" => 25.4,
        _ => return None,
    })
}

/// A `key=value` line of an ImageJ description.
fn imagej_value<'a>(description: &'a str, key: &str) -> Option<&'a str> {
    description.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// (z, y, x) spacing in mm, when the file is an ImageJ stack with a unit of length.
fn spacing(meta: &TiffMeta) -> Option<[f64; 3]> {
    let description = meta.description.as_deref()?;
    if !description.starts_with("ImageJ=") {
        return None;
    }
    let mm = mm_per_unit(imagej_value(description, "unit")?)?;
    let per_pixel = |r: Option<(u32, u32)>| {
        let (n, d) = r?;
        (n > 0).then(|| f64::from(d) / f64::from(n))
    };
    let x = per_pixel(meta.x_resolution)?;
    let y = per_pixel(meta.y_resolution)?;
    // ImageJ takes a missing spacing as 1 unit.
    let z = match imagej_value(description, "spacing") {
        Some(s) => s.parse::<f64>().ok()?,
        None => 1.0,
    };
    let s = [z * mm, y * mm, x * mm];
    s.iter().all(|v| v.is_finite() && *v > 0.0).then_some(s)
}

/// ImageJ's tags for a volume of `depth` pages with `spacing` (z, y, x) in mm.
fn imagej_meta(depth: usize, spacing: [f64; 3]) -> TiffMeta {
    let per_mm = |s: f64| {
        // pixels per mm as a fraction with a denominator of one million
        let d = (s * 1e6).round().clamp(1.0, f64::from(u32::MAX));
        (1_000_000, d as u32)
    };
    TiffMeta {
        description: Some(format!(
            "ImageJ=1.11a\nimages={depth}\nslices={depth}\nunit=mm\nspacing={}\nloop=false\n",
            spacing[0]
        )),
        x_resolution: Some(per_mm(spacing[2])),
        y_resolution: Some(per_mm(spacing[1])),
        resolution_unit: Some(ResolutionUnit::None.to_u16()),
    }
}

pub fn write<W: Write + Seek>(w: &mut W, volume: &Volume) -> Result<(), String> {
    let [depth, ..] = volume.voxels.shape();
    let meta = match (&volume.meta, volume.spacing) {
        (Meta::Tiff(m), _) => m.clone(),
        (_, Some(s)) => imagej_meta(depth, s),
        _ => TiffMeta::default(),
    };
    let bytes = volume.voxels.byte_len();
    // Classic TIFF addresses 4 GiB; leave room for the tags.
    let result = if bytes < (1u64 << 32) - (1 << 24) {
        let mut enc = TiffEncoder::new(w).map_err(|e| problem(&e))?;
        with_voxels!(&volume.voxels, a => write_pages(&mut enc, a, &meta))
    } else {
        let mut enc = TiffEncoder::new_big(w).map_err(|e| problem(&e))?;
        with_voxels!(&volume.voxels, a => write_pages(&mut enc, a, &meta))
    };
    result.map_err(|e| format!("cannot write: {}", problem(&e)))
}

/// The encoder's color type of each element type.
trait Pixel: Sized {
    type Color: ColorType<Inner = Self>;
}

macro_rules! pixel {
    ($($t:ty => $c:ty),*) => {$(impl Pixel for $t { type Color = $c; })*};
}

pixel!(u8 => Gray8, i8 => GrayI8, u16 => Gray16, i16 => GrayI16, u32 => Gray32, i32 => GrayI32,
       u64 => Gray64, i64 => GrayI64, f32 => Gray32Float, f64 => Gray64Float);

fn write_pages<W, K, S, T>(
    enc: &mut TiffEncoder<W, K>,
    a: &ArrayBase<S, Ix3>,
    meta: &TiffMeta,
) -> Result<(), TiffError>
where
    W: Write + Seek,
    K: TiffKind,
    S: Data<Elem = T>,
    T: Pixel + Clone,
    [T]: TiffValue,
{
    let (_, height, width) = a.dim();
    let (width, height) = (dim_u32(width)?, dim_u32(height)?);
    let a = a.as_standard_layout();
    for (z, page) in a.outer_iter().enumerate() {
        let mut image = enc.new_image::<T::Color>(width, height)?;
        if let Some(unit) = meta.resolution_unit {
            image.encoder().write_tag(Tag::ResolutionUnit, unit)?;
        }
        // (ImageEncoder's own resolution setters panic on an I/O error.)
        if let Some((n, d)) = meta.x_resolution {
            image
                .encoder()
                .write_tag(Tag::XResolution, Rational { n, d })?;
        }
        if let Some((n, d)) = meta.y_resolution {
            image
                .encoder()
                .write_tag(Tag::YResolution, Rational { n, d })?;
        }
        if let (0, Some(description)) = (z, &meta.description) {
            image
                .encoder()
                .write_tag(Tag::ImageDescription, description.as_str())?;
        }
        let values = page.to_slice().ok_or(TiffError::FormatError(
            TiffFormatError::InconsistentSizesEncountered,
        ))?;
        image.write_data(values)?;
    }
    Ok(())
}

fn dim_u32(n: usize) -> Result<u32, TiffError> {
    u32::try_from(n).map_err(|_| TiffError::IntSizeError)
}

/// A TIFF error in words.
fn problem(e: &TiffError) -> String {
    match e {
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends too early (truncated?)".to_string()
        }
        TiffError::IoError(io) => super::io_problem(io),
        TiffError::FormatError(f) => format!("not a valid TIFF file: {f}"),
        TiffError::UnsupportedError(u) => format!("unsupported TIFF: {u}"),
        other => other.to_string(),
    }
}
