-- vchord 0.2.0 -> 0.3.0: the recall checks, vchord_recall and vchord_sampled_recall (the same
-- in both modes: they work on any vchordrq or vchordg index through its operator class), and
-- distance thresholds as index quals (sphere_vector, sphere_halfvec and the <<op>> operators).
\echo Use "ALTER EXTENSION vchord UPDATE TO '0.3.0'" to load this file. \quit

-- In pgvector mode (vchord owns no types: pgvector's are used) vchord depends on extension
-- vector, as the 0.2.0 script made it. PostgreSQL resets an extension's dependencies on other
-- extensions to its control file's `requires` at each update step, so the row is made again.
INSERT INTO pg_catalog.pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype)
    SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass, c.oid, 0,
           'pg_catalog.pg_extension'::pg_catalog.regclass, v.oid, 0, 'n'
    FROM pg_catalog.pg_extension c, pg_catalog.pg_extension v
    WHERE c.extname = 'vchord' AND v.extname = 'vector'
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.deptype = 'e'
                        AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND d.refobjid = c.oid)
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND d.objid = c.oid AND d.refobjid = v.oid);

-- vchord_recall(index, query, k): of the exact top k for `query` (what a sequential scan
-- finds), the share the index's own top k holds: 1.0 when the index finds them all. A row at
-- the k-th exact distance counts as found (ties). The index must be the planner's choice for
-- `ORDER BY column <op> query` (another index on the column makes this an error).
CREATE FUNCTION vchord_recall(index regclass, query anyelement, k integer DEFAULT 10)
RETURNS real LANGUAGE plpgsql VOLATILE STRICT SET enable_seqscan = off AS $recall$
DECLARE
    tbl regclass;
    col name;
    am name;
    op text;
    idx text;
    plan text;
    got float8[];
    exact float8[];
BEGIN
    IF k < 1 THEN
        RAISE EXCEPTION 'k must be at least 1, not %', k USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT i.indrelid::regclass, a.attname, m.amname, c.relname,
           CASE WHEN o.oid IS NOT NULL
                THEN pg_catalog.format('OPERATOR(%I.%s)', n.nspname, o.oprname) END
      INTO tbl, col, am, idx, op
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      JOIN pg_catalog.pg_am m ON m.oid = c.relam
      JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[0]
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] AND i.indkey[0] <> 0
      LEFT JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoppurpose = 'o'
      LEFT JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr
      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
     WHERE i.indexrelid = index;
    IF NOT FOUND OR am NOT IN ('vchordrq', 'vchordg') OR op IS NULL THEN
        RAISE EXCEPTION '"%" is not a vchordrq or vchordg index', index
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF col IS NULL THEN
        RAISE EXCEPTION 'index "%" is on an expression, not a column', index
            USING ERRCODE = 'feature_not_supported';
    END IF;
    EXECUTE pg_catalog.format('EXPLAIN (FORMAT JSON) SELECT %I %s $1 FROM %s ORDER BY %I %s $1 LIMIT %s',
                              col, op, tbl, col, op, k) INTO plan USING query;
    IF pg_catalog.strpos(plan, pg_catalog.format('"Index Name": %s', pg_catalog.to_json(idx))) = 0 THEN
        RAISE EXCEPTION 'the planner does not use index "%" for ORDER BY % %', index, pg_catalog.quote_ident(col), op
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Another index on the column serves the same operator: turn its access method off for the session (vchordrq.enable_scan, vchordg.enable_scan, hnsw or ivfflat settings), or drop it.';
    END IF;
    -- The index's top k, and the exact one (an ORDER BY that no index serves).
    EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(d) FROM (SELECT %I %s $1 AS d FROM %s ORDER BY %I %s $1 LIMIT %s) s',
                              col, op, tbl, col, op, k) INTO got USING query;
    EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(d ORDER BY d) FROM (SELECT %I %s $1 AS d FROM %s WHERE %I IS NOT NULL ORDER BY (%I %s $1) + 0 LIMIT %s) s',
                              col, op, tbl, col, col, op, k) INTO exact USING query;
    IF exact IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(got) d
             WHERE d <= exact[pg_catalog.array_length(exact, 1)])::real
           / pg_catalog.array_length(exact, 1);
END
$recall$;

-- vchord_sampled_recall(index, k, queries): vchord_recall averaged over `queries` rows of the
-- index's table drawn at random, each row's vector a query. Each query reads the whole table
-- once (its exact top k), so it costs `queries` sequential scans.
CREATE FUNCTION vchord_sampled_recall(index regclass, k integer DEFAULT 10, queries integer DEFAULT 100)
RETURNS real LANGUAGE plpgsql VOLATILE STRICT AS $sampled$
DECLARE
    tbl regclass;
    col name;
    nsp name;
    q record;
    r real;
    total float8 := 0;
    n integer := 0;
