/*
 * wrapper.h: the one header bindgen parses. Only allowlisted items (build.rs) and what they
 * reference are emitted, so adding an include here costs parse time, not binding size.
 */
#include "postgres.h" /* always first */
#include "fmgr.h"
#include "miscadmin.h"
#include "catalog/pg_type_d.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h" /* varlena macros left postgres.h in 16 */
#endif
#include "access/xloginsert.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "storage/lockdefs.h"
#include "src/pg/shim.h" /* bindgen declares the shim too, so signatures cannot drift */
