//! Running the blur on a GPU or the CPU, volume by volume, on voxels of any element type and
//! memory layout.

use blur3d::{BlurError, BlurOptions, Filter, GpuBlur, Mode, Voxel, cpu};
use ndarray::{ArrayView3, ArrayView4, ArrayViewMut3, ArrayViewMut4, Axis, Zip};

use crate::volume::{DType, Element, Voxels, with_voxels};

/// Where the blur runs.
pub enum Engine {
    Gpu(Box<GpuBlur>),
    Cpu,
}

impl Engine {
    /// Words for the progress line: the adapter's name, or "the CPU".
    pub fn describe(&self) -> String {
        match self {
            Engine::Gpu(g) => adapter_name(g),
            Engine::Cpu => "the CPU".to_string(),
        }
    }

    /// Blurs each volume of the series `voxels` (axes in the file's order) as `plan` says (same
    /// order) into a new series of `dtype` (integers rounded, halves away from zero, and
    /// clamped) in the input's memory order. `progress(done, total)` is called after each
    /// part: a slab of volumes on a GPU, a volume on the CPU.
    pub fn blur(
        &self,
        voxels: &Voxels,
        plan: &Plan,
        dtype: DType,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Voxels, BlurError> {
        let mut out = with_voxels!(voxels, a => Voxels::zeros_like(a, dtype));
        if let Engine::Gpu(g) = self {
            if let Some(done) = gpu_batch(g, voxels, &mut out, plan, progress) {
                done?;
                return Ok(out);
            }
        }
        let count = voxels.shape()[0];
        for t in 0..count {
            macro_rules! one {
                ($a:expr) => {
                    $a.index_axis(Axis(0), t)
                };
            }
            match voxels {
                Voxels::U8(a) => self.blur_volume(one!(a), &mut out, t, plan)?,
                Voxels::U16(a) => self.blur_volume(one!(a), &mut out, t, plan)?,
                Voxels::I16(a) => self.blur_volume(one!(a), &mut out, t, plan)?,
                Voxels::F32(a) => self.blur_volume(one!(a), &mut out, t, plan)?,
                Voxels::F64(a) => self.blur_volume(one!(a), &mut out, t, plan)?,
                // Types the library does not take: i8 through i16, the others through f64,
                // exact for all but the largest 64-bit integers (the GPU computes in f32
                // anyway). One volume is converted at a time.
                Voxels::I8(a) => {
                    self.blur_volume(one!(a).mapv(i16::from).view(), &mut out, t, plan)?
                }
                Voxels::U32(a) => {
                    self.blur_volume(one!(a).mapv(f64::from).view(), &mut out, t, plan)?
                }
                Voxels::I32(a) => {
                    self.blur_volume(one!(a).mapv(f64::from).view(), &mut out, t, plan)?
                }
                Voxels::U64(a) => {
                    self.blur_volume(one!(a).mapv(Voxel::to_f64).view(), &mut out, t, plan)?;
                }
                Voxels::I64(a) => {
                    self.blur_volume(one!(a).mapv(Voxel::to_f64).view(), &mut out, t, plan)?;
                }
            }
            progress(t + 1, count);
        }
        Ok(out)
    }

    /// Blurs one volume into volume `t` of `out`.
    fn blur_volume<A: Voxel>(
        &self,
        vol: ArrayView3<'_, A>,
        out: &mut Voxels,
        t: usize,
        plan: &Plan,
    ) -> Result<(), BlurError> {
        match out {
            Voxels::U8(o) => self.blur_into(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::U16(o) => self.blur_into(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::I16(o) => self.blur_into(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::F32(o) => self.blur_into(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::F64(o) => self.blur_into(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::I8(o) => self.blur_converted(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::U32(o) => self.blur_converted(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::I32(o) => self.blur_converted(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::U64(o) => self.blur_converted(vol, o.index_axis_mut(Axis(0), t), plan),
            Voxels::I64(o) => self.blur_converted(vol, o.index_axis_mut(Axis(0), t), plan),
        }
    }

    /// Into an output type the library writes itself: no intermediate volume on a GPU.
    fn blur_into<A: Voxel, B: Element>(
        &self,
        vol: ArrayView3<'_, A>,
        out: ArrayViewMut3<'_, B>,
        plan: &Plan,
    ) -> Result<(), BlurError> {
        let (vol, out, opts) = oriented(vol, out, plan);
        match self {
            Engine::Gpu(g) => g.filter_into(&vol, &opts, plan.filter, &mut [out], |_, _| {}),
            Engine::Cpu => cpu_blur(&vol, &opts, plan.filter, &mut { out }),
        }
    }

    /// Into the other output types, through the blurred values in f32 (GPU) or f64 (CPU).
    fn blur_converted<A: Voxel, B: Element>(
        &self,
        vol: ArrayView3<'_, A>,
        out: ArrayViewMut3<'_, B>,
        plan: &Plan,
    ) -> Result<(), BlurError> {
        let (vol, mut out, opts) = oriented(vol, out, plan);
        match self {
            Engine::Gpu(g) => {
                let mut blurred = ndarray::Array3::<f32>::zeros(vol.raw_dim());
                g.filter_into(
                    &vol,
                    &opts,
                    plan.filter,
                    &mut [blurred.view_mut()],
                    |_, _| {},
                )?;
                Zip::from(&mut out)
                    .and(&blurred)
                    .for_each(|o, &v| *o = B::from_f64(f64::from(v)));
            }
            Engine::Cpu => cpu_blur(&vol, &opts, plan.filter, &mut out)?,
        }
        Ok(())
    }
}

/// The adapter's name for the progress line: "llvmpipe (LLVM 15.0.6, 256 bits)" is "llvmpipe"
/// here; "the GPU" when the blur did not open its device itself.
pub fn adapter_name(g: &GpuBlur) -> String {
    g.adapter_info().map_or("the GPU".to_string(), |i| {
        i.name.split(" (").next().unwrap_or(&i.name).to_string()
    })
}

/// Bytes of f64 voxels that the CPU blurs at a time (it holds two such slabs).
const CPU_SLAB_BYTES: usize = 16 << 20;

/// The library's CPU reference slab by slab along axis 0 (`cpu::filter_into`): only the input,
/// the output and a slab of f64 are held.
fn cpu_blur<A: Voxel, B: Element>(
    vol: &ArrayView3<'_, A>,
    opts: &BlurOptions,
    filter: Filter,
    out: &mut ArrayViewMut3<'_, B>,
) -> Result<(), BlurError> {
    cpu::filter_into(vol, opts, filter, out, CPU_SLAB_BYTES)
}

/// The whole series on a GPU in one call, its volumes going through together as many at a time
/// as fit one buffer, when the library takes the input's and the output's types as they are;
/// `None` otherwise.
fn gpu_batch(
    g: &GpuBlur,
    voxels: &Voxels,
    out: &mut Voxels,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize),
) -> Option<Result<(), BlurError>> {
    fn into<A: Voxel>(
        g: &GpuBlur,
        vols: ArrayView4<'_, A>,
        out: &mut Voxels,
        plan: &Plan,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Option<Result<(), BlurError>> {
        Some(match out {
            Voxels::U8(o) => batch(g, vols, o.view_mut(), plan, progress),
            Voxels::U16(o) => batch(g, vols, o.view_mut(), plan, progress),
            Voxels::I16(o) => batch(g, vols, o.view_mut(), plan, progress),
            Voxels::F32(o) => batch(g, vols, o.view_mut(), plan, progress),
            Voxels::F64(o) => batch(g, vols, o.view_mut(), plan, progress),
            _ => return None,
        })
    }
    match voxels {
        Voxels::U8(a) => into(g, a.view(), out, plan, progress),
        Voxels::U16(a) => into(g, a.view(), out, plan, progress),
        Voxels::I16(a) => into(g, a.view(), out, plan, progress),
        Voxels::F32(a) => into(g, a.view(), out, plan, progress),
        Voxels::F64(a) => into(g, a.view(), out, plan, progress),
        _ => None,
    }
}

/// A series whose volumes are in Fortran layout (NIfTI) is blurred with its spatial axes
/// reversed, as [`oriented`] does for one volume.
fn batch<A: Voxel, B: Voxel>(
    g: &GpuBlur,
    vols: ArrayView4<'_, A>,
    out: ArrayViewMut4<'_, B>,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), BlurError> {
    let first = vols.index_axis(Axis(0), 0);
    let fortran = !first.is_standard_layout() && first.t().is_standard_layout();
    let opts = plan.options(fortran);
    let (vols, out) = if fortran {
        (
            vols.permuted_axes([0, 3, 2, 1]),
            out.permuted_axes([0, 3, 2, 1]),
        )
    } else {
        (vols, out)
    };
    g.filter_batch_into(&vols, &opts, plan.filter, &mut [out], |done, total| {
        progress(done, total);
    })
}

/// A Fortran-layout volume (NIfTI, Fortran-order .npy) is blurred as its transpose, which is in
/// standard layout, with the options reversed to match: no copy. The output has the input's
/// layout, so it turns with it.
fn oriented<'a, 'b, A, B>(
    vol: ArrayView3<'a, A>,
    out: ArrayViewMut3<'b, B>,
    plan: &Plan,
) -> (ArrayView3<'a, A>, ArrayViewMut3<'b, B>, BlurOptions) {
    let fortran = !vol.is_standard_layout() && vol.t().is_standard_layout();
    let opts = plan.options(fortran);
    if fortran {
        (vol.reversed_axes(), out.reversed_axes(), opts)
    } else {
        (vol, out, opts)
    }
}

/// What the blur does along each axis, in the file's axis order, and which filter it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub sigma: [f64; 3],
    pub modes: [Mode; 3],
    pub truncate: f64,
    pub radius: Option<[usize; 3]>,
    pub orders: [u32; 3],
    pub filter: Filter,
}

impl Plan {
    /// The library's options, with the axes in reverse order when `reverse`.
    pub fn options(&self, reverse: bool) -> BlurOptions {
        fn order<T>(mut a: [T; 3], reverse: bool) -> [T; 3] {
            if reverse {
                a.reverse();
            }
            a
        }
        let opts = BlurOptions::new(order(self.sigma, reverse))
            .modes(order(self.modes, reverse))
            .orders(order(self.orders, reverse))
            .truncate(self.truncate);
        match self.radius {
            Some(r) => opts.radius(order(r, reverse)),
            None => opts,
        }
    }
}
