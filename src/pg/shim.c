/*
 * shim.c: the only place in vchord where sigsetjmp happens (through PG_TRY).
 */
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "src/pg/shim.h"

static long catch_count = 0;

bool
vchord_shim_try(vchord_shim_fn fn, void *arg, int *sqlerrcode, char *msgbuf, size_t msgbuflen)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/*
		 * errfinish() left us in ErrorContext, and CopyErrorData() must not run there. The
		 * error stays pending (no FlushErrorState) until Rust re-throws it.
		 */
		MemoryContextSwitchTo(oldcxt);
		catch_count++;
		edata = CopyErrorData();
		*sqlerrcode = edata->sqlerrcode;
		strlcpy(msgbuf, edata->message ? edata->message : "", msgbuflen);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

void
vchord_shim_rethrow(void)
{
	/* the state errfinish() leaves for a handler */
	MemoryContextSwitchTo(ErrorContext);
	PG_RE_THROW();
}

void
vchord_shim_ereport(int elevel, int sqlerrcode, const char *msg, const char *detail,
					const char *hint, const char *filename, int lineno, const char *funcname)
{
	if (errstart(elevel, NULL))
	{
		errcode(sqlerrcode);
		errmsg_internal("%s", msg ? msg : "");
		if (detail)
			errdetail_internal("%s", detail);
		if (hint)
			errhint("%s", hint);
		errfinish(filename, lineno, funcname);
	}
	if (elevel >= ERROR)
		pg_unreachable();
}

const Pg_magic_struct *
vchord_shim_magic(void)
{
#if PG_VERSION_NUM >= 180000
	static const Pg_magic_struct data = PG_MODULE_MAGIC_DATA(.name = "vchord",.version = VCHORD_VERSION);
#else
	static const Pg_magic_struct data = PG_MODULE_MAGIC_DATA;
#endif
	return &data;
}

void
vchord_shim_check_for_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

