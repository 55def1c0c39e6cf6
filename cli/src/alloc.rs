//! The C allocator's settings, and the machine's memory.

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

/// The machine's physical memory in bytes, where the system says (Linux).
pub fn physical_memory() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads a system setting.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return (pages as u64).checked_mul(size as u64);
        }
    }
    None
}
