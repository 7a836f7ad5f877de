-- vchordrq: DDL, options, planner, exactness at full probes, DML, maintenance, errors.
SET client_min_messages = warning;
CREATE TABLE rq_items (id int PRIMARY KEY, v vector(8), h halfvec(8));
SELECT setseed(0.42);
INSERT INTO rq_items
SELECT i, v, v::halfvec FROM (
    SELECT i, ARRAY(SELECT round((random() * 20 - 10)::numeric, 3)::real
                    FROM generate_series(1, 8) WHERE i > 0)::vector AS v
    FROM generate_series(1, 2000) i) s;
INSERT INTO rq_items VALUES (0, NULL, NULL);  -- NULLs are not indexed

-- Options: defaults, explicit TOML, and every kind of mistake.
CREATE INDEX rq_items_l2 ON rq_items USING vchordrq (v vector_l2_ops);
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = 'lists = 3');
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = $$
[build.internal]
listz = [3]
$$);
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = $$
[build.internal]
lists = [0]
$$);
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = $$
[build.internal]
lists = "many"
$$);
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = 'not toml at all');
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (lists = 3);
CREATE INDEX bad ON rq_items USING vchordrq (v vector_l2_ops) WITH (options = 'bits = 3');
CREATE INDEX rq_items_ip ON rq_items USING vchordrq (v vector_ip_ops) WITH (options = $$
residual_quantization = true
bits = 1
[build.internal]
lists = [4, 16]
kmeans_iterations = 5
build_threads = 2
[search]
probes = [4, 16]
$$);
CREATE INDEX rq_items_cos ON rq_items USING vchordrq (v vector_cosine_ops) WITH (options = $$
[build.internal]
lists = [20]
spherical_centroids = true
sampling_factor = 32
$$);
SELECT vchordrq_verify(i) FROM unnest('{rq_items_l2,rq_items_ip,rq_items_cos}'::regclass[]) i;

-- Settings.
SET vchordrq.probes = 'x';
SET vchordrq.probes = '0';
SET vchordrq.probes = '1,2,3,4,5';
SET vchordrq.epsilon = 5;
SET vchordrq.nonexistent = 1;
SET vchordrq.probes = '3';
SHOW vchordrq.probes;
RESET vchordrq.probes;

-- The planner takes the index for ORDER BY distance LIMIT, and not for anything else.
SET enable_seqscan = off;
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
RESET enable_seqscan;
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <+> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM rq_items WHERE v = '[1,2,3,4,5,6,7,8]';
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
SET vchordrq.enable_scan = off;
EXPLAIN (costs off) SELECT id FROM rq_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
RESET vchordrq.enable_scan;

-- At full probes and a wide epsilon the index is exact: compare with a sequential scan.
CREATE FUNCTION exact_check(op text, q text, k int) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE a float8[]; b float8[];
BEGIN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
    EXECUTE format('SELECT array_agg(round(d::numeric, 4)::float8) FROM (SELECT v %s %L::vector AS d FROM rq_items ORDER BY v %s %L::vector LIMIT %s) s', op, q, op, q, k) INTO a;
    SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(round(d::numeric, 4)::float8) FROM (SELECT v %s %L::vector AS d FROM rq_items ORDER BY v %s %L::vector LIMIT %s) s', op, q, op, q, k) INTO b;
    RETURN a = b;
END $f$;
SET vchordrq.probes = '1000,1000';
SET vchordrq.epsilon = 4;
SELECT op, exact_check(op, '[1,-2,3,-4,5,-6,7,-8]', 50) AS top50,
       exact_check(op, '[0.5,0,0,0,0,0,0,9]', 2000) AS all_rows
FROM unnest('{<->,<#>,<=>}'::text[]) op;
-- Every non-NULL row exactly once.
SET enable_seqscan = off;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM rq_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
-- WHERE filters keep pulling rows from the stream.
SELECT count(*) FROM (SELECT id FROM rq_items WHERE id % 10 = 3 ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 100) s;
SET vchordrq.max_scan_tuples = 50;
SELECT count(*) FROM (SELECT id FROM rq_items WHERE id % 10 = 3 ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 100) s;
RESET vchordrq.max_scan_tuples;
-- A NULL query (a parameter, so the planner cannot fold it) returns rows, as a sequential scan does.
PREPARE q(vector) AS SELECT count(*) FROM (SELECT id FROM rq_items ORDER BY v <-> $1 LIMIT 5) s;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (costs off) EXECUTE q(NULL);
EXECUTE q(NULL);
EXECUTE q('[1,1,1,1,1,1,1,1]');
RESET plan_cache_mode;
DEALLOCATE q;
-- Dimension mismatch.
SELECT id FROM rq_items ORDER BY v <-> '[1,2,3]' LIMIT 1;