struct varlena *
vchord_shim_detoast_packed(Datum d)
{
	return (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
}

char *
vchord_shim_varlena_data(struct varlena *v, size_t *len)
{
	*len = VARSIZE_ANY_EXHDR(v);
	return VARDATA_ANY(v);
}

void
vchord_shim_set_varsize(struct varlena *v, size_t len)
{
	SET_VARSIZE(v, len);
}

long
vchord_shim_catch_count(void)
{
	return catch_count;
}

/* ---- index access methods ------------------------------------------------------------ */
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "storage/bufmgr.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "nodes/pathnodes.h"
#include "optimizer/plancat.h"
#include "storage/lmgr.h"
#include "utils/backend_progress.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/selfuncs.h"
#include "utils/snapmgr.h"
#include "pgstat.h"
#include "access/relation.h"
#include "access/reloptions.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "catalog/pg_type_d.h"

char *
vchord_shim_buffer_page(Buffer buf)
{
	return (char *) BufferGetPage(buf);
}

Buffer
vchord_shim_extend(Relation rel, ForkNumber fork)
{
#if PG_VERSION_NUM >= 160000
	return ExtendBufferedRel(BMR_REL(rel), fork, NULL, EB_LOCK_FIRST);
#else
	Buffer		buf;
	bool		main = fork == MAIN_FORKNUM && !RELATION_IS_LOCAL(rel);

	if (main)
		LockRelationForExtension(rel, ExclusiveLock);
	buf = ReadBufferExtended(rel, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (main)
		UnlockRelationForExtension(rel, ExclusiveLock);
	return buf;
#endif
}

/*
 * Adds up to `want` pages at once (16+; one page before): returns the first, locked
 * exclusively; the others stay zeroed in shared buffers, unpinned, and *got counts all of
 * them. More than 8 pages at once are allocated with fallocate rather than written as zeros,
 * and the relation extension lock is taken once for all of them.
 */
Buffer
vchord_shim_extend_by(Relation rel, ForkNumber fork, uint32 want, uint32 *got)
{
#if PG_VERSION_NUM >= 160000
	Buffer		bufs[64];
	uint32		n = 0;

	want = Max(1, Min(want, lengthof(bufs)));
	ExtendBufferedRelBy(BMR_REL(rel), fork, NULL, EB_LOCK_FIRST, want, bufs, &n);
	for (uint32 i = 1; i < n; i++)
		ReleaseBuffer(bufs[i]);
	*got = n;
	return bufs[0];
#else
	*got = 1;
	return vchord_shim_extend(rel, fork);
#endif
}

/*
 * Names a build of a relation in this backend (and its parallel workers): the relation file,
 * new for every build, REINDEX included, and the transaction.
 */
uint64
vchord_shim_rel_file(Relation rel)
{
	uint64		xid = GetTopTransactionIdIfAny();

#if PG_VERSION_NUM >= 160000
	return (xid << 32) | rel->rd_locator.relNumber;
#else
	return (xid << 32) | rel->rd_node.relNode;
#endif
}

bool
vchord_shim_page_is_new(Buffer buf)
{
	return PageIsNew(BufferGetPage(buf));
}

BlockNumber
vchord_shim_nblocks(Relation rel, ForkNumber fork)
{
	return RelationGetNumberOfBlocksInFork(rel, fork);
}

double
vchord_shim_build_scan(Relation heap, Relation index, struct IndexInfo *info,
					   IndexBuildCallback cb, void *state)
{
	return table_index_build_scan(heap, index, info, true, true, cb, state, NULL);
}

int32
vchord_shim_index_typmod(Relation index)
{
	return TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
}

int32
vchord_shim_index_support(Relation index)
{
	return vchord_shim_index_support_att(index, 1);
}

int32
vchord_shim_index_support_att(Relation index, int attno)
{
	Oid			proc = index_getprocid(index, attno, 1);

	if (!OidIsValid(proc))
		elog(ERROR, "vchord: operator class of index \"%s\" column %d has no support function 1",
			 RelationGetRelationName(index), attno);
	return DatumGetInt32(OidFunctionCall0Coll(proc, InvalidOid));
}

int
vchord_shim_index_natts(Relation index)
{
	return IndexRelationGetNumberOfKeyAttributes(index);
}

int
vchord_shim_labels(Datum d, int16 *out, int max)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			count = 0;

	if (ARR_ELEMTYPE(a) != INT2OID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("vchordg labels must be smallint[]")));
	deconstruct_array(a, INT2OID, sizeof(int16), true, TYPALIGN_SHORT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		if (count == max)
			return -1;
		out[count++] = DatumGetInt16(elems[i]);
	}
	return count;
}

bool
vchord_shim_sphere(Datum sphere, Datum *centre, double *radius)
{
	HeapTupleHeader t = DatumGetHeapTupleHeader(sphere);
	bool		isnull;
	Datum		r;

	*centre = GetAttributeByNum(t, 1, &isnull);
	if (isnull)
		return false;
	r = GetAttributeByNum(t, 2, &isnull);
	if (isnull)
		return false;
	*radius = DatumGetFloat8(r);
	return true;
}

void
vchord_shim_prefetch(Relation rel, BlockNumber blk)
{
	(void) PrefetchBuffer(rel, MAIN_FORKNUM, blk);
}

int
vchord_shim_io_concurrency(void)
{
	return effective_io_concurrency;
}

bool
vchord_shim_is_mvcc(Snapshot snapshot)
{
	return snapshot != NULL && IsMVCCSnapshot(snapshot);
}

