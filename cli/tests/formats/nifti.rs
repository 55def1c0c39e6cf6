//! NIfTI-1 and NIfTI-2 files, plain and gzipped: the header and extensions kept, the spacing
//! along x, y, z, voxels read from `vox_offset`, byte order and scaling as other tools read them.

use std::fs;
use std::path::Path;

use blur3d::BlurOptions;
use ndarray::Array3;
use ndarray_npy::ReadNpyExt;
use nifti::NiftiHeader;
use nifti::writer::WriterOptions;

use crate::common::files::{
    f32_pages, nifti_dims, nifti_header, read_nifti, read_npy, read_tiff, write_nifti, write_npy,
};
use crate::common::{
    SHAPE, a, assert_close, copied, max_diff, random, reference, refuses, sample, succeeds, tmp,
    to_i16, worst,
};

#[test]
fn nifti_round_trips_keep_the_header_and_equal_the_library() {
    for name in ["vol.nii", "vol.nii.gz"] {
        let dir = tmp();
        let (i, o) = (
            dir.path().join(name),
            dir.path().join(format!("out_{name}")),
        );
        let vol = to_i16(&(random(SHAPE, 6, 2000.0) - 1000.0)); // axes x, y, z
        let header = nifti_header([1.0, 1.0, 3.0]);
        write_nifti(&i, &vol, &header);
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "1,2,0.5".as_ref(),
            "--cpu".as_ref(),
        ]);
        let (in_header, in_ext, _) = read_nifti::<i16>(&i);
        let (out_header, out_ext, out) = read_nifti::<i16>(&o);
        assert_eq!(out_header, in_header, "{name}: the header is kept");
        assert_eq!(out_ext, in_ext, "{name}: the extensions are kept");
        assert_eq!(out.dim(), SHAPE);
        let expected = to_i16(&reference(
            &vol.mapv(f64::from),
            &BlurOptions::new([1.0, 2.0, 0.5]),
        ));
        assert_eq!(out, expected, "{name}: sigma (1, 2, 0.5) along (x, y, z)");
    }
}

#[test]
fn sigma_in_mm_follows_the_nifti_spacing_along_x_y_z() {
    let dir = tmp();
    let (i, o) = (dir.path().join("in.nii.gz"), dir.path().join("out.nii.gz"));
    let vol = random(SHAPE, 7, 1.0); // axes x, y, z
    write_nifti(&i, &vol, &nifti_header([1.0, 1.0, 3.0]));
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "3mm".as_ref(),
        "--cpu".as_ref(),
    ]);
    let (_, _, out) = read_nifti::<f64>(&o);
    let right = reference(&vol, &BlurOptions::new([3.0, 3.0, 1.0]));
    let wrong = reference(&vol, &BlurOptions::new([1.0, 3.0, 3.0]));
    assert_close(&out, &right, 1e-12);
    assert!(max_diff(&out, &wrong) > 1e-3, "the axes are told apart");

    // The same in c3d's spelling, in voxels, and as a FWHM.
    let o2 = dir.path().join("out2.nii.gz");
    for sigma in [["--sigma", "3x3x1vox"], ["--fwhm", "7.064460135092848mm"]] {
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o2),
            sigma[0].as_ref(),
            sigma[1].as_ref(),
            "--cpu".as_ref(),
        ]);
        assert_close(&read_nifti::<f64>(&o2).2, &right, 1e-9);
    }
}

#[test]
fn nifti_becomes_a_tiff_stack_with_pages_along_z() {
    let dir = tmp();
    let (i, o) = (dir.path().join("in.nii"), dir.path().join("out.tif"));
    let vol = random(SHAPE, 8, 1.0).mapv(|v| v as f32); // axes x, y, z
    write_nifti(&i, &vol, &nifti_header([0.5, 0.5, 2.0]));
    copied(&i, &o);
    let stack = read_tiff(&o, f32_pages);
    assert_eq!(
        stack.voxels.dim(),
        (SHAPE.2, SHAPE.1, SHAPE.0),
        "pages z, rows y, columns x"
    );
    assert_eq!(
        stack.voxels,
        vol.t(),
        "voxel (x, y, z) is page z, row y, column x"
    );
    let description = stack.description.expect("ImageJ's description");
    assert!(
        description.contains("unit=mm") && description.contains("spacing=2"),
        "{description}"
    );
    assert_eq!(
        stack.x_resolution,
        Some((1_000_000, 500_000)),
        "2 pixels per mm"
    );
}