-- Inserts after the build are found; deleted rows disappear; VACUUM cleans up.
INSERT INTO rq_items VALUES (5001, '[100,100,100,100,100,100,100,100]', '[100,100,100,100,100,100,100,100]');
SELECT id FROM rq_items ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;
INSERT INTO rq_items VALUES (5002, '[1,2,3]', NULL);
DELETE FROM rq_items WHERE id % 2 = 0;
SELECT count(*) FROM (SELECT id FROM rq_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
VACUUM rq_items;
SELECT count(*) FROM (SELECT id FROM rq_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
SELECT vchordrq_verify(i) FROM unnest('{rq_items_l2,rq_items_ip,rq_items_cos}'::regclass[]) i;
SELECT op, exact_check(op, '[1,-2,3,-4,5,-6,7,-8]', 200) FROM unnest('{<->,<#>,<=>}'::text[]) op;

-- halfvec.
CREATE INDEX rq_items_h ON rq_items USING vchordrq (h halfvec_l2_ops);
CREATE INDEX rq_items_hc ON rq_items USING vchordrq (h halfvec_cosine_ops);
CREATE INDEX rq_items_hi ON rq_items USING vchordrq (h halfvec_ip_ops);
SELECT count(*) FROM (SELECT id FROM rq_items ORDER BY h <=> '[1,2,3,4,5,6,7,8]' LIMIT 5000) s;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM rq_items ORDER BY h <-> '[1,2,3,4,5,6,7,8]' LIMIT 5) a)
     = (SELECT array_agg(id) FROM (SELECT id FROM rq_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5) b) AS same;
DROP INDEX rq_items_h, rq_items_hc, rq_items_hi;

-- REINDEX, CONCURRENTLY, an empty table, an unlogged table, a table without typmod.
REINDEX INDEX rq_items_l2;
SELECT vchordrq_verify('rq_items_l2');
DROP INDEX rq_items_l2;
CREATE INDEX CONCURRENTLY rq_items_l2 ON rq_items USING vchordrq (v vector_l2_ops);
SELECT vchordrq_verify('rq_items_l2');
REINDEX INDEX CONCURRENTLY rq_items_l2;
SELECT vchordrq_verify('rq_items_l2');
SELECT id FROM rq_items ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;

CREATE TABLE empty (v vector(3));
CREATE INDEX ON empty USING vchordrq (v vector_cosine_ops);
INSERT INTO empty SELECT ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 300) i;
SELECT v FROM empty ORDER BY v <=> '[300,1,2]' LIMIT 2;
SELECT vchordrq_verify('empty_v_idx');

CREATE UNLOGGED TABLE ul (v vector(2));
INSERT INTO ul SELECT ARRAY[i, -i]::real[]::vector FROM generate_series(1, 100) i;
CREATE INDEX ON ul USING vchordrq (v vector_l2_ops);
SELECT v FROM ul ORDER BY v <-> '[50,-50]' LIMIT 1;
TRUNCATE ul;
INSERT INTO ul VALUES ('[1,2]');
SELECT v FROM ul ORDER BY v <-> '[50,-50]' LIMIT 1;

CREATE TABLE untyped (v vector);
CREATE INDEX ON untyped USING vchordrq (v vector_l2_ops);
INSERT INTO untyped VALUES ('[1,2]'), ('[1,2,3]');
INSERT INTO untyped VALUES ('[1,2]');
CREATE INDEX ON untyped USING vchordrq (v vector_l2_ops);
INSERT INTO untyped VALUES ('[1,2,3]');

-- rerank_in_table: the index keeps only codes and reranks with vectors read from the table
-- (the visible version under the scan's snapshot; an index expression is recomputed).
CREATE TABLE rq_t (id int PRIMARY KEY, v vector(8), h halfvec(8));
INSERT INTO rq_t SELECT id, v, h FROM rq_items WHERE v IS NOT NULL AND id <= 1000;
INSERT INTO rq_t VALUES (0, NULL, NULL);
CREATE INDEX rq_t_l2 ON rq_t USING vchordrq (v vector_l2_ops)
    WITH (options = E'rerank_in_table = true\n[build.internal]\nlists = [10]');
CREATE INDEX rq_t_with ON rq_t USING vchordrq (v vector_l2_ops) WITH (options = E'[build.internal]\nlists = [10]');
SELECT pg_relation_size('rq_t_l2') < pg_relation_size('rq_t_with') AS smaller;
DROP INDEX rq_t_with;
SELECT vchordrq_verify('rq_t_l2');
CREATE FUNCTION exact_t(expr text, q text, k int) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE a int[]; b int[];
BEGIN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM rq_t ORDER BY %s %L, id LIMIT %s) s', expr, q, k) INTO a;
    SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM rq_t ORDER BY %s %L, id LIMIT %s) s', expr, q, k) INTO b;
    RETURN a = b;