void
vchord_shim_path_info(struct PlannerInfo *root, struct IndexPath *path, double loop_count,
					  VchordPathInfo *out)
{
	GenericCosts costs;
	ListCell   *lc;

	memset(&costs, 0, sizeof(costs));
	out->indexoid = path->indexinfo->indexoid;
	out->has_orderbys = path->indexorderbys != NIL;
	out->has_range = false;
	foreach(lc, path->indexclauses)
	{
		if (((IndexClause *) lfirst(lc))->indexcol == 0)
			out->has_range = true;
	}
	out->index_pages = path->indexinfo->pages;
	out->index_tuples = path->indexinfo->tuples;
	genericcostestimate(root, path, loop_count, &costs);
	out->startup = costs.indexStartupCost;
	out->total = costs.indexTotalCost;
	out->selectivity = costs.indexSelectivity;
	out->correlation = costs.indexCorrelation;
	out->pages = costs.numIndexPages;
}

void
vchord_shim_count_scan(Relation index)
{
	pgstat_count_index_scan(index);
}

bool
vchord_shim_unknown_reloption(Datum reloptions, char *out, size_t outlen)
{
	ListCell   *c;

	if (DatumGetPointer(reloptions) == NULL)
		return false;
	foreach(c, untransformRelOptions(reloptions))
	{
		DefElem    *d = (DefElem *) lfirst(c);

		if (strcmp(d->defname, "options") != 0)
		{
			strlcpy(out, d->defname, outlen);
			return true;
		}
	}
	return false;
}

/* In Rust (src/index/mod.rs): an ALTER of `oid`'s options to `value` (NULL: RESET). */
extern void vchord_alter_options(Oid oid, const char *value);

static ProcessUtility_hook_type prev_utility = NULL;

static void
vchord_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			   ProcessUtilityContext context, ParamListInfo params,
			   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *n = pstmt->utilityStmt;

	if (n != NULL && IsA(n, AlterTableStmt))
	{
		AlterTableStmt *s = (AlterTableStmt *) n;
		Oid			oid = RangeVarGetRelid(s->relation, NoLock, true);
		ListCell   *c;

		foreach(c, s->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(c);
			ListCell   *d;

			if (!OidIsValid(oid) ||
				(cmd->subtype != AT_SetRelOptions && cmd->subtype != AT_ResetRelOptions))
				continue;
			foreach(d, (List *) cmd->def)
			{
				DefElem    *e = (DefElem *) lfirst(d);

				if (strcmp(e->defname, "options") == 0)
					vchord_alter_options(oid, cmd->subtype == AT_SetRelOptions && e->arg != NULL
										 ? defGetString(e) : NULL);
			}
		}
	}
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
								dest, qc);
}

void
vchord_shim_install_utility_hook(void)
{
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = vchord_utility;
}

Relation
vchord_shim_try_index_open(Oid oid)
{
	return try_relation_open(oid, AccessShareLock);
}

Datum
vchord_shim_jsonb_in(const char *text)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}

void
vchord_shim_vacuum_delay(void)
{
#if PG_VERSION_NUM >= 180000
	vacuum_delay_point(false);
#else
	vacuum_delay_point();
#endif
}

void
vchord_shim_progress(int param, int64 value)
{
	pgstat_progress_update_param(param, value);
}

int
vchord_shim_maintenance_work_mem(void)
{
	return maintenance_work_mem;
}

int
vchord_shim_max_parallel_maintenance_workers(void)
{
	return max_parallel_maintenance_workers;
}

double
vchord_shim_reltuples(Relation rel)
{
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	/* never vacuumed or analyzed (-1): the planner's estimate from the table's size */
	if (rel->rd_rel->reltuples >= 0)
		return rel->rd_rel->reltuples;
	estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	return tuples;
}

void
vchord_shim_crit_enter(void)
{
	START_CRIT_SECTION();
}

void
vchord_shim_crit_exit(void)
{
	END_CRIT_SECTION();
}

bool
vchord_shim_guc_is_set(const char *name)
{
#if PG_VERSION_NUM >= 160000
	struct config_generic *gen = find_option(name, false, true, ERROR);

	return gen != NULL && gen->source != PGC_S_DEFAULT;
#else
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
		if (pg_strcasecmp(vars[i]->name, name) == 0)
			return vars[i]->source != PGC_S_DEFAULT;
	return false;
#endif
}

