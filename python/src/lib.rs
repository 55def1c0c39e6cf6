//! `blur3d._native`: the library's GPU blur for the Python package (`python/blur3d`), which
//! holds scipy's argument handling and calls [`Device::filter`] once per batch of 3-D volumes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use blur3d::{BlurError, BlurOptions, Filter, GpuBlur, Mode, Precision};
use numpy::{PyArray4, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    _native,
    GpuError,
    PyRuntimeError,
    "A GPU failure (no adapter, out of memory, device lost, a volume too large for the device), \
     with the library's message, which says what to do."
);

/// A blur3d error as the Python exception a caller expects: argument errors as `ValueError`
/// (scipy's type for bad values), the GPU's as `GpuError`.
fn to_py(e: BlurError) -> PyErr {
    match e {
        BlurError::InvalidSigma { .. }
        | BlurError::InvalidTruncate { .. }
        | BlurError::RadiusTooLarge { .. }
        | BlurError::EmptyAxis { .. }
        | BlurError::ShapeMismatch { .. }
        | BlurError::OrderTooLarge { .. } => PyValueError::new_err(e.to_string()),
        _ => GpuError::new_err(e.to_string()),
    }
}

/// One GPU device and the blur built on it. Calls from many Python threads run concurrently;
/// the GIL is released while the GPU works.
#[pyclass(frozen, module = "blur3d._native")]
struct Device {
    blur: Arc<GpuBlur>,
    adapter: String,
    /// How many times this device has called the library's filter (for the tests, which check
    /// that a batch is one call).
    calls: AtomicU64,
}

/// How an adapter is chosen: by its index in [`adapters`], or by a case-insensitive part of its
/// name, as `WGPU_ADAPTER_NAME` does.
#[derive(FromPyObject)]
enum AdapterChoice {
    Index(usize),
    Name(String),
}

