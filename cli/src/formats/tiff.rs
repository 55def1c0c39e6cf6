//! Multi-page TIFF stacks `.tif`/`.tiff`: pages are z, rows y and columns x, so a volume's axes
//! are (z, y, x), in standard layout. ImageJ hyperstacks (`channels=`, `frames=` in the
//! description, pages in ImageJ's order: channel fastest, then slice, then frame) are a series
//! of volumes, one per frame and channel.
//!
//! Read through the `tiff` crate, with limits from the file's size. Written by blur3d itself, as
//! ImageJ writes stacks: the first page's tags, then every page's pixels one after the other,
//! then the other pages' tags, so that ImageJ, Fiji and tifffile read the pixels as one block.
//!
//! The spacing is read as ImageJ writes it: `unit=` and `spacing=` (z) in the ImageDescription,
//! XResolution and YResolution in pixels per unit. The description, the resolution tags and
//! the photometric interpretation are written back.

use std::io::{BufReader, Seek, Write};
use std::path::Path;

use ndarray::{Array4, ArrayView2, Axis};
use tiff::decoder::{Decoder, Limits};
use tiff::tags::Tag;
use tiff::{TiffError, TiffFormatError};

use super::{Meta, io_problem};
use crate::volume::{DType, Element, Volume, with_dtype, with_voxels};

/// The most the TIFF compressions expand (LZW's 12-bit codes for 4096-byte strings; deflate
/// and PackBits expand less): a page cannot hold more pixels than this times the file's size.
const MAX_COMPRESSION_RATIO: u64 = 4096;

/// The tags of the first page that say how large a voxel is and how values look.
#[derive(Debug, Clone, Default)]
pub struct TiffMeta {
    pub description: Option<String>,
    pub x_resolution: Option<(u32, u32)>,
    pub y_resolution: Option<(u32, u32)>,
    pub resolution_unit: Option<u16>,
    /// 0 for MinIsWhite, 1 for MinIsBlack.
    pub photometric: u16,
    /// ImageJ's channels: volumes `t * channels + c` of the series.
    pub channels: usize,
}

/// What one page holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Page {
    width: u32,
    height: u32,
    dtype: DType,
    photometric: u16,
}

