//! One `GpuBlur` shared by several threads gives each the same result as one thread; one
//! `GpuBlur` per adapter.

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

/// A `GpuBlur` per adapter, as a program with several GPUs makes them: `on_adapter` opens its
/// own device there and blurs as `new` does.
#[test]
fn a_blur_on_a_chosen_adapter() {
    let Some(gpu) = gpu() else { return };
    let name = gpu
        .adapter_info()
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let adapters = pollster::block_on(blur3d::adapters());
    let adapter = adapters
        .iter()
        .find(|a| a.get_info().name == name)
        .expect("the shared blur's adapter is enumerated");
    let own = GpuBlur::on_adapter(adapter).unwrap();
    assert_eq!(own.adapter_info().map(|i| i.name.clone()), Some(name));
    let vol = random_volume((6, 7, 8), 70);
    assert_eq!(own.blur(&vol, 1.5).unwrap(), gpu.blur(&vol, 1.5).unwrap());
}
