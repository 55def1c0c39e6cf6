//! Acquiring an adapter and a device, apart from the work done with them.

use std::sync::{Arc, Mutex};

use super::kernels::{self, PassFamily};
use crate::BlurError;

/// Why the device was lost, once it has been; shared with wgpu's callback.
pub(crate) type LostReason = Arc<Mutex<Option<String>>>;

/// Picks an adapter: the one named by `WGPU_ADAPTER_NAME` (a case-insensitive substring) when
/// that is set, otherwise the one wgpu's `request_adapter` would pick (high performance first,
/// or `WGPU_POWER_PREF`). `WGPU_BACKEND` restricts the backends searched.
pub(crate) async fn adapter() -> Result<wgpu::Adapter, BlurError> {
    let adapters = adapters().await;
    let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") else {
        return adapters
            .into_iter()
            .next()
            .ok_or_else(|| BlurError::NoAdapter {
                detail: format!(
                    " (backends searched: {:?})",
                    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())
                ),
            });
    };
    let names: Vec<String> = adapters
        .iter()
        .map(|a| describe_adapter(&a.get_info()))
        .collect();
    adapters
        .into_iter()
        .find(|a| adapter_matches(&a.get_info(), &wanted))
        .ok_or_else(|| BlurError::NoAdapter {
            detail: format!(
                ": none matches WGPU_ADAPTER_NAME={wanted:?} (available: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        })
}

/// Whether the adapter's name contains `wanted`, ignoring case: how `WGPU_ADAPTER_NAME` picks an
/// adapter, and how a front end should pick one by name.
#[must_use]
pub fn adapter_matches(info: &wgpu::AdapterInfo, wanted: &str) -> bool {
    info.name.to_lowercase().contains(&wanted.to_lowercase())
}

/// Every adapter wgpu can see (restricted by `WGPU_BACKEND` when set), the one
/// [`GpuBlur::new`](crate::GpuBlur::new) takes first: the order of wgpu's `request_adapter`
/// (discrete GPUs first, or integrated ones with `WGPU_POWER_PREF=low`; then other, virtual
/// and CPU adapters; Vulkan, Metal, DX12, GL within one kind).
///
/// GL adapters are searched only when `WGPU_BACKEND` names the backends, or when no other
/// backend has an adapter: GL is the fallback of machines without Vulkan, Metal or DX12, and
/// its driver fails where the process already holds a GL context of its own (napari's canvas:
/// EGL refuses a second current context, and wgpu's GL backend panics on that); such a failure
/// leaves GL out instead of unwinding through the caller.
///
/// Use this rather than a `wgpu::Instance` of your own to pick an adapter for
/// [`GpuBlur::on_adapter`](crate::GpuBlur::on_adapter): its Vulkan instance leaves out the
/// window systems' surface extensions, which keeps Mesa's device-selection layer from printing
/// an error about `XDG_RUNTIME_DIR` on headless machines.
pub async fn adapters() -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let asked = wgpu::Backends::from_env().is_some();
    let mut adapters = Vec::new();
    if let Some(vulkan) = compute_only_vulkan(&mut desc) {
        adapters.extend(vulkan.enumerate_adapters(wgpu::Backends::all()).await);
    }
    let gl = desc.backends & wgpu::Backends::GL;
    desc.backends.remove(wgpu::Backends::GL);
    if !desc.backends.is_empty() {
        let others = wgpu::Instance::new(desc);
        adapters.extend(others.enumerate_adapters(wgpu::Backends::all()).await);
    }
    if !gl.is_empty() && (asked || adapters.is_empty()) {
        let mut gl_desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        gl_desc.backends = gl;
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let instance = wgpu::Instance::new(gl_desc);
            pollster::block_on(instance.enumerate_adapters(wgpu::Backends::GL))
        }));
        adapters.extend(found.unwrap_or_default());
    }
    let low_power = wgpu::PowerPreference::from_env() == Some(wgpu::PowerPreference::LowPower);
    // A stable sort keeps the backends' order within one kind.
    adapters.sort_by_key(|a| match a.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 1 + u8::from(low_power),
        wgpu::DeviceType::IntegratedGpu => 2 - u8::from(low_power),
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::VirtualGpu => 4,
        wgpu::DeviceType::Cpu => 5,
    });
    adapters
}

/// What [`adapters`] finds, described: each adapter's name, backend and kind.
pub async fn list_adapters() -> Vec<wgpu::AdapterInfo> {
    adapters()
        .await
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect()
}

