-- pgvector mode: where pgvector is installed, CREATE EXTENSION vchord builds its access methods
-- on pgvector's own vector and halfvec types; pgvector's indexes, types and operators work on
-- beside them. (Run only where the server has pgvector: PostgreSQL 18 from the wheel.)
SET client_min_messages = warning;
CREATE DATABASE vchord_pgvector;
\c vchord_pgvector
SET client_min_messages = warning;
CREATE EXTENSION vector;
CREATE EXTENSION vchord;

-- The types are pgvector's; vchord owns only its access methods, classes and functions, and
-- depends on extension vector as a "requires" would make it.
SELECT t.typname, e.extname
FROM pg_type t
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
WHERE t.typname IN ('vector', 'halfvec', 'sparsevec') ORDER BY 1;
SELECT e.extname, r.extname AS depends_on
FROM pg_depend d
JOIN pg_extension e ON e.oid = d.objid JOIN pg_extension r ON r.oid = d.refobjid
WHERE d.classid = 'pg_extension'::regclass AND d.refclassid = 'pg_extension'::regclass;
SELECT p.oid::regprocedure AS function, e.extname
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid
WHERE p.proname IN ('l2_distance', 'hamming_distance', 'vchordrq_verify') ORDER BY 1::text;
SELECT am.amname, c.opcname, c.opcintype::regtype, c.opcdefault
FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
WHERE am.amname LIKE 'vchord%' ORDER BY 1, 2;

-- pgvector's columns, random, with a run of duplicates and a label column.
CREATE TABLE items (id int PRIMARY KEY, v vector(8), h halfvec(8), labels smallint[]);
SELECT setseed(0.17);
INSERT INTO items
SELECT i, v, v::halfvec, ARRAY[(i % 5)::smallint] FROM (
    SELECT i, ARRAY(SELECT round((random() * 20 - 10)::numeric, 3)::real
                    FROM generate_series(1, 8) WHERE i > 0)::vector AS v
    FROM generate_series(1, 2000) i) s;
INSERT INTO items SELECT 2000 + i, '[1,1,1,1,1,1,1,1]', '[1,1,1,1,1,1,1,1]', '{7}'
FROM generate_series(1, 200) i;
CREATE TABLE queries AS SELECT id AS qid, v AS q, h AS qh FROM items WHERE id IN (3, 77, 500, 1999, 2050);

-- One index per operator: vchord's (the default class, l2, needs no name), pgvector's beside.
CREATE INDEX items_rq ON items USING vchordrq (v) WITH (options = $$
[build.internal]
lists = [8]
[search]
probes = [8]
$$);
CREATE INDEX items_rq_cos ON items USING vchordrq (h halfvec_cosine_ops) WITH (options = $$
[build.internal]
lists = [8]
[search]
probes = [8]
$$);
CREATE INDEX items_g ON items USING vchordg (v vector_ip_ops, labels);
CREATE INDEX items_hnsw ON items USING hnsw (v vector_cosine_ops);
CREATE INDEX items_ivf ON items USING ivfflat (h halfvec_l2_ops) WITH (lists = 4);
SELECT i.indexrelid::regclass AS index, am.amname, c.opcname
FROM pg_index i JOIN pg_opclass c ON c.oid = i.indclass[0] JOIN pg_am am ON am.oid = c.opcmethod
WHERE i.indrelid = 'items'::regclass AND NOT i.indisprimary ORDER BY 1::text;

