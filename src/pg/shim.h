/*
 * shim.h: the C side of vchord's FFI floor.
 *
 * Everything here is either a macro in some supported version (PG_TRY, ereport, PG_MODULE_MAGIC,
 * CHECK_FOR_INTERRUPTS, the varlena macros) or must own the sigsetjmp frame. Rust reaches it
 * through the bindings, which bindgen generates from this very header.
 */
#ifndef VCHORD_SHIM_H
#define VCHORD_SHIM_H

#include "postgres.h"
#include "fmgr.h"

typedef void (*vchord_shim_fn) (void *arg);

/*
 * Run fn(arg) inside PG_TRY. Returns true when it returned normally. When PostgreSQL raised an
 * ERROR, returns false with the error left pending on the error stack (not flushed), the
 * caller's memory context restored, and copies of its SQLSTATE and message in the out
 * parameters. The caller must unwind and call vchord_shim_rethrow() once no destructor is left.
 */
extern bool vchord_shim_try(vchord_shim_fn fn, void *arg, int *sqlerrcode,
							char *msgbuf, size_t msgbuflen);

/* PG_RE_THROW() the pending error. */
extern void vchord_shim_rethrow(void) __attribute__((noreturn));

/* ereport(elevel, ...) with pre-formatted strings; detail and hint may be NULL. */
extern void vchord_shim_ereport(int elevel, int sqlerrcode, const char *msg,
								const char *detail, const char *hint,
								const char *filename, int lineno, const char *funcname);

/* This server's magic block, built by its own PG_MODULE_MAGIC_DATA. */
extern const Pg_magic_struct *vchord_shim_magic(void);

extern void vchord_shim_check_for_interrupts(void);

/* PG_DETOAST_DATUM_PACKED, then VARDATA_ANY and VARSIZE_ANY_EXHDR. */
extern struct varlena *vchord_shim_detoast_packed(Datum d);
extern char *vchord_shim_varlena_data(struct varlena *v, size_t *len);

/* SET_VARSIZE on a 4-byte header. */
extern void vchord_shim_set_varsize(struct varlena *v, size_t len);

/* How many errors vchord_shim_try has caught in this backend (the tests read it). */
extern long vchord_shim_catch_count(void);

#endif