pub fn read(path: &Path) -> Result<Volume, String> {
    let (file, len) = super::open(path)?;
    let limits = {
        let mut l = Limits::default();
        let most = usize::try_from(len.saturating_mul(MAX_COMPRESSION_RATIO)).unwrap_or(usize::MAX);
        l.decoding_buffer_size = most.max(1 << 20);
        l.ifd_value_size = usize::try_from(len).unwrap_or(usize::MAX).max(1 << 20);
        l
    };
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| problem(&e))?
        .with_limits(limits);
    let mut meta = read_meta(&mut dec);

    // First every page's tags, to know the size of the whole before allocating it.
    let first = page(&mut dec, 1)?;
    let mut pages = 1usize;
    let mut compressed = compression(&mut dec) != 1;
    while dec.more_images() {
        dec.next_image().map_err(|e| problem(&e))?;
        pages += 1;
        let this = page(&mut dec, pages)?;
        if (this.width, this.height) != (first.width, first.height) {
            return Err(format!(
                "page {pages} is {}x{} pixels but page 1 is {}x{}: every page of a stack must \
                 have the same size",
                this.width, this.height, first.width, first.height
            ));
        }
        if this.dtype != first.dtype {
            return Err(format!(
                "page {pages} holds {} but page 1 holds {}: every page of a stack must have the \
                 same type",
                this.dtype.numpy_name(),
                first.dtype.numpy_name()
            ));
        }
        compressed |= compression(&mut dec) != 1;
    }
    let (width, height) = (first.width as usize, first.height as usize);
    let page_len = width * height;
    // ImageJ writes stacks over 4 GiB as the first page's tags followed by every page's pixels.
    let contiguous = match imagej_images(meta.description.as_deref()) {
        Some(images) if pages == 1 && images > 1 && !compressed => {
            let page_bytes = (page_len as u64).saturating_mul(first.dtype.size() as u64);
            let start = single_strip(&mut dec, page_bytes)?;
            pages = images;
            Some(start)
        }
        _ => None,
    };
    let bytes = (page_len as u64)
        .saturating_mul(pages as u64)
        .saturating_mul(first.dtype.size() as u64);
    let most = if compressed {
        len.saturating_mul(MAX_COMPRESSION_RATIO)
    } else {
        len
    };
    if bytes > most {
        return Err(format!(
            "the pages claim {pages} x {width} x {height} pixels of {} ({bytes} bytes), more \
             than this {len}-byte file can hold: the file is corrupt or truncated",
            first.dtype.numpy_name()
        ));
    }
    let (channels, slices, frames) = hyperstack(meta.description.as_deref(), pages)?;
    meta.channels = channels;
    meta.photometric = first.photometric;

    let big_endian = matches!(dec.byte_order(), tiff::tags::ByteOrder::BigEndian);
    let mut raw = match contiguous {
        Some(start) => {
            let (file, _) = super::open(path)?;
            let mut r = BufReader::new(file);
            r.seek(std::io::SeekFrom::Start(start))
                .map_err(|e| io_problem(&e))?;
            Some(r)
        }
        None => None,
    };
    let voxels = with_dtype!(first.dtype, T => {
        let mut a = Array4::<T>::zeros((frames * channels, slices, height, width));
        dec.seek_to_image(0).map_err(|e| problem(&e))?;
        for p in 0..pages {
            let (c, z, t) = (p % channels, (p / channels) % slices, p / (channels * slices));
            if let Some(r) = raw.as_mut() {
                let values = super::read_values::<T>(r, page_len, big_endian)
                    .map_err(|e| io_problem(&e))?;
                a.index_axis_mut(Axis(0), t * channels + c)
                    .index_axis_mut(Axis(0), z)
                    .assign(&ndarray::ArrayView2::from_shape((height, width), &values)
                        .map_err(|e| e.to_string())?);
                continue;
            }
            if p > 0 {
                dec.next_image().map_err(|e| problem(&e))?;
            }
            // ImageJ's order: channel fastest, then slice, then frame.
            let mut plane = a.index_axis_mut(Axis(0), t * channels + c);
            let mut plane = plane.index_axis_mut(Axis(0), z);
            let values = plane.as_slice_mut().ok_or("internal: a page is not contiguous")?;
            dec.read_image_bytes(bytemuck::cast_slice_mut(values))
                .map_err(|e| problem(&e))?;
            if first.photometric == 0 {
                // The decoder shows MinIsWhite pages inverted; the values are the file's.
                invert(values);
            }
        }
        T::wrap(a)
    });
    Ok(Volume {
        voxels,
        spacing: spacing(&meta),
        series: frames * channels > 1,
        meta: Meta::Tiff(meta),
    })
}

/// Undoes the tiff crate's inversion of MinIsWhite pages (its own inverse).
fn invert<T: Element>(values: &mut [T]) {
    match T::DTYPE {
        DType::F32 | DType::F64 => {
            for v in values {
                *v = T::from_f64(1.0 - v.to_f64());
            }
        }
        _ => {
            // Unsigned: MAX - v, which is !v; signed pages are refused before.
            for b in bytemuck::cast_slice_mut::<T, u8>(values) {
                *b = !*b;
            }
        }
    }
}

