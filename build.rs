//! Build script: ask `pg_config` about the server, emit one cfg per major version, generate
//! bindings for exactly the server API vchord uses, and compile the C shim.
//!
//! Environment:
//! - `PG_CONFIG`: the `pg_config` of the server to build against (default: `pg_config`).
//! - `VCHORD_BINDINGS_OUT`: also copy the generated bindings there (to read them).
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Majors the code keeps apart by cfg. 15 and 18 are built and tested by `make test`.
const MAJORS: std::ops::RangeInclusive<u32> = 14..=18;

fn pg_config(bin: &str, arg: &str) -> String {
    let out = Command::new(bin)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{bin} {arg}`: {e} (set PG_CONFIG)"));
    assert!(out.status.success(), "`{bin} {arg}` failed");
    String::from_utf8(out.stdout)
        .expect("pg_config printed non-UTF-8")
        .trim()
        .to_owned()
}

/// "PostgreSQL 15.20 (Debian 15.20-0+deb12u1)" -> 15, "PostgreSQL 18beta1" -> 18.
fn major_of(version: &str) -> u32 {
    let rest = version
        .strip_prefix("PostgreSQL ")
        .unwrap_or_else(|| panic!("unexpected `pg_config --version`: {version}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("cannot parse a major version from {version}"))
}

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    println!("cargo::rerun-if-env-changed=PG_CONFIG");
    println!("cargo::rerun-if-env-changed=VCHORD_BINDINGS_OUT");
    let bin = env::var("PG_CONFIG").unwrap_or_else(|_| "pg_config".into());
    let version = pg_config(&bin, "--version");
    let major = major_of(&version);
    assert!(
        MAJORS.contains(&major),
        "PostgreSQL {major} is not supported ({version}); supported: {MAJORS:?}"
    );
    let include = PathBuf::from(pg_config(&bin, "--includedir-server"));

    // Exact cfgs (`pg15`) and range cfgs (`pg_ge16` = 16 or newer).
    for v in MAJORS {
        println!("cargo::rustc-check-cfg=cfg(pg{v})");
        println!("cargo::rustc-check-cfg=cfg(pg_ge{v})");
        if major >= v {
            println!("cargo::rustc-cfg=pg_ge{v}");
        }
    }
    println!("cargo::rustc-cfg=pg{major}");
    println!("cargo::rustc-env=VCHORD_PG_VERSION={version}");

    // Precise inputs: without these cargo reruns bindgen on every edit under the package.
    let shim_h = root.join("src/pg/shim.h");
    let shim_c = root.join("src/pg/shim.c");
    for f in [
        root.join("build.rs"),
        root.join("wrapper.h"),
        shim_h.clone(),
        shim_c.clone(),
    ] {
        println!("cargo::rerun-if-changed={}", f.display());
    }
    // pg_config.h carries PG_VERSION: it changes on a minor upgrade or another install.
    let pg_config_h = include.join("pg_config.h");
    println!("cargo::rerun-if-changed={}", pg_config_h.display());

    let wrappers = out_dir.join("static_wrappers"); // bindgen appends ".c"
    let key = cache_key(
        &[
            &root.join("wrapper.h"),
            &shim_h,
            &root.join("build.rs"),
            &pg_config_h,
        ],
        &format!("{version}|{}", include.display()),
    );
    let cached_rs = out_dir.join(format!("bindings-{key}.rs"));
    let cached_c = out_dir.join(format!("static_wrappers-{key}.c"));
    if !(cached_rs.exists() && cached_c.exists()) {
        bindings(&root, &include, &wrappers)
            .generate()
            .expect("bindgen failed")
            .write_to_file(&cached_rs)
            .expect("cannot write bindings");
        // bindgen writes no file when no static inline function is allowlisted.
        let generated = std::fs::read(wrappers.with_extension("c")).unwrap_or_default();
        std::fs::write(&cached_c, generated).unwrap();
    }
    std::fs::copy(&cached_rs, out_dir.join("bindings.rs")).unwrap();
    std::fs::copy(&cached_c, wrappers.with_extension("c")).unwrap();
    if let Ok(p) = env::var("VCHORD_BINDINGS_OUT") {
        std::fs::copy(out_dir.join("bindings.rs"), p).unwrap();
    }

    // The shim and bindgen's wrappers for static inline functions, compiled with the flags of
    // `pg_config --cflags` that change C semantics.
    cc::Build::new()
        .include(&include)
        .include(&root)
        .flag("-fno-strict-aliasing")
        .flag("-fwrapv")
        .flag_if_supported("-fexcess-precision=standard")
        .warnings(false)
        .define(
            "VCHORD_VERSION",
            format!("\"{}\"", env::var("CARGO_PKG_VERSION").unwrap()).as_str(),
        )
        .file(&shim_c)
        .file(wrappers.with_extension("c"))
        .compile("vchord_shim");
}

fn bindings(root: &Path, include: &Path, wrappers: &Path) -> bindgen::Builder {
    let mut b = bindgen::Builder::default()
        .header(root.join("wrapper.h").to_str().unwrap())
        .clang_arg(format!("-I{}", include.display()))
        .clang_arg(format!("-I{}", root.display()))
        .rust_target(bindgen::RustTarget::stable(85, 0).unwrap())
        .rust_edition(bindgen::RustEdition::Edition2024)
        // Every PostgreSQL function may longjmp and every callback we hand it may unwind.
        .override_abi(bindgen::Abi::CUnwind, ".*")
        .use_core()
        .generate_comments(false)
        .layout_tests(false)
        .derive_debug(false)
        .derive_default(false)
        .formatter(bindgen::Formatter::None)
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .prepend_enum_name(false)
        .size_t_is_usize(true)
        .merge_extern_blocks(true)
        .wrap_unsafe_ops(true)
        .generate_cstr(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(wrappers)
        .wrap_static_fns_suffix("__vchord_static")
        // Rust never sees setjmp/longjmp or the pieces of ereport: the shim owns them.
        .blocklist_function(".*(?:set|long)jmp")
        .blocklist_function("pg_re_throw")
        .blocklist_function("err(?:start|finish|code|msg|detail|hint|context_msg).*")
        .allowlist_recursively(true);
    for f in [
        "vchord_shim_.*",
        // memory
        "palloc",
        "palloc0",
        "pfree",
        "MemoryContextAlloc",
        "MemoryContextAllocZero",
        "MemoryContextRegisterResetCallback",
        "AllocSetContextCreateInternal",
        "MemoryContextDelete",
        "MemoryContextReset",
        // errors: reading only, raising goes through the shim
        "CopyErrorData",
        "FreeErrorData",
        // fmgr and datums
        "pg_detoast_datum",
        "pg_detoast_datum_packed",
        "DirectFunctionCall1Coll",
        "pg_strtoint32",
        "cstring_to_text_with_len",
        "text_to_cstring",
        "numeric_float4",
        "AggCheckCallContext",
        // arrays and typmods
        "ArrayGetIntegerTypmods",
        "construct_array",
        "deconstruct_array",
        // GUCs
        "DefineCustomBoolVariable",
        "DefineCustomIntVariable",
        "DefineCustomRealVariable",
        "DefineCustomStringVariable",
        "MarkGUCPrefixReserved",
        "EmitWarningsOnPlaceholders",
        // index access methods: buffers, WAL, scans, options
        "GenericXLogStart",
        "GenericXLogRegisterBuffer",
        "GenericXLogFinish",
        "GenericXLogAbort",
        "ReadBufferExtended",
        "BufferGetBlockNumber",
        "LockBuffer",
        "UnlockReleaseBuffer",
        "MarkBufferDirty",
        "log_newpage_buffer",
        "RelationGetIndexScan",
        "index_open",
        "index_close",
        "get_index_am_oid",
        "add_reloption_kind",
        "add_string_reloption",
        "build_reloptions",
    ] {
        b = b.allowlist_function(f);
    }
    for t in [
        "Pg_magic_struct",
        "Pg_finfo_record",
        "FunctionCallInfoBaseData",
        "MemoryContextCallback",
        "ErrorData",
        "ArrayType",
        "StringInfoData",
        "GucContext",
        "GucSource",
        "IndexAmRoutine",
        "IndexBuildResult",
        "IndexScanDescData",
        "IndexVacuumInfo",
        "IndexBulkDeleteResult",
        "relopt_parse_elt",
        "relopt_kind",
        "relopt_type",
        "NodeTag",
        "VchordPathInfo",
        "GucStringCheckHook",
        "ScanDirection",
        "IndexUniqueCheck",
        "VchordWorker",
        "dsm_segment",
        "shm_toc",
    ] {
        b = b.allowlist_type(t);
    }
    for v in [
        "CurrentMemoryContext",
        "TopMemoryContext",
        "ErrorContext",
        "process_shared_preload_libraries_in_progress",
        "PG_VERSION_NUM",
        "MAXIMUM_ALIGNOF",
        "ERROR",
        "WARNING",
        "NOTICE",
        "DEBUG1",
        "ALLOCSET_DEFAULT_.*",
        "GUC_.*",
        "FLOAT4OID",
        "FLOAT8OID",
        "INT4OID",
        "NUMERICOID",
        "TYPALIGN_INT",
        "TYPALIGN_DOUBLE",
        "TEXTOID",
        "BLCKSZ",
        "GENERIC_XLOG_FULL_IMAGE",
        "BUFFER_LOCK_.*",
        "PROGRESS_CREATEIDX_.*",
        "VACUUM_OPTION_.*",
        "SK_ISNULL",
        "AccessShareLock",
        "AccessExclusiveLock",
        "NoLock",
    ] {
        b = b.allowlist_var(v);
    }
    b
}

fn cache_key(files: &[&Path], extra: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    extra.hash(&mut h);
    for f in files {
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}
