-- vchord_recall and vchord_sampled_recall: the index's top k against the exact one (issue 26).
CREATE TABLE r (id int, v vector(3));
INSERT INTO r SELECT i, ARRAY[i % 7, i % 11, i % 13]::real[]::vector FROM generate_series(1, 500) i;
CREATE INDEX r_rq ON r USING vchordrq (v) WITH (options = $$[build.internal]
lists = [4]$$);
-- every list probed: the exact answer
SET vchordrq.probes = '4';
SELECT vchord_recall('r_rq', '[1,2,3]'::vector, 10);
SELECT vchord_recall('r_rq', '[1,2,3]'::vector);
SELECT vchord_sampled_recall('r_rq', 10, 20);
-- one list: a share between 0 and 1
SET vchordrq.probes = '1';
SELECT vchord_recall('r_rq', '[6,10,12]'::vector, 50) BETWEEN 0 AND 1;
RESET vchordrq.probes;
-- a NULL query, an empty table
SELECT vchord_recall('r_rq', NULL::vector) IS NULL;
CREATE TABLE r_empty (v vector(3));
CREATE INDEX r_empty_rq ON r_empty USING vchordrq (v);
SELECT vchord_recall('r_empty_rq', '[1,2,3]'::vector) IS NULL;
SELECT vchord_sampled_recall('r_empty_rq') IS NULL;
-- vchordg, beside the vchordrq index on the same column: the planner must take the one asked
-- about, so the other access method is turned off
CREATE INDEX r_g ON r USING vchordg (v);
SET vchordrq.enable_scan = off;
SELECT vchord_recall('r_g', '[1,2,3]'::vector, 10);
SELECT vchord_recall('r_rq', '[1,2,3]'::vector, 10);
RESET vchordrq.enable_scan;
-- errors
SELECT vchord_recall('r', '[1,2,3]'::vector);
CREATE INDEX r_btree ON r (id);
SELECT vchord_recall('r_btree', '[1,2,3]'::vector);
SELECT vchord_sampled_recall('r_btree');
SELECT vchord_recall('r_rq', '[1,2,3]'::vector, 0);
SELECT vchord_sampled_recall('r_rq', 10, 0);
CREATE INDEX r_expr ON r USING vchordrq ((v + v));
SELECT vchord_recall('r_expr', '[1,2,3]'::vector);
SELECT vchord_sampled_recall('r_expr');
DROP TABLE r, r_empty;
