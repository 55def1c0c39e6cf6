//! Every error reachable from user input, as a value, never a panic.

use blur3d::{BlurError, BlurOptions, GpuBlur, kernel::MAX_RADIUS};
use ndarray::Array3;

use crate::common::gpu;

#[test]
fn bad_options_are_errors_on_gpu_and_cpu() {
    let vol = Array3::<f32>::zeros((4, 4, 4));
    let cases = [
        (
            BlurOptions::new(-1.0),
            BlurError::InvalidSigma {
                axis: 0,
                value: -1.0,
            },
        ),
        (
            BlurOptions::new([1.0, 1.0, f64::INFINITY]),
            BlurError::InvalidSigma {
                axis: 2,
                value: f64::INFINITY,
            },
        ),
        (
            BlurOptions::new(1.0).truncate(-2.0),
            BlurError::InvalidTruncate { value: -2.0 },
        ),
        (
            BlurOptions::new(1.0).truncate(f64::INFINITY),
            BlurError::InvalidTruncate {
                value: f64::INFINITY,
            },
        ),
        (
            BlurOptions::new([1.0, 1e6, 1.0]),
            BlurError::RadiusTooLarge {
                axis: 1,
                radius: Some(4_000_000),
                max: MAX_RADIUS,
            },
        ),
        (
            BlurOptions::new(1.0).radius([1, 1, usize::MAX]),
            BlurError::RadiusTooLarge {
                axis: 2,
                radius: Some(usize::MAX),
                max: MAX_RADIUS,
            },
        ),
        (
            BlurOptions::new(1e300),
            BlurError::RadiusTooLarge {
                axis: 0,
                radius: None,
                max: MAX_RADIUS,
            },
        ),
        (
            BlurOptions::new(1.0).orders([0, 1001, 2]),
            BlurError::OrderTooLarge {
                axis: 1,
                order: 1001,
                max: blur3d::kernel::MAX_ORDER,
            },
        ),
    ];
    for (opts, expected) in cases {
        assert_eq!(blur3d::cpu::full3d(&vol, &opts).unwrap_err(), expected);
        assert_eq!(blur3d::cpu::separable(&vol, &opts).unwrap_err(), expected);
        if let Some(gpu) = gpu() {
            assert_eq!(gpu.blur_with(&vol, &opts).unwrap_err(), expected);
        }
    }
    // NaN is never equal to itself, so match the variant.
    let nan = BlurOptions::new([1.0, f64::NAN, 1.0]);
    assert!(matches!(
        blur3d::cpu::separable(&vol, &nan),
        Err(BlurError::InvalidSigma { axis: 1, .. })
    ));
    if let Some(gpu) = gpu() {
        let e = gpu.blur_with(&vol, &nan).unwrap_err();
        assert!(matches!(e, BlurError::InvalidSigma { axis: 1, .. }));
        assert!(e.to_string().contains("finite number >= 0"), "{e}");
    }
}

#[test]
fn empty_axis_is_an_error() {
    let vol = Array3::<f32>::zeros((3, 0, 2));
    let expected = BlurError::EmptyAxis {
        axis: 1,
        shape: [3, 0, 2],
    };
    assert_eq!(
        blur3d::cpu::full3d(&vol, &BlurOptions::new(1.0)).unwrap_err(),
        expected
    );
    if let Some(gpu) = gpu() {
        assert_eq!(gpu.blur(&vol, 1.0).unwrap_err(), expected);
        // Even with nothing to blur.
        assert_eq!(gpu.blur(&vol, 0.0).unwrap_err(), expected);
    }
}

#[test]
fn output_of_the_wrong_shape() {
    let Some(gpu) = gpu() else { return };
    let vol = Array3::<f32>::zeros((3, 4, 5));
    let mut out = Array3::<f32>::zeros((3, 5, 4));
    assert_eq!(
        gpu.blur_into(&vol, &BlurOptions::new(1.0), &mut out)
            .unwrap_err(),
        BlurError::ShapeMismatch {
            volume: [3, 4, 5],
            output: [3, 5, 4]
        }
    );
}

/// A device of our own with small limits stands in for a volume beyond a real GPU's limits.
fn small_device() -> Option<(wgpu::Device, wgpu::Queue)> {
    gpu()?;
    let adapter = pollster::block_on(blur3d::adapters())
        .into_iter()
        .next()
        .expect("the adapter the shared blur was opened on");
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 16,
        ..wgpu::Limits::downlevel_defaults()
    };
    let desc = wgpu::DeviceDescriptor {
        label: Some("blur3d.test_small"),
        required_limits: limits,
        ..Default::default()
    };
    Some(pollster::block_on(adapter.request_device(&desc)).expect("a device with small limits"))
}

