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
// SAFETY: PostgreSQL backends are single-threaded: only the backend's main thread reads or writes
// GUC storage (worker threads receive copies of the values they need).
unsafe impl<T> Sync for Guc<T> {}

impl<T: Copy> Guc<T> {
    pub const fn new(boot: T) -> Guc<T> {
        Guc(UnsafeCell::new(boot))
    }
    pub fn get(&self) -> T {
        // SAFETY: the backend's thread is the only one that touches the cell (see the Sync impl).
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
    // SAFETY: registers a static variable PostgreSQL writes from the backend's thread.
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
    // SAFETY: as `define_int`.
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
    // SAFETY: as `define_int`.
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
    // SAFETY: a static prefix string.
    unsafe {
        #[cfg(pg_ge15)]
        pg_try(|| sys::MarkGUCPrefixReserved(prefix.as_ptr()));
        #[cfg(not(pg_ge15))]
        pg_try(|| sys::EmitWarningsOnPlaceholders(prefix.as_ptr()));
    }
}

/// What a string setting accepts: an `Err` rejects a new value with that detail.
pub trait StringCheck: 'static {
    fn check(value: &str) -> Result<(), String>;
}

unsafe extern "C-unwind" fn check_string<C: StringCheck>(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: sys::GucSource::Type,
) -> bool {
    // SAFETY: the GUC machinery passes the new value, a NUL-terminated string or null.
    unsafe {
        super::guard::boundary(|| {
            let v = if (*newval).is_null() {
                String::new()
            } else {
                CStr::from_ptr(*newval).to_string_lossy().into_owned()
            };
            match C::check(&v) {
                Ok(()) => true,
                Err(e) => {
                    check_detail(&e);
                    false
                }
            }
        })
    }
}

/// A user-settable string setting whose new values `C` checks.
pub fn define_string<C: StringCheck>(
    name: &'static CStr,
    short: &'static CStr,
    var: &'static Guc<*mut std::ffi::c_char>,
    boot: &'static CStr,
) {
    let check: sys::GucStringCheckHook = Some(check_string::<C>);
    let p = var.ptr();
    // SAFETY: as `define_int`; the check hook is a Rust callback behind the error boundary.
    unsafe {
        pg_try(|| {
            sys::DefineCustomStringVariable(
                name.as_ptr(),
                short.as_ptr(),
                std::ptr::null(),
                p,
                boot.as_ptr(),
                sys::GucContext::PGC_USERSET,
                0,
                check,
                None,
                None,
            )
        })
    }
}

impl Guc<*mut std::ffi::c_char> {
    /// The current value of a string setting ("" when unset).
    pub fn string(&self) -> String {
        let p = self.get();
        if p.is_null() {
            return String::new();
        }
        // SAFETY: a string setting's value is NUL-terminated (or null, checked above).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// True when the setting has been set (by SET, a configuration file, ...), not at its
/// built-in default.
pub fn is_set(name: &'static CStr) -> bool {
    // SAFETY: a static setting name.
    unsafe { pg_try(|| sys::vchord_shim_guc_is_set(name.as_ptr())) }
}

/// A search setting: the GUC `name`'s `value` when it was set, else the index's stored
/// `default`, else the GUC's built-in value.
pub fn set_or<T>(name: &'static CStr, value: T, default: Option<T>) -> T {
    if is_set(name) {
        value
    } else {
        default.unwrap_or(value)
    }
}

/// Reports why a check hook rejected a value (GUC_check_errdetail).
pub fn check_detail(msg: &str) {
    let c = std::ffi::CString::new(msg.replace('\0', "?")).unwrap();
    let p = c.as_ptr();
    // SAFETY: a NUL-terminated message, copied by the GUC machinery.
    unsafe { pg_try(|| sys::vchord_shim_guc_check_detail(p)) };
}
