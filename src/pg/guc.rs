//! GUC registration. PostgreSQL writes a setting's value straight into the variable it was
//! given, so each setting lives in a static cell that only the backend's thread touches.
use super::guard::pg_try;
use super::sys;
use std::cell::UnsafeCell;
use std::ffi::{CStr, c_int};

/// Storage for a GUC variable of type `T` (`bool`, `c_int`, `f64`).
pub struct Guc<T>(UnsafeCell<T>);

// PostgreSQL backends are single-threaded: only the backend's main thread reads or writes GUC
// storage (worker threads receive copies of the values they need).
unsafe impl<T> Sync for Guc<T> {}

impl<T: Copy> Guc<T> {
    pub const fn new(boot: T) -> Guc<T> {
        Guc(UnsafeCell::new(boot))
    }
    pub fn get(&self) -> T {
        unsafe { *self.0.get() }
    }
    fn ptr(&'static self) -> *mut T {
        self.0.get()
    }
}

/// A user-settable (PGC_USERSET) integer setting.
pub fn define_int(
    name: &'static CStr,
    short: &'static CStr,
    var: &'static Guc<c_int>,
    min: c_int,
    max: c_int,
) {
    let boot = var.get();
    let p = var.ptr();
    unsafe {
        pg_try(|| {
            sys::DefineCustomIntVariable(
                name.as_ptr(),
                short.as_ptr(),
                std::ptr::null(),
                p,
                boot,
                min,
                max,
                sys::GucContext::PGC_USERSET,
                0,
                None,
                None,
                None,
            )
        })
    }
}

/// A user-settable boolean setting.
pub fn define_bool(name: &'static CStr, short: &'static CStr, var: &'static Guc<bool>) {
    let boot = var.get();
    let p = var.ptr();
    unsafe {
        pg_try(|| {
            sys::DefineCustomBoolVariable(
                name.as_ptr(),
                short.as_ptr(),
                std::ptr::null(),
                p,
                boot,
                sys::GucContext::PGC_USERSET,
                0,
                None,
                None,
                None,
            )
        })
    }
}

/// A user-settable floating-point setting.
pub fn define_real(
    name: &'static CStr,
    short: &'static CStr,
    var: &'static Guc<f64>,
    min: f64,
    max: f64,
) {
    let boot = var.get();
    let p = var.ptr();
    unsafe {
        pg_try(|| {
            sys::DefineCustomRealVariable(
                name.as_ptr(),
                short.as_ptr(),
                std::ptr::null(),
                p,
                boot,
                min,
                max,
                sys::GucContext::PGC_USERSET,
                0,
                None,
                None,
                None,
            )
        })
    }
}

/// Reserve a prefix: settings under it that vchord did not define are rejected (PG 15+), or
/// warned about (PG 14).
pub fn reserve_prefix(prefix: &'static CStr) {
    unsafe {
        #[cfg(pg_ge15)]
        pg_try(|| sys::MarkGUCPrefixReserved(prefix.as_ptr()));
        #[cfg(not(pg_ge15))]
        pg_try(|| sys::EmitWarningsOnPlaceholders(prefix.as_ptr()));
    }
}
