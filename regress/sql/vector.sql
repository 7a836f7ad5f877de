-- vector: text format, errors, typmod, operators, functions, btree, aggregates, COPY.
CREATE EXTENSION IF NOT EXISTS vchord;

-- text input and output (shortest round-trip floats, as PostgreSQL prints float4)
SELECT '[1,2,3]'::vector;
SELECT '  [ 1.5 , -2e-5,3.25e10 ]  '::vector;
SELECT '[0.1,100000,1000000,0.0001,0.00001,-0,3.4028235e38]'::vector;
SELECT '[1,2,3]'::vector(3);

-- malformed text and bad values: each a clear ERROR with its SQLSTATE
\set VERBOSITY default
SELECT '[1,2'::vector;
SELECT '1,2,3'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1,2,]'::vector;
SELECT '[1 2]'::vector;
SELECT '[1,2]x'::vector;
SELECT '[]'::vector;
SELECT 'garbage'::vector;
SELECT '[NaN]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf]'::vector;
SELECT '[1e39]'::vector;
SELECT '[1,2]'::vector(3);
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(16001);
DO $$
BEGIN
  PERFORM '[1,a]'::vector;
EXCEPTION WHEN invalid_text_representation THEN RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;
DO $$
BEGIN
  PERFORM '[1e39]'::vector;
EXCEPTION WHEN numeric_value_out_of_range THEN RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;
DO $$
BEGIN
  PERFORM ('[' || repeat('1,', 16000) || '1]')::vector;
EXCEPTION WHEN program_limit_exceeded THEN RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;

-- typmod on columns and assignment
CREATE TABLE items (id int PRIMARY KEY, v vector(3));
INSERT INTO items VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, '[1,2,4]'), (4, NULL);
INSERT INTO items VALUES (5, '[1,2]');
INSERT INTO items VALUES (5, ARRAY[1,2,3,4]);
UPDATE items SET v = '[1,1]' WHERE id = 1;
\d items

-- distances
SELECT '[1,2,3]'::vector <-> '[3,2,1]' AS l2, '[1,2,3]'::vector <#> '[3,2,1]' AS neg_ip,
       '[1,2,3]'::vector <=> '[3,2,1]' AS cosine, '[1,2,3]'::vector <+> '[3,2,1]' AS l1;
SELECT l2_distance('[0,0]'::vector, '[3,4]'), inner_product('[1,2]'::vector, '[3,4]'),
       cosine_distance('[1,0]'::vector, '[0,1]'), l1_distance('[1,2]'::vector, '[-1,-2]');
SELECT cosine_distance('[0,0]'::vector, '[1,1]') AS zero_vector_is_nan;
SELECT cosine_distance('[1,1]'::vector, '[1,1]') AS same, cosine_distance('[1,1]'::vector, '[-1,-1]') AS opposite;
SELECT '[1,2]'::vector <-> '[1,2,3]';
SELECT id, v <-> '[1,2,3]' AS d FROM items ORDER BY v <-> '[1,2,3]', id;

-- arithmetic and concatenation
SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]', '[1,2,3]'::vector * '[4,5,6]';
SELECT '[1,2]'::vector || '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[1e-30]'::vector * '[1e-30]';
SELECT '[1]'::vector + '[1,2]';
SELECT array_fill(1, ARRAY[8000])::vector || array_fill(1, ARRAY[8001])::vector;

-- functions
SELECT vector_dims('[1,2,3]'::vector), vector_norm('[3,4]'::vector);
SELECT l2_normalize('[3,4]'::vector), l2_normalize('[0,0]'::vector);
SELECT subvector('[1,2,3,4,5]'::vector, 2, 3), subvector('[1,2,3,4,5]'::vector, 4, 10);
SELECT subvector('[1,2,3]'::vector, 4, 1);
SELECT subvector('[1,2,3]'::vector, 1, 0);
SELECT binary_quantize('[1,-1,0,2,3,-3,1,1,1]'::vector);

-- comparisons and the btree opclass
SELECT '[1,2]'::vector < '[1,3]', '[1,2]'::vector = '[1,2]', '[1,2]'::vector < '[1,2,0]', '[2]'::vector > '[1,9]';
SELECT v FROM items ORDER BY v;
SELECT DISTINCT v FROM (VALUES ('[1,2]'::vector), ('[1,2]'), ('[2,1]')) t(v) ORDER BY v;
CREATE TABLE uniq (v vector UNIQUE);
INSERT INTO uniq VALUES ('[1,2]'), ('[1,3]');
INSERT INTO uniq VALUES ('[1,2]');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM uniq WHERE v = '[1,3]';
SELECT * FROM uniq WHERE v = '[1,3]';
RESET enable_seqscan;

-- aggregates (and the parallel plan with the combine function)
SELECT avg(v), sum(v) FROM items;
SELECT avg(v), sum(v) FROM items WHERE false;
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
CREATE TABLE many AS SELECT i, ARRAY[i % 7, i % 5, 1]::vector(3) AS v FROM generate_series(1, 20000) i;
ALTER TABLE many SET (parallel_workers = 2);
ANALYZE many;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM many;
SELECT avg(v), sum(v) FROM many;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- COPY round trips, text and binary
COPY items TO '/tmp/vchord_regress_items.txt';
COPY items TO '/tmp/vchord_regress_items.bin' (FORMAT binary);
CREATE TABLE items_text (LIKE items);
CREATE TABLE items_bin (LIKE items);
COPY items_text FROM '/tmp/vchord_regress_items.txt';
COPY items_bin FROM '/tmp/vchord_regress_items.bin' (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE a.v IS NOT DISTINCT FROM t.v AND a.v IS NOT DISTINCT FROM b.v) AS equal
  FROM items a JOIN items_text t USING (id) JOIN items_bin b USING (id);
-- binary send/recv directly
SELECT vector_send('[1,-2.5]'::vector);