/// The current page's size and type, or why blur3d cannot read it.
fn page<R: std::io::Read + Seek>(dec: &mut Decoder<R>, number: usize) -> Result<Page, String> {
    let (width, height) = dec.dimensions().map_err(|e| problem(&e))?;
    let bits = match dec.colortype().map_err(|e| problem(&e))? {
        tiff::ColorType::Gray(bits) => bits,
        other => {
            return Err(format!(
                "page {number} has {other:?} pixels: blur3d needs one value per voxel \
                 (grayscale pages)"
            ));
        }
    };
    let format = dec
        .find_tag_unsigned::<u16>(Tag::SampleFormat)
        .ok()
        .flatten()
        .unwrap_or(1);
    let photometric = dec
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .ok()
        .flatten()
        .unwrap_or(1);
    let dtype = match (bits, format) {
        (8, 1) => DType::U8,
        (8, 2) => DType::I8,
        (16, 1) => DType::U16,
        (16, 2) => DType::I16,
        (32, 1) => DType::U32,
        (32, 2) => DType::I32,
        (64, 1) => DType::U64,
        (64, 2) => DType::I64,
        (32, 3) => DType::F32,
        (64, 3) => DType::F64,
        (1 | 2 | 4, _) => {
            return Err(format!(
                "page {number} has {bits}-bit pixels{}: blur3d reads 8, 16, 32 and 64-bit \
                 pages; convert it to 8-bit first (ImageJ: Image > Type > 8-bit)",
                if bits == 1 { " (a bilevel image)" } else { "" }
            ));
        }
        (16, 3) => {
            return Err(
                "16-bit float pages are not supported: use integers, float32 or float64"
                    .to_string(),
            );
        }
        _ => {
            return Err(format!(
                "page {number} has {bits}-bit samples of format {format}: blur3d reads \
                 unsigned and signed integers and floats of 8 to 64 bits"
            ));
        }
    };
    if photometric == 0 && matches!(dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64) {
        return Err(format!(
            "page {number} is MinIsWhite with signed integers, which blur3d does not read: \
             invert it first (ImageJ: Edit > Invert)"
        ));
    }
    Ok(Page {
        width,
        height,
        dtype,
        photometric,
    })
}

fn compression<R: std::io::Read + Seek>(dec: &mut Decoder<R>) -> u16 {
    dec.find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1)
}

/// (channels, slices, frames) of an ImageJ hyperstack of `pages` pages; a plain stack is
/// (1, pages, 1).
fn hyperstack(description: Option<&str>, pages: usize) -> Result<(usize, usize, usize), String> {
    let Some(d) = description.filter(|d| d.starts_with("ImageJ=")) else {
        return Ok((1, pages, 1));
    };
    let count = |key| imagej_value(d, key).and_then(|v| v.parse::<usize>().ok());
    let channels = count("channels").unwrap_or(1).max(1);
    let frames = count("frames").unwrap_or(1).max(1);
    let per_slice = channels.saturating_mul(frames);
    let slices = count("slices").unwrap_or(pages / per_slice).max(1);
    if per_slice.checked_mul(slices) == Some(pages) {
        Ok((channels, slices, frames))
    } else {
        Ok((1, pages, 1))
    }
}

/// `images=` of an ImageJ description.
fn imagej_images(description: Option<&str>) -> Option<usize> {
    let d = description.filter(|d| d.starts_with("ImageJ="))?;
    imagej_value(d, "images")?.parse().ok()
}

/// Where the current page's pixels start, when they are one block of `bytes` (in one strip or
/// in strips one after the other).
fn single_strip<R: std::io::Read + Seek>(dec: &mut Decoder<R>, bytes: u64) -> Result<u64, String> {
    let offsets = dec
        .get_tag_u64_vec(Tag::StripOffsets)
        .map_err(|e| problem(&e))?;
    let counts = dec
        .get_tag_u64_vec(Tag::StripByteCounts)
        .map_err(|e| problem(&e))?;
    let in_one_block = offsets.len() == counts.len()
        && offsets
            .windows(2)
            .zip(&counts)
            .all(|(o, c)| o[1] == o[0] + c)
        && counts.iter().sum::<u64>() == bytes;
    match offsets.first() {
        Some(&start) if in_one_block => Ok(start),
        _ => Err(
            "the ImageJ description counts more images than the file has pages, and the \
             first page's pixels are not one block: the file is not a stack blur3d can read"
                .to_string(),
        ),
    }
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
        photometric: 1,
        channels: 1,
    }
}

