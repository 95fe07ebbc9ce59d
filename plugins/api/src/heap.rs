//! The Rust heap of every library built on this crate: the host and each plugin.
//!
//! mimalloc instead of the system allocator. glibc's allocator is slow for the many small,
//! short-lived buffers of a per-jet call, and with cross-event batching one thread frees what
//! another allocated, which makes glibc's arenas contend (measured with the batching bench:
//! unbatched native b-tag calls from two threads ran about 1.3x faster on mimalloc, merged ONNX
//! Runtime calls 1.2-1.4x). ONNX Runtime offers the same choice (`--use_mimalloc`).
//!
//! Each library holds its own copy, which is sound because nothing allocated in one library is
//! freed by another: abi_stable's types free through the library that allocated them, and
//! plugins are never unloaded, so mimalloc's thread-exit hooks stay valid. The thread-local
//! model is `local_dynamic_tls`, as the libraries are opened with `dlopen`. Memory the framework
//! allocates (C and C++) is untouched. Off under `cfg(fuzzing)`, so that the sanitizers of
//! `cargo fuzz` see every allocation, and with the `mimalloc` feature disabled.

#[cfg(all(feature = "mimalloc", not(fuzzing)))]
#[global_allocator]
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;