/// `name (backend, device type)`, as the command-line tool and the Python package print an
/// adapter.
#[must_use]
pub fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// A Vulkan instance without the window systems' surface extensions, taken out of `desc`.
///
/// blur3d never presents, and with `VK_KHR_wayland_surface` enabled Mesa's device-selection
/// layer connects to Wayland to find the default GPU: on a headless machine (no
/// `XDG_RUNTIME_DIR`) libwayland then prints "error: XDG_RUNTIME_DIR is invalid or not set in
/// the environment." on every enumeration. wgpu checks the extension list before it creates a
/// surface, so an instance without them only refuses surfaces. `None` (Vulkan left in `desc`'s
/// backends) where this does not apply or the instance cannot be made.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn compute_only_vulkan(desc: &mut wgpu::InstanceDescriptor) -> Option<wgpu::Instance> {
    use wgpu::hal;
    if !desc.backends.contains(wgpu::Backends::VULKAN) {
        return None;
    }
    let hal_desc = hal::InstanceDescriptor {
        name: "blur3d",
        flags: desc.flags,
        memory_budget_thresholds: desc.memory_budget_thresholds,
        backend_options: desc.backend_options.clone(),
        telemetry: None,
        display: None,
    };
    let window_systems = [
        c"VK_KHR_wayland_surface",
        c"VK_KHR_xcb_surface",
        c"VK_KHR_xlib_surface",
    ];
    let drop_window_systems: Box<hal::vulkan::CreateInstanceCallback> = Box::new(move |args| {
        args.extensions.retain(|e| !window_systems.contains(e));
    });
    // SAFETY: the callback only leaves out surface extensions, which wgpu looks up in the
    // instance's extension list before it uses them; the instance is handed to wgpu whole.
    let instance = unsafe {
        <hal::api::Vulkan as hal::Api>::Instance::init_with_callback(
            &hal_desc,
            Some(drop_window_systems),
        )
    }
    .ok()?;
    desc.backends.remove(wgpu::Backends::VULKAN);
    // SAFETY: a Vulkan instance that wgpu-hal made, owned by wgpu from here on.
    Some(unsafe { wgpu::Instance::from_hal::<hal::api::Vulkan>(instance) })
}

/// Elsewhere Vulkan stays with the other backends.
#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn compute_only_vulkan(_desc: &mut wgpu::InstanceDescriptor) -> Option<wgpu::Instance> {
    None
}

/// Opens a device with the adapter's own limits (not WebGPU's defaults), so that buffers can be
/// as large as the hardware allows.
pub(crate) async fn device(
    adapter: &wgpu::Adapter,
) -> Result<(wgpu::Device, wgpu::Queue), BlurError> {
    adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("blur3d.device"),
            // f64 passes where the adapter has them (`Precision`); f32 everywhere.
            required_features: adapter.features() & wgpu::Features::SHADER_F64,
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        })
        .await
        .map_err(|e| BlurError::DeviceRequest {
            adapter: describe_adapter(&adapter.get_info()),
            reason: e.to_string(),
        })
}

/// Records the loss of `device` instead of letting it go unnoticed.
pub(crate) fn watch_loss(device: &wgpu::Device) -> LostReason {
    let lost: LostReason = Arc::default();
    let slot = Arc::clone(&lost);
    device.set_device_lost_callback(move |reason, message| {
        if let Ok(mut s) = slot.lock() {
            *s = Some(format!("{reason:?}: {message}"));
        }
    });
    lost
}

/// Error scopes around a piece of GPU work, so that wgpu reports to us instead of panicking.
pub(crate) struct Scopes([wgpu::ErrorScopeGuard; 3]);

impl Scopes {
    pub(crate) fn push(device: &wgpu::Device) -> Self {
        Scopes([
            device.push_error_scope(wgpu::ErrorFilter::Internal),
            device.push_error_scope(wgpu::ErrorFilter::OutOfMemory),
            device.push_error_scope(wgpu::ErrorFilter::Validation),
        ])
    }

    pub(crate) async fn pop(self) -> Result<(), BlurError> {
        let [internal, oom, validation] = self.0;
        // Inner scope first; report the first error found.
        let errors = [
            validation.pop().await,
            oom.pop().await,
            internal.pop().await,
        ];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl PassFamily {
    /// The family `BLUR3D_PASSES` asks for (`gpu`, `tile` or `cpu`, any case), `None` when it is unset:
    /// the one place blur3d reads it. [`GpuBlur::new`](super::GpuBlur::new) and the other
    /// constructors honour it; [`GpuBlur::with_pass_family`](super::GpuBlur::with_pass_family)
    /// sets the family from code.
    ///
    /// # Errors
    /// [`BlurError::InvalidPasses`] when it names no family.
    pub fn from_env() -> Result<Option<Self>, BlurError> {
        match std::env::var("BLUR3D_PASSES") {
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "gpu" => Ok(Some(PassFamily::Gpu)),
                "tile" => Ok(Some(PassFamily::Tile)),
                "cpu" => Ok(Some(PassFamily::Cpu)),
                _ => Err(BlurError::InvalidPasses { value: v }),
            },
            Err(std::env::VarError::NotUnicode(v)) => Err(BlurError::InvalidPasses {
                value: v.to_string_lossy().into_owned(),
            }),
            Err(std::env::VarError::NotPresent) => Ok(None),
        }
    }
}

/// The family the passes of `device` run in: the CPU family where the device lacks the storage
/// bindings of the vec4 views the GPU and tile families need (`FULL_MODULE_BINDINGS`), otherwise
/// `requested` when given, otherwise the CPU family on CPU adapters (llvmpipe, lavapipe) and the
/// GPU family on every other. The only place the family is decided.
pub(crate) fn choose_family(device: &wgpu::Device, requested: Option<PassFamily>) -> PassFamily {
    if !kernels::has_vec4_views(device) {
        return PassFamily::Cpu;
    }
    requested.unwrap_or(match device.adapter_info().device_type {
        wgpu::DeviceType::Cpu => PassFamily::Cpu,
        _ => PassFamily::Gpu,
    })
}
