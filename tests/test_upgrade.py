"""Upgrades (issue 24): ALTER EXTENSION vchord UPDATE from 0.1.0 (through 0.2.0) gives the
catalog a fresh install of the current version has, and the indexes built under 0.1.0 answer as
before."""
import numpy as np
import pytest

from data import vec

# Every object of extension vchord, described by what it is and does (never by OID), one line
# each: functions, operators, types, casts, access methods, operator classes and their members.
CATALOG = """
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'vchord'),
member AS (SELECT classid, objid FROM pg_depend, ext
           WHERE refclassid = 'pg_extension'::regclass AND refobjid = ext.oid AND deptype = 'e')
SELECT line FROM (
  SELECT format('function %s returns %s: %s %s %s strict=%s %s %s', p.oid::regprocedure,
                p.prorettype::regtype, p.prokind, p.prosrc, p.probin, p.proisstrict, p.provolatile,
                p.proparallel) AS line
  FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
  UNION ALL
  SELECT format('operator %s: %s commutator %s negator %s restrict %s join %s', o.oid::regoperator,
                o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin)
  FROM pg_operator o JOIN member m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
  UNION ALL
  SELECT format('type %s: %s %s %s %s %s %s %s', t.typname, t.typinput, t.typoutput, t.typreceive,
                t.typsend, t.typmodin, t.typalign, t.typstorage)
  FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
  UNION ALL
  SELECT format('cast %s -> %s: %s %s', c.castsource::regtype, c.casttarget::regtype,
                c.castfunc::regprocedure, c.castcontext)
  FROM pg_cast c JOIN member m ON m.classid = 'pg_cast'::regclass AND m.objid = c.oid
  UNION ALL
  SELECT format('access method %s: %s %s', a.amname, a.amhandler, obj_description(a.oid, 'pg_am'))
  FROM pg_am a JOIN member m ON m.classid = 'pg_am'::regclass AND m.objid = a.oid
  UNION ALL
  SELECT format('operator class %s for %s using %s default=%s: %s', c.opcname, c.opcintype::regtype,
                a.amname, c.opcdefault,
                (SELECT string_agg(x, ', ' ORDER BY x) FROM (
                   SELECT format('op %s %s %s', ao.amopstrategy, ao.amopopr::regoperator,
                                 ao.amoppurpose) AS x
                   FROM pg_amop ao WHERE ao.amopfamily = c.opcfamily
                   UNION ALL
                   SELECT format('fn %s %s', ap.amprocnum, ap.amproc::regprocedure)
                   FROM pg_amproc ap WHERE ap.amprocfamily = c.opcfamily) s))
  FROM pg_opclass c JOIN member m ON m.classid = 'pg_opclass'::regclass AND m.objid = c.oid
  JOIN pg_am a ON a.oid = c.opcmethod
  UNION ALL
  SELECT format('%s', pg_describe_object(m.classid, m.objid, 0))
  FROM member m WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_operator'::regclass,
       'pg_type'::regclass, 'pg_cast'::regclass, 'pg_am'::regclass, 'pg_opclass'::regclass)
) s ORDER BY line
"""


def catalog(c, dbname: str) -> list[str]:
    return [r[0] for r in c.sql(CATALOG, dbname=dbname)]


def answers(conn, queries) -> list:
    conn.execute("SET enable_seqscan = off")
    out = []
    for q in queries:
        for op in ("<->", "<=>"):
            out.append(conn.execute(f"SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY v {op} %s"
                                    " LIMIT 10) s", (vec(q),)).fetchone()[0])
        out.append(conn.execute("SELECT array_agg(id) FROM (SELECT id FROM t WHERE labels && '{1}'"
                                " ORDER BY h <#> %s LIMIT 10) s", (vec(q),)).fetchone()[0])
    return out


def test_update_from_0_1_0(cluster):
    c = cluster  # vchord (the default version) is created in database postgres
    c.sql("CREATE DATABASE old")
    with c.connect("old") as conn:
        conn.execute("CREATE EXTENSION vchord VERSION '0.1.0'")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v vector(8), h halfvec(8), labels smallint[])")
        rng = np.random.default_rng(24)
        with conn.cursor().copy("COPY t FROM STDIN") as cp:
            for i, r in enumerate(rng.normal(size=(2000, 8))):
                cp.write_row((i, vec(r), vec(r), "{%d}" % (i % 3)))
        conn.execute("CREATE INDEX t_rq ON t USING vchordrq (v vector_l2_ops)")
        conn.execute("CREATE INDEX t_rq_cos ON t USING vchordrq (v vector_cosine_ops)")
        conn.execute("CREATE INDEX t_g ON t USING vchordg (h halfvec_ip_ops, labels)")
        queries = rng.normal(size=(5, 8))
        before = answers(conn, queries)
        conn.execute("ALTER EXTENSION vchord UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vchord'").fetchone() == ("0.3.0",)
        assert answers(conn, queries) == before
        assert conn.execute("SELECT vchordrq_verify('t_rq'), vchordg_verify('t_g')").fetchone() == ([], [])
        # what 0.2.0 added works on the updated install
        assert conn.execute("SELECT B'1011' <~> B'0011', B'1100' <%> B'0110'").fetchone() == pytest.approx((1.0, 2 / 3))
        conn.execute("CREATE INDEX t_default ON t USING vchordrq (v)")
        # what 0.3.0 added: the recall of an index built under 0.1.0 (t_default, on the same
        # column and operator, would be the planner's other choice)
        conn.execute("DROP INDEX t_default")
        r = conn.execute("SELECT vchord_recall('t_rq', %s::vector, 10)", (vec(queries[0]),)).fetchone()[0]
        assert 0.5 <= r <= 1.0
    assert catalog(c, "old") == catalog(c, "postgres")
    assert len(catalog(c, "postgres")) > 150
