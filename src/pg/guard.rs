//! The error boundary, in both directions.
//!
//! Rust -> PostgreSQL: [`pg_try`] runs one call inside the shim's `PG_TRY`. When PostgreSQL
//! raises an ERROR, the shim returns false with the error still pending; `pg_try` then starts a
//! Rust unwind carrying [`PendingPgError`], so every destructor on the way out runs.
//!
//! PostgreSQL -> Rust: every `extern "C-unwind"` entry point runs its body in [`boundary`]. It
//! catches any unwind: a pending PostgreSQL error is re-thrown with `PG_RE_THROW` (its SQLSTATE
//! and message intact); an [`Error`] raised from Rust or a panic becomes `ereport(ERROR)`. Both
//! longjmps happen after the unwind, when only plain `Copy` data is alive.
use super::error::{ERRCODE_INTERNAL_ERROR, Error};
use super::sys;
use std::any::Any;
use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Unwind payload meaning "a PostgreSQL ERROR is pending on its error stack". Only [`pg_try`]
/// makes one; [`boundary`] re-throws the original error.
#[derive(Debug)]
pub struct PendingPgError {
    pub sqlerrcode: c_int,
    pub message: String,
}

struct TryEnv<F, R> {
    f: Option<F>,
    ret: Option<R>,
    panic: Option<Box<dyn Any + Send>>,
}

/// Called by the shim inside `PG_TRY`. The frames between the shim's sigsetjmp and a longjmp
/// are this trampoline, `catch_unwind` and the closure; none of them may own anything with a
/// destructor, which is why closures given to [`pg_try`] capture only `Copy` data.
unsafe extern "C-unwind" fn trampoline<F: FnOnce() -> R, R>(arg: *mut c_void) {
    // SAFETY: `arg` is the TryEnv `pg_try` passed to the shim, alive for this call.
    let env = unsafe { &mut *(arg as *mut TryEnv<F, R>) };
    if let Some(f) = env.f.take() {
        // A Rust panic must never unwind through the C frame that holds PG_TRY's state.
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => env.ret = Some(r),
            Err(p) => env.panic = Some(p),
        }
    }
}

/// Call into PostgreSQL behind the sigsetjmp guard: an ERROR becomes a Rust unwind.
///
/// # Safety
/// `f` should be one PostgreSQL call (or a few that own nothing) and capture only `Copy` values
/// such as pointers and integers: when PostgreSQL longjmps, whatever `f` owns is skipped, not
/// dropped. Never call this inside a critical section or from a thread other than the backend's.
#[inline(never)]
pub unsafe fn pg_try<R>(f: impl FnOnce() -> R) -> R {
    pg_try_impl(f)
}

fn pg_try_impl<F: FnOnce() -> R, R>(f: F) -> R {
    let mut env = TryEnv {
        f: Some(f),
        ret: None,
        panic: None,
    };
    let mut code: c_int = 0;
    let mut msg = [0 as c_char; 256];
    // SAFETY: the shim runs the trampoline under sigsetjmp and returns false if it longjmp'ed.
    let ok = unsafe {
        sys::vchord_shim_try(
            Some(trampoline::<F, R>),
            (&raw mut env).cast(),
            &mut code,
            msg.as_mut_ptr(),
            msg.len(),
        )
    };
    if !ok {
        // SAFETY: the shim's message buffer is NUL-terminated.
        let message = unsafe { CStr::from_ptr(msg.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        drop(env);
        resume_unwind(Box::new(PendingPgError {
            sqlerrcode: code,
            message,
        }));
    }
    if let Some(p) = env.panic.take() {
        resume_unwind(p);
    }
    env.ret
        .take()
        .expect("pg_try: the closure neither returned nor raised")
}

const MSG: usize = 1024;
const SMALL: usize = 256;

/// What `ereport` needs, in fixed buffers: `Copy`, no destructor, nothing to allocate.
#[derive(Clone, Copy)]
struct Report {
    code: c_int,
    msg: [u8; MSG],
    detail: Option<[u8; MSG]>,
    hint: Option<[u8; SMALL]>,
    file: [u8; SMALL],
    line: c_int,
}

fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    // Cut on a character boundary so the message stays valid UTF-8.
    let mut end = s.len().min(N - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    for (o, &b) in out.iter_mut().zip(&s.as_bytes()[..end]) {
        *o = if b == 0 { b'?' } else { b };
    }
    out
}

thread_local! {
    static PANIC_LOCATION: Cell<Option<(&'static str, u32)>> = const { Cell::new(None) };
}

/// Installed by `_PG_init`: remember where a panic happened instead of printing to stderr
/// (the boundary reports it as an ERROR with that location).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let loc = info.location().map(|l| {
            // Locations of panics in our code have 'static file names; others are copied once
            // and leaked, which is bounded by the number of distinct panic sites.
            let file: &'static str = Box::leak(l.file().to_owned().into_boxed_str());
            (file, l.line())
        });
        PANIC_LOCATION.with(|p| p.set(loc));
    }));
}

