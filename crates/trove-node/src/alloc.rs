//! Process-wide memory allocator settings for a process that runs a node (the `trove`
//! binary, the desktop app, the benchmarks). Call [`tune_allocator`] first thing in `main`,
//! before any thread starts.
//!
//! glibc gives every thread that allocates its own arena and keeps freed memory in it, so
//! the 256 KiB chunk buffers a seeder allocates on tokio and blocking-pool threads left a
//! seeder serving one download at about 60 MiB (TLS/TCP) and 80 MiB (QUIC) resident. With one
//! arena it stays at about 30 MiB, with the same throughput (docs/BENCHMARKS.md).

/// Limits glibc to one malloc arena, unless `MALLOC_ARENA_MAX` is set (the user's choice
/// wins). Does nothing on other C libraries and systems.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