/// `vol` (x, y, z) as a NIfTI-1 file with its voxels at `vox_offset` (padding before them).
fn nifti_at_offset(path: &Path, vol: &Array3<f32>, vox_offset: usize) {
    let plain = path.parent().unwrap().join("unpadded.nii");
    let header = NiftiHeader {
        pixdim: [1.0; 8],
        ..NiftiHeader::default()
    };
    WriterOptions::new(&plain)
        .reference_header(&header)
        .write_nifti(vol)
        .unwrap();
    let bytes = fs::read(&plain).unwrap();
    let old = f32::from_le_bytes(bytes[108..112].try_into().unwrap()) as usize;
    let mut out = bytes[..old].to_vec();
    out.resize(vox_offset, 0);
    out[108..112].copy_from_slice(&(vox_offset as f32).to_le_bytes());
    out.extend_from_slice(&bytes[old..]);
    fs::write(path, out).unwrap();
    fs::remove_file(plain).unwrap();
}

#[test]
fn nifti_voxels_are_read_from_vox_offset() {
    let dir = tmp();
    let d = dir.path();
    let vol = random(SHAPE, 21, 1.0).mapv(|v| v as f32);
    let (i, o) = (d.join("padded.nii"), d.join("out.npy"));
    nifti_at_offset(&i, &vol, 416);
    copied(&i, &o);
    // NIfTI's (x, y, z) in Fortran order is numpy's (x, y, z), as nibabel reads it.
    assert_eq!(read_npy::<f32>(&o), vol);
    // A vox_offset inside the header is refused.
    nifti_at_offset(&i, &vol, 352);
    let mut bytes = fs::read(&i).unwrap();
    bytes[108..112].copy_from_slice(&100f32.to_le_bytes());
    fs::write(&i, bytes).unwrap();
    refuses(&i, &d.join("x.npy"), "vox_offset is 100");
}

#[test]
fn long_axes_are_written_as_nifti2_and_read_back() {
    let dir = tmp();
    let d = dir.path();
    for shape in [(1, 1, 70_000), (40_000, 1, 1), (2, 3, 4)] {
        let vol = random(shape, 22, 100.0).mapv(|v| v as f32);
        let (i, o, back) = (d.join("in.npy"), d.join("out.nii"), d.join("back.npy"));
        write_npy(&i, &vol);
        copied(&i, &o);
        let (version, dims) = nifti_dims(&o);
        let long = shape.0.max(shape.2) > 32767;
        assert_eq!(version, if long { 2 } else { 1 }, "{shape:?}");
        assert_eq!(dims, [3, shape.0 as i64, shape.1 as i64, shape.2 as i64, 1]);
        copied(&o, &back);
        assert_eq!(read_npy::<f32>(&back), vol);
    }
}

#[test]
fn upper_case_nii_gz_is_compressed_and_read_back() {
    let dir = tmp();
    let d = dir.path();
    let vol = random(SHAPE, 23, 1.0);
    let (i, o, back) = (d.join("in.npy"), d.join("OUT.NII.GZ"), d.join("back.npy"));
    write_npy(&i, &vol);
    copied(&i, &o);
    assert_eq!(fs::read(&o).unwrap()[..2], [0x1f, 0x8b], "gzip");
    copied(&o, &back);
    assert_eq!(read_npy::<f64>(&back), vol);
    // And a plain .NII named like a compressed one is read too (by its bytes, not its name).
    let plain = d.join("plain.nii");
    copied(&i, &plain);
    let misnamed = d.join("misnamed.nii.gz");
    fs::rename(&plain, &misnamed).unwrap();
    copied(&misnamed, &back);
    assert_eq!(read_npy::<f64>(&back), vol);
}

