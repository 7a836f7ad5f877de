-- The FFI floor: errors and panics cross the Rust/C boundary cleanly, Rust state owned by
-- memory contexts is freed, the GUC prefixes are reserved. The probes exist only in the test
-- build (cargo feature "testing"); a production build has none of these symbols.
CREATE EXTENSION vchord;
CREATE SCHEMA probe;
CREATE FUNCTION probe.pg_error() RETURNS int AS '$libdir/vchord', 'vchord_test_pg_error' LANGUAGE C;
CREATE FUNCTION probe.parse_int(text) RETURNS int AS '$libdir/vchord', 'vchord_test_parse_int' LANGUAGE C STRICT;
CREATE FUNCTION probe.panic() RETURNS int AS '$libdir/vchord', 'vchord_test_panic' LANGUAGE C;
CREATE FUNCTION probe.nested_panic() RETURNS int AS '$libdir/vchord', 'vchord_test_nested_panic' LANGUAGE C;
CREATE FUNCTION probe.user_error() RETURNS int AS '$libdir/vchord', 'vchord_test_user_error' LANGUAGE C;
CREATE FUNCTION probe.counters() RETURNS text AS '$libdir/vchord', 'vchord_test_counters' LANGUAGE C;
CREATE FUNCTION probe.ctx_state(bool) RETURNS int8 AS '$libdir/vchord', 'vchord_test_ctx_state' LANGUAGE C STRICT;

SELECT probe.counters() AS baseline;

-- 1. An ERROR raised by PostgreSQL inside a call made from Rust reaches the client with its
--    own SQLSTATE and message; the Rust values alive then were dropped (drops 0 -> 2).
SELECT probe.pg_error();
SELECT probe.counters() AS after_pg_error;
SELECT 1 AS session_still_usable;
DO $$
BEGIN
  PERFORM probe.pg_error();
EXCEPTION WHEN invalid_text_representation THEN
  RAISE NOTICE 'caught % in PL/pgSQL: %', SQLSTATE, SQLERRM;
END $$;
BEGIN;
CREATE TABLE t_tx(i int);
INSERT INTO t_tx VALUES (1);
SAVEPOINT s1;
SELECT probe.pg_error();
ROLLBACK TO SAVEPOINT s1;
INSERT INTO t_tx VALUES (2);
COMMIT;
SELECT count(*) AS rows_after_savepoint FROM t_tx;
SELECT probe.parse_int('42');
SELECT probe.parse_int('4x2');

-- 2. A Rust panic becomes ERROR XX000 with a readable message, never a crashed backend.
--    (terse: the detail names a source line; the DO block below checks detail and hint)
\set VERBOSITY terse
SELECT probe.panic();
DO $$
DECLARE d text; h text;
BEGIN
  PERFORM probe.panic();
EXCEPTION WHEN internal_error THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE NOTICE 'caught %: % / detail: % / hint: %', SQLSTATE, SQLERRM,
    regexp_replace(d, ':[0-9]+$', ':<line>'), h;
END $$;
-- Rust -> PostgreSQL (DirectFunctionCall) -> Rust panic -> ERROR -> caught -> unwind -> re-thrown
SELECT probe.nested_panic();
\set VERBOSITY default
-- An error raised from Rust keeps its SQLSTATE, detail and hint.
SELECT probe.user_error();
DO $$
DECLARE d text; h text;
BEGIN
  PERFORM probe.user_error();
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RAISE NOTICE 'caught %: % / detail: % / hint: %', SQLSTATE, SQLERRM, d, h;
END $$;
SELECT probe.counters() AS after_panics;

-- 3. Rust state owned by a memory context is dropped on success and on abort.
SELECT probe.ctx_state(false) AS ctx_drops_during_first_call;
SELECT probe.ctx_state(false) AS ctx_drops_during_second_call;
SELECT probe.ctx_state(true);
SELECT probe.counters() AS after_ctx;

-- 4. 4000 caught errors in one transaction: each is re-thrown and flushed, so the error stack
--    (ERRORDATA_STACK_SIZE = 5) never fills.
DO $$
DECLARE n int := 0;
BEGIN
  FOR i IN 1..1000 LOOP
    BEGIN PERFORM probe.pg_error();     EXCEPTION WHEN others THEN n := n + 1; END;
    BEGIN PERFORM probe.nested_panic(); EXCEPTION WHEN others THEN n := n + 1; END;
    BEGIN PERFORM probe.panic();        EXCEPTION WHEN others THEN n := n + 1; END;
    BEGIN PERFORM probe.user_error();   EXCEPTION WHEN others THEN n := n + 1; END;
  END LOOP;
  RAISE NOTICE 'caught % errors', n;
END $$;
SELECT probe.counters() AS final;

-- 5. GUCs: the vchord prefixes are reserved; defined settings are range-checked.
SHOW vchord.testing_int;
SET vchord.testing_int = 42;
SHOW vchord.testing_int;
SET vchord.testing_int = 1000;
SET vchord.no_such_setting = 1;
SET vchordrq.no_such_setting = 1;
SET vchordg.no_such_setting = 1;
RESET vchord.testing_int;
SELECT 'still alive' AS status;