const char *
vchord_shim_relname(Relation rel)
{
	return RelationGetRelationName(rel);
}

Oid
vchord_shim_relfilenumber(Relation rel)
{
#if PG_VERSION_NUM >= 160000
	return rel->rd_locator.relNumber;
#else
	return rel->rd_node.relNode;
#endif
}

void
vchord_shim_log_all_pages(Relation rel)
{
	if (RelationNeedsWAL(rel))
		log_newpage_range(rel, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(rel), true);
}

void
vchord_shim_guc_check_detail(const char *msg)
{
	GUC_check_errdetail("%s", msg);
}

/* ---- reading index keys from the table ------------------------------------------------ */

struct VchordFetch
{
	IndexFetchTableData *scan;
	TupleTableSlot *slot;
	IndexInfo  *info;
	EState	   *estate;
};

VchordFetch *
vchord_shim_fetch_begin(Relation heap, Relation index)
{
	VchordFetch *f = palloc0(sizeof(VchordFetch));

	f->scan = table_index_fetch_begin(heap);
	f->slot = table_slot_create(heap, NULL);
	f->info = BuildIndexInfo(index);
	f->estate = CreateExecutorState();
	/* FormIndexDatum evaluates index expressions over this slot */
	GetPerTupleExprContext(f->estate)->ecxt_scantuple = f->slot;
	return f;
}

bool
vchord_shim_fetch_key(VchordFetch *f, ItemPointer tid, Snapshot snapshot, Datum *key, bool *isnull)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];

	MemoryContext old;

	ResetPerTupleExprContext(f->estate);
	if (!table_index_fetch_tuple(f->scan, &t, snapshot, f->slot, &call_again, &all_dead))
		return false;
	/* the key and its detoasted copy live in the per-tuple context, reset by the next call */
	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(f->estate));
	FormIndexDatum(f->info, f->slot, f->estate, values, nulls);
	if (!nulls[0])
		values[0] = PointerGetDatum(PG_DETOAST_DATUM(values[0]));
	MemoryContextSwitchTo(old);
	*key = values[0];
	*isnull = nulls[0];
	return true;
}

void
vchord_shim_fetch_end(VchordFetch *f)
{
	table_index_fetch_end(f->scan);
	ExecDropSingleTupleTableSlot(f->slot);
	FreeExecutorState(f->estate);
	pfree(f);
}

/* ---- parallel index builds (17+) -------------------------------------------------------- */
#if PG_VERSION_NUM >= 170000
#include "access/parallel.h"
#include "access/table.h"
#include "executor/instrument.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/wait_event.h"

#define VCHORD_KEY_SHARED		UINT64CONST(0x7663686F72640001)
#define VCHORD_KEY_PAYLOAD		UINT64CONST(0x7663686F72640002)
#define VCHORD_KEY_QUERY_TEXT	UINT64CONST(0x7663686F72640003)
#define VCHORD_KEY_WAL_USAGE	UINT64CONST(0x7663686F72640004)
#define VCHORD_KEY_BUFFER_USAGE UINT64CONST(0x7663686F72640005)

struct VchordShared
{
	/* immutable */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		concurrent;
	Size		payload_len;
	/* mutable, under mutex */
	slock_t		mutex;
	ConditionVariable done_cv;
	int			ndone;
	double		reltuples;
	double		indtuples;
	/* rows indexed so far by all participants (progress reporting) */
	pg_atomic_uint64 rows;
	/* the parallel table scan follows, at BUFFERALIGN(sizeof(VchordShared)) */
};

#define VchordSharedScan(s) \
	((ParallelTableScanDesc) ((char *) (s) + BUFFERALIGN(sizeof(VchordShared))))