#[test]
fn nifti2_from_another_tool_is_read_blurred_and_written_as_nifti2() {
    let dir = tmp();
    let d = dir.path();
    // nibabel's example: 32 x 20 x 12 x 2 int16, 2 x 2 x 2.2 mm, with two extensions.
    let input = sample("example_nifti2.nii.gz");
    let data = ndarray::Array4::<i16>::read_npy(
        fs::File::open(sample("example_nifti2_data.npy")).unwrap(),
    )
    .unwrap();
    let scipy = ndarray::Array4::<f64>::read_npy(
        fs::File::open(sample("example_nifti2_sigma1-1-2_scipy.npy")).unwrap(),
    )
    .unwrap();
    let read = d.join("read.npy");
    copied(&input, &read);
    let as_read = ndarray::Array4::<i16>::read_npy(fs::File::open(&read).unwrap()).unwrap();
    assert_eq!(as_read, data, "the voxels nibabel reads");

    let out = d.join("out.nii.gz");
    succeeds([
        a(&input),
        "-o".as_ref(),
        a(&out),
        "--sigma".as_ref(),
        "1,1,2".as_ref(),
        "--cpu".as_ref(),
    ]);
    assert_eq!(nifti_dims(&out), (2, vec![4, 32, 20, 12, 2]));
    // The header is kept field by field: all of it but vox_offset (extensions are rewritten
    // without padding), compared as bytes.
    let unzip = |p: &Path| {
        use std::io::Read;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        raw
    };
    let (before, after) = (unzip(&input), unzip(&out));
    assert_eq!(before[..168], after[..168]);
    assert_eq!(before[176..544], after[176..544]);
    assert!(
        after.windows(11).any(|w| w == b"extcomment1"),
        "the extensions are kept"
    );

    let back = d.join("back.npy");
    copied(&out, &back);
    let blurred = ndarray::Array4::<i16>::read_npy(fs::File::open(&back).unwrap()).unwrap();
    let worst = worst(
        blurred
            .iter()
            .zip(&scipy)
            .map(|(&b, &s)| (f64::from(b) - s.round()).abs()),
    );
    assert_eq!(worst, 0.0, "each volume as scipy blurs it, rounded");
}

#[test]
fn big_endian_and_scaled_files_are_read_as_their_tools_read_them() {
    let dir = tmp();
    let d = dir.path();
    // NIfTI written big-endian with scl_slope 2 and scl_inter -10 (values as nibabel's
    // get_fdata gives them).
    let input = sample("big_endian_scaled.nii");
    let values = read_npy::<f32>(&sample("big_endian_scaled_values.npy"));
    let read = d.join("read.npy");
    copied(&input, &read);
    assert_eq!(read_npy::<f32>(&read), values);
    // Blurred, the scaled values are written as float32, and the scaling is not applied twice.
    let out = d.join("out.nii");
    succeeds([
        a(&input),
        "-o".as_ref(),
        a(&out),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let (header, _, blurred) = read_nifti::<f32>(&out);
    assert_eq!((header.scl_slope, header.scl_inter), (1.0, 0.0));
    assert_eq!(header.datatype, 16, "float32");
    assert_eq!(header.pixdim[1..4], [1.5, 1.5, 3.0]);
    let expected = reference(&values.mapv(f64::from), &BlurOptions::new(1.0)).mapv(|v| v as f32);
    assert_eq!(blurred, expected);

    // .npy in big-endian order.
    let vol = random(SHAPE, 50, 100.0);
    let mut bytes = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = format!("{{'descr': '>f8', 'fortran_order': False, 'shape': {SHAPE:?}, }}");
    bytes.extend_from_slice(format!("{dict:<117}\n").as_bytes());
    for v in &vol {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    let be = d.join("be.npy");
    fs::write(&be, bytes).unwrap();
    copied(&be, &read);
    assert_eq!(read_npy::<f64>(&read), vol);
}