/// A device with WebGPU's downlevel 4 storage bindings per stage runs the shaders without the
/// vec4 views and without fused passes: the same family, to f32 rounding.
#[test]
fn the_family_runs_on_a_device_of_four_storage_bindings() {
    let Some((device, queue)) = small_device() else {
        return;
    };
    let gpu = GpuBlur::from_device(&device, &queue).unwrap();
    let vol = crate::common::random_volume((12, 9, 16), 42);
    let opts = BlurOptions::new([1.5, 1.0, 1.0]);
    let full = crate::common::gpu().unwrap();
    let (few, all) = (
        gpu.hessian(&vol, &opts).unwrap(),
        full.hessian(&vol, &opts).unwrap(),
    );
    for (a, b) in few.iter().zip(&all) {
        crate::common::assert_same(a, b);
    }
    crate::common::assert_close(
        &gpu.gaussian_gradient_magnitude(&vol, &opts).unwrap(),
        &full.gaussian_gradient_magnitude(&vol, &opts).unwrap(),
        1e-6,
    );
}

#[test]
fn volume_beyond_the_device_limit() {
    let Some((device, queue)) = small_device() else {
        return;
    };
    let gpu = GpuBlur::from_device(&device, &queue).unwrap();
    // 17 planes of 4 KiB pass the 64 KiB limit: blurred in slabs, same result as in one piece.
    let vol = crate::common::random_volume((17, 32, 32), 40);
    let whole = crate::common::gpu().unwrap().blur(&vol, 1.0).unwrap();
    crate::common::assert_same(&gpu.blur(&vol, 1.0).unwrap(), &whole);
    // Planes of 66 KB go in tiles of rows.
    let wide = crate::common::random_volume((4, 128, 129), 41);
    let whole = crate::common::gpu().unwrap().blur(&wide, 1.0).unwrap();
    crate::common::assert_same(&gpu.blur(&wide, 1.0).unwrap(), &whole);
    // Rows of 8 KB: 4 planes of 9 rows (the halos) cannot be cut any smaller.
    let err = gpu
        .blur(&Array3::<f32>::zeros((4, 16, 2000)), 1.0)
        .unwrap_err();
    assert_eq!(
        err,
        BlurError::VolumeTooLarge {
            bytes: 4 * 9 * 2000 * 4,
            limit: 1 << 16,
            limit_name: "max_storage_buffer_binding_size"
        }
    );
    assert!(err.to_string().contains("cpu::separable"), "{err}");
    // A device-resident volume must fit in one buffer (4 KiB planes get a spare row each).
    assert_eq!(
        gpu.upload(&vol).unwrap_err(),
        BlurError::VolumeTooLarge {
            bytes: 17 * 33 * 32 * 4,
            limit: 1 << 16,
            limit_name: "max_storage_buffer_binding_size"
        }
    );
}

#[test]
fn lost_device_is_an_error() {
    let Some((device, queue)) = small_device() else {
        return;
    };
    // A device of the caller's keeps wgpu's default error handler, which panics on any error
    // outside an error scope: every path below must report instead.
    let gpu = GpuBlur::from_device(&device, &queue).unwrap();
    let vol = Array3::<f32>::ones((4, 4, 4));
    assert!(gpu.blur(&vol, 1.0).is_ok());
    let mut on_gpu = gpu.upload(&vol).unwrap();
    device.destroy();
    let lost = |result: Result<(), BlurError>, what: &str| {
        let err = result.unwrap_err();
        assert!(matches!(err, BlurError::DeviceLost { .. }), "{what}: {err}");
        assert!(err.to_string().contains("create a new GpuBlur"), "{err}");
    };
    lost(gpu.blur(&vol, 1.0).map(drop), "blur");
    lost(
        gpu.blur(&vol.mapv(|v| v as u16), 1.0).map(drop),
        "blur of u16",
    );
    lost(gpu.upload(&vol).map(drop), "upload");
    lost(
        gpu.blur_volume(&mut on_gpu, &BlurOptions::new(1.0)),
        "blur_volume",
    );
    lost(gpu.copy_passes(&mut on_gpu, 3), "copy_passes");
    lost(gpu.download(&on_gpu).map(drop), "download");
}