impl Report {
    fn from_payload(payload: Box<dyn Any + Send>) -> Report {
        match payload.downcast::<Error>() {
            Ok(e) => Report {
                code: e.code.0,
                msg: fixed(&e.message),
                detail: e.detail.as_deref().map(fixed),
                hint: e.hint.as_deref().map(fixed),
                file: fixed(e.file),
                line: e.line as c_int,
            },
            Err(payload) => {
                let text = if let Some(s) = payload.downcast_ref::<&str>() {
                    (*s).to_owned()
                } else if let Some(s) = payload.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "unknown panic payload".to_owned()
                };
                let (file, line) = PANIC_LOCATION.with(|p| p.take()).unwrap_or(("unknown", 0));
                Report {
                    code: ERRCODE_INTERNAL_ERROR.0,
                    msg: fixed(&format!("vchord panicked: {text}")),
                    detail: Some(fixed(&format!("at {file}:{line}"))),
                    hint: Some(fixed("This is a bug in vchord; please report it.")),
                    file: fixed(file),
                    line: line as c_int,
                }
            }
        }
    }

    /// `ereport(ERROR)`; never returns. Only `Copy` data may be alive in the calling frame.
    unsafe fn raise(&self) -> ! {
        // SAFETY: raising an ERROR from the backend's thread, with no Rust frame left to unwind
        // above.
        unsafe {
            sys::vchord_shim_ereport(
                sys::ERROR as c_int,
                self.code,
                self.msg.as_ptr().cast(),
                self.detail
                    .as_ref()
                    .map_or(std::ptr::null(), |d| d.as_ptr().cast()),
                self.hint
                    .as_ref()
                    .map_or(std::ptr::null(), |h| h.as_ptr().cast()),
                self.file.as_ptr().cast(),
                self.line,
                c"vchord".as_ptr(),
            );
        }
        std::process::abort() // unreachable: ereport(ERROR) does not return
    }
}

// `Report` is large, but an Outcome lives only for the moment after the closure returns.
#[allow(clippy::large_enum_variant)]
enum Outcome<R> {
    Return(R),
    Rethrow,
    Report(Report),
}

#[inline(never)]
fn run<R>(f: impl FnOnce() -> R) -> Outcome<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Outcome::Return(r),
        Err(p) if p.is::<PendingPgError>() => Outcome::Rethrow,
        Err(p) => Outcome::Report(Report::from_payload(p)),
    }
}

/// The body of every entry point PostgreSQL calls.
///
/// # Safety
/// Must be the outermost thing in an `extern "C-unwind"` function that owns nothing with a
/// destructor itself: the error paths longjmp out of that frame.
#[inline(always)]
pub unsafe fn boundary<R>(f: impl FnOnce() -> R) -> R {
    match run(f) {
        Outcome::Return(r) => r,
        // SAFETY: re-throws the PostgreSQL error caught by pg_try, at the boundary, with no
        // destructor pending.
        Outcome::Rethrow => unsafe { sys::vchord_shim_rethrow() },
        // SAFETY: as above: raised at the boundary with no destructor pending.
        Outcome::Report(report) => unsafe { report.raise() },
    }
}

/// `ereport(level, ...)` for a level below ERROR (NOTICE, WARNING): returns normally.
pub fn report(level: u32, message: &str) {
    let msg: [u8; MSG] = fixed(message);
    let p = msg.as_ptr();
    // SAFETY: ereport at a level below ERROR returns.
    unsafe {
        pg_try(|| {
            sys::vchord_shim_ereport(
                level as c_int,
                0,
                p.cast(),
                std::ptr::null(),
                std::ptr::null(),
                c"vchord".as_ptr(),
                0,
                c"vchord".as_ptr(),
            )
        })
    }
}

/// CHECK_FOR_INTERRUPTS(): may raise an ERROR (query cancel), so it goes through the guard.
pub fn check_for_interrupts() {
    // SAFETY: CHECK_FOR_INTERRUPTS; an ERROR it raises is carried by pg_try.
    unsafe { pg_try(|| sys::vchord_shim_check_for_interrupts()) }
}

/// Reports a build's progress (pgstat_progress_update_param).
pub fn progress(param: u32, value: i64) {
    // SAFETY: updates this backend's progress slot.
    unsafe { pg_try(|| sys::vchord_shim_progress(param as std::ffi::c_int, value)) };
}
