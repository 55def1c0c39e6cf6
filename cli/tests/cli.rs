//! The `blur3d` command line, run as a user runs it: files in, files out, exit status, messages.
//!
//! Most runs use `--cpu`, whose result is compared exactly with `blur3d::cpu::separable`; the GPU
//! runs are compared with `GpuBlur` (skipped without an adapter, except in CI).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use blur3d::{BlurOptions, GpuBlur, Mode, cpu};
use common::{a, blur3d, max_diff, stderr, tmp, worst};
use ndarray::{Array3, ArrayD, Ix3, ShapeBuilder};
use ndarray_npy::{ReadNpyExt, ReadableElement, WritableElement, WriteNpyExt};
use nifti::writer::WriterOptions;
use nifti::{
    Extender, Extension, ExtensionSequence, IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions,
};

// ---------------------------------------------------------------------------------------------
// Running the binary

/// Copies `from` to `to` on the CPU (`--sigma 0 --cpu`): a format conversion, to read a result
/// back in another format.
#[track_caller]
fn copied(from: &Path, to: &Path) -> Output {
    succeeds([
        a(from),
        "-o".as_ref(),
        a(to),
        "--sigma".as_ref(),
        "0".as_ref(),
        "--cpu".as_ref(),
    ])
}

/// Runs blur3d and asserts that it succeeded without a word (stderr is not a terminal here).
#[track_caller]
fn succeeds<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = blur3d(args);
    assert!(out.status.success(), "blur3d failed: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "a successful run prints nothing off a terminal"
    );
    out
}

/// `common::fails_with` for any iterable of arguments.
#[track_caller]
fn fails<I, S>(args: I, file: &Path, words: &str) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let args: Vec<&OsStr> = args.iter().map(std::ffi::OsString::as_os_str).collect();
    common::fails_with(&args, file, words)
}

/// The shared GPU blur, or `None` without an adapter (a failure in CI).
fn gpu() -> Option<&'static GpuBlur> {
    static GPU: OnceLock<Result<GpuBlur, String>> = OnceLock::new();
    match GPU.get_or_init(|| GpuBlur::try_new().map_err(|e| e.to_string())) {
        Ok(g) => Some(g),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI needs a GPU adapter: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter on this machine ({e})");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data

/// Values in [0, scale) from a fixed seed (splitmix64).
fn random(shape: (usize, usize, usize), seed: u64, scale: f64) -> Array3<f64> {
    let mut state = seed;
    Array3::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * scale
    })
}

const SHAPE: (usize, usize, usize) = (8, 9, 10);

fn reference(vol: &Array3<f64>, opts: &BlurOptions) -> Array3<f64> {
    cpu::separable(vol, opts).expect("valid options")
}

/// What blur3d promises for integer outputs: rounded (halves away from zero), clamped.
fn to_u8(v: &Array3<f64>) -> Array3<u8> {
    v.mapv(|x| x.round().clamp(0.0, 255.0) as u8)
}

fn to_i16(v: &Array3<f64>) -> Array3<i16> {
    v.mapv(|x| x.round().clamp(-32768.0, 32767.0) as i16)
}

/// Fails when any difference is over `tol`, or NaN.
#[track_caller]
fn assert_close(actual: &Array3<f64>, expected: &Array3<f64>, tol: f64) {
    let worst = max_diff(actual, expected);
    assert!(worst <= tol, "max abs difference {worst:e} > {tol:e}");
}

fn write_npy<T: WritableElement, D: ndarray::Dimension>(path: &Path, a: &ndarray::Array<T, D>) {
    a.write_npy(fs::File::create(path).unwrap()).unwrap();
}

fn read_npy<T: ReadableElement>(path: &Path) -> Array3<T> {
    Array3::<T>::read_npy(fs::File::open(path).unwrap()).unwrap()
}

