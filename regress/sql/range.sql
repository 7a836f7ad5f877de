-- Distance thresholds, `v <<op>> sphere(q, r)` (issue 26): the operators, and as index quals
-- of vchordrq and vchordg that return every row within r, nearest first, and stop there.
SELECT '[1,2,3]'::vector <<->> sphere('[1,2,4]'::vector, 1.5) AS inside,
       '[1,2,3]'::vector <<->> sphere('[1,2,4]'::vector, 1) AS at_radius,
       '[1,2,3]'::vector <<->> sphere('[1,2,4]'::vector, 0.5) AS outside;
SELECT '[1,0]'::vector <<#>> sphere('[2,0]'::vector, -1.5) AS ip,
       '[1,0]'::vector <<=>> sphere('[1,1]'::vector, 0.3) AS cosine,
       '[1,0]'::vector <<+>> sphere('[2,1]'::vector, 2.5) AS l1;
SELECT '[1,2,3]'::halfvec <<->> sphere('[1,2,4]'::halfvec, 1.5) AS h_l2,
       '[1,0]'::halfvec <<#>> sphere('[2,0]'::halfvec, -1.5) AS h_ip,
       '[1,0]'::halfvec <<=>> sphere('[1,1]'::halfvec, 0.5) AS h_cosine,
       '[1,0]'::halfvec <<+>> sphere('[2,1]'::halfvec, 2) AS h_l1;
SELECT sphere('[1,2]'::vector, 0.5), ('[1,2]', 3)::sphere_vector, (sphere('[1,2]'::halfvec, 1)).radius;
-- NULLs: a NULL sphere, centre or radius matches nothing
SELECT '[1,2]'::vector <<->> sphere(NULL::vector, 1) IS NULL AS null_sphere,
       '[1,2]'::vector <<->> ROW(NULL, 1)::sphere_vector IS NULL AS null_centre,
       '[1,2]'::vector <<->> ROW('[1,2]', NULL)::sphere_vector IS NULL AS null_radius;
-- errors
SELECT '[1,2,3]'::vector <<->> sphere('[1,2]'::vector, 1);
SELECT '[1,2]'::vector <<->> sphere('[1,nan]'::vector, 1);

CREATE TABLE s (id int, v vector(3));
INSERT INTO s SELECT i, ARRAY[i % 7, i % 11, i % 13]::real[]::vector FROM generate_series(1, 600) i;
-- copies of one row, and rows exactly at the radius below (distance 2 from [1,2,3])
INSERT INTO s SELECT 1000 + i, '[1,2,3]' FROM generate_series(1, 25) i;
INSERT INTO s SELECT 2000 + i, '[1,2,5]' FROM generate_series(1, 5) i;
INSERT INTO s VALUES (3000, NULL);
-- what a sequential scan finds
CREATE TABLE want AS SELECT id, v <-> '[1,2,3]' AS d FROM s WHERE v <-> '[1,2,3]' < 2;
SELECT count(*) FROM want;

CREATE INDEX s_rq ON s USING vchordrq (v) WITH (options = $$[build.internal]
lists = [4]$$);
SET vchordrq.probes = '4';
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) ORDER BY v <-> '[1,2,3]';
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2);
-- with ORDER BY: every row within the radius, none at it, in distance order
CREATE TABLE got AS SELECT row_number() OVER () AS n, id, v <-> '[1,2,3]' AS d FROM (
    SELECT id, v FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) ORDER BY v <-> '[1,2,3]') x;
SELECT (SELECT count(*) FROM got) AS got,
       (SELECT count(*) FROM want w WHERE NOT EXISTS (SELECT FROM got g WHERE g.id = w.id)) AS missing,
       (SELECT count(*) FROM got g WHERE NOT EXISTS (SELECT FROM want w WHERE g.id = w.id)) AS extra,
       (SELECT bool_and(a.d <= b.d) FROM got a JOIN got b ON b.n = a.n + 1) AS ordered;
DROP TABLE got;
-- without ORDER BY, and with LIMIT
SELECT count(*) AS no_order,
       count(*) FILTER (WHERE id IN (SELECT id FROM want)) AS within
  FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2);
SELECT count(*) AS limited FROM (SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2)
  ORDER BY v <-> '[1,2,3]' LIMIT 10) x;
-- a sphere around another point than the ORDER BY query: a filter, still exact
SELECT count(*) = (SELECT count(*) FROM s WHERE v <-> '[5,5,5]' < 3) AS other_centre
  FROM (SELECT id FROM s WHERE v <<->> sphere('[5,5,5]'::vector, 3) ORDER BY v <-> '[1,2,3]') x;
