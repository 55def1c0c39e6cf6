//! Running the blur on a GPU or the CPU, on voxels of any element type and memory layout.

use blur3d::{BlurError, BlurOptions, GpuBlur, Mode, Voxel, cpu};
use ndarray::{Array3, ArrayView3};

use crate::volume::{DType, Element, Voxels};

/// Where the blur runs.
pub enum Engine {
    Gpu(Box<GpuBlur>),
    Cpu,
}

impl Engine {
    /// Words for the progress line: the adapter's name, or "the CPU".
    pub fn describe(&self) -> String {
        match self {
            // "llvmpipe (LLVM 15.0.6, 256 bits)" is "llvmpipe" here.
            Engine::Gpu(g) => g.adapter_info().map_or("the GPU".to_string(), |i| {
                i.name.split(" (").next().unwrap_or(&i.name).to_string()
            }),
            Engine::Cpu => "the CPU".to_string(),
        }
    }

    /// Blurs `voxels` (axes in the file's order) as `plan` says (same order) and converts the
    /// result to `dtype` (integers rounded, halves away from zero, and clamped). On a GPU,
    /// `progress(done, total)` is called after each slab (volumes larger than one GPU buffer are
    /// blurred in several).
    pub fn blur(
        &self,
        voxels: &Voxels,
        plan: &Plan,
        dtype: DType,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Voxels, BlurError> {
        match voxels {
            Voxels::U8(a) => self.blur_typed(a.view(), plan, dtype, progress),
            Voxels::U16(a) => self.blur_typed(a.view(), plan, dtype, progress),
            Voxels::I16(a) => self.blur_typed(a.view(), plan, dtype, progress),
            Voxels::F32(a) => self.blur_typed(a.view(), plan, dtype, progress),
            Voxels::F64(a) => self.blur_typed(a.view(), plan, dtype, progress),
            // Types the library does not take: i8 through i16, the others through f64, exact
            // for all but the largest 64-bit integers (the GPU computes in f32 anyway).
            Voxels::I8(a) => self.blur_typed(a.mapv(i16::from).view(), plan, dtype, progress),
            Voxels::U32(a) => self.blur_typed(a.mapv(f64::from).view(), plan, dtype, progress),
            Voxels::I32(a) => self.blur_typed(a.mapv(f64::from).view(), plan, dtype, progress),
            Voxels::U64(a) => {
                self.blur_typed(a.mapv(Element::to_f64).view(), plan, dtype, progress)
            }
            Voxels::I64(a) => {
                self.blur_typed(a.mapv(Element::to_f64).view(), plan, dtype, progress)
            }
        }
    }

    fn blur_typed<T: Voxel>(
        &self,
        vol: ArrayView3<'_, T>,
        plan: &Plan,
        dtype: DType,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Voxels, BlurError> {
        // A Fortran-layout volume (NIfTI, Fortran-order .npy) is blurred as its transpose, which
        // is in standard layout, with the options reversed to match: no copy, and the result is
        // transposed back.
        let fortran = !vol.is_standard_layout() && vol.t().is_standard_layout();
        let opts = plan.options(fortran);
        let vol = if fortran { vol.reversed_axes() } else { vol };
        let out = match self {
            Engine::Gpu(g) => {
                let out = g.blur_with_progress(&vol, &opts, progress)?;
                convert(out, fortran, dtype)
            }
            Engine::Cpu => {
                let out = cpu::separable(&vol, &opts)?;
                convert(out, fortran, dtype)
            }
        };
        Ok(out)
    }
}

fn convert<T: Element>(out: Array3<T>, fortran: bool, dtype: DType) -> Voxels {
    let out = if fortran { out.reversed_axes() } else { out };
    Voxels::from_values(out.view(), dtype)
}

/// What the blur does along each axis, in the file's axis order.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub sigma: [f64; 3],
    pub modes: [Mode; 3],
    pub truncate: f64,
    pub radius: Option<[usize; 3]>,
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
            .truncate(self.truncate);
        match self.radius {
            Some(r) => opts.radius(order(r, reverse)),
            None => opts,
        }
    }
}
