//! With no adapter to be had, `try_new` says what to install and `new` panics with that message.
//! A binary of its own, since it points `WGPU_ADAPTER_NAME` at an adapter that does not exist.

use blur3d::{BlurError, GpuBlur};

#[test]
fn missing_adapter_is_an_actionable_error_and_new_panics_with_it() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("WGPU_ADAPTER_NAME", "no-such-adapter-blur3d") };
    let err = GpuBlur::try_new().unwrap_err();
    assert!(matches!(err, BlurError::NoAdapter { .. }), "{err:?}");
    let message = err.to_string();
    for hint in [
        "no-such-adapter-blur3d",
        "mesa-vulkan-drivers",
        "WGPU_ADAPTER_NAME",
        "cpu::separable",
    ] {
        assert!(message.contains(hint), "{hint:?} missing from: {message}");
    }

    let panic = std::panic::catch_unwind(GpuBlur::new).unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("no GPU adapter found"),
        "panic message: {text}"
    );
}
