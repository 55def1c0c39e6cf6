//! Batches of volumes (a time series): each volume's result is the one it gets alone, whether the
//! volumes share one upload, several, or each is cut into slabs.

use blur3d::{BlurOptions, Filter, GpuBlur, Mode};
use ndarray::{Array4, Axis};

use crate::common::{assert_close, assert_same, gpu, random_volume};

fn series(t: usize, shape: (usize, usize, usize)) -> Array4<f32> {
    let vols: Vec<_> = (0..t)
        .map(|i| random_volume(shape, 60 + i as u64).insert_axis(Axis(0)))
        .collect();
    let views: Vec<_> = vols.iter().map(|v| v.view()).collect();
    ndarray::concatenate(Axis(0), &views).unwrap()
}

#[test]
fn a_batch_equals_its_volumes_one_by_one() {
    let Some(gpu) = gpu() else { return };
    let vols = series(5, (12, 8, 12));
    let plane_bytes = (8 * 12 * 4) as u64;
    let volume_bytes = 12 * plane_bytes;
    // Every volume in one upload; two per upload (several chunks in flight); and a volume
    // that does not fit at all, cut into slabs.
    let gpus = [
        None,
        Some(
            GpuBlur::try_new()
                .unwrap()
                .with_max_slab_bytes(4 * volume_bytes),
        ),
        // 10 planes: the axis-0 kernel (radius 4) and two output planes per slab.
        Some(
            GpuBlur::try_new()
                .unwrap()
                .with_max_slab_bytes(10 * plane_bytes),
        ),
    ];
    // Wrap along axis 0 must wrap within each volume, never into the next one.
    for mode in [Mode::Wrap, Mode::Reflect, Mode::Constant(1.5)] {
        let opts = BlurOptions::new([1.0, 1.5, 2.0]).mode(mode);
        for g in &gpus {
            let g = g.as_ref().unwrap_or(gpu);
            let batch = g.blur_batch(&vols, &opts).unwrap();
            for (i, vol) in vols.outer_iter().enumerate() {
                let alone = gpu.blur_with(&vol, &opts).unwrap();
                assert_same(&batch.index_axis(Axis(0), i), &alone);
            }
        }
    }
}

#[test]
fn a_batch_of_any_filter_and_voxel_type() {
    let Some(gpu) = gpu() else { return };
    let vols = series(3, (5, 7, 8)).mapv(|v| (v * 1000.0) as u16);
    let opts = BlurOptions::new(1.2).mode(Mode::Mirror);
    let mut outs: Vec<Array4<f32>> = (0..6).map(|_| Array4::zeros(vols.raw_dim())).collect();
    let mut views: Vec<_> = outs.iter_mut().map(|o| o.view_mut()).collect();
    gpu.filter_batch_into(&vols, &opts, Filter::Hessian, &mut views, |_, _| {})
        .unwrap();
    for (i, vol) in vols.outer_iter().enumerate() {
        let alone = gpu.hessian(&vol, &opts).unwrap();
        for (out, a) in outs.iter().zip(&alone) {
            assert_close(&out.index_axis(Axis(0), i), a, 1e-3);
        }
    }
    // A layout other than standard (the batch axis last in memory) reads the same.
    let permuted = vols.view().permuted_axes([0, 2, 1, 3]);
    let standard = permuted.as_standard_layout().into_owned();
    assert_eq!(
        gpu.blur_batch(&permuted, &opts).unwrap(),
        gpu.blur_batch(&standard, &opts).unwrap()
    );
}
