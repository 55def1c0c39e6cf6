//! NumPy's `.npy` files: every element type kept, C and Fortran order read in NumPy's axis
//! order.

use blur3d::{BlurOptions, Mode};
use ndarray::{Array3, ShapeBuilder};
use std::path::Path;

use crate::common::files::{read_npy, write_npy};
use crate::common::{SHAPE, a, assert_close, random, reference, succeeds, tmp, to_i16, to_u8};

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
