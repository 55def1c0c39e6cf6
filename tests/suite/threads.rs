//! One `GpuBlur` shared by several threads gives each the same result as one thread.

use blur3d::{BlurOptions, GpuBlur, Mode};

use crate::common::{gpu, random_volume};

#[test]
fn gpu_blur_is_send_and_sync() {
    fn is<T: Send + Sync>() {}
    is::<GpuBlur>();
}

#[test]
fn concurrent_calls_match_sequential_ones() {
    let Some(gpu) = gpu() else { return };
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            let vol = random_volume((10 + i, 12, 9 + 2 * i), 100 + i as u64);
            let opts = BlurOptions::new([1.0 + i as f64 * 0.3, 2.0, 0.5]).mode(if i % 2 == 0 {
                Mode::Wrap
            } else {
                Mode::Reflect
            });
            (vol, opts)
        })
        .collect();
    let sequential: Vec<_> = jobs
        .iter()
        .map(|(v, o)| gpu.blur_with(v, o).unwrap())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(v, o)| {
                s.spawn(move || {
                    (0..3)
                        .map(|_| gpu.blur_with(v, o).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (h, want) in handles.into_iter().zip(&sequential) {
            for got in h.join().unwrap() {
                assert_eq!(&got, want);
            }
        }
    });
}
