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

/* ---- index access methods ------------------------------------------------------------ */
#include "access/amapi.h"
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "access/relscan.h"
#include "access/reloptions.h"
#include "access/tableam.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

/* BufferGetPage (a macro in 15). */
extern char *vchord_shim_buffer_page(Buffer buf);

/* A new block at the end of the fork, returned pinned and exclusively locked. */
extern Buffer vchord_shim_extend(Relation rel, ForkNumber fork);
extern Buffer vchord_shim_extend_by(Relation rel, ForkNumber fork, uint32 want, uint32 *got);
extern uint64 vchord_shim_rel_file(Relation rel);
extern bool vchord_shim_page_is_new(Buffer buf);


extern BlockNumber vchord_shim_nblocks(Relation rel, ForkNumber fork);

/* table_index_build_scan(heap, index, info, true, true, cb, state, NULL). */
extern double vchord_shim_build_scan(Relation heap, Relation index, struct IndexInfo *info,
									 IndexBuildCallback cb, void *state);

/* The typmod of the index's first key column (-1 if none). */
extern int32 vchord_shim_index_typmod(Relation index);

/* Calls the opclass's support function 1 of the first column; returns its int4 result. */
extern int32 vchord_shim_index_support(Relation index);
/* the same for key column attno (1-based), and the number of key columns */
extern int32 vchord_shim_index_support_att(Relation index, int attno);
extern int	vchord_shim_index_natts(Relation index);
/* the non-null elements of a smallint[] datum into out; -1 when there are more than max */
extern int	vchord_shim_labels(Datum d, int16 *out, int max);

extern bool vchord_shim_is_mvcc(Snapshot snapshot);

/* The planner's view of an index path, and genericcostestimate's figures. */
typedef struct VchordPathInfo
{
	Oid			indexoid;
	bool		has_orderbys;
	/* a qual on the key column (a distance threshold, `v <<->> sphere(q, r)`) */
	bool		has_range;
	double		index_pages;
	double		index_tuples;
	double		startup;
	double		total;
	double		selectivity;
	double		correlation;
	double		pages;
} VchordPathInfo;
extern void vchord_shim_path_info(struct PlannerInfo *root, struct IndexPath *path,
								  double loop_count, VchordPathInfo *out);

extern void vchord_shim_vacuum_delay(void);
/* A sphere_vector/sphere_halfvec value's centre and radius (GetAttributeByNum); false where
 * the centre or the radius is NULL. */
extern bool vchord_shim_sphere(Datum sphere, Datum *centre, double *radius);
/* PrefetchBuffer: asks the kernel to read an index page that is not in shared buffers. */
extern void vchord_shim_prefetch(Relation rel, BlockNumber blk);
/* effective_io_concurrency: how many reads a scan may ask for ahead (0: none) */
extern int	vchord_shim_io_concurrency(void);
/* pgstat_count_index_scan (pg_stat_*_indexes.idx_scan) */
extern void vchord_shim_count_scan(Relation index);
/* try_relation_open with AccessShareLock: NULL when no relation has that OID */
extern Relation vchord_shim_try_index_open(Oid oid);
/* jsonb_in: the jsonb Datum of a JSON text (raises on bad JSON) */
extern Datum vchord_shim_jsonb_in(const char *text);
/* the first reloption in `reloptions` not named "options", copied into `out` */
extern bool vchord_shim_unknown_reloption(Datum reloptions, char *out, size_t outlen);
/* installs a ProcessUtility hook that shows vchord_alter_options (Rust) every ALTER INDEX
 * ... SET/RESET of an index's "options" before it runs */
extern void vchord_shim_install_utility_hook(void);
extern void vchord_shim_progress(int param, int64 value);
extern int	vchord_shim_maintenance_work_mem(void);
extern int	vchord_shim_max_parallel_maintenance_workers(void);
/* pg_class.reltuples, or the planner's estimate where it is unknown (-1) */
extern double vchord_shim_reltuples(Relation rel);

/* START_CRIT_SECTION / END_CRIT_SECTION */
extern void vchord_shim_crit_enter(void);
extern void vchord_shim_crit_exit(void);

