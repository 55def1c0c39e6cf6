//! The C allocator's settings.

/// Fixes glibc's mmap threshold at 1 MiB. Left alone, glibc raises it (up to 32 MiB) each time
/// a large block is freed, after which blocks of that size come from the heap and stay there
/// when freed: slabs freed and allocated again, a chunk row's buffers, add up. How soon that
/// happens depends on what the process freed before (it changed with the linked C libraries),
/// so a fixed threshold keeps the peak memory of a run what its buffers need.
pub fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; nothing has allocated much yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
