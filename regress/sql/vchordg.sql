-- vchordg: DDL, options, labels, planner, exactness with a wide beam, DML, maintenance, errors.
SET client_min_messages = warning;
CREATE TABLE g_items (id int PRIMARY KEY, v vector(8), h halfvec(8), labels smallint[]);
SELECT setseed(0.24);
INSERT INTO g_items
SELECT i, v, v::halfvec, ARRAY[i % 10, 100 + i % 100]::smallint[] FROM (
    SELECT i, ARRAY(SELECT round((random() * 20 - 10)::numeric, 3)::real
                    FROM generate_series(1, 8) WHERE i > 0)::vector AS v
    FROM generate_series(1, 2000) i) s;
INSERT INTO g_items VALUES (0, NULL, NULL, '{1}');  -- NULL vectors are not indexed
UPDATE g_items SET labels = NULL WHERE id % 37 = 0;  -- indexed, never match a filter
UPDATE g_items SET labels = '{}' WHERE id % 41 = 0;
UPDATE g_items SET labels = '{5,5,NULL,105}' WHERE id = 5;  -- duplicates and NULL elements

-- Options: defaults, explicit TOML, and every kind of mistake.
CREATE INDEX g_l2 ON g_items USING vchordg (v vector_l2_ops, labels)
    WITH (options = E'[search]\nepsilon = 4');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (options = 'm = 2');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (options = 'bits = 3');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (options = 'alpha = "wide"');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (options = 'lists = [3]');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (options = 'not toml at all');
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops) WITH (m = 3);
CREATE INDEX bad ON g_items USING vchordg (labels, v vector_l2_ops);
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops, id);
CREATE INDEX bad ON g_items USING vchordg (v vector_l2_ops, labels, labels);
CREATE INDEX g_ip ON g_items USING vchordg (v vector_ip_ops) WITH (options = $$
m = 8
ef_construction = 16
bits = 1
build_threads = 2
[search]
epsilon = 4
$$);
CREATE INDEX g_cos ON g_items USING vchordg (v vector_cosine_ops) WITH (options = $$
alpha = 1.5
rerank_in_table = true
[search]
epsilon = 4
ef_search = 30
$$);
SELECT vchordg_verify(i) FROM unnest('{g_l2,g_ip,g_cos}'::regclass[]) i;

-- Settings.
SET vchordg.ef_search = 0;
SET vchordg.ef_search = 'x';
SET vchordg.max_scan_tuples = -2;
SET vchordg.nonexistent = 1;
SET vchordg.ef_search = 80;
SHOW vchordg.ef_search;
RESET vchordg.ef_search;

-- The planner takes the index for ORDER BY distance LIMIT (with a label filter as an index
-- condition), and not for anything else.
SET enable_seqscan = off;
EXPLAIN (costs off) SELECT id FROM g_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM g_items WHERE labels && '{3}' ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM g_items ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (costs off) SELECT id FROM g_items ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
RESET enable_seqscan;
EXPLAIN (costs off) SELECT id FROM g_items WHERE labels && '{3}';
EXPLAIN (costs off) SELECT id FROM g_items ORDER BY v <+> '[1,2,3,4,5,6,7,8]' LIMIT 10;
SET vchordg.enable_scan = off;
EXPLAIN (costs off) SELECT id FROM g_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
RESET vchordg.enable_scan;

-- With a beam as wide as the table the search is exact: compare with a sequential scan.
CREATE FUNCTION g_check(expr text, q text, cond text, k int) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE a float8[]; b float8[];
BEGIN
    SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
    EXECUTE format('SELECT array_agg(round(d::numeric, 4)::float8) FROM (SELECT %s %L AS d FROM g_items WHERE %s ORDER BY %s %L LIMIT %s) s', expr, q, cond, expr, q, k) INTO a;
    SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(round(d::numeric, 4)::float8) FROM (SELECT %s %L AS d FROM g_items WHERE %s ORDER BY %s %L LIMIT %s) s', expr, q, cond, expr, q, k) INTO b;
    RETURN a = b;
