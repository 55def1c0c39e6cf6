//! Series of volumes (4D inputs): each volume blurred on its own, the series axis left alone,
//! in `.npy` (`--axes`), NIfTI (t) and ImageJ hyperstacks (frames and channels).

use std::fs;

mod common;
use blur3d::{BlurOptions, Mode};
use common::fails_with as fails;
use common::files::{nifti_header, read_tiff, u16_pages, valid_inputs, write_nifti, write_npy};
use common::{
    SHAPE, a, assert_close, copied, engines, gpu, random, reference, sample, succeeds, tmp, to_i16,
};
use ndarray::{Array3, ArrayD};
use ndarray_npy::ReadNpyExt;
use nifti::{IntoNdArray, NiftiObject, ReaderOptions};

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
    for engine in engines() {
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
