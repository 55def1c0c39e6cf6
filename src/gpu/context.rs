//! Acquiring an adapter and a device, apart from the work done with them.

use std::sync::{Arc, Mutex};

use super::passes::PassFamily;
use crate::BlurError;

/// Why the device was lost, once it has been; shared with wgpu's callback.
pub(crate) type LostReason = Arc<Mutex<Option<String>>>;

/// Picks an adapter: the one named by `WGPU_ADAPTER_NAME` (a case-insensitive substring) when
/// that is set, otherwise wgpu's choice (high performance first). `WGPU_BACKEND` restricts the
/// backends searched.
pub(crate) async fn adapter() -> Result<wgpu::Adapter, BlurError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    match std::env::var("WGPU_ADAPTER_NAME") {
        Ok(wanted) => {
            let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
            let names: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
            adapters
                .into_iter()
                .find(|a| {
                    a.get_info()
                        .name
                        .to_lowercase()
                        .contains(&wanted.to_lowercase())
                })
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
        Err(_) => instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env()
                    .unwrap_or(wgpu::PowerPreference::HighPerformance),
                ..Default::default()
            })
            .await
            .map_err(|e| BlurError::NoAdapter {
                detail: format!(" ({e})"),
            }),
    }
}

/// All adapters wgpu can see (restricted by `WGPU_BACKEND` when set), described for people.
pub async fn list_adapters() -> Vec<wgpu::AdapterInfo> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    instance
        .enumerate_adapters(wgpu::Backends::all())
        .await
        .iter()
        .map(wgpu::Adapter::get_info)
        .collect()
}

/// `name (backend, device type)`.
pub(crate) fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Opens a device with the adapter's own limits (not WebGPU's defaults), so that buffers can be
/// as large as the hardware allows.
pub(crate) async fn device(
    adapter: &wgpu::Adapter,
) -> Result<(wgpu::Device, wgpu::Queue), BlurError> {
    adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("blur3d.device"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        })
        .await
        .map_err(|e| BlurError::DeviceRequest {
            adapter: describe(&adapter.get_info()),
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

/// The pass family for `device`: `BLUR3D_PASSES` (`gpu` or `cpu`) when set, otherwise the CPU
/// family on CPU adapters (llvmpipe, lavapipe) and the GPU family on every other.
pub(crate) fn pass_family(device: &wgpu::Device) -> Result<PassFamily, BlurError> {
    match std::env::var("BLUR3D_PASSES") {
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "gpu" => Ok(PassFamily::Gpu),
            "cpu" => Ok(PassFamily::Cpu),
            _ => Err(BlurError::InvalidPasses { value: v }),
        },
        Err(std::env::VarError::NotUnicode(v)) => Err(BlurError::InvalidPasses {
            value: v.to_string_lossy().into_owned(),
        }),
        Err(std::env::VarError::NotPresent) => Ok(match device.adapter_info().device_type {
            wgpu::DeviceType::Cpu => PassFamily::Cpu,
            _ => PassFamily::Gpu,
        }),
    }
}