/// A header with spacing (x, y, z), an oblique affine and every field blur3d must keep.
fn nifti_header(spacing: [f32; 3]) -> NiftiHeader {
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

fn nifti_extensions() -> ExtensionSequence {
    ExtensionSequence::new(
        Extender::from([1, 0, 0, 0]),
        vec![Extension::from_str(6, "a comment that must survive")],
    )
}

/// Writes `vol` (axes x, y, z, ...) as NIfTI with `header`.
fn write_nifti<T, D>(path: &Path, vol: &ndarray::Array<T, D>, header: &NiftiHeader)
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
fn read_nifti<T: nifti::DataElement>(path: &Path) -> (NiftiHeader, ExtensionSequence, Array3<T>) {
    let obj = ReaderOptions::new().read_file(path).unwrap();
    let (h, e) = (obj.header().clone(), obj.extensions().clone());
    let data: ArrayD<T> = obj.into_volume().into_ndarray::<T>().unwrap();
    (h, e, data.into_dimensionality::<Ix3>().unwrap())
}

const IMAGEJ_DESCRIPTION: &str =
    "ImageJ=1.11a\nimages=10\nslices=10\nunit=micron\nspacing=3000\nloop=false\n";

/// Writes `vol` (pages z, rows y, columns x) as a u16 TIFF stack, with ImageJ's tags saying
/// 1 mm per pixel and 3 mm per page (in microns) when `imagej`.
fn write_tiff_u16(path: &Path, vol: &Array3<u16>, imagej: bool) {
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
struct Stack<T> {
    voxels: Array3<T>,
    description: Option<String>,
    x_resolution: Option<(u32, u32)>,
}

fn read_tiff<T: Clone>(path: &Path, take: fn(tiff::decoder::DecodingResult) -> Vec<T>) -> Stack<T> {
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

fn u16_pages(d: tiff::decoder::DecodingResult) -> Vec<u16> {
    match d {
        tiff::decoder::DecodingResult::U16(v) => v,
        other => panic!("expected u16 pages, got {other:?}"),
    }
}

fn f32_pages(d: tiff::decoder::DecodingResult) -> Vec<f32> {
    match d {
        tiff::decoder::DecodingResult::F32(v) => v,
        other => panic!("expected f32 pages, got {other:?}"),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Help and adapters

#[test]
fn help_has_examples_and_the_axis_order() {
    let out = succeeds(["--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    for words in [
        "Examples:",
        "--sigma 1.5mm",
        "x, y, z",
        "z, y, x",
        "--list-adapters",
        "Series (4D)",
        "NIfTI's 4th (t)",
        "NIfTI-2",
        // The memory bound per input type (memory_of_small_integer_files_is_within_...).
        "uint8     3.05x (GPU), 2.95x (--cpu)",
        "int16     2.6x (GPU), 2.45x (--cpu)",
    ] {
        assert!(help.contains(words), "--help lacks {words:?}");
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = tmp();
    let input = dir.path().join("in.npy");
    write_npy(&input, &random(SHAPE, 1, 1.0));
    let out = dir.path().join("out.npy");
    let o = blur3d([a(&input), "-o".as_ref(), a(&out)]);
    assert_eq!(o.status.code(), Some(2), "no sigma: {}", stderr(&o));
    assert!(stderr(&o).contains("--sigma or --fwhm"));
    let o = blur3d([a(&input), "--sigma".as_ref(), "1".as_ref()]);
    assert_eq!(o.status.code(), Some(2), "no output: {}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn adapters_are_listed_and_chosen_by_name() {
    let Some(_) = gpu() else { return };
    let out = succeeds(["--list-adapters"]);
    let list = String::from_utf8(out.stdout).unwrap();
    let first = list.lines().next().expect("at least one adapter");
    // "name (Backend, DeviceType)": pick it by a piece of its name.
    let name = &first[..first.rfind(" (").unwrap()];

    let dir = tmp();
    let input = dir.path().join("in.npy");
    let output = dir.path().join("out.npy");
    write_npy(&input, &random(SHAPE, 2, 1.0).mapv(|v| v as f32));
    succeeds([
        a(&input),
        "-o".as_ref(),
        a(&output),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--adapter".as_ref(),
        name.to_uppercase().as_ref(),
    ]);
    assert!(output.exists());

    let o = blur3d([
        a(&input),
        "-o".as_ref(),
        a(&output),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--adapter".as_ref(),
        "no-such-adapter-anywhere".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("no-such-adapter-anywhere") && err.contains("available:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

// ---------------------------------------------------------------------------------------------
// The Gaussian family

/// --order, --laplace and --gradient-magnitude give the library's filters, in the file's axis
/// order; an integer input's derivatives are written as float32 unless --dtype says otherwise.
#[test]
fn derivatives_from_the_command_line() {
    let dir = tmp();
    let vol = random(SHAPE, 30, 100.0);
    let i = dir.path().join("vol.npy");
    write_npy(&i, &vol);
    let o = dir.path().join("out.npy");
    let run = |extra: &[&str]| {
        let mut args = vec![
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "1,1.5,2".as_ref(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        succeeds(args);
    };
    let opts = BlurOptions::new([1.0, 1.5, 2.0]);
    run(&["--order", "0,1,2", "--cpu"]);
    assert_eq!(
        read_npy::<f64>(&o),
        cpu::separable(&vol, &opts.clone().orders([0, 1, 2])).unwrap()
    );
    run(&["--laplace", "--cpu", "--mode", "wrap,nearest,mirror"]);
    let modes = opts
        .clone()
        .modes([Mode::Wrap, Mode::Nearest, Mode::Mirror]);
    assert_eq!(
        read_npy::<f64>(&o),
        cpu::gaussian_laplace(&vol, &modes).unwrap()
    );
    run(&["--gradient-magnitude", "--cpu"]);
    assert_eq!(
        read_npy::<f64>(&o),
        cpu::gaussian_gradient_magnitude(&vol, &opts).unwrap()
    );
    // An integer input: float32 out, not clamped to u8.
    let u8_in = dir.path().join("u8.npy");
    write_npy(&u8_in, &to_u8(&vol));
    let args = [
        a(&u8_in),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--order".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ];
    succeeds(args);
    let expected = cpu::separable(
        &to_u8(&vol).mapv(f64::from),
        &BlurOptions::new(1.0).order(1),
    )
    .unwrap();
    assert_eq!(read_npy::<f32>(&o), expected.mapv(|v| v as f32));
    // On the GPU too.
    if let Some(gpu) = gpu() {
        run(&["--laplace"]);
        let got = read_npy::<f64>(&o);
        let want = gpu.gaussian_laplace(&vol, &opts).unwrap().mapv(f64::from);
        assert_close(&got, &want, 1e-4);
    }
    // Bad orders and conflicting filters are refused before anything is read.
    fails(
        [
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--order".as_ref(),
            "-1".as_ref(),
        ],
        &i,
        "derivative order",
    );
    let out = blur3d([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--laplace".as_ref(),
        "--order".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// NumPy

#[test]
fn npy_round_trips_keep_shape_and_type_and_equal_the_library() {
    let dir = tmp();
    let vol = random(SHAPE, 3, 250.0);
    let opts = BlurOptions::new([1.0, 2.0, 0.5]).mode(Mode::Nearest);
    let expected = reference(&vol, &opts);
    let args = |i: &Path, o: &Path| {
        vec![
            i.as_os_str().to_owned(),
            "-o".into(),
            o.as_os_str().to_owned(),
            "--sigma".into(),
            "1,2,0.5".into(),
            "--mode".into(),
            "nearest".into(),
            "--cpu".into(),
        ]
    };
    let (i, o) = (dir.path().join("f64.npy"), dir.path().join("f64_out.npy"));
    write_npy(&i, &vol);
    succeeds(args(&i, &o));
    assert_eq!(read_npy::<f64>(&o), expected);

    let (i, o) = (dir.path().join("f32.npy"), dir.path().join("f32_out.npy"));
    write_npy(&i, &vol.mapv(|v| v as f32));
    succeeds(args(&i, &o));
    let f32_expected = reference(&vol.mapv(|v| f64::from(v as f32)), &opts);
    assert_eq!(read_npy::<f32>(&o), f32_expected.mapv(|v| v as f32));

    let (i, o) = (dir.path().join("u8.npy"), dir.path().join("u8_out.npy"));
    let u8_vol = to_u8(&vol);
    write_npy(&i, &u8_vol);
    succeeds(args(&i, &o));
    let u8_expected = to_u8(&reference(&u8_vol.mapv(f64::from), &opts));
    assert_eq!(read_npy::<u8>(&o), u8_expected);

    let (i, o) = (dir.path().join("i16.npy"), dir.path().join("i16_out.npy"));
    let i16_vol = to_i16(&(&vol * 100.0 - 12_000.0));
    write_npy(&i, &i16_vol);
    succeeds(args(&i, &o));
    let i16_expected = to_i16(&reference(&i16_vol.mapv(f64::from), &opts));
    assert_eq!(read_npy::<i16>(&o), i16_expected);

    let (i, o) = (dir.path().join("i8.npy"), dir.path().join("i8_out.npy"));
    let i8_vol = vol.mapv(|v| (v - 125.0) as i8);
    write_npy(&i, &i8_vol);
    succeeds(args(&i, &o));
    let i8_expected = reference(&i8_vol.mapv(f64::from), &opts).mapv(|v| v.round() as i8);
    assert_eq!(read_npy::<i8>(&o), i8_expected);

    let (i, o) = (dir.path().join("i32.npy"), dir.path().join("i32_out.npy"));
    let i32_vol = vol.mapv(|v| (v * 1000.0) as i32 - 100_000);
    write_npy(&i, &i32_vol);
    succeeds(args(&i, &o));
    let i32_expected = reference(&i32_vol.mapv(f64::from), &opts).mapv(|v| v.round() as i32);
    assert_eq!(read_npy::<i32>(&o), i32_expected);
}

#[test]
fn integers_are_rounded_half_away_from_zero_and_clamped() {
    let dir = tmp();
    let (i, o) = (dir.path().join("in.npy"), dir.path().join("out.npy"));
    // A constant volume blurred with constant=cval mixes cval in at the borders: with cval far
    // outside u8's range the borders clamp to 255 and 0.
    write_npy(&i, &Array3::<u8>::from_elem(SHAPE, 100));
    for (cval, edge) in [("1000", 255u8), ("-1000", 0u8)] {
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--mode".as_ref(),
            format!("constant={cval}").as_ref(),
            "--cpu".as_ref(),
        ]);
        let out = read_npy::<u8>(&o);
        assert_eq!(out[[0, 0, 0]], edge);
        assert_eq!(out[[4, 4, 5]], 100, "the interior is untouched");
    }
    // --dtype converts the same way: with sigma 0 the values themselves are converted.
    let values = [
        0.5, 1.5, 2.5, 3.5, -0.5, -0.51, 1.49, 255.5, 300.0, -7.0, -2.5, 4e4,
    ];
    let halves = Array3::from_shape_vec((1, 1, values.len()), values.to_vec()).unwrap();
    write_npy(&i, &halves);
    let convert = |dtype: &str| {
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "0".as_ref(),
            "--dtype".as_ref(),
            dtype.as_ref(),
            "--cpu".as_ref(),
        ]);
    };
    convert("u8");
    let u8s = read_npy::<u8>(&o);
    assert_eq!(
        u8s.as_slice().unwrap(),
        [1, 2, 3, 4, 0, 0, 1, 255, 255, 0, 0, 255]
    );
    convert("int16");
    let i16s = read_npy::<i16>(&o);
    assert_eq!(
        i16s.as_slice().unwrap(),
        [1, 2, 3, 4, -1, -1, 1, 256, 300, -7, -3, 32767]
    );
}

#[test]
fn fortran_order_npy_is_read_in_numpy_axis_order() {
    let dir = tmp();
    let (i, o) = (dir.path().join("f.npy"), dir.path().join("out.npy"));
    let vol = random(SHAPE, 4, 1.0);
    let fortran = {
        let mut f = Array3::<f64>::zeros(SHAPE.f());
        f.assign(&vol);
        f
    };
    write_npy(&i, &fortran);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "0.5,1,2".as_ref(),
        "--cpu".as_ref(),
    ]);
    let expected = reference(&vol, &BlurOptions::new([0.5, 1.0, 2.0]));
    assert_close(&read_npy::<f64>(&o), &expected, 1e-12);
}

#[test]
fn gpu_results_equal_the_library_call() {
    let Some(g) = gpu() else { return };
    let dir = tmp();
    let vol = random(SHAPE, 5, 1.0).mapv(|v| v as f32);
    let opts = BlurOptions::new([1.5, 0.0, 2.0])
        .modes([Mode::Wrap, Mode::Reflect, Mode::Constant(0.25)])
        .truncate(3.0);
    let expected = g.blur_with(&vol, &opts).unwrap();

    let (i, o) = (dir.path().join("in.npy"), dir.path().join("out.npy"));
    write_npy(&i, &vol);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1.5,0,2".as_ref(),
        "--mode".as_ref(),
        "wrap,reflect,constant=0.25".as_ref(),
        "--truncate".as_ref(),
        "3".as_ref(),
    ]);
    assert_eq!(read_npy::<f32>(&o), expected);

    // FWHM is 2 sqrt(2 ln 2) sigma, and --radius overrides truncate.
    let opts = BlurOptions::new(1.0).radius([2, 3, 4]);
    let expected = g.blur_with(&vol, &opts).unwrap().mapv(f64::from);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--fwhm".as_ref(),
        "2.3548200450309493".as_ref(),
        "--radius".as_ref(),
        "2,3,4".as_ref(),
    ]);
    assert_close(&read_npy::<f32>(&o).mapv(f64::from), &expected, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// NIfTI

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

// ---------------------------------------------------------------------------------------------
// TIFF

#[test]
fn tiff_round_trips_keep_pages_and_imagej_spacing() {
    let dir = tmp();
    let (i, o) = (dir.path().join("in.tif"), dir.path().join("out.tiff"));
    let vol = random((10, 9, 8), 9, 60_000.0).mapv(|v| v as u16); // pages z, rows y, columns x
    write_tiff_u16(&i, &vol, true);
    // ImageJ says 1 mm per pixel and 3 mm per page: 3mm is (1, 3, 3) voxels along (z, y, x).
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "3mm".as_ref(),
        "--cpu".as_ref(),
    ]);
    let stack = read_tiff(&o, u16_pages);
    assert_eq!(stack.description.as_deref(), Some(IMAGEJ_DESCRIPTION));
    assert_eq!(stack.x_resolution, Some((1, 1000)));
    let values = vol.mapv(f64::from);
    let expected = reference(&values, &BlurOptions::new([1.0, 3.0, 3.0]))
        .mapv(|v| v.round().clamp(0.0, 65535.0) as u16);
    assert_eq!(stack.voxels, expected);

    // Without ImageJ's tags there is no spacing; sigma lists are (z, y, x).
    let plain = dir.path().join("plain.tif");
    write_tiff_u16(&plain, &vol, false);
    succeeds([
        a(&plain),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1,3,3".as_ref(),
        "--cpu".as_ref(),
    ]);
    assert_eq!(read_tiff(&o, u16_pages).voxels, expected);
    let err = fails(
        [
            a(&plain),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "3mm".as_ref(),
        ],
        &plain,
        "no voxel spacing",
    );
    assert!(err.contains("give it in voxels"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Bad input

/// One of each kind of input file, valid, in `dir`.
fn valid_inputs(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
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

fn truncated(from: &Path, to: &Path, len: usize) -> PathBuf {
    let bytes = fs::read(from).unwrap();
    fs::write(to, &bytes[..len.min(bytes.len())]).unwrap();
    to.to_path_buf()
}

#[test]
fn bad_input_fails_with_one_line_and_leaves_no_output() {
    let dir = tmp();
    let d = dir.path();
    let (npy, nii, niigz, tif) = valid_inputs(d);
    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();

    // Garbage of each format, and files cut short.
    fs::write(d.join("garbage.npy"), b"this is not an array").unwrap();
    fs::write(d.join("garbage.tif"), b"this is not a tiff file at all").unwrap();
    let mut bad_magic = fs::read(&nii).unwrap();
    bad_magic[344..348].copy_from_slice(b"xyz\0");
    fs::write(d.join("magic.nii"), bad_magic).unwrap();
    let npy_len = fs::metadata(&npy).unwrap().len() as usize;
    let nii_len = fs::metadata(&nii).unwrap().len() as usize;
    let tif_len = fs::metadata(&tif).unwrap().len() as usize;
    let gz_len = fs::metadata(&niigz).unwrap().len() as usize;
    // Not 3D.
    write_npy(&d.join("flat.npy"), &ndarray::Array2::<f32>::zeros((4, 5)));
    write_nifti(
        &d.join("five.nii"),
        &ndarray::Array5::<f32>::zeros((4, 5, 6, 1, 2)),
        &NiftiHeader::default(),
    );
    {
        use tiff::encoder::{TiffEncoder, colortype::RGB8};
        let mut enc = TiffEncoder::new(fs::File::create(d.join("rgb.tif")).unwrap()).unwrap();
        enc.write_image::<RGB8>(4, 3, &[0u8; 36]).unwrap();
    }

    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (d.join("missing.nii.gz"), "1", "no such file"),
        (d.join("volume.png"), "1", "unknown extension (.png)"),
        (d.join("garbage.npy"), "1", "not a .npy file"),
        (d.join("magic.nii"), "1", "not a NIfTI-1 file"),
        (d.join("garbage.tif"), "1", "not a valid TIFF file"),
        (
            truncated(&npy, &d.join("short.npy"), npy_len - 7),
            "1",
            "truncated",
        ),
        (
            truncated(&nii, &d.join("short_header.nii"), 200),
            "1",
            "truncated",
        ),
        (
            truncated(&nii, &d.join("short_data.nii"), nii_len - 9),
            "1",
            "truncated",
        ),
        (
            truncated(&niigz, &d.join("short.nii.gz"), gz_len / 2),
            "1",
            "truncated",
        ),
        (
            truncated(&tif, &d.join("short.tif"), tif_len / 2),
            "1",
            "truncated",
        ),
        (d.join("flat.npy"), "1", "needs a 3D volume"),
        (d.join("five.nii"), "1", "5D (4x5x6x1x2)"),
        (d.join("rgb.tif"), "1", "one value per voxel"),
        (npy.clone(), "-1", "finite number >= 0"),
        (npy.clone(), "1,-2,1", "finite number >= 0"),
        (nii.clone(), "abc", "\"abc\" is not a number"),
        (nii.clone(), "2px", "unknown unit \"px\""),
        (npy.clone(), "1.5mm", ".npy files have no voxel spacing"),
        (npy.clone(), "1,2", "one value, or three"),
        (nii.clone(), "1,1,1e9", "kernel radius along z"),
    ];
    for (input, sigma, words) in &cases {
        let ext = if input.to_string_lossy().ends_with(".tif") {
            "tif"
        } else {
            "nii.gz"
        };
        let output = out_dir.join(format!("result.{ext}"));
        fails(
            [
                a(input),
                "-o".as_ref(),
                a(&output),
                "--sigma".as_ref(),
                sigma.as_ref(),
            ],
            input,
            words,
        );
        assert_eq!(
            files_in(&out_dir),
            Vec::<PathBuf>::new(),
            "{input:?}: no output"
        );
    }

    // The output's own problems name the output.
    let png = out_dir.join("result.png");
    fails(
        [a(&npy), "-o".as_ref(), a(&png), "-s".as_ref(), "1".as_ref()],
        &png,
        "unknown extension",
    );
    let nowhere = d.join("no/such/folder/out.npy");
    fails(
        [
            a(&npy),
            "-o".as_ref(),
            a(&nowhere),
            "-s".as_ref(),
            "1".as_ref(),
        ],
        &nowhere,
        "cannot create a file in",
    );
    assert_eq!(files_in(&out_dir), Vec::<PathBuf>::new());
}

#[test]
fn a_failed_run_never_touches_an_existing_output() {
    let dir = tmp();
    let d = dir.path();
    let (npy, nii, _, _) = valid_inputs(d);
    let existing = d.join("existing.nii");
    fs::write(&existing, b"precious").unwrap();
    for (input, sigma) in [(&npy, "1mm"), (&npy, "-3"), (&nii, "x")] {
        let o = blur3d([
            a(input),
            "-o".as_ref(),
            a(&existing),
            "--sigma".as_ref(),
            sigma.as_ref(),
        ]);
        assert_eq!(o.status.code(), Some(1));
    }
    let corrupt = truncated(&nii, &d.join("short.nii"), 400);
    let o = blur3d([
        a(&corrupt),
        "-o".as_ref(),
        a(&existing),
        "-s".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fs::read(&existing).unwrap(), b"precious");
    assert_eq!(
        files_in(d).len(),
        6,
        "no temporary file is left behind: {:?}",
        files_in(d)
    );

    // A run that succeeds replaces it.
    succeeds([
        a(&nii),
        "-o".as_ref(),
        a(&existing),
        "-s".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
        "-q".as_ref(),
    ]);
    assert_ne!(fs::read(&existing).unwrap(), b"precious");
    assert_eq!(files_in(d).len(), 6);
}

// ---------------------------------------------------------------------------------------------
// The examples of the tool's manual (cli/README.md, "Examples"), on the sample files that
// nibabel, tifffile and numpy wrote (tests/cli_data/make_samples.py), against scipy's results on
// them.

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli_data")
        .join(name)
}

/// Runs `blur3d INPUT -o <tmp>/OUTPUT ARGS...` and gives the output's path.
fn readme_example(dir: &Path, input: &str, output: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(output);
    let mut all = vec![
        sample(input).into_os_string(),
        "-o".into(),
        out.clone().into(),
    ];
    all.extend(args.iter().map(Into::into));
    succeeds(all);
    out
}

#[test]
fn readme_examples_match_scipy_on_the_sample_files() {
    let dir = tmp();
    let d = dir.path();
    let gpu_too = gpu().is_some();
    let engines: &[&[&str]] = if gpu_too {
        &[&["--cpu"], &[]]
    } else {
        &[&["--cpu"]]
    };

    // NIfTI written by nibabel: 1 x 1 x 3 mm voxels, so 1.5mm is (1.5, 1.5, 0.5) voxels.
    let head_in = read_nifti::<i16>(&sample("head.nii.gz"));
    let head_scipy = read_npy::<f64>(&sample("head_sigma1.5mm_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1.5mm"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "head.nii.gz", "head_s.nii.gz", &args);
        let (header, extensions, values) = read_nifti::<i16>(&out);
        assert_eq!(header, head_in.0, "nibabel's header is kept");
        assert_eq!(extensions, head_in.1);
        let worst = max_diff(&values.mapv(f64::from), &head_scipy.mapv(f64::round));
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
    }
    let c3d = readme_example(
        d,
        "head.nii.gz",
        "head_c.nii.gz",
        &["--sigma", "2x2x1vox", "--cpu"],
    );
    let expected = to_i16(&reference(
        &head_in.2.mapv(f64::from),
        &BlurOptions::new([2.0, 2.0, 1.0]),
    ));
    assert_eq!(read_nifti::<i16>(&c3d).2, expected);
    let fwhm = readme_example(
        d,
        "head.nii.gz",
        "head_f.nii.gz",
        &["--fwhm", "4mm", "--cpu"],
    );
    let s = 4.0 / 2.354_820_045_030_949_3;
    let expected = to_i16(&reference(
        &head_in.2.mapv(f64::from),
        &BlurOptions::new([s, s, s / 3.0]),
    ));
    assert_eq!(read_nifti::<i16>(&fwhm).2, expected);

    // An ImageJ stack written by tifffile: 0.5 um pixels, 1.5 um slices.
    let stack_scipy = read_npy::<f64>(&sample("stack_sigma1.5um_nearest_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1.5um", "--mode", "nearest"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "stack.tif", "stack_s.tif", &args);
        let stack = read_tiff(&out, u16_pages);
        let worst = max_diff(&stack.voxels.mapv(f64::from), &stack_scipy.mapv(f64::round));
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
        assert!(stack.description.unwrap().contains("spacing=1.5"));
    }
    let out = readme_example(
        d,
        "stack.tif",
        "stack_f32.tif",
        &[
            "--sigma", "1,3,3", "--mode", "nearest", "--dtype", "f32", "--cpu",
        ],
    );
    let stack = read_tiff(&out, f32_pages);
    assert_close(&stack.voxels.mapv(f64::from), &stack_scipy, 1e-3);

    // A 4D NIfTI-2 series written by nibabel: each volume as scipy blurs it, rounded to int16.
    let series_scipy = ndarray::Array4::<f64>::read_npy(
        fs::File::open(sample("example_nifti2_sigma1-1-2_scipy.npy")).unwrap(),
    )
    .unwrap();
    for engine in engines {
        let mut args = vec!["--sigma", "1,1,2"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "example_nifti2.nii.gz", "series_s.nii.gz", &args);
        assert_eq!(nifti_dims(&out), (2, vec![4, 32, 20, 12, 2]));
        let back = d.join("series_s.npy");
        copied(&out, &back);
        let values = ndarray::Array4::<i16>::read_npy(fs::File::open(&back).unwrap()).unwrap();
        let worst = worst(
            values
                .iter()
                .zip(&series_scipy)
                .map(|(&v, &s)| (f64::from(v) - s.round()).abs()),
        );
        let tol = if engine.is_empty() { 1.0 } else { 0.0 };
        assert!(worst <= tol, "{engine:?}: off scipy by {worst}");
    }

    // An ImageJ hyperstack written by tifffile: six volumes, each blurred on its own.
    let volumes =
        ndarray::Array4::<u16>::read_npy(fs::File::open(sample("hyperstack_volumes.npy")).unwrap())
            .unwrap();
    for engine in engines {
        let mut args = vec!["--sigma", "1"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "hyperstack.tif", "hyperstack_s.tif", &args);
        let stack = read_tiff(&out, u16_pages);
        assert!(stack.description.unwrap().contains("frames=3\n"));
        // Pages in ImageJ's order: frame, slice, channel.
        let pages = stack.voxels.into_shape_with_order((3, 4, 2, 6, 5)).unwrap();
        for (v, vol) in volumes.outer_iter().enumerate() {
            let expected = reference(&vol.mapv(f64::from), &BlurOptions::new(1.0));
            let got = pages
                .slice(ndarray::s![v / 2, .., v % 2, .., ..])
                .mapv(f64::from);
            let worst = max_diff(&got, &expected.mapv(f64::round));
            let tol = if engine.is_empty() { 1.0 } else { 0.0 };
            assert!(worst <= tol, "{engine:?}: volume {v} off by {worst}");
        }
    }

    // NumPy.
    let vol_scipy = read_npy::<f64>(&sample("vol_sigma1-2-2_wrap_scipy.npy"));
    for engine in engines {
        let mut args = vec!["--sigma", "1,2,2", "--mode", "wrap"];
        args.extend_from_slice(engine);
        let out = readme_example(d, "vol.npy", "vol_s.npy", &args);
        assert_close(&read_npy::<f32>(&out).mapv(f64::from), &vol_scipy, 1e-6);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile and unusual files (issue 12)

/// A classic little-endian TIFF of uncompressed pages, each followed by nothing but its IFD,
/// with the given tags on every page (StripOffsets, StripByteCounts, size and bits added).
fn tiff_bytes(
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
fn tiff_strips(bytes: &[u8]) -> Vec<(u64, u64, u16)> {
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

/// Runs blur3d and asserts that it failed with exit status 1 (not a crash) and `words`.
#[track_caller]
fn refuses(input: &Path, output: &Path, words: &str) {
    fails(
        [
            a(input),
            "-o".as_ref(),
            a(output),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--cpu".as_ref(),
        ],
        input,
        words,
    );
    assert!(!output.exists());
}

#[test]
fn crafted_headers_are_refused_before_anything_is_allocated() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.npy");

    // 128 bytes that claim 3000^3 float32 (108 GB).
    let mut npy = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3000, 3000, 3000), }";
    npy.extend_from_slice(format!("{dict:<117}\n").as_bytes());
    assert_eq!(npy.len(), 128);
    fs::write(d.join("huge.npy"), &npy).unwrap();
    refuses(&d.join("huge.npy"), &out, "truncated");

    // 138 bytes of TIFF that claim one page of 100000 x 100000 float32.
    let tif = tiff_bytes(100_000, 100_000, &[vec![0; 8]], 32, &[(339, 3, 3)]);
    fs::write(d.join("huge.tif"), &tif).unwrap();
    refuses(&d.join("huge.tif"), &out, "more than this");
    // ... or a thousand such pages.
    let pages = vec![vec![0u8; 4]; 1000];
    fs::write(
        d.join("pages.tif"),
        tiff_bytes(30_000, 30_000, &pages, 32, &[(339, 3, 3)]),
    )
    .unwrap();
    refuses(&d.join("pages.tif"), &out, "more than this");

    // A NIfTI header of 20000^3 voxels, plain and compressed.
    let (_, nii, niigz, _) = valid_inputs(d);
    let mut header = fs::read(&nii).unwrap()[..352].to_vec();
    for (i, v) in [3i16, 20000, 20000, 20000].iter().enumerate() {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    header[108..112].copy_from_slice(&352f32.to_le_bytes());
    header[348] = 0;
    fs::write(d.join("huge.nii"), &header).unwrap();
    refuses(&d.join("huge.nii"), &out, "truncated");
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all(&header).unwrap();
        enc.finish().unwrap();
    }
    fs::write(d.join("huge.nii.gz"), &gz).unwrap();
    refuses(&d.join("huge.nii.gz"), &out, "more than this");
    drop(niigz);
}

#[test]
#[cfg(unix)]
fn devices_are_not_read() {
    let dir = tmp();
    let d = dir.path();
    for name in ["zero.npy", "zero.nii", "zero.tif"] {
        let link = d.join(name);
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        refuses(&link, &d.join("out.npy"), "not a regular file");
    }
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

/// The NIfTI version (1 or 2) and `dim[0..=4]` of a file blur3d wrote (little-endian).
fn nifti_dims(path: &Path) -> (u8, Vec<i64>) {
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
fn tiff_stacks_are_written_with_contiguous_pixels() {
    let dir = tmp();
    let d = dir.path();
    let vol = random((5, 7, 6), 24, 60000.0).mapv(|v| v as u16);
    let (i, o) = (d.join("in.tif"), d.join("out.tif"));
    write_tiff_u16(&i, &vol, true);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert_eq!(strips.len(), 5);
    let page = 7 * 6 * 2;
    for (z, &(offset, count, _)) in strips.iter().enumerate() {
        assert_eq!(count, page);
        assert_eq!(
            offset,
            strips[0].0 + z as u64 * page,
            "page {z} follows page {}",
            z.max(1) - 1
        );
    }
    let description = read_tiff(&o, u16_pages).description.unwrap();
    assert!(
        description.starts_with("ImageJ=") && description.contains("images=5\n"),
        "{description:?}"
    );

    // tifffile's JSON description is kept, and the pixels are contiguous all the same.
    let json = d.join("json.tif");
    {
        use tiff::encoder::{TiffEncoder, colortype::Gray16};
        use tiff::tags::Tag;
        let mut enc = TiffEncoder::new(fs::File::create(&json).unwrap()).unwrap();
        for (z, page) in vol.outer_iter().enumerate() {
            let mut img = enc.new_image::<Gray16>(6, 7).unwrap();
            if z == 0 {
                img.encoder()
                    .write_tag(Tag::ImageDescription, "{\"shape\": [5, 7, 6]}")
                    .unwrap();
            }
            img.write_data(page.to_slice().unwrap()).unwrap();
        }
    }
    succeeds([
        a(&json),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert!(strips.windows(2).all(|w| w[1].0 == w[0].0 + page));
    assert_eq!(
        read_tiff(&o, u16_pages).description.unwrap(),
        "{\"shape\": [5, 7, 6]}"
    );
}

#[test]
fn min_is_white_tiffs_keep_their_values_and_their_look() {
    let dir = tmp();
    let d = dir.path();
    let values: Vec<u16> = (0..1000).collect();
    let pages: Vec<Vec<u8>> = values
        .chunks(250)
        .map(|p| p.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let (i, o, back) = (d.join("white.tif"), d.join("out.tif"), d.join("out.npy"));
    fs::write(&i, tiff_bytes(25, 10, &pages, 16, &[(262, 3, 0)])).unwrap();
    copied(&i, &back);
    let read = read_npy::<u16>(&back);
    assert_eq!(read.shape(), [4, 10, 25]);
    assert_eq!(
        read.iter().copied().collect::<Vec<_>>(),
        values,
        "the file's values"
    );
    copied(&i, &o);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert!(
        strips.iter().all(|s| s.2 == 0),
        "MinIsWhite kept: {strips:?}"
    );
    copied(&o, &back);
    assert_eq!(read_npy::<u16>(&back), read);
}

#[test]
#[cfg(unix)]
fn an_interrupted_write_leaves_nothing_behind() {
    let dir = tmp();
    let d = dir.path();
    let input = d.join("in.npy");
    // Large enough that compressing it takes a while.
    write_npy(&input, &random((160, 160, 160), 25, 1.0));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let output = d.join("out.nii.gz");
        let mut child = Command::new(env!("CARGO_BIN_EXE_blur3d"))
            .args([
                a(&input),
                "-o".as_ref(),
                a(&output),
                "--sigma".as_ref(),
                "0".as_ref(),
                "--cpu".as_ref(),
            ])
            .spawn()
            .unwrap();
        // Wait until the temporary file has data in it: the write has begun.
        let start = std::time::Instant::now();
        let begun = loop {
            let part = files_in(d).into_iter().find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".blur3d-")
                    && fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false)
            });
            if part.is_some() || start.elapsed().as_secs() > 60 {
                break part;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(begun.is_some(), "the write began");
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(128 + signal),
            "exit status after signal {signal}"
        );
        assert_eq!(
            files_in(d),
            std::slice::from_ref(&input),
            "nothing left after signal {signal}"
        );
    }
}

#[test]
#[cfg(target_os = "linux")]
fn output_problems_are_found_before_the_input_is_read() {
    let dir = tmp();
    let d = dir.path();
    // The input is garbage: an error that names the output shows that it came first.
    let garbage = d.join("garbage.npy");
    fs::write(&garbage, b"not an array").unwrap();
    let folder = d.join("folder.npy");
    fs::create_dir(&folder).unwrap();
    fails(
        [
            a(&garbage),
            "-o".as_ref(),
            a(&folder),
            "--sigma".as_ref(),
            "1".as_ref(),
        ],
        &folder,
        "is a folder",
    );
    // A folder nobody may write to, root included.
    let proc_out = Path::new("/proc/blur3d-out.npy");
    fails(
        [
            a(&garbage),
            "-o".as_ref(),
            a(proc_out),
            "--sigma".as_ref(),
            "1".as_ref(),
        ],
        proc_out,
        "cannot create a file in /proc",
    );
}

#[test]
fn messages_say_what_is_wrong() {
    let dir = tmp();
    let d = dir.path();
    let out = d.join("out.npy");
    let (npy, nii, _, _) = valid_inputs(d);

    fs::write(d.join("empty.npy"), b"").unwrap();
    refuses(&d.join("empty.npy"), &out, "the file is empty");
    write_npy(&d.join("none.npy"), &Array3::<f32>::zeros((0, 4, 5)));
    refuses(
        &d.join("none.npy"),
        &out,
        "the array is empty (shape [0, 4, 5])",
    );

    for sigma in ["-inf", "inf", "nan"] {
        let err = fails(
            [
                a(&npy),
                "-o".as_ref(),
                a(&out),
                "--sigma".as_ref(),
                sigma.as_ref(),
            ],
            &npy,
            "finite number >= 0",
        );
        assert!(!err.contains("unit"), "{err}");
    }
    let err = fails(
        [
            a(&nii),
            "-o".as_ref(),
            a(&out),
            "--sigma".as_ref(),
            "1".as_ref(),
            "--radius".as_ref(),
            "100000".as_ref(),
        ],
        &nii,
        "--radius along x is 100000",
    );
    assert!(!err.contains("set --radius"), "{err}");

    let bilevel = tiff_bytes(8, 2, &[vec![0b1010_1010; 2]], 1, &[]);
    fs::write(d.join("bilevel.tif"), bilevel).unwrap();
    refuses(
        &d.join("bilevel.tif"),
        &out,
        "1-bit pixels (a bilevel image)",
    );
}

#[test]
fn series_of_volumes_are_blurred_one_by_one_with_time_left_alone() {
    let dir = tmp();
    let d = dir.path();
    let opts = BlurOptions::new([1.0, 2.0, 0.5]);
    // .npy: the first axis counts the volumes; a series of one stays a series.
    for count in [3, 1] {
        let series = ndarray::Array4::from_shape_fn((count, 8, 9, 10), |(t, i, j, k)| {
            random(SHAPE, 30 + t as u64, 1.0)[[i, j, k]]
        });
        let (i, o) = (d.join("series.npy"), d.join("series_out.npy"));
        write_npy(&i, &series);
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "1,2,0.5".as_ref(),
            "--cpu".as_ref(),
        ]);
        let out = ndarray::Array4::<f64>::read_npy(fs::File::open(&o).unwrap()).unwrap();
        assert_eq!(out.dim(), (count, 8, 9, 10));
        for t in 0..count {
            let expected = reference(&series.index_axis(ndarray::Axis(0), t).to_owned(), &opts);
            assert_eq!(out.index_axis(ndarray::Axis(0), t), expected, "volume {t}");
        }
    }

    // NIfTI: t is the fourth axis; the header (4D, its spacing in time) is kept.
    let series = ndarray::Array4::from_shape_fn((8, 9, 10, 3), |(i, j, k, t)| {
        to_i16(&(random(SHAPE, 40 + t as u64, 2000.0) - 1000.0))[[i, j, k]]
    });
    let header = nifti_header([1.0, 2.0, 2.0]);
    for name in ["series.nii", "series.nii.gz"] {
        let (i, o) = (d.join(name), d.join(format!("out_{name}")));
        write_nifti(&i, &series, &header);
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "2mm".as_ref(),
            "--cpu".as_ref(),
        ]);
        let obj = ReaderOptions::new().read_file(&o).unwrap();
        let (h, e) = (obj.header().clone(), obj.extensions().clone());
        let (h_in, e_in) = {
            let obj = ReaderOptions::new().read_file(&i).unwrap();
            (obj.header().clone(), obj.extensions().clone())
        };
        assert_eq!(h, h_in, "{name}: the header is kept");
        assert_eq!(e, e_in);
        let out: ArrayD<i16> = obj.into_volume().into_ndarray::<i16>().unwrap();
        assert_eq!(out.shape(), [8, 9, 10, 3]);
        for t in 0..3 {
            let vol = series.index_axis(ndarray::Axis(3), t).mapv(f64::from);
            let expected = to_i16(&reference(&vol, &BlurOptions::new([2.0, 1.0, 1.0])));
            assert_eq!(
                out.index_axis(ndarray::Axis(3), t),
                expected.into_dyn(),
                "{name}: volume {t}"
            );
        }
    }
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
fn imagej_hyperstacks_are_series_of_frames_and_channels() {
    let dir = tmp();
    let d = dir.path();
    let volumes =
        ndarray::Array4::<u16>::read_npy(fs::File::open(sample("hyperstack_volumes.npy")).unwrap())
            .unwrap();
    let read = d.join("read.npy");
    succeeds([
        a(&sample("hyperstack.tif")),
        "-o".as_ref(),
        a(&read),
        "--sigma".as_ref(),
        "0".as_ref(),
        "--cpu".as_ref(),
    ]);
    let as_read = ndarray::Array4::<u16>::read_npy(fs::File::open(&read).unwrap()).unwrap();
    assert_eq!(
        as_read, volumes,
        "volume t * channels + c holds frame t of channel c"
    );

    // Blurred volume by volume, written back in ImageJ's page order with the same description.
    let out = d.join("out.tif");
    succeeds([
        a(&sample("hyperstack.tif")),
        "-o".as_ref(),
        a(&out),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let description = read_tiff(&out, u16_pages).description.unwrap();
    for words in [
        "images=24\n",
        "channels=2\n",
        "slices=4\n",
        "frames=3\n",
        "hyperstack=true\n",
    ] {
        assert!(
            description.contains(words),
            "{description:?} lacks {words:?}"
        );
    }
    copied(&out, &read);
    let blurred = ndarray::Array4::<u16>::read_npy(fs::File::open(&read).unwrap()).unwrap();
    for v in 0..6 {
        let vol = volumes.index_axis(ndarray::Axis(0), v).mapv(f64::from);
        let expected = reference(&vol, &BlurOptions::new(1.0)).mapv(|x| x.round() as u16);
        assert_eq!(
            blurred.index_axis(ndarray::Axis(0), v),
            expected,
            "volume {v}"
        );
    }
}

#[cfg(target_os = "linux")]
/// Peak resident memory of a blur3d run, in bytes: the last VmHWM of /proc/PID/status before
/// it exits (the high-water mark only grows, and the peak comes during the blur, well before the
/// output is written and the process ends). The kernel's `ru_maxrss` of a child would also
/// count the test process it was spawned from.
fn peak_rss(args: &[&OsStr]) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blur3d"))
        .args(args)
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut samples = 0;
    let status = loop {
        if let Some(kb) = fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kb * 1024);
            samples += 1;
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    };
    assert!(status.success(), "blur3d failed");
    assert!(samples > 0, "no sample of /proc/PID/status");
    peak
}

#[test]
#[cfg(target_os = "linux")]
fn memory_holds_the_input_the_output_and_little_more() {
    let dir = tmp();
    let d = dir.path();
    let (tiny, big, out) = (d.join("tiny.npy"), d.join("big.npy"), d.join("out.npy"));
    write_npy(&tiny, &Array3::<f32>::zeros((8, 8, 8)));
    write_npy(&big, &Array3::<f32>::from_elem((256, 256, 256), 1.0));
    let input = 256u64.pow(3) * 4;
    // The input, the output, and the slabs in flight: on a GPU, slabs of a sixteenth of the
    // volume; on the CPU, two slabs of 16 MiB of f64.
    let engines: &[&str] = if gpu().is_some() {
        &["--cpu", "--quiet"]
    } else {
        &["--cpu"]
    };
    for &engine in engines {
        let run = |i: &Path| {
            peak_rss(&[
                a(i),
                "-o".as_ref(),
                a(&out),
                "--sigma".as_ref(),
                "2".as_ref(),
                engine.as_ref(),
            ])
        };
        // What blur3d holds before reading any voxels (on a GPU, its driver and shaders): the
        // same run on a volume of 8^3.
        let baseline = run(&tiny);
        let peak = run(&big);
        let used = peak.saturating_sub(baseline);
        eprintln!(
            "{engine}: peak RSS {peak} B, baseline {baseline} B: {:.2}x the input",
            used as f64 / input as f64
        );
        assert!(
            used as f64 <= 2.5 * input as f64,
            "{engine}: the run held {used} bytes beyond its baseline for an input of {input}"
        );
    }
}

/// 8- and 16-bit files, gzipped or not, within the bounds `--help` states for them: the
/// slabs in flight are f32 (GPU) or f64 (CPU) whatever the input's type, so they weigh more
/// against a small-integer input than against a float32 one (gzip adds nothing: the file is
/// decompressed as it is read, straight into the voxels). 256 x 512 x 512 at sigma 2 (a
/// kernel of 17 planes, deeper than a sixteenth of the volume): on llvmpipe, uint8 took 3.05x
/// the input beyond the baseline on the GPU and 2.93x on the CPU, int16 2.62x and 2.43x.
#[test]
#[cfg(target_os = "linux")]
fn memory_of_small_integer_files_is_within_their_stated_bound() {
    let dir = tmp();
    let d = dir.path();
    let shape = (256, 512, 512);
    let engines: &[&str] = if gpu().is_some() {
        &["--cpu", "--quiet"]
    } else {
        &["--cpu"]
    };
    let pattern = |(i, j, k): (usize, usize, usize)| (i * 7 + j * 3 + k) % 256;
    let u8_npy = d.join("u8.npy");
    write_npy(
        &u8_npy,
        &Array3::from_shape_fn(shape, |ijk| pattern(ijk) as u8),
    );
    let i16_npy = d.join("i16.npy");
    write_npy(
        &i16_npy,
        &Array3::from_shape_fn(shape, |ijk| pattern(ijk) as i16 * 100 - 12_000),
    );
    let tiny_npy = d.join("tiny.npy");
    write_npy(&tiny_npy, &Array3::<u8>::zeros((8, 8, 8)));
    let voxels = (shape.0 * shape.1 * shape.2) as u64;
    for (npy, ext, size, bound) in [(&u8_npy, "nii.gz", 1, 3.25), (&i16_npy, "nii", 2, 2.8)] {
        let (big, tiny, out) = (
            d.join(format!("big.{ext}")),
            d.join(format!("tiny.{ext}")),
            d.join(format!("out.{ext}")),
        );
        copied(npy, &big);
        copied(&tiny_npy, &tiny);
        fs::remove_file(npy).unwrap();
        let input = voxels * size;
        for &engine in engines {
            let run = |i: &Path| {
                peak_rss(&[
                    a(i),
                    "-o".as_ref(),
                    a(&out),
                    "--sigma".as_ref(),
                    "2".as_ref(),
                    engine.as_ref(),
                ])
            };
            let baseline = run(&tiny);
            let peak = run(&big);
            let used = peak.saturating_sub(baseline);
            eprintln!(
                "{ext} of {size}-byte voxels, {engine}: peak RSS {peak} B, baseline {baseline} \
                 B: {:.2}x the input",
                used as f64 / input as f64
            );
            assert!(
                used as f64 <= bound * input as f64,
                "{ext}, {engine}: the run held {used} bytes beyond its baseline for an input of \
                 {input}, more than the {bound}x --help states"
            );
        }
        fs::remove_file(&big).unwrap();
    }
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

/// A big-endian TIFF as ImageJ writes stacks over 4 GiB: one page's tags, with a description
/// that counts `images`, followed by the pixels of `pages` pages of u16 in one block.
fn imagej_one_ifd(width: u16, height: u16, images: usize, pages: &[u16]) -> Vec<u8> {
    let description = format!("ImageJ=1.54f\nimages={images}\nslices={images}\nloop=false\n\0");
    let page_bytes = u32::from(width) * u32::from(height) * 2;
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 3, 1, u32::from(width)),
        (257, 3, 1, u32::from(height)),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (270, 2, description.len() as u32, 0), // offset below
        (273, 4, 1, 0),                        // offset below
        (277, 3, 1, 1),
        (278, 3, 1, u32::from(height)),
        (279, 4, 1, page_bytes),
    ];
    let ifd_len = 2 + 12 * entries.len() + 4;
    let description_at = (8 + ifd_len) as u32;
    let data_at = description_at + description.len() as u32;
    let mut out = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (tag, kind, count, value) in entries {
        let value = match tag {
            270 => description_at,
            273 => data_at,
            _ => value,
        };
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        if kind == 3 {
            out.extend_from_slice(&(value as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(description.as_bytes());
    for v in pages {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[test]
fn imagej_stacks_with_the_tags_of_one_page_are_read_whole() {
    let dir = tmp();
    let d = dir.path();
    let values: Vec<u16> = (0..3 * 4 * 5).map(|v| v * 11).collect();
    let (i, o) = (d.join("big_imagej.tif"), d.join("out.npy"));
    fs::write(&i, imagej_one_ifd(5, 4, 3, &values)).unwrap();
    copied(&i, &o);
    let read = read_npy::<u16>(&o);
    assert_eq!(read.shape(), [3, 4, 5]);
    assert_eq!(read.iter().copied().collect::<Vec<_>>(), values);
    // A description that counts more images than the file holds is refused.
    fs::write(&i, imagej_one_ifd(5, 4, 1_000_000, &values)).unwrap();
    refuses(&i, &d.join("refused.npy"), "more than this");
}

#[test]
fn gpu_series_equal_the_library_on_each_volume() {
    let Some(g) = gpu() else { return };
    let dir = tmp();
    let d = dir.path();
    let opts = BlurOptions::new([1.0, 2.0, 0.5]).mode(Mode::Nearest);
    // .npy, float32, five volumes.
    let series = ndarray::Array4::from_shape_fn((5, 8, 9, 10), |(t, i, j, k)| {
        random(SHAPE, 60 + t as u64, 1.0)[[i, j, k]] as f32
    });
    let (i, o) = (d.join("series.npy"), d.join("out.npy"));
    write_npy(&i, &series);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1,2,0.5".as_ref(),
        "--mode".as_ref(),
        "nearest".as_ref(),
    ]);
    let out = ndarray::Array4::<f32>::read_npy(fs::File::open(&o).unwrap()).unwrap();
    for (t, vol) in series.outer_iter().enumerate() {
        assert_eq!(
            out.index_axis(ndarray::Axis(0), t),
            g.blur_with(&vol, &opts).unwrap(),
            "volume {t}"
        );
    }
    // NIfTI, int16, t last, in Fortran order.
    let nifti = ndarray::Array4::from_shape_fn((8, 9, 10, 3), |(i, j, k, t)| {
        to_i16(&(random(SHAPE, 70 + t as u64, 2000.0) - 1000.0))[[i, j, k]]
    });
    let (i, o) = (d.join("series.nii.gz"), d.join("out.nii.gz"));
    write_nifti(&i, &nifti, &nifti_header([1.0, 1.0, 1.0]));
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1,2,0.5".as_ref(),
        "--mode".as_ref(),
        "nearest".as_ref(),
    ]);
    let obj = ReaderOptions::new().read_file(&o).unwrap();
    let out: ArrayD<i16> = obj.into_volume().into_ndarray::<i16>().unwrap();
    for t in 0..3 {
        let vol = nifti.index_axis(ndarray::Axis(3), t);
        let expected = g.blur_as::<i16>(&vol, &opts).unwrap();
        assert_eq!(
            out.index_axis(ndarray::Axis(3), t),
            expected.into_dyn(),
            "volume {t}"
        );
    }
}

#[test]
fn axes_names_the_volume_axes_of_a_4d_npy() {
    let dir = tmp();
    let d = dir.path();
    // Shape (z, c, y, x): the series is axis 1, the volume's axes 0, 2 and 3.
    let vols: Vec<Array3<f64>> = (0..3).map(|c| random(SHAPE, 80 + c, 1.0)).collect();
    let data = ndarray::Array4::from_shape_fn((8, 3, 9, 10), |(z, c, y, x)| vols[c][[z, y, x]]);
    let (i, o) = (d.join("zcyx.npy"), d.join("out.npy"));
    write_npy(&i, &data);
    let engines: &[&str] = if gpu().is_some() {
        &["--cpu", "--quiet"]
    } else {
        &["--cpu"]
    };
    for engine in engines {
        succeeds([
            a(&i),
            "-o".as_ref(),
            a(&o),
            "--axes".as_ref(),
            "0,2,3".as_ref(),
            "--sigma".as_ref(),
            "1,2,0.5".as_ref(),
            engine.as_ref(),
        ]);
        let out = ndarray::Array4::<f64>::read_npy(fs::File::open(&o).unwrap()).unwrap();
        assert_eq!(out.dim(), (8, 3, 9, 10), "the axes stay where they were");
        for (c, vol) in vols.iter().enumerate() {
            let expected = reference(vol, &BlurOptions::new([1.0, 2.0, 0.5]));
            let got = out.index_axis(ndarray::Axis(1), c).to_owned();
            let tol = if *engine == "--cpu" { 0.0 } else { 1e-6 };
            assert_close(&got, &expected, tol);
        }
    }
    // Only for 4D .npy files, and three different axes.
    let (_, nii, _, _) = valid_inputs(d);
    let three = d.join("three.npy");
    write_npy(&three, &random(SHAPE, 1, 1.0));
    for (input, axes, words) in [
        (&three, "0,1,2", "--axes is for 4D .npy files"),
        (&nii, "0,1,2", "--axes is for 4D .npy files"),
        (&i, "0,0,2", "three different axes"),
        (&i, "1,2,5", "not an axis of a 4D array"),
    ] {
        fails(
            [
                a(input),
                "-o".as_ref(),
                a(&d.join("x.npy")),
                "--axes".as_ref(),
                axes.as_ref(),
                "--sigma".as_ref(),
                "1".as_ref(),
                "--cpu".as_ref(),
            ],
            input,
            words,
        );
    }
}
