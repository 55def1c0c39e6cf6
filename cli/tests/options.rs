//! The options of the `blur3d` command line and what each does: `--help`, usage errors,
//! adapters, the filters (`--order`, `--laplace`, `--gradient-magnitude`), `--mode`,
//! `--truncate`, `--radius`, `--fwhm` and `--dtype`, against the library's own calls.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

mod common;
use blur3d::{BlurOptions, Mode, cpu};
use common::fails_with as fails;
use common::files::{read_npy, write_npy};
use common::{
    SHAPE, a, assert_close, blur3d, gpu, have_gpu, random, s, stderr, succeeds, tmp, to_u8,
};
use ndarray::Array3;

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

/// `--mode constant=nan` as scipy's `cval=np.nan`: NaN wherever a kernel reaches past an edge
/// along that axis, the blur elsewhere; on the GPU as with `--cpu` (it panicked on the GPU).
#[test]
fn a_nan_constant_is_nan_near_the_edges() {
    use ndarray_npy::{ReadNpyExt, WriteNpyExt};
    let dir = tmp();
    let d = dir.path();
    let input = d.join("in.npy");
    Array3::from_shape_fn((9, 10, 24), |(i, j, k)| ((i * 7 + j * 3 + k) % 11) as f32)
        .write_npy(fs::File::create(&input).unwrap())
        .unwrap();
    let read = |p: &Path| Array3::<f32>::read_npy(fs::File::open(p).unwrap()).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = d.join(name);
        let mut args = vec![a(&input), s("-o"), a(&out), s("--sigma"), s("1,0,2")];
        args.extend([s("--mode"), s("reflect,wrap,constant=nan")]);
        args.extend(extra.iter().map(|e| s(e)));
        let done = common::blur3d(&args);
        assert!(done.status.success(), "{}", common::stderr(&done));
        assert_eq!(common::stderr(&done), "", "a successful run prints nothing");
        read(&out)
    };
    let cpu = run("cpu.npy", &["--cpu"]);
    let nan = cpu.iter().filter(|v| v.is_nan()).count();
    assert!(nan > 0 && nan < cpu.len(), "{nan} NaN of {}", cpu.len());
    if !have_gpu() {
        return;
    }
    let gpu = run("gpu.npy", &[]);
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!(
            (g.is_nan() && c.is_nan()) || (g - c).abs() <= 1e-4,
            "GPU {g} against --cpu {c}"
        );
    }
}