struct VchordParallel
{
	ParallelContext *pcxt;
	VchordShared *shared;
	Snapshot	snapshot;
	WalUsage   *walusage;
	BufferUsage *bufferusage;
};

int
vchord_shim_build_workers(IndexInfo *info)
{
	return info->ii_ParallelWorkers;
}

bool
vchord_shim_build_concurrent(IndexInfo *info)
{
	return info->ii_Concurrent;
}

VchordParallel *
vchord_shim_parallel_begin(Relation heap, Relation index, bool concurrent, int request,
						   const char *entry, const char *payload, size_t len)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		est_shared;
	VchordShared *shared;
	char	   *pl;
	int			querylen = debug_query_string ? strlen(debug_query_string) : 0;
	VchordParallel *p;

	EnterParallelMode();
	pcxt = CreateParallelContext("vchord", entry, request);

	/*
	 * A plain build scans with SnapshotAny and decides visibility itself (recently dead rows are
	 * indexed too); CREATE INDEX CONCURRENTLY indexes what its MVCC snapshot sees.
	 */
	snapshot = concurrent ? RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	est_shared = add_size(BUFFERALIGN(sizeof(VchordShared)),
						  table_parallelscan_estimate(heap, snapshot));
	shm_toc_estimate_chunk(&pcxt->estimator, est_shared);
	shm_toc_estimate_chunk(&pcxt->estimator, Max(len, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(WalUsage), pcxt->nworkers));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(BufferUsage), pcxt->nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 4);
	if (debug_query_string)
	{
		shm_toc_estimate_chunk(&pcxt->estimator, querylen + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no DSM segment to be had: a serial build */
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	shared = (VchordShared *) shm_toc_allocate(pcxt->toc, est_shared);
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->concurrent = concurrent;
	shared->payload_len = len;
	SpinLockInit(&shared->mutex);
	ConditionVariableInit(&shared->done_cv);
	shared->ndone = 0;
	shared->reltuples = 0;
	shared->indtuples = 0;
	pg_atomic_init_u64(&shared->rows, 0);
	table_parallelscan_initialize(heap, VchordSharedScan(shared), snapshot);
	shm_toc_insert(pcxt->toc, VCHORD_KEY_SHARED, shared);

	pl = shm_toc_allocate(pcxt->toc, Max(len, 1));
	if (len > 0)
		memcpy(pl, payload, len);
	shm_toc_insert(pcxt->toc, VCHORD_KEY_PAYLOAD, pl);

	if (debug_query_string)
	{
		char	   *q = shm_toc_allocate(pcxt->toc, querylen + 1);

		memcpy(q, debug_query_string, querylen + 1);
		shm_toc_insert(pcxt->toc, VCHORD_KEY_QUERY_TEXT, q);
	}

	p = palloc0(sizeof(VchordParallel));
	p->walusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(WalUsage), pcxt->nworkers));
	shm_toc_insert(pcxt->toc, VCHORD_KEY_WAL_USAGE, p->walusage);
	p->bufferusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(BufferUsage), pcxt->nworkers));
	shm_toc_insert(pcxt->toc, VCHORD_KEY_BUFFER_USAGE, p->bufferusage);

	LaunchParallelWorkers(pcxt);
	p->pcxt = pcxt;
	p->shared = shared;
	p->snapshot = snapshot;
	if (pcxt->nworkers_launched == 0)
	{
		WaitForParallelWorkersToFinish(pcxt);
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		pfree(p);
		return NULL;
	}
	return p;
}

VchordShared *
vchord_shim_parallel_shared(VchordParallel *p)
{
	return p->shared;
}

int
vchord_shim_parallel_participants(VchordParallel *p)
{
	return p->pcxt->nworkers_launched + 1;
}