END $f$;
SET vchordg.ef_search = 4000;
SELECT op, g_check('v ' || op, '[1,-2,3,-4,5,-6,7,-8]', 'true', 50) AS top50,
       g_check('v ' || op, '[0.5,0,0,0,0,0,0,9]', 'true', 2000) AS all_rows
FROM unnest('{<->,<#>,<=>}'::text[]) op;
-- Label filters: exact at a wide beam, full result sets, NULL and empty labels never match.
SELECT cond, g_check('v <->', '[1,-2,3,-4,5,-6,7,-8]', cond, 20) AS exact
FROM unnest(ARRAY['labels && ''{3}''', 'labels && ''{142}''', 'labels && ''{3,142}''',
                  'labels && ''{105}''', 'labels && ''{5}'' AND labels && ''{105}''']) cond;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM g_items WHERE labels && '{142}' ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 100) s;
SELECT count(*), count(*) FILTER (WHERE labels IS NULL OR labels = '{}') AS unlabelled FROM
    (SELECT id, labels FROM g_items WHERE labels && ARRAY(SELECT generate_series(0, 200))::smallint[]
     ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
SELECT count(*) FROM (SELECT id FROM g_items WHERE labels && NULL ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) s;
SELECT count(*) FROM (SELECT id FROM g_items WHERE labels && '{999}' ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) s;
-- Every row exactly once, WHERE filters keep pulling, max_scan_tuples stops the stream.
RESET vchordg.ef_search;
-- Strict order (the default) never returns a row nearer than one before it; relaxed order
-- (vchordg.strict_order = off, kept for the rest of this file) returns every row, once.
SELECT count(*) FILTER (WHERE d < prev - 1e-6) AS inversions, count(*) > 0 AS some_rows
FROM (SELECT d, lag(d) OVER () AS prev
      FROM (SELECT v <-> '[0,0,0,0,0,0,0,0]' AS d FROM g_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]') s) t;
SET vchordg.strict_order = off;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM g_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
SELECT count(*) FROM (SELECT id FROM g_items WHERE id % 10 = 3 ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 100) s;
SET vchordg.max_scan_tuples = 50;
SELECT count(*) FROM (SELECT id FROM g_items WHERE id % 10 = 3 ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 100) s;
RESET vchordg.max_scan_tuples;
-- A NULL query matches nothing; a query of other dimensions is an error.
PREPARE q(vector) AS SELECT count(*) FROM (SELECT id FROM g_items ORDER BY v <-> $1 LIMIT 5) s;
SET plan_cache_mode = force_generic_plan;
EXECUTE q(NULL);
EXECUTE q('[1,1,1,1,1,1,1,1]');
RESET plan_cache_mode;
DEALLOCATE q;
SELECT id FROM g_items ORDER BY v <-> '[1,2,3]' LIMIT 1;

-- Inserts after the build are found; deleted rows disappear; VACUUM repairs the graph.
INSERT INTO g_items VALUES (5001, '[100,100,100,100,100,100,100,100]', NULL, '{77}');
SELECT id FROM g_items ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;
SELECT id FROM g_items WHERE labels && '{77}' ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 3;
INSERT INTO g_items VALUES (5002, '[1,2,3]', NULL, NULL);
INSERT INTO g_items VALUES (5003, '[1,2,3,4,5,6,7,8]', NULL, ARRAY(SELECT generate_series(1, 65))::smallint[]);
INSERT INTO g_items VALUES (5004, '[1,2,3,4,5,6,7,8]', NULL, '{1.5}');
DELETE FROM g_items WHERE id % 2 = 0;
SELECT count(*) FROM (SELECT id FROM g_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
VACUUM g_items;
SELECT count(*) FROM (SELECT id FROM g_items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 5000) s;
SELECT vchordg_verify(i) FROM unnest('{g_l2,g_ip,g_cos}'::regclass[]) i;
SET vchordg.ef_search = 4000;
SELECT op, g_check('v ' || op, '[1,-2,3,-4,5,-6,7,-8]', 'true', 200) FROM unnest('{<->,<#>,<=>}'::text[]) op;
SELECT g_check('v <->', '[1,-2,3,-4,5,-6,7,-8]', 'labels && ''{3,142}''', 50) AS labels_after_vacuum;
RESET vchordg.ef_search;

-- halfvec.
CREATE INDEX g_h ON g_items USING vchordg (h halfvec_l2_ops);
CREATE INDEX g_hc ON g_items USING vchordg (h halfvec_cosine_ops, labels);
SELECT count(*) FROM (SELECT id FROM g_items ORDER BY h <-> '[1,2,3,4,5,6,7,8]' LIMIT 5000) s;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM g_items ORDER BY h <-> '[1,2,3,4,5,6,7,8]' LIMIT 5) a)
     = (SELECT array_agg(id) FROM (SELECT id FROM g_items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5) b) AS same;
DROP INDEX g_h, g_hc;

-- REINDEX, CONCURRENTLY, an empty table, an unlogged table, a table without typmod.
REINDEX INDEX g_l2;
SELECT vchordg_verify('g_l2');
DROP INDEX g_l2;
CREATE INDEX CONCURRENTLY g_l2 ON g_items USING vchordg (v vector_l2_ops, labels);
SELECT vchordg_verify('g_l2');
REINDEX INDEX CONCURRENTLY g_l2;
SELECT vchordg_verify('g_l2');
SELECT id FROM g_items ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;

CREATE TABLE g_empty (v vector(3), l smallint[]);
CREATE INDEX ON g_empty USING vchordg (v vector_cosine_ops, l);
INSERT INTO g_empty SELECT ARRAY[i, 1, 2]::real[]::vector, ARRAY[i % 3]::smallint[] FROM generate_series(1, 300) i;
SELECT v FROM g_empty ORDER BY v <=> '[300,1,2]' LIMIT 2;
SELECT v FROM g_empty WHERE l && '{2}' ORDER BY v <=> '[300,1,2]' LIMIT 2;
SELECT vchordg_verify('g_empty_v_l_idx');

CREATE UNLOGGED TABLE g_ul (v vector(2));
INSERT INTO g_ul SELECT ARRAY[i, -i]::real[]::vector FROM generate_series(1, 100) i;
CREATE INDEX ON g_ul USING vchordg (v vector_l2_ops);
SELECT v FROM g_ul ORDER BY v <-> '[50,-50]' LIMIT 1;
TRUNCATE g_ul;
INSERT INTO g_ul VALUES ('[1,2]');
SELECT v FROM g_ul ORDER BY v <-> '[50,-50]' LIMIT 1;

CREATE TABLE g_untyped (v vector);
CREATE INDEX ON g_untyped USING vchordg (v vector_l2_ops);
INSERT INTO g_untyped VALUES ('[1,2]'), ('[1,2,3]');
INSERT INTO g_untyped VALUES ('[1,2]');
CREATE INDEX ON g_untyped USING vchordg (v vector_l2_ops);
INSERT INTO g_untyped VALUES ('[1,2,3]');

-- Vectors too wide for a page unless the table keeps them.
CREATE TABLE g_wide (v vector(3000));
CREATE INDEX ON g_wide USING vchordg (v vector_l2_ops);
CREATE INDEX ON g_wide USING vchordg (v vector_l2_ops) WITH (options = 'rerank_in_table = true');

-- Functions refuse what is not a vchordg index.
SELECT vchordg_verify('g_items_pkey');
SELECT vchordg_prewarm('g_l2') LIKE 'prewarmed % pages';
DROP TABLE g_items, g_empty, g_ul, g_untyped, g_wide;
DROP FUNCTION g_check;
