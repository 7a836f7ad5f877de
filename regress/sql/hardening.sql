-- Clear errors and documented edge values (issue 22's smaller items).
SET client_min_messages = notice;
SET enable_seqscan = off;
CREATE TABLE hd (id int, v vector(4), labels smallint[]);
INSERT INTO hd SELECT i, ARRAY[i % 7, i % 5, 1, 2]::real[]::vector, ARRAY[i % 3]::smallint[]
FROM generate_series(1, 50) i;
-- A missing index is 42704, not an internal error.
SELECT vchordrq_verify(0);
SELECT vchordg_verify(0);
SELECT vchordrq_verify('hd'::regclass);  -- a table
-- pgvector-style parameters: refused, with the options form as a hint.
CREATE INDEX ON hd USING vchordrq (v vector_l2_ops) WITH (lists = 100);
CREATE INDEX ON hd USING vchordg (v vector_l2_ops) WITH (m = 16);
-- More lists than rows: clamped to one list per row, with a NOTICE.
CREATE INDEX hd_rq ON hd USING vchordrq (v vector_l2_ops) WITH (options = $$[build.internal]
lists = [100]$$);
SELECT count(*) FROM (SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]') s;
-- Probes: a setting's values past the index's levels are ignored (one setting serves indexes
-- of one and of several levels); an index's own [search] probes may not have more.
SET vchordrq.probes = '2,4';
SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]' LIMIT 1;
RESET vchordrq.probes;
CREATE INDEX ON hd USING vchordrq (v vector_l2_ops) WITH (options = $$[search]
probes = [2, 4]$$);
DROP INDEX hd_rq;
-- Labels: 64 distinct ones are allowed however often one repeats; 65 are not.
CREATE INDEX hd_g ON hd USING vchordg (v vector_l2_ops, labels);
INSERT INTO hd SELECT 100, '[1,1,1,1]', array_agg(x)::smallint[] || '{0,0}'::smallint[]
FROM generate_series(0, 63) x;
INSERT INTO hd SELECT 101, '[1,1,1,1]', array_agg(x)::smallint[] FROM generate_series(0, 64) x;
SELECT count(*) FROM hd WHERE labels && '{63}' AND id = 100;
DROP INDEX hd_g;
-- ALTER INDEX ... SET (options): the [search] defaults change for new scans at once; build
-- options take effect at the next REINDEX, and a WARNING says so.
SET vchordrq.strict_order = off;  -- counts of whole streams
CREATE INDEX hd_alter ON hd USING vchordrq (v vector_l2_ops) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT count(*) FROM (SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]') s;
ALTER INDEX hd_alter SET (options = $$[build.internal]
lists = [4]
[search]
max_scan_tuples = 3$$);
SELECT count(*) FROM (SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]') s;
ALTER INDEX hd_alter SET (options = $$[build.internal]
lists = [8]$$);
SELECT count(*) FROM (SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]') s;
ALTER INDEX hd_alter SET (options = 'nonsense = 1');
ALTER INDEX hd_alter RESET (options);
REINDEX INDEX hd_alter;
SELECT vchordrq_verify('hd_alter');
DROP INDEX hd_alter;
CREATE INDEX hd_alter ON hd USING vchordg (v vector_l2_ops);
ALTER INDEX hd_alter SET (options = $$[search]
max_scan_tuples = 2$$);
SELECT count(*) FROM (SELECT id FROM hd ORDER BY v <-> '[1,1,1,1]') s;
ALTER INDEX hd_alter SET (options = $$m = 8$$);
DROP INDEX hd_alter;
-- A column of mixed dimensions: the error names the row.
CREATE TABLE hd_mixed (v vector);
INSERT INTO hd_mixed VALUES ('[1,2]'), ('[1,2,3]');
CREATE INDEX ON hd_mixed USING vchordrq (v vector_l2_ops);
CREATE INDEX ON hd_mixed USING vchordg (v vector_l2_ops);
DROP TABLE hd, hd_mixed;

-- 0.2.0: l2 is the default operator class of both indexes, as in pgvector.
CREATE TABLE hd_default (id int, v vector(3), h halfvec(3));
INSERT INTO hd_default SELECT i, ARRAY[i, i % 7, 1], ARRAY[i, i % 5, 2] FROM generate_series(1, 100) i;
CREATE INDEX hd_default_rq ON hd_default USING vchordrq (v);
CREATE INDEX hd_default_g ON hd_default USING vchordg (h);
SELECT c.relname, o.opcname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_opclass o ON o.oid = i.indclass[0] WHERE i.indrelid = 'hd_default'::regclass ORDER BY 1;
SELECT id FROM hd_default ORDER BY v <-> '[3,3,1]' LIMIT 3;
SELECT id FROM hd_default ORDER BY h <-> '[3,3,2]' LIMIT 3;
DROP TABLE hd_default;