double
vchord_shim_parallel_scan(Relation heap, Relation index, VchordShared *shared,
						  IndexBuildCallback cb, void *state, bool progress)
{
	IndexInfo  *info = BuildIndexInfo(index);
	TableScanDesc scan;

	info->ii_Concurrent = shared->concurrent;
	scan = table_beginscan_parallel(heap, VchordSharedScan(shared));
	return table_index_build_scan(heap, index, info, true, progress, cb, state, scan);
}

uint64
vchord_shim_parallel_add_rows(VchordShared *shared, uint64 n)
{
	return pg_atomic_add_fetch_u64(&shared->rows, n);
}

void
vchord_shim_parallel_done(VchordShared *shared, double reltuples, double indtuples)
{
	SpinLockAcquire(&shared->mutex);
	shared->ndone++;
	shared->reltuples += reltuples;
	shared->indtuples += indtuples;
	SpinLockRelease(&shared->mutex);
	ConditionVariableSignal(&shared->done_cv);
}

void
vchord_shim_parallel_end(VchordParallel *p, double *reltuples, double *indtuples)
{
	VchordShared *shared = p->shared;
	int			participants = p->pcxt->nworkers_launched + 1;

	/* a worker that could not start raises an ERROR here rather than leave us waiting */
	WaitForParallelWorkersToAttach(p->pcxt);
	for (;;)
	{
		bool		all;

		SpinLockAcquire(&shared->mutex);
		all = shared->ndone == participants;
		*reltuples = shared->reltuples;
		*indtuples = shared->indtuples;
		SpinLockRelease(&shared->mutex);
		if (all)
			break;
		/*
		 * A leader that does not scan keeps the progress view moving; a worker's ERROR
		 * reaches us here too (CHECK_FOR_INTERRUPTS in the sleep).
		 */
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) pg_atomic_read_u64(&shared->rows));
		ConditionVariableTimedSleep(&shared->done_cv, 100,
									WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();
	WaitForParallelWorkersToFinish(p->pcxt);
	for (int i = 0; i < p->pcxt->nworkers_launched; i++)
		InstrAccumParallelQuery(&p->bufferusage[i], &p->walusage[i]);
	if (IsMVCCSnapshot(p->snapshot))
		UnregisterSnapshot(p->snapshot);
	DestroyParallelContext(p->pcxt);
	ExitParallelMode();
	pfree(p);
}

void
vchord_shim_worker_begin(shm_toc *toc, VchordWorker *w)
{
	VchordShared *shared = shm_toc_lookup(toc, VCHORD_KEY_SHARED, false);

	debug_query_string = shm_toc_lookup(toc, VCHORD_KEY_QUERY_TEXT, true);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	/* the lock modes index.c holds in the leader (the lock group shares them) */
	if (shared->concurrent)
	{
		w->heap_lock = ShareUpdateExclusiveLock;
		w->index_lock = RowExclusiveLock;
	}
	else
	{
		w->heap_lock = ShareLock;
		w->index_lock = AccessExclusiveLock;
	}
	w->heap = table_open(shared->heaprelid, w->heap_lock);
	w->index = index_open(shared->indexrelid, w->index_lock);
	w->shared = shared;
	w->payload = shm_toc_lookup(toc, VCHORD_KEY_PAYLOAD, false);
	w->payload_len = shared->payload_len;
	w->participant = ParallelWorkerNumber + 1;
	w->toc = toc;
	InstrStartParallelQuery();
}

void
vchord_shim_worker_end(VchordWorker *w)
{
	BufferUsage *bufferusage = shm_toc_lookup(w->toc, VCHORD_KEY_BUFFER_USAGE, false);
	WalUsage   *walusage = shm_toc_lookup(w->toc, VCHORD_KEY_WAL_USAGE, false);

	InstrEndParallelQuery(&bufferusage[ParallelWorkerNumber], &walusage[ParallelWorkerNumber]);
	index_close(w->index, w->index_lock);
	table_close(w->heap, w->heap_lock);
}
#endif