-- two thresholds around the query: the smaller one holds
SELECT count(*) = (SELECT count(*) FROM want WHERE d < 1.5) AS nested
  FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) AND v <<->> sphere('[1,2,3]'::vector, 1.5);
-- nothing within: a radius of 0, a negative one, a NULL centre or sphere, a NaN radius
SELECT count(*) FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 0);
SELECT count(*) FROM s WHERE v <<->> sphere('[1,2,3]'::vector, -1);
SELECT count(*) FROM s WHERE v <<->> ROW(NULL, 1)::sphere_vector;
SELECT count(*) FROM s WHERE v <<->> NULL::sphere_vector;
SELECT count(*) FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 'NaN');
-- an infinite radius: every row
SELECT count(*) FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 'Infinity');
-- a prepared statement: the sphere is a parameter
PREPARE near(vector, float8) AS SELECT count(*) FROM s WHERE v <<->> sphere($1, $2);
EXECUTE near('[1,2,3]', 2);
EXECUTE near('[1,2,3]', 100);
DEALLOCATE near;
-- a centre of the wrong dimensions
SELECT count(*) FROM s WHERE v <<->> sphere('[1,2]'::vector, 1) ORDER BY 1;
-- the other metrics
CREATE INDEX s_rq_ip ON s USING vchordrq (v vector_ip_ops) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT count(*) = (SELECT count(*) FROM s WHERE v <#> '[1,1,1]' < -20) AS ip
  FROM s WHERE v <<#>> sphere('[1,1,1]'::vector, -20);
DROP INDEX s_rq_ip;
CREATE INDEX s_rq_cos ON s USING vchordrq (v vector_cosine_ops) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT count(*) = (SELECT count(*) FROM s WHERE v <=> '[1,2,3]' < 0.05) AS cosine
  FROM s WHERE v <<=>> sphere('[1,2,3]'::vector, 0.05);
DROP INDEX s_rq_cos;
CREATE INDEX s_rq_l1 ON s USING vchordrq (v vector_l1_ops) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT count(*) = (SELECT count(*) FROM s WHERE v <+> '[1,2,3]' < 4) AS l1
  FROM s WHERE v <<+>> sphere('[1,2,3]'::vector, 4);
DROP INDEX s_rq_l1;

-- vchordg
DROP INDEX s_rq;
CREATE INDEX s_g ON s USING vchordg (v);
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) ORDER BY v <-> '[1,2,3]';
SELECT count(*) AS got,
       count(*) FILTER (WHERE id IN (SELECT id FROM want)) AS within
  FROM (SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) ORDER BY v <-> '[1,2,3]') x;
SELECT count(*) AS no_order FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2);
DROP INDEX s_g;
-- vchordg with labels: the threshold and the label filter together
ALTER TABLE s ADD COLUMN l smallint[];
UPDATE s SET l = ARRAY[(id % 3)::smallint];
CREATE INDEX s_gl ON s USING vchordg (v, l);
SELECT count(*) = (SELECT count(*) FROM s WHERE v <-> '[1,2,3]' < 2 AND l && '{1}') AS labelled
  FROM (SELECT id FROM s WHERE v <<->> sphere('[1,2,3]'::vector, 2) AND l && '{1}'
        ORDER BY v <-> '[1,2,3]') x;
DROP INDEX s_gl;

-- halfvec
CREATE TABLE sh AS SELECT id, v::halfvec(3) AS v FROM s;
CREATE INDEX sh_rq ON sh USING vchordrq (v) WITH (options = $$[build.internal]
lists = [4]$$);
SELECT count(*) = (SELECT count(*) FROM want) AS halfvec_rq
  FROM (SELECT id FROM sh WHERE v <<->> sphere('[1,2,3]'::halfvec, 2) ORDER BY v <-> '[1,2,3]') x;
CREATE INDEX sh_g ON sh USING vchordg (v);
SET vchordrq.enable_scan = off;
SELECT count(*) = (SELECT count(*) FROM want) AS halfvec_g
  FROM (SELECT id FROM sh WHERE v <<->> sphere('[1,2,3]'::halfvec, 2) ORDER BY v <-> '[1,2,3]') x;
RESET vchordrq.enable_scan;
RESET enable_seqscan;
RESET vchordrq.probes;
DROP TABLE s, sh, want;