BEGIN
    IF queries < 1 THEN
        RAISE EXCEPTION 'queries must be at least 1, not %', queries
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT i.indrelid::regclass, a.attname INTO tbl, col
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      JOIN pg_catalog.pg_am m ON m.oid = c.relam AND m.amname IN ('vchordrq', 'vchordg')
      LEFT JOIN pg_catalog.pg_attribute a
             ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] AND i.indkey[0] <> 0
     WHERE i.indexrelid = index;
    IF NOT FOUND THEN
        RAISE EXCEPTION '"%" is not a vchordrq or vchordg index', index
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF col IS NULL THEN
        RAISE EXCEPTION 'index "%" is on an expression, not a column', index
            USING ERRCODE = 'feature_not_supported';
    END IF;
    -- vchord_recall, wherever the extension lives now (it is relocatable)
    SELECT n.nspname INTO nsp
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'vchord';
    FOR q IN EXECUTE pg_catalog.format('SELECT %I AS v FROM %s WHERE %I IS NOT NULL ORDER BY pg_catalog.random() LIMIT %s',
                                       col, tbl, col, queries) LOOP
        EXECUTE pg_catalog.format('SELECT %I.vchord_recall($1, $2, $3)', nsp)
            INTO r USING index, q.v, k;
        total := total + r;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    RETURN total / n;
END
$sampled$;

-- ---- distance thresholds -------------------------------------------------------------------
-- `v <<->> sphere(q, r)` is `v <-> q < r`; <<#>>, <<=>> and <<+>> are the same for <#>, <=> and
-- <+>. Each is the search operator (strategy 2) of the vchordrq and vchordg opclass of its
-- metric, so the planner makes it an index qual: the scan returns rows nearest first and ends
-- at the first one at distance r or farther. In pgvector mode the types are pgvector's, and
-- its schema joins this script's search path.
SELECT pg_catalog.set_config('search_path',
        pg_catalog.current_setting('search_path') || ', ' || pg_catalog.quote_ident(n.nspname), true)
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'vector';

-- The same objects for each type (halfvec came with pgvector 0.7.0: over an older pgvector it
-- has none), each operator joining the opclasses of its metric that exist (L1 has no vchordg
-- class, and over pgvector before 0.7.0 no vchordrq one either).
DO $sphere$
DECLARE
    t text;
    m record;
    am text;
BEGIN
FOREACH t IN ARRAY ARRAY['vector', 'halfvec'] LOOP
    CONTINUE WHEN pg_catalog.to_regtype(t) IS NULL;
    EXECUTE pg_catalog.format('CREATE TYPE sphere_%1$s AS (center %1$s, radius double precision)', t);
    EXECUTE pg_catalog.format('CREATE FUNCTION sphere(%1$s, double precision) RETURNS sphere_%1$s
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS %2$L', t, 'SELECT $1, $2');
    FOR m IN SELECT * FROM (VALUES ('l2', '<<->>'), ('ip', '<<#>>'), ('cosine', '<<=>>'), ('l1', '<<+>>')) v (metric, op)
    LOOP
        EXECUTE pg_catalog.format('CREATE FUNCTION _vchord_%1$s_sphere_%2$s(%1$s, sphere_%1$s) RETURNS bool
            AS %3$L, %4$L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE',
            t, m.metric, 'MODULE_PATHNAME', pg_catalog.format('vchord_%s_sphere_%s', t, m.metric));
        -- The planner has no statistics for a threshold: it takes 0.1 % of the rows to match
        -- (contsel, as for geometric containment), the small answer a threshold is for.
        EXECUTE pg_catalog.format('CREATE OPERATOR %3$s (LEFTARG = %1$s, RIGHTARG = sphere_%1$s,
            FUNCTION = _vchord_%1$s_sphere_%2$s, RESTRICT = contsel, JOIN = contjoinsel)', t, m.metric, m.op);
        FOREACH am IN ARRAY ARRAY['vchordrq', 'vchordg'] LOOP
            IF EXISTS (SELECT FROM pg_catalog.pg_opfamily f
                         JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod
                         JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
                        WHERE f.opfname = pg_catalog.format('%s_%s_ops', t, m.metric) AND a.amname = am
                          AND n.nspname = pg_catalog.current_schema()) THEN
                EXECUTE pg_catalog.format('ALTER OPERATOR FAMILY %1$s_%2$s_ops USING %3$s
                    ADD OPERATOR 2 %4$s (%1$s, sphere_%1$s)', t, m.metric, am, m.op);
            END IF;
        END LOOP;
    END LOOP;
END LOOP;
END
$sphere$;
