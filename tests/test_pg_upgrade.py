"""pg_upgrade (issue 24) with vchordrq and vchordg indexes, in both modes: the index files are
carried over as they are (vchord's pages do not depend on the server version), and after the
upgrade the indexes answer as before, take inserts and verify clean, with no REINDEX.

The servers come from VCHORD_UPGRADE_FROM and VCHORD_UPGRADE_TO (pg_config paths; make test
gives PostgreSQL 16 and 18, which both have pgvector); skipped without them. (This machine's
Debian PostgreSQL 15 stamps every column with a "pg_attver" option that no other build knows,
so pg_upgrade from it fails on any table, vchord's or not.)
"""
import os

import numpy as np
import pytest

from cluster import Cluster
from conftest import has_pgvector
from data import vec

FROM, TO = os.environ.get("VCHORD_UPGRADE_FROM"), os.environ.get("VCHORD_UPGRADE_TO")


def answers(conn, queries) -> list:
    conn.execute("SET enable_seqscan = off")
    out = []
    for q in queries:
        out.append(conn.execute("SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY v <-> %s LIMIT 10) s",
                                (vec(q),)).fetchone()[0])
        out.append(conn.execute("SELECT array_agg(id) FROM (SELECT id FROM t WHERE labels && '{1}'"
                                " ORDER BY h <=> %s LIMIT 10) s", (vec(q),)).fetchone()[0])
    return out


def fill(conn, rng) -> None:
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, v vector(8), h halfvec(8), labels smallint[])")
    with conn.cursor().copy("COPY t FROM STDIN") as cp:
        for i, r in enumerate(rng.normal(size=(3000, 8))):
            cp.write_row((i, vec(r), vec(r), "{%d}" % (i % 3)))
    conn.execute("CREATE INDEX t_rq ON t USING vchordrq (v)")
    conn.execute("CREATE INDEX t_g ON t USING vchordg (h halfvec_cosine_ops, labels)")


@pytest.mark.skipif(not (FROM and TO), reason="VCHORD_UPGRADE_FROM / VCHORD_UPGRADE_TO not set")
def test_pg_upgrade():
    rng = np.random.default_rng(15)
    queries = rng.normal(size=(5, 8))
    dbs = ["postgres"] + (["pgv"] if has_pgvector(FROM) and has_pgvector(TO) else [])
    before = {}
    with Cluster(FROM, name="upgrade-old") as old:
        for db in dbs:
            if db != "postgres":
                old.sql(f"CREATE DATABASE {db}")
                old.sql("CREATE EXTENSION vector", dbname=db)  # pgvector mode
            old.sql("CREATE EXTENSION vchord", dbname=db)
            with old.connect(db) as conn:
                fill(conn, rng)
                before[db] = answers(conn, queries)
        old.stop()
        new = Cluster(TO, name="upgrade-new")
        new.initdb_args = ["--no-data-checksums"]  # as the old cluster (18 turns them on)
        new.init()
        try:
            r = new._run(f"{new.bindir}/pg_upgrade", "-b", old.bindir, "-B", new.bindir,
                         "-d", old.data, "-D", new.data, "-U", new.user, "-s", new.dir,
                         "-p", str(old.port), "-P", str(new.port), check=False, cwd=new.dir)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
            new.start()
            for db in dbs:
                with new.connect(db) as conn:
                    assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vchord'"
                                        ).fetchone() == ("0.3.0",)
                    assert answers(conn, queries) == before[db], db
                    assert conn.execute("SELECT vchordrq_verify('t_rq'), vchordg_verify('t_g')").fetchone() == ([], [])
                    q = vec(queries[0])
                    conn.execute("INSERT INTO t VALUES (5000, %s, %s, '{1}')", (q, q))
                    conn.execute("SET enable_seqscan = off")
                    assert conn.execute("SELECT id FROM t ORDER BY v <-> %s LIMIT 1", (q,)).fetchone() == (5000,)
                    assert conn.execute("SELECT id FROM t WHERE labels && '{1}' ORDER BY h <=> %s LIMIT 1",
                                        (q,)).fetchone() == (5000,)
                    info = conn.execute("SELECT vchord_index_info('t_rq'), vchord_index_info('t_g')").fetchone()
                    assert [i["usable"] for i in info] == [True, True]
            if "pgv" in dbs:  # still pgvector mode: the types are pgvector's
                assert new.sql("SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid"
                               " WHERE d.classid = 'pg_type'::regclass AND d.objid = 'vector'::regtype"
                               " AND d.deptype = 'e'", dbname="pgv") == [("vector",)]
            assert new.crashes() == []
        finally:
            new.__exit__(None, None, None)