/// Opens a blur on the adapter `choice` picks, or on the library's default one.
fn open(choice: Option<AdapterChoice>) -> PyResult<(GpuBlur, String)> {
    let Some(choice) = choice else {
        let blur = GpuBlur::try_new().map_err(to_py)?;
        let name = blur
            .adapter_info()
            .map_or_else(|| "default adapter".to_string(), blur3d::describe_adapter);
        return Ok((blur, name));
    };
    let adapters = pollster::block_on(blur3d::adapters());
    let names: Vec<String> = adapters
        .iter()
        .map(|a| blur3d::describe_adapter(&a.get_info()))
        .collect();
    let found = match &choice {
        AdapterChoice::Index(i) => adapters.into_iter().nth(*i),
        AdapterChoice::Name(wanted) => adapters.into_iter().find(|a| {
            a.get_info()
                .name
                .to_lowercase()
                .contains(&wanted.to_lowercase())
        }),
    };
    let Some(adapter) = found else {
        let wanted = match choice {
            AdapterChoice::Index(i) => format!("index {i}"),
            AdapterChoice::Name(n) => format!("{n:?}"),
        };
        return Err(GpuError::new_err(format!(
            "no GPU adapter matches {wanted} (available: {}): pass an index or a part of a name \
             from blur3d.adapters(), or adapter=None for the default",
            if names.is_empty() {
                "none; install a GPU driver or Mesa's software one, mesa-vulkan-drivers".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    // A device of the blur's own, opened as GpuBlur::new opens one: the adapter's limits, its
    // loss watched, errors that escape the library's scopes recorded (never a panic, which would
    // abort the Python process).
    let blur = GpuBlur::on_adapter(&adapter).map_err(to_py)?;
    let info = adapter.get_info();
    Ok((blur, blur3d::describe_adapter(&info)))
}

/// scipy's mode name (one of `Mode::NAMES`) with the constant `cval`; scipy's error otherwise.
fn mode(name: &str, cval: f64) -> PyResult<Mode> {
    Mode::from_scipy(name, cval).map_err(|_| PyRuntimeError::new_err("boundary mode not supported"))
}

/// What one call computes: the filter of the Gaussian family and the library's options, built
/// in this one place.
struct Spec {
    filter: Filter,
    opts: BlurOptions,
}

impl Spec {
    #[allow(clippy::too_many_arguments)] // scipy's arguments, one by one
    fn new(
        filter: &str,
        sigma: [f64; 3],
        orders: [u32; 3],
        modes: [String; 3],
        axes: [bool; 3],
        cval: f64,
        radius: [usize; 3],
        truncate_each_pass: bool,
    ) -> PyResult<Self> {
        let filter = Filter::from_name(filter)
            .filter(|f| f.outputs() == 1)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown filter {filter:?}: use gaussian_filter, gaussian_laplace or \
                     gaussian_gradient_magnitude"
                ))
            })?;
        let modes = [
            mode(&modes[0], cval)?,
            mode(&modes[1], cval)?,
            mode(&modes[2], cval)?,
        ];
        let opts = BlurOptions::new(sigma)
            .orders(orders)
            .modes(modes)
            .axes(axes)
            .radius(radius)
            .truncate_each_pass(truncate_each_pass);
        Ok(Spec { filter, opts })
    }
}

/// Runs `$body` with `$t` bound to the element type of the 4-D array `$arr`, one of the
/// library's voxel types; a `TypeError` for any other.
macro_rules! with_voxel_type {
    ($arr:expr, $t:ident => $body:expr) => {{
        let arr = $arr;
        with_voxel_type!(@try arr, $t => $body; u8, i8, u16, i16, u32, i32, u64, i64, f32, f64)
    }};
    (@try $arr:ident, $t:ident => $body:expr; $($ty:ty),*) => {{
        $(
            if $arr.cast::<PyArray4<$ty>>().is_ok() {
                #[allow(unused)]
                type $t = $ty;
                return $body;
            }
        )*
        Err(PyTypeError::new_err(format!(
            "array type {} not supported: use an integer type of 8 to 64 bits, float32 or float64 \
             in native byte order with 4 dimensions (a batch of volumes)",
            $arr.dtype()
        )))
    }};
}

#[pymethods]
impl Device {
    /// Opens a device: on the adapter `adapter` names (an index into `adapters()` or a part of
    /// an adapter's name), or on the default one (`WGPU_ADAPTER_NAME` and `WGPU_BACKEND` choose).
    #[new]
    #[pyo3(signature = (adapter=None))]
    fn new(py: Python<'_>, adapter: Option<AdapterChoice>) -> PyResult<Self> {
        let (blur, adapter) = py.detach(|| open(adapter))?;
        Ok(Device {
            blur: Arc::new(blur),
            adapter,
            calls: AtomicU64::new(0),
        })
    }

    /// The adapter in use: `name (backend, device type)`.
    #[getter]
    fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// How many library calls [`Device::filter`] has made on this device (for tests).
    #[getter(_library_calls)]
    fn library_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Runs `filter` (`gaussian_filter`, `gaussian_laplace` or `gaussian_gradient_magnitude`)
    /// on the 4-D array `input`, a batch of 3-D volumes along axis 0, into the 4-D array
    /// `output` of the same shape (any strides, native byte order, any of the library's voxel
    /// types, not overlapping `input`), in one library call: the volumes go to the GPU together,
    /// as many per upload as fit one buffer. Per volume axis `sigma`, derivative `orders`,
    /// scipy `modes` with `cval`, the axes `filtered` and the kernel `radius`. Integer outputs
    /// are truncated toward zero after every pass with `truncate_each_pass` (scipy's rule), else
    /// rounded to nearest once.
    #[pyo3(signature = (filter, input, output, sigma, orders, modes, filtered, cval, radius, truncate_each_pass))]
    #[allow(clippy::too_many_arguments)] // scipy's arguments, one by one
    fn filter(
        &self,
        py: Python<'_>,
        filter: &str,
        input: &Bound<'_, PyUntypedArray>,
        output: &Bound<'_, PyUntypedArray>,
        sigma: [f64; 3],
        orders: [u32; 3],
        modes: [String; 3],
        filtered: [bool; 3],
        cval: f64,
        radius: [usize; 3],
        truncate_each_pass: bool,
    ) -> PyResult<()> {
        let spec = Spec::new(
            filter,
            sigma,
            orders,
            modes,
            filtered,
            cval,
            radius,
            truncate_each_pass,
        )?;
        with_voxel_type!(input, A => self.gaussian_from::<A>(py, input, output, &spec))
    }
}

impl Device {
    fn gaussian_from<A: blur3d::Voxel + numpy::Element>(
        &self,
        py: Python<'_>,
        input: &Bound<'_, PyUntypedArray>,
        output: &Bound<'_, PyUntypedArray>,
        spec: &Spec,
    ) -> PyResult<()> {
        with_voxel_type!(output, B => self.gaussian_into::<A, B>(py, input, output, spec))
    }

    fn gaussian_into<A, B>(
        &self,
        py: Python<'_>,
        input: &Bound<'_, PyUntypedArray>,
        output: &Bound<'_, PyUntypedArray>,
        spec: &Spec,
    ) -> PyResult<()>
    where
        A: blur3d::Voxel + numpy::Element,
        B: blur3d::Voxel + numpy::Element,
    {
        let input = input.cast::<PyArray4<A>>()?.try_readonly()?;
        let mut output = output.cast::<PyArray4<B>>()?.try_readwrite()?;
        let vols = input.as_array();
        let mut out = output.as_array_mut();
        let blur = &self.blur;
        self.calls.fetch_add(1, Ordering::Relaxed);
        // A float32 output asks for a float32 result: computed in f32 on purpose, whatever the
        // input; otherwise the library's rule (f64 for float64 and the 32- and 64-bit integers).
        let opts = if std::any::TypeId::of::<B>() == std::any::TypeId::of::<f32>() {
            spec.opts.clone().precision(Precision::Single)
        } else {
            spec.opts.clone()
        };
        py.detach(|| {
            blur.filter_batch_into(&vols, &opts, spec.filter, &mut [out.view_mut()], |_, _| {})
        })
        .map_err(to_py)
    }
}

/// The adapters wgpu sees (`WGPU_BACKEND` restricts the backends), as
/// `(name, backend, device type)`, in the order `Device(adapter=index)` counts them.
#[pyfunction]
fn adapters(py: Python<'_>) -> Vec<(String, String, String)> {
    py.detach(|| {
        pollster::block_on(blur3d::list_adapters())
            .into_iter()
            .map(|i| {
                (
                    i.name,
                    format!("{:?}", i.backend).to_lowercase(),
                    format!("{:?}", i.device_type),
                )
            })
            .collect()
    })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Device>()?;
    m.add_function(wrap_pyfunction!(adapters, m)?)?;
    m.add("GpuError", m.py().get_type::<GpuError>())?;
    m.add("MODE_NAMES", Mode::NAMES.to_vec())?;
    Ok(())
}