-- pgvector's bit distances: <~> hamming, <%> jaccard.
SELECT '10110'::bit(5) <~> '11100'::bit(5) AS hamming, hamming_distance(B'1111', B'0000'),
       '10110'::bit(5) <%> '11100'::bit(5) AS jaccard, jaccard_distance(B'0000', B'0000'),
       binary_quantize('[1,-1,2,0,3]'::vector) <~> binary_quantize('[1,1,1,1,1]'::vector) AS quantized;
SELECT B'101' <~> B'1010';
SELECT B'101' <%> B'1010';

-- pgvector's SQLSTATEs: a bad type modifier is 22023; beyond real's range is infinite (22000).
\set VERBOSITY sqlstate
SELECT '[1]'::vector(0);
SELECT '[1]'::halfvec(16001);
SELECT '{4e38}'::float8[]::vector;
SELECT '{4e38}'::float8[]::halfvec;
SELECT '{1e6}'::float8[]::halfvec;
\set VERBOSITY default
SELECT '{4e38}'::float8[]::vector;
SELECT '[1e6]'::halfvec;
SELECT '[1,2]'::halfvec <-> '[1,2,3]';

-- On-disk format: vchord_index_info shows the format an index records and the one this vchord
-- reads; an index of another format (made here by a test-build probe) is refused by name with
-- 55000 and a REINDEX hint, never read; REINDEX brings it back.
CREATE SCHEMA hd_probe;
CREATE FUNCTION hd_probe.set_format(regclass, int) RETURNS bool
    AS '$libdir/vchord', 'vchord_test_set_format' LANGUAGE C STRICT;
CREATE TABLE hd_fmt (id int, v vector(3), labels smallint[]);
INSERT INTO hd_fmt SELECT i, ARRAY[i, i % 7, 1], ARRAY[i % 3] FROM generate_series(1, 100) i;
CREATE INDEX hd_fmt_rq ON hd_fmt USING vchordrq (v) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT jsonb_pretty(vchord_index_info('hd_fmt_rq') - 'pages' - 'bytes');
SELECT (i->>'pages')::int > 0 AS has_pages, (i->>'bytes')::bigint = (i->>'pages')::int * 8192 AS bytes
FROM vchord_index_info('hd_fmt_rq') i;
SELECT hd_probe.set_format('hd_fmt_rq', 99);
SELECT id FROM hd_fmt ORDER BY v <-> '[1,1,1]' LIMIT 1;
\set VERBOSITY sqlstate
INSERT INTO hd_fmt VALUES (999, '[1,1,1]', '{1}');
\set VERBOSITY default
DELETE FROM hd_fmt WHERE id = 100;
VACUUM hd_fmt;
SELECT vchordrq_verify('hd_fmt_rq');
REINDEX INDEX hd_fmt_rq;
SELECT id FROM hd_fmt ORDER BY v <-> '[1,1,1]' LIMIT 1;
DROP INDEX hd_fmt_rq;
CREATE INDEX hd_fmt_g ON hd_fmt USING vchordg (v, labels);
SELECT jsonb_pretty(vchord_index_info('hd_fmt_g') - 'pages' - 'bytes');
SELECT hd_probe.set_format('hd_fmt_g', 0);
SELECT id FROM hd_fmt WHERE labels && '{1}' ORDER BY v <-> '[1,1,1]' LIMIT 1;
INSERT INTO hd_fmt VALUES (999, '[1,1,1]', '{1}');
SELECT vchordg_verify('hd_fmt_g');
SELECT i->'format_version' AS recorded, i->'format_version_read' AS read, i->'usable' AS usable,
       i->>'problem' AS problem
FROM vchord_index_info('hd_fmt_g') i;
REINDEX INDEX hd_fmt_g;
SELECT id FROM hd_fmt WHERE labels && '{1}' ORDER BY v <-> '[1,1,1]' LIMIT 1;
SELECT vchord_index_info('hd_fmt_g')->'usable' AS usable;
SELECT vchord_index_info('hd_fmt');
SELECT vchord_index_info(0);
DROP TABLE hd_fmt;
DROP SCHEMA hd_probe CASCADE;
