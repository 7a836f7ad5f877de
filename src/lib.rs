//! vchord: vector types and vector search indexes for PostgreSQL, bound through PostgreSQL's C
//! ABI without pgrx. `pg` is the FFI floor; `types` holds `vector` and `halfvec`; `index` the
//! access methods.
// The access methods and the types are safe Rust: every unsafe call into PostgreSQL is in
// `pg`, behind safe handles.
#[deny(unsafe_code)]
pub mod index;
pub mod pg;
#[cfg(feature = "testing")]
pub mod testing;
#[deny(unsafe_code)]
pub mod types;

use pg::error::{ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, Error};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The magic block is built in C by this server's own PG_MODULE_MAGIC_DATA (its layout differs
/// between versions); a cdylib exports only Rust `no_mangle` items, so Rust forwards it.
#[unsafe(no_mangle)]
pub extern "C" fn Pg_magic_func() -> *const pg::sys::Pg_magic_struct {
    // SAFETY: returns a pointer to a static struct of the C shim.
    unsafe { pg::sys::vchord_shim_magic() }
}

/// The library's initialisation.
///
/// # Safety
/// Called by PostgreSQL's dynamic loader, once, in a backend or the postmaster.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn _PG_init() {
    // SAFETY: the error boundary of an entry point.
    unsafe { pg::boundary(init) }
}

fn init() {
    // dfmgr runs _PG_init before it records the library as loaded, so raising here makes every
    // later attempt (LOAD, CREATE EXTENSION) fail the same clear way.
    // SAFETY: a flag PostgreSQL sets while it loads shared_preload_libraries.
    if !unsafe { pg::sys::process_shared_preload_libraries_in_progress } {
        Error::new(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "vchord must be loaded via shared_preload_libraries",
        )
        .hint("Add vchord to shared_preload_libraries in postgresql.conf and restart the server.")
        .raise();
    }
    pg::guard::install_panic_hook();
    #[cfg(feature = "testing")]
    testing::init();
    index::rq::init();
    index::g::init();
    // SAFETY: installs the shim's ProcessUtility hook once, from _PG_init.
    unsafe { pg::sys::vchord_shim_install_utility_hook() };
    for prefix in [c"vchord", c"vchordrq", c"vchordg"] {
        pg::guc::reserve_prefix(prefix);
    }
}
