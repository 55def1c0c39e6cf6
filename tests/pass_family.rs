//! `BLUR3D_PASSES` chooses the pass family; any other value than `gpu` or `cpu` is an error that
//! says what to set; `GpuBlur::with_pass_family` chooses it from code, over the variable. A
//! binary of its own, since it sets the variable for the whole process.

use blur3d::{BlurError, BlurOptions, GpuBlur, PassFamily, cpu};
use ndarray::Array3;

#[test]
fn blur3d_passes_chooses_the_family_or_says_what_is_wrong() {
    let set = |value: &str| {
        // SAFETY: this binary's only test; no other thread reads the environment meanwhile.
        unsafe { std::env::set_var("BLUR3D_PASSES", value) };
    };
    set("fast");
    match GpuBlur::try_new() {
        Err(BlurError::InvalidPasses { value }) => assert_eq!(value, "fast"),
        Err(BlurError::NoAdapter { .. }) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: no GPU adapter on this machine");
            return;
        }
        other => panic!("expected InvalidPasses, got {other:?}"),
    }
    let message = BlurError::InvalidPasses {
        value: "fast".into(),
    }
    .to_string();
    assert!(
        message.contains("gpu") && message.contains("cpu"),
        "{message}"
    );

    // Both families give the same volume (rows of a multiple of 4: the GPU family's own
    // entry points along every axis).
    let vol = Array3::from_shape_fn((9, 12, 16), |(i, j, k)| ((i * 7 + j * 3 + k) % 11) as f32);
    let opts = BlurOptions::new([1.0, 2.0, 3.0]).orders([0, 1, 2]);
    let expected = cpu::separable(&vol, &opts).unwrap();
    let families = [("gpu", PassFamily::Gpu), ("CPU", PassFamily::Cpu)];
    // By the variable, then from code over the variable's other family.
    let made = families.iter().map(|&(value, family)| {
        set(value);
        (family, GpuBlur::try_new().unwrap())
    });
    let chosen = families
        .iter()
        .zip(families.iter().rev())
        .map(|(&(value, _), &(_, family))| {
            set(value);
            (family, GpuBlur::try_new().unwrap().with_pass_family(family))
        });
    for (family, gpu) in made.chain(chosen) {
        assert_eq!(gpu.pass_family(), family);
        let out = gpu.blur_with(&vol, &opts).unwrap();
        // The family asked for ran every pass: no fallback on these rows of 16.
        let ran = gpu.passes_run();
        let passes = match family {
            PassFamily::Gpu => (ran.gpu_family, ran.cpu_family),
            _ => (ran.cpu_family, ran.gpu_family),
        };
        assert_eq!(passes, (3, 0), "{family:?}: {ran:?}");
        let worst = out
            .iter()
            .zip(&expected)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, |m: f64, d| {
                if m.is_nan() || d.is_nan() {
                    f64::NAN
                } else {
                    m.max(d)
                }
            });
        assert!(worst < 1e-4, "{family:?}: off by {worst}");
    }
}
