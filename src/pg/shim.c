/*
 * shim.c: the only place in vchord where sigsetjmp happens (through PG_TRY).
 */
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
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