END $f$;
SET vchordrq.probes = '1000';
SET vchordrq.epsilon = 4;
SET enable_seqscan = off;
EXPLAIN (costs off) SELECT id FROM rq_t ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
SELECT exact_t('v <->', '[1,-2,3,-4,5,-6,7,-8]', 500) AS all_rows;
-- deleted and updated rows: old versions are not visible, new ones are found
BEGIN;
DELETE FROM rq_t WHERE id % 3 = 0;
UPDATE rq_t SET v = '[50,50,50,50,50,50,50,50]' WHERE id = 1;
SELECT id FROM rq_t ORDER BY v <-> '[50,50,50,50,50,50,50,50]' LIMIT 1;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM rq_t ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
SELECT exact_t('v <->', '[1,-2,3,-4,5,-6,7,-8]', 100) AS after_delete;
ROLLBACK;
SELECT count(*) FROM (SELECT id FROM rq_t ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
DELETE FROM rq_t WHERE id % 3 = 0;
VACUUM rq_t;
SELECT vchordrq_verify('rq_t_l2');
SELECT exact_t('v <->', '[1,-2,3,-4,5,-6,7,-8]', 100) AS after_vacuum;
-- an index expression, halfvec, cosine
CREATE INDEX rq_t_expr ON rq_t USING vchordrq ((v * '[2,1,1,1,1,1,1,1]') vector_cosine_ops)
    WITH (options = 'rerank_in_table = true');
SELECT exact_t('(v * ''[2,1,1,1,1,1,1,1]'') <=>', '[1,-2,3,-4,5,-6,7,-8]', 100) AS expression;
CREATE INDEX rq_t_h ON rq_t USING vchordrq (h halfvec_ip_ops) WITH (options = 'rerank_in_table = true');
SELECT exact_t('h <#>', '[1,-2,3,-4,5,-6,7,-8]', 100) AS halfvec;
-- L1 (<+>): lists and codes of L2, rows in exact L1 order (the root of an L2 lower bound
-- bounds L1 from below), also at the default epsilon
CREATE INDEX rq_t_l1 ON rq_t USING vchordrq (v vector_l1_ops);
CREATE INDEX rq_t_h_l1 ON rq_t USING vchordrq (h halfvec_l1_ops) WITH (options = 'rerank_in_table = true');
EXPLAIN (costs off) SELECT id FROM rq_t ORDER BY v <+> '[1,2,3,4,5,6,7,8]' LIMIT 10;
SELECT exact_t('v <+>', '[1,-2,3,-4,5,-6,7,-8]', 100) AS l1;
SELECT exact_t('h <+>', '[1,-2,3,-4,5,-6,7,-8]', 100) AS halfvec_l1;
RESET vchordrq.epsilon;
SELECT exact_t('v <+>', '[3,-2,3,-4,5,-6,7,-8]', 50) AS l1_default_epsilon;
SELECT vchordrq_verify('rq_t_l1'), vchord_index_info('rq_t_l1')->>'metric' AS metric;
CREATE INDEX ON rq_t USING vchordg (v vector_l1_ops);
-- (nor does a class made by hand with vchordrq's L1 support function give it L1)
CREATE OPERATOR CLASS my_l1 FOR TYPE vector USING vchordg AS
    OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 _vchordrq_support_vector_l1_ops();
CREATE INDEX ON rq_t USING vchordg (v my_l1);
DROP OPERATOR CLASS my_l1 USING vchordg;
RESET vchordrq.probes;
RESET vchordrq.epsilon;
RESET enable_seqscan;
DROP TABLE rq_t;
DROP FUNCTION exact_t;

-- Functions refuse what is not a vchordrq index.
SELECT vchordrq_verify('rq_items_pkey');
SELECT vchordrq_verify('rq_items');
SELECT vchordrq_prewarm('rq_items_l2') LIKE 'prewarmed % pages';
DROP TABLE rq_items, empty, ul, untyped;
DROP FUNCTION exact_check;
