//! Test-only probes of the FFI floor, compiled with the `testing` feature (on in `make test`,
//! off in a plain `make install`). The regression test creates the SQL functions itself.
use crate::pg::error::{ERRCODE_INVALID_PARAMETER_VALUE, Error};
use crate::pg::fmgr::{datum_i32, text_datum};
use crate::pg::guc::{Guc, define_int};
use crate::pg::{memcxt, pg_try, sys};
use crate::pg_fn;
use std::ffi::c_int;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

static DROPS: AtomicI64 = AtomicI64::new(0);
static CTX_DROPS: AtomicI64 = AtomicI64::new(0);
static TEST_INT: Guc<c_int> = Guc::new(7);

pub fn init() {
    define_int(
        c"vchord.testing_int",
        c"A setting that only the test build defines.",
        &TEST_INT,
        0,
        100,
    );
}

/// A value whose destructor the tests can observe.
struct DropCounter(&'static AtomicI64);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

// An ERROR raised inside a PostgreSQL call made from Rust, two frames deep; both counters and
// the heap allocation must be dropped before the error reaches the client.
pg_fn!(vchord_test_pg_error, |fc| {
    let _outer = DropCounter(&DROPS);
    let owned: Vec<String> = vec!["heap data".into()];
    datum_i32(parse_bad_int() + owned.len() as i32)
});
#[inline(never)]
fn parse_bad_int() -> i32 {
    let _inner = DropCounter(&DROPS);
    // SAFETY: raises an ERROR on purpose; pg_try carries it.
    unsafe { pg_try(|| sys::pg_strtoint32(c"not a number".as_ptr())) }
}

// The same path without an error.
pg_fn!(vchord_test_parse_int, |fc| {
    let t = fc.datum(0);
    // SAFETY: the argument is text, as the SQL signature says.
    let s = unsafe { pg_try(|| sys::text_to_cstring(t as *const sys::text)) };
    // SAFETY: a NUL-terminated string made just above.
    datum_i32(unsafe { pg_try(|| sys::pg_strtoint32(s)) })
});

pg_fn!(vchord_test_panic, |fc| {
    let _g = DropCounter(&DROPS);
    let v: Vec<u32> = Vec::new();
    let i = fc.nargs() + 3;
    datum_i32(v[i] as i32)
});

// Rust -> fmgr -> Rust that panics -> ERROR -> caught by the outer pg_try -> unwind -> re-throw.
pg_fn!(vchord_test_nested_panic, |fc| {
    let _g = DropCounter(&DROPS);
    // SAFETY: calls a function of this library through fmgr; pg_try carries its ERROR.
    unsafe { pg_try(|| sys::DirectFunctionCall1Coll(Some(vchord_test_panic), sys::InvalidOid, 0)) }
});

pg_fn!(vchord_test_user_error, |fc| {
    let _g = DropCounter(&DROPS);
    Error::new(
        ERRCODE_INVALID_PARAMETER_VALUE,
        "user-facing error from rust",
    )
    .detail("a detail")
    .hint("a hint")
    .raise()
});

pg_fn!(vchord_test_counters, |fc| {
    text_datum(&format!(
        "drops={} ctx_drops={} catches={} testing_int={}",
        DROPS.load(Relaxed),
        CTX_DROPS.load(Relaxed),
        // SAFETY: reads a counter of the shim.
        unsafe { sys::vchord_shim_catch_count() },
        TEST_INT.get()
    ))
});

// Rust state owned by the per-call memory context; with `fail` an ERROR follows, and the
// abort's context reset must still drop it.
pg_fn!(vchord_test_ctx_state, |fc| {
    let fail = fc.bool(0);
    memcxt::own((vec![0u8; 1 << 16], DropCounter(&CTX_DROPS)));
    if fail {
        // SAFETY: raises an ERROR on purpose; pg_try carries it.
        unsafe { pg_try(|| sys::pg_strtoint32(c"boom".as_ptr())) };
    }
    CTX_DROPS.load(Relaxed) as sys::Datum
});

// vchord_test_set_format(regclass, int) -> bool: overwrites a vchord index's on-disk format
// version (WAL-logged, as every page change), to test what the server does with an index an
// older or newer vchord built.
pg_fn!(vchord_test_set_format, |fc| {
    let (rel, _) = crate::index::open_vchord_index(fc.datum(0) as sys::Oid);
    let store = rel.store();
    let done = vchord_base::info::set_format_version(&store, fc.i32(1) as u32);
    rel.close();
    crate::pg::fmgr::datum_bool(done)
});