-- The top 10 by each index equal the top 10 by a sequential scan (ties broken by id).
CREATE TABLE exact AS
SELECT qid,
       ARRAY(SELECT id FROM items ORDER BY v <-> q, id LIMIT 10) AS l2,
       ARRAY(SELECT id FROM items ORDER BY h <=> qh, id LIMIT 10) AS cos,
       ARRAY(SELECT id FROM items ORDER BY v <#> q, id LIMIT 10) AS ip,
       ARRAY(SELECT id FROM items WHERE labels && '{2}' ORDER BY v <#> q, id LIMIT 10) AS ip2
FROM queries;
SET enable_seqscan = off;
SET vchordg.ef_search = 200;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY h <=> '[1,1,1,1,1,1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE labels && '{2}' ORDER BY v <#> '[1,1,1,1,1,1,1,1]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 10;
SELECT qid,
       ARRAY(SELECT id FROM items ORDER BY v <-> q, id LIMIT 10) = l2 AS l2,
       ARRAY(SELECT id FROM items ORDER BY h <=> qh, id LIMIT 10) = cos AS cos,
       ARRAY(SELECT id FROM items ORDER BY v <#> q, id LIMIT 10) = ip AS ip,
       ARRAY(SELECT id FROM items WHERE labels && '{2}' ORDER BY v <#> q, id LIMIT 10) = ip2 AS ip_label
FROM exact JOIN queries USING (qid) ORDER BY qid;

-- L1 over pgvector's <+>: exact order at every list probed.
CREATE INDEX items_rq_l1 ON items USING vchordrq (v vector_l1_ops) WITH (options = $$
[build.internal]
lists = [8]
[search]
probes = [8]
$$);
BEGIN;
SET LOCAL enable_seqscan = on;
SET LOCAL enable_indexscan = off;
CREATE TEMP TABLE exact_l1 AS
SELECT qid, ARRAY(SELECT id FROM items ORDER BY v <+> q, id LIMIT 10) AS l1 FROM queries;
COMMIT;
SELECT qid, ARRAY(SELECT id FROM items ORDER BY v <+> q, id LIMIT 10) = l1 AS l1
FROM exact_l1 JOIN queries USING (qid) ORDER BY qid;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <+> '[1,1,1,1,1,1,1,1]' LIMIT 10;
DROP INDEX items_rq_l1;

-- Whole streams, in relaxed order: every row exactly once.
SET vchordrq.strict_order = off;
SET vchordg.strict_order = off;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0]') s;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <#> '[1,0,0,0,0,0,0,0]') s;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items WHERE labels && '{7}' ORDER BY v <#> '[1,0,0,0,0,0,0,0]') s;
RESET vchordrq.strict_order;
RESET vchordg.strict_order;

-- Inserts, deletes and VACUUM, then REINDEX CONCURRENTLY; the verify functions agree.
INSERT INTO items VALUES (5000, '[9,9,9,9,9,9,9,9]', '[9,9,9,9,9,9,9,9]', '{3}');
SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9]' LIMIT 1;
SELECT id FROM items WHERE labels && '{3}' ORDER BY v <#> '[9,9,9,9,9,9,9,9]' LIMIT 1;
DELETE FROM items WHERE id > 2100;
VACUUM items;
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 200) s WHERE id > 2100;
REINDEX INDEX CONCURRENTLY items_rq;
REINDEX INDEX CONCURRENTLY items_g;
SELECT vchordrq_verify('items_rq'), vchordg_verify('items_g');
SELECT ARRAY(SELECT id FROM items ORDER BY v <-> q, id LIMIT 10) = l2 AS l2_after_reindex
FROM exact JOIN queries USING (qid) WHERE qid < 2000 ORDER BY qid;

-- pgvector's own surface still answers: its operators, sparsevec and bit.
SELECT '[1,2,3]'::vector <-> '[3,2,1]', '{1:1,3:2}/5'::sparsevec <-> '{1:2}/5'::sparsevec,
       '101'::bit(3) <~> '111'::bit(3), l2_distance('[1,1]'::halfvec, '[1,2]'::halfvec);
RESET enable_seqscan;

-- DROP EXTENSION, either order: pgvector names vchord and the columns; vchord names its indexes.
DROP EXTENSION vector;
DROP EXTENSION vchord;
DROP EXTENSION vchord CASCADE;
SELECT count(*) AS vchord_indexes_left FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE am.amname LIKE 'vchord%';
SELECT count(*) AS rows_kept FROM items;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 5;
SELECT count(*) AS hnsw_finds_copies FROM (SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 5) s
WHERE id BETWEEN 2001 AND 2100;
RESET enable_seqscan;
CREATE EXTENSION vchord;
CREATE INDEX items_rq ON items USING vchordrq (v);
DROP EXTENSION vector CASCADE;
SELECT extname FROM pg_extension ORDER BY 1;
SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

\c vchord_regress
DROP DATABASE vchord_pgvector;