/// Millimetres per unit of an ImageJ `unit=` (`micron`, `\u00B5m`, `mm`...).
fn mm_per_unit(unit: &str) -> Option<f64> {
    crate::units::length(unit).map(|l| l.mm)
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

/// The ImageJ description of `frames` frames of `channels` channels of `slices` slices, from
/// the input's when it has one (its own keys kept), with `spacing` (z, y, x) in mm otherwise.
fn imagej_description(
    kept: Option<&str>,
    channels: usize,
    slices: usize,
    frames: usize,
    spacing: Option<[f64; 3]>,
) -> String {
    let counts = [
        ("images", channels * slices * frames),
        ("channels", channels),
        ("slices", slices),
        ("frames", frames),
    ];
    let mut lines: Vec<String> = match kept {
        Some(d) => d
            .lines()
            .filter(|l| {
                let key = l.split_once('=').map_or("", |(k, _)| k.trim());
                !counts.iter().any(|(k, _)| *k == key) && key != "hyperstack"
            })
            .map(str::to_string)
            .collect(),
        None => {
            let mut l = vec!["ImageJ=1.11a".to_string()];
            if let Some(s) = spacing {
                l.push("unit=mm".to_string());
                l.push(format!("spacing={}", s[0]));
            }
            l.push("loop=false".to_string());
            l
        }
    };
    let mut at = 1;
    for (key, n) in counts {
        if n > 1 || key == "images" || key == "slices" {
            lines.insert(at, format!("{key}={n}"));
            at += 1;
        }
    }
    if channels > 1 || frames > 1 {
        lines.insert(at, "hyperstack=true".to_string());
    }
    lines.join("\n") + "\n"
}

/// What the output's tags say.
fn output_meta(volume: &Volume) -> TiffMeta {
    let [volumes, slices, ..] = volume.voxels.shape();
    let from = match &volume.meta {
        Meta::Tiff(m) => Some(m),
        _ => None,
    };
    let channels = from.map_or(1, |m| m.channels.max(1));
    let channels = if volumes % channels == 0 { channels } else { 1 };
    let frames = volumes / channels;
    let kept = from.and_then(|m| m.description.as_deref());
    let description = match kept {
        Some(d) if !d.starts_with("ImageJ=") => Some(d.to_string()),
        _ => Some(imagej_description(
            kept,
            channels,
            slices,
            frames,
            volume.spacing,
        )),
    };
    let per_mm = |s: f64| {
        // pixels per mm as a fraction with a denominator of one million
        let d = (s * 1e6).round().clamp(1.0, f64::from(u32::MAX));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (1_000_000, d as u32)
    };
    match (from, volume.spacing) {
        (Some(m), _) => TiffMeta {
            description,
            channels,
            ..m.clone()
        },
        (None, Some(s)) => TiffMeta {
            description,
            x_resolution: Some(per_mm(s[2])),
            y_resolution: Some(per_mm(s[1])),
            resolution_unit: Some(1), // none: ImageJ's unit= says
            photometric: 1,
            channels,
        },
        (None, None) => TiffMeta {
            description,
            photometric: 1,
            channels,
            ..TiffMeta::default()
        },
    }
}

/// TIFF's field types.
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const ASCII: u16 = 2;
const LONG8: u16 = 16;

/// One tag of an IFD: its value inline, or its bytes stored after the IFD.
struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    bytes: Vec<u8>,
}

impl Entry {
    fn short(tag: Tag, v: u16) -> Entry {
        Entry {
            tag: tag.to_u16(),
            kind: SHORT,
            count: 1,
            bytes: v.to_le_bytes().to_vec(),
        }
    }
    fn offset(tag: Tag, v: u64, big: bool) -> Entry {
        // Sizes and offsets: LONG in classic TIFF, LONG8 in BigTIFF.
        let (kind, bytes) = if big {
            (LONG8, v.to_le_bytes().to_vec())
        } else {
            #[allow(clippy::cast_possible_truncation)] // classic TIFF is below 4 GiB
            (LONG, (v as u32).to_le_bytes().to_vec())
        };
        Entry {
            tag: tag.to_u16(),
            kind,
            count: 1,
            bytes,
        }
    }
    fn rational(tag: Tag, (n, d): (u32, u32)) -> Entry {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend_from_slice(&d.to_le_bytes());
        Entry {
            tag: tag.to_u16(),
            kind: RATIONAL,
            count: 1,
            bytes,
        }
    }
    fn ascii(tag: Tag, text: &str) -> Entry {
        let mut bytes: Vec<u8> = text.bytes().filter(|&b| b != 0).collect();
        bytes.push(0);
        Entry {
            tag: tag.to_u16(),
            kind: ASCII,
            count: bytes.len() as u64,
            bytes,
        }
    }
}