/* The source of a GUC's current value: true when it was set (not its built-in default). */
extern bool vchord_shim_guc_is_set(const char *name);

/* The relation's name, for messages. */
extern const char *vchord_shim_relname(Relation rel);
/* The relation's file number: a rebuilt index (REINDEX, TRUNCATE) gets a new one. */
extern Oid vchord_shim_relfilenumber(Relation rel);
/* WAL-logs every main-fork page whole when the relation needs WAL (the end of a build). */
extern void vchord_shim_log_all_pages(Relation rel);

/*
 * Reading an index key back from the table (vchordrq's rerank_in_table): the visible version of
 * a heap TID under a snapshot, and the index's first key computed from it (the column, or the
 * index expression). Begin once per scan, end in amendscan; an abort frees it all through the
 * resource owner and memory contexts.
 */
typedef struct VchordFetch VchordFetch;
extern VchordFetch *vchord_shim_fetch_begin(Relation heap, Relation index);
/* false when no version is visible; the key lives until the next call */
extern bool vchord_shim_fetch_key(VchordFetch *f, ItemPointer tid, Snapshot snapshot,
								  Datum *key, bool *isnull);
extern void vchord_shim_fetch_end(VchordFetch *f);

/* GUC_check_errdetail("%s", msg) */
extern void vchord_shim_guc_check_detail(const char *msg);

#if PG_VERSION_NUM >= 170000
/*
 * Parallel index builds (PostgreSQL 17+, amcanbuildparallel): PostgreSQL's own machinery, as
 * its BRIN and GIN builds use it. The leader enters parallel mode and places in one DSM
 * segment the shared state (ids, a spinlock, a condition variable, counters), a parallel
 * table scan and the access method's read-only payload; workers (the library function named
 * `entry`) and the leader each join the scan. Every participant reports once it is done; the
 * leader waits for all of them. A worker's ERROR reaches the leader, which fails the build;
 * abort processing stops any worker left.
 */
typedef struct VchordParallel VchordParallel;
typedef struct VchordShared VchordShared;

/*
 * Launches up to `request` workers. NULL when none could be launched (the caller builds
 * serially): nothing is left to clean up then.
 */
/* the workers the planner gave a build (ii_ParallelWorkers), and whether it is concurrent */
extern int	vchord_shim_build_workers(struct IndexInfo *info);
extern bool vchord_shim_build_concurrent(struct IndexInfo *info);
extern VchordParallel *vchord_shim_parallel_begin(Relation heap, Relation index, bool concurrent,
												  int request, const char *entry,
												  const char *payload, size_t len);
/* the shared state, and the number of participants (workers launched plus the leader) */
extern VchordShared *vchord_shim_parallel_shared(VchordParallel *p);
extern int	vchord_shim_parallel_participants(VchordParallel *p);
/* joins the parallel table scan with the index's build callback; returns heap tuples seen */
extern double vchord_shim_parallel_scan(Relation heap, Relation index, VchordShared *shared,
										IndexBuildCallback cb, void *state, bool progress);
/* adds n to the rows indexed by all participants so far; returns the new total */
extern uint64 vchord_shim_parallel_add_rows(VchordShared *shared, uint64 n);
/* a participant is done: its counts go to the totals, and the leader is woken */
extern void vchord_shim_parallel_done(VchordShared *shared, double reltuples, double indtuples);
/* leader: waits for every participant, then for the workers to exit; ends parallel mode */
extern void vchord_shim_parallel_end(VchordParallel *p, double *reltuples, double *indtuples);

/* What a worker finds: the relations (opened with the build's lock modes) and the payload. */
typedef struct VchordWorker
{
	Relation	heap;
	Relation	index;
	VchordShared *shared;
	const char *payload;
	size_t		payload_len;
	/* 1 + ParallelWorkerNumber (the leader is participant 0) */
	int			participant;
	int			heap_lock;
	int			index_lock;
	struct shm_toc *toc;
} VchordWorker;
extern void vchord_shim_worker_begin(struct shm_toc *toc, VchordWorker *w);
extern void vchord_shim_worker_end(VchordWorker *w);
#endif
