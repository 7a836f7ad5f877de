//! Rust values owned by a PostgreSQL memory context: dropped when the context is reset or
//! deleted, which includes transaction abort, so an ERROR never leaks them.
use super::guard::pg_try;
use super::sys;
use std::ffi::c_void;

unsafe extern "C-unwind" fn drop_boxed<T>(arg: *mut c_void) {
    // Reset callbacks run during abort processing too: nothing may escape from here.
    // SAFETY: `arg` is the box `own_in` registered, dropped once, by its context's reset.
    let _ = std::panic::catch_unwind(|| unsafe { drop(Box::from_raw(arg as *mut T)) });
}

/// Move `value` into Rust's heap and register its drop on `cxt`'s reset. The returned pointer
/// is valid until that context is reset or deleted, and never after: do not keep it longer.
///
/// # Safety
/// `cxt` must be a live memory context.
pub unsafe fn own_in<T: 'static>(cxt: sys::MemoryContext, value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    // SAFETY: `cxt` is live (the caller's promise); the callback is allocated in it, so it lives
    // exactly as long as the value it drops.
    unsafe {
        let cb = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pg_try(|| sys::MemoryContextAllocZero(cxt, size_of::<sys::MemoryContextCallback>()))
        })) {
            Ok(cb) => cb as *mut sys::MemoryContextCallback,
            Err(e) => {
                drop(Box::from_raw(ptr));
                std::panic::resume_unwind(e);
            }
        };
        (*cb).func = Some(drop_boxed::<T>);
        (*cb).arg = ptr.cast();
        // Cannot fail: it only links the callback into the context's list.
        pg_try(|| sys::MemoryContextRegisterResetCallback(cxt, cb));
    }
    ptr
}

/// `value` owned by the current memory context (see [`own_in`]).
pub fn own<T: 'static>(value: T) -> *mut T {
    // SAFETY: the current memory context is always live.
    unsafe { own_in(sys::CurrentMemoryContext, value) }
}

/// A private memory context for per-row work (detoasted values in a build or an insert):
/// [`TempContext::run`] switches to it and resets it afterwards, so nothing accumulates.
pub struct TempContext(sys::MemoryContext);

impl TempContext {
    pub fn new(name: &'static std::ffi::CStr) -> TempContext {
        // SAFETY: creates a child of the current context.
        let cxt = unsafe {
            let parent = sys::CurrentMemoryContext;
            pg_try(|| {
                sys::AllocSetContextCreateInternal(
                    parent,
                    name.as_ptr(),
                    sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                    sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                    sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
                )
            })
        };
        TempContext(cxt)
    }

    /// Runs `f` with the context current; restores the previous one (also on unwind) and
    /// resets this one after.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(sys::MemoryContext);
        impl Drop for Restore {
            fn drop(&mut self) {
                // SAFETY: restores the context that was current, on the backend's thread.
                unsafe { sys::CurrentMemoryContext = self.0 };
            }
        }
        // SAFETY: switches to this live context on the backend's thread; `Restore` switches back.
        let _restore = unsafe {
            let old = sys::CurrentMemoryContext;
            sys::CurrentMemoryContext = self.0;
            Restore(old)
        };
        let r = f();
        let cxt = self.0;
        if !std::thread::panicking() {
            // SAFETY: this live context, no longer current.
            unsafe { pg_try(|| sys::MemoryContextReset(cxt)) };
        }
        r
    }
}

impl Drop for TempContext {
    fn drop(&mut self) {
        // On an error path the parent's reset frees it.
        if !std::thread::panicking() {
            let cxt = self.0;
            // SAFETY: this context, created by `new`, deleted once.
            unsafe { pg_try(|| sys::MemoryContextDelete(cxt)) };
        }
    }
}