/// The IFD at `at`, with the values that do not fit inline right after it, and its length.
fn ifd(entries: &mut [Entry], at: u64, next: u64, big: bool) -> Vec<u8> {
    entries.sort_by_key(|e| e.tag);
    let (count_len, entry_len, inline) = if big { (8, 20, 8) } else { (2, 12, 4) };
    let table = count_len + entry_len * entries.len() as u64 + inline;
    let mut out = Vec::new();
    let mut extra = Vec::new();
    let word = |out: &mut Vec<u8>, v: u64| {
        if big {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            #[allow(clippy::cast_possible_truncation)]
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
    };
    if big {
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    } else {
        #[allow(clippy::cast_possible_truncation)]
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.kind.to_le_bytes());
        word(&mut out, e.count);
        if e.bytes.len() as u64 <= inline {
            let mut v = e.bytes.clone();
            v.resize(inline as usize, 0);
            out.extend_from_slice(&v);
        } else {
            word(&mut out, at + table + extra.len() as u64);
            extra.extend_from_slice(&e.bytes);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    word(&mut out, next);
    out.extend_from_slice(&extra);
    out
}

/// Writes `volume` as an uncompressed stack (BigTIFF beyond 4 GiB), little-endian: header,
/// the first page's tags, all the pixels, the other pages' tags.
pub fn write(w: &mut impl Write, volume: &Volume) -> Result<(), String> {
    let [volumes, depth, height, width] = volume.voxels.shape();
    let pages = (volumes * depth) as u64;
    let data_bytes = (height * width * volume.voxels.dtype().size()) as u64 * pages;
    // Room for every page's tags, and the description.
    let big = data_bytes + 4096 * pages + (1 << 24) > u64::from(u32::MAX);
    write_stack(w, volume, big)
}

fn write_stack(w: &mut impl Write, volume: &Volume, big: bool) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write: {}", io_problem(&e));
    let meta = output_meta(volume);
    let [volumes, depth, height, width] = volume.voxels.shape();
    let dtype = volume.voxels.dtype();
    let pages = volumes * depth;
    let page_bytes = (height * width * dtype.size()) as u64;
    let data_bytes = page_bytes * pages as u64;
    let (width32, height32) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err("a page is wider or taller than TIFF's 2^32 - 1 pixels".to_string()),
    };
    let (bits, format) = match dtype {
        DType::F32 | DType::F64 => (dtype.size() * 8, 3),
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => (dtype.size() * 8, 2),
        _ => (dtype.size() * 8, 1),
    };
    let entries = |page: usize, data_at: u64| {
        let mut e = vec![
            Entry::offset(Tag::NewSubfileType, 0, false),
            Entry::offset(Tag::ImageWidth, u64::from(width32), false),
            Entry::offset(Tag::ImageLength, u64::from(height32), false),
            #[allow(clippy::cast_possible_truncation)]
            Entry::short(Tag::BitsPerSample, bits as u16),
            Entry::short(Tag::Compression, 1),
            Entry::short(Tag::PhotometricInterpretation, meta.photometric),
            Entry::offset(Tag::StripOffsets, data_at, big),
            Entry::short(Tag::SamplesPerPixel, 1),
            Entry::offset(Tag::RowsPerStrip, u64::from(height32), false),
            Entry::offset(Tag::StripByteCounts, page_bytes, big),
            Entry::short(Tag::SampleFormat, format),
        ];
        if let (0, Some(d)) = (page, &meta.description) {
            e.push(Entry::ascii(Tag::ImageDescription, d));
        }
        if let Some(r) = meta.x_resolution {
            e.push(Entry::rational(Tag::XResolution, r));
        }
        if let Some(r) = meta.y_resolution {
            e.push(Entry::rational(Tag::YResolution, r));
        }
        if let Some(u) = meta.resolution_unit {
            e.push(Entry::short(Tag::ResolutionUnit, u));
        }
        e
    };
    // Header and first IFD; the pixels follow it; then the other IFDs, one after the other.
    let header_len: u64 = if big { 16 } else { 8 };
    let first_len = ifd(&mut entries(0, 0), header_len, 0, big).len() as u64;
    let data_at = header_len + first_len;
    let mut head = Vec::new();
    if big {
        head.extend_from_slice(b"II\x2b\x00\x08\x00\x00\x00");
        head.extend_from_slice(&header_len.to_le_bytes());
    } else {
        head.extend_from_slice(b"II\x2a\x00");
        #[allow(clippy::cast_possible_truncation)]
        head.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    // Every IFD but the first has the same length: lay them out after the pixels.
    let rest_at = data_at + data_bytes;
    let rest_len = if pages > 1 {
        ifd(&mut entries(1, 0), 0, 0, big).len() as u64
    } else {
        0
    };
    let ifd_at = |page: usize| rest_at + (page as u64 - 1) * rest_len;
    let second = if pages > 1 { ifd_at(1) } else { 0 };
    head.extend(ifd(&mut entries(0, data_at), header_len, second, big));
    w.write_all(&head).map_err(cannot)?;

    // Pixels in ImageJ's page order: channel fastest, then slice, then frame.
    let channels = meta.channels;
    let frames = volumes / channels;
    with_voxels!(&volume.voxels, a => {
        for t in 0..frames {
            for z in 0..depth {
                for c in 0..channels {
                    let plane: ArrayView2<'_, _> =
                        a.index_axis(Axis(0), t * channels + c).index_axis_move(Axis(0), z);
                    super::write_values(w, plane).map_err(cannot)?;
                }
            }
        }
    });
    for page in 1..pages {
        let next = if page + 1 < pages {
            ifd_at(page + 1)
        } else {
            0
        };
        let data = data_at + page as u64 * page_bytes;
        w.write_all(&ifd(&mut entries(page, data), ifd_at(page), next, big))
            .map_err(cannot)?;
    }
    Ok(())
}

/// A TIFF error in words.
fn problem(e: &TiffError) -> String {
    match e {
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends too early (truncated?)".to_string()
        }
        TiffError::IoError(io) => io_problem(io),
        TiffError::FormatError(TiffFormatError::InconsistentSizesEncountered) => {
            "the pages do not hold the pixels their size says: the file is corrupt".to_string()
        }
        TiffError::FormatError(f) => format!("not a valid TIFF file: {f}"),
        TiffError::UnsupportedError(u) => format!("unsupported TIFF: {u}"),
        TiffError::LimitsExceeded => "a page claims more pixels than the file can hold: the \
                                      file is corrupt or truncated"
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Voxels;

    #[test]
    fn bigtiff_stacks_read_back_page_by_page() {
        let a = Array4::from_shape_fn((1, 3, 4, 5), |(_, z, y, x)| (z * 100 + y * 10 + x) as u16);
        let volume = Volume {
            voxels: Voxels::U16(a.clone()),
            spacing: Some([0.003, 0.001, 0.001]),
            series: false,
            meta: Meta::None,
        };
        for big in [true, false] {
            let mut bytes = Vec::new();
            write_stack(&mut bytes, &volume, big).unwrap();
            assert_eq!(bytes[2], if big { 0x2b } else { 0x2a });
            let mut dec = Decoder::new(std::io::Cursor::new(bytes)).unwrap();
            let description = dec.get_tag_ascii_string(Tag::ImageDescription).unwrap();
            assert!(description.contains("images=3\n") && description.contains("spacing=0.003"));
            for z in 0..3 {
                if z > 0 {
                    dec.next_image().unwrap();
                }
                let tiff::decoder::DecodingResult::U16(page) = dec.read_image().unwrap() else {
                    panic!("u16 pages")
                };
                let expected: Vec<u16> = a
                    .index_axis(Axis(0), 0)
                    .index_axis(Axis(0), z)
                    .iter()
                    .copied()
                    .collect();
                assert_eq!(page, expected, "page {z}, BigTIFF {big}");
            }
            assert!(!dec.more_images());
        }
    }
}
