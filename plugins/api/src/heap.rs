//! The Rust heap of every library built on this crate: the host and each plugin.
//!
//! mimalloc instead of the system allocator. glibc's allocator is slow for the many small,
//! short-lived buffers of a per-jet call, and with cross-event batching one thread frees what
//! another allocated, which makes glibc's arenas contend (measured with the batching bench, two
//! threads: one-jet b-tag calls on the native kernel ran about 1.2x faster on mimalloc, merged
//! ONNX Runtime calls about 1.35x). ONNX Runtime offers the same choice (`--use_mimalloc`).
//!
//! Each library holds its own copy, which is sound because nothing allocated in one library is
//! freed by another: abi_stable's types free through the library that allocated them, and
//! plugins are never unloaded, so mimalloc's thread-exit hooks stay valid. The thread-local
//! model is `local_dynamic_tls`, as the libraries are opened with `dlopen`. mimalloc v2: with v3
//! (the crate's default) a plugin's copy crashed in its thread set-up
//! (`_mi_subproc`, debug builds, the second test thread of a test binary). Memory the framework
//! allocates (C and C++) is untouched. Off under `cfg(fuzzing)`, so that the sanitizers of
//! `cargo fuzz` see every allocation, and with the `mimalloc` feature disabled.

#[cfg(all(feature = "mimalloc", not(fuzzing)))]
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(test, feature = "mimalloc", not(fuzzing)))]
mod tests {
    #[test]
    fn rust_allocations_come_from_mimalloc() {
        let b = Box::new([7u64; 4]);
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        // SAFETY: both pointers are live allocations of this process.
        unsafe {
            assert!(libmimalloc_sys::mi_is_in_heap_region(
                (&*b as *const [u64; 4]).cast()
            ));
            assert!(libmimalloc_sys::mi_is_in_heap_region(v.as_ptr().cast()));
        }
    }
}
