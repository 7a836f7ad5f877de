"""Distance thresholds as index quals (issue 26): `v <<op>> sphere(q, r)` through vchordrq and
vchordg returns, with every list probed (vchordrq) or a beam as wide as the table (vchordg),
exactly the rows a sequential scan finds within r, nearest first, and ends there instead of
reading the rest of the index; on random, clustered and duplicated data, in both modes, with
and without ORDER BY."""
import json

import numpy as np
import pytest

from data import load, vec

# (operator, sphere operator, opclass suffix)
METRICS = {
    "l2": ("<->", "<<->>", "l2_ops"),
    "ip": ("<#>", "<<#>>", "ip_ops"),
    "cosine": ("<=>", "<<=>>", "cosine_ops"),
    "l1": ("<+>", "<<+>>", "l1_ops"),
}


def datasets(rng):
    n, dims = 1500, 12
    random = rng.normal(size=(n, dims))
    centres = rng.normal(size=(15, dims)) * 4
    clustered = centres[rng.integers(0, 15, n)] + rng.normal(size=(n, dims)) * 0.5
    base = rng.normal(size=(100, dims))
    duplicated = base[rng.integers(0, 100, n)]  # every row has about 14 copies
    return {"random": random, "clustered": clustered, "duplicated": duplicated}


def exhaustive(conn, am, rows):
    """Every list probed with the widest error bound, or a beam as wide as the table: the
    stream is exact (docs/tuning.md)."""
    if am == "vchordrq":
        conn.execute("SET vchordrq.probes = '10'")
        conn.execute("SET vchordrq.epsilon = 4")
    else:
        conn.execute(f"SET vchordg.ef_search = {max(rows, 64)}")


def index_options(am):
    return "WITH (options = $$[build.internal]\nlists = [10]$$)" if am == "vchordrq" else ""


def radius_between(d, share):
    """A radius between two distinct distances, near the `share` quantile: no row lies within
    a rounding error of it."""
    u = np.unique(np.round(d, 4))
    i = max(1, min(len(u) - 1, int(share * len(u))))
    return float((u[i - 1] + u[i]) / 2)


def exact(conn, table, op, q, r, typ="vector"):
    conn.execute("SET enable_indexscan = off")
    ids = {row[0] for row in conn.execute(f"SELECT id FROM {table} WHERE v {op} %s::{typ} < %s", (q, r))}
    conn.execute("RESET enable_indexscan")
    return ids


@pytest.mark.parametrize("am", ["vchordrq", "vchordg"])
def test_every_row_within_the_radius_nearest_first(modal_cluster, am):
    c = modal_cluster
    rng = np.random.default_rng(2026)
    for name, data in datasets(rng).items():
        data = data.astype(np.float32)
        load(c, name, data)
        c.sql(f"CREATE INDEX ON {name} USING {am} (v) {index_options(am)}")
        with c.connect() as conn:
            conn.execute("SET enable_seqscan = off")
            exhaustive(conn, am, len(data))
            for qi in range(4):
                q = data[rng.integers(0, len(data))] + rng.normal(size=data.shape[1]).astype(np.float32) * 0.1 * qi
                d = np.linalg.norm(data.astype(np.float64) - q, axis=1)
                for share in (0.01, 0.2):
                    r = radius_between(d, share)
                    want = exact(conn, name, "<->", vec(q), r)
                    assert want, (name, r)
                    rows = conn.execute(
                        f"SELECT id, v <-> %s::vector FROM {name} WHERE v <<->> sphere(%s::vector, %s) "
                        f"ORDER BY v <-> %s::vector", (vec(q), vec(q), r, vec(q))).fetchall()
                    ids = [i for i, _ in rows]
                    assert len(ids) == len(set(ids)), (name, "a row came twice")
                    assert set(ids) == want, (name, share, len(ids), len(want))
                    dist = [x for _, x in rows]
                    assert dist == sorted(dist), (name, "not nearest first")
                    # without ORDER BY: the same rows
                    plain = [row[0] for row in conn.execute(
                        f"SELECT id FROM {name} WHERE v <<->> sphere(%s::vector, %s)", (vec(q), r))]
                    assert sorted(plain) == sorted(ids)
                    # with LIMIT: the first rows of the same stream
                    top = [row[0] for row in conn.execute(
                        f"SELECT id FROM {name} WHERE v <<->> sphere(%s::vector, %s) "
                        f"ORDER BY v <-> %s::vector LIMIT 5", (vec(q), r, vec(q)))]
                    assert len(top) == min(5, len(want))
                    assert set(top) <= want
            if am == "vchordrq":
                # At the default error bound a row whose estimate erred past it comes after a
                # farther one and strict order drops it: a small share, never a wrong row.
                conn.execute("RESET vchordrq.epsilon")
                q = data[0]
                d = np.linalg.norm(data.astype(np.float64) - q, axis=1)
                r = radius_between(d, 0.2)
                want = exact(conn, name, "<->", vec(q), r)
                got = {row[0] for row in conn.execute(
                    f"SELECT id FROM {name} WHERE v <<->> sphere(%s::vector, %s) ORDER BY v <-> %s::vector",
                    (vec(q), r, vec(q)))}
                assert got <= want and len(got) >= 0.97 * len(want), (name, len(got), len(want))
            plan = conn.execute(
                f"EXPLAIN (FORMAT JSON) SELECT id FROM {name} WHERE v <<->> sphere(%s::vector, 1)",
                (vec(data[0]),)).fetchone()[0]
            assert plan[0]["Plan"]["Node Type"] == "Index Scan", plan


def buffers(conn, sql, args):
    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, args).fetchone()[0]
    p = plan[0]["Plan"]
    return p["Shared Hit Blocks"] + p["Shared Read Blocks"], p["Actual Rows"]


@pytest.mark.parametrize("am", ["vchordrq", "vchordg"])
def test_the_scan_stops_at_the_radius(cluster, am):
    """The pushed-down threshold reads a small part of what the same query reads as a filter
    (where the index must stream on until no row is left)."""
    c = cluster
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, 16)) * 4
    data = (centres[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 16)) * 0.5).astype(np.float32)
    load(c, "t", data)
    opts = "WITH (options = $$[build.internal]\nlists = [20]$$)" if am == "vchordrq" else ""
    c.sql(f"CREATE INDEX ON t USING {am} (v) {opts}")
    with c.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        q = vec(data[0])
        d = np.linalg.norm(data.astype(np.float64) - data[0], axis=1)
        r = radius_between(d, 0.005)
        pushed, n1 = buffers(conn, "SELECT id FROM t WHERE v <<->> sphere(%s::vector, %s) ORDER BY v <-> %s::vector",
                             (q, r, q))
        filtered, n2 = buffers(conn, "SELECT id FROM t WHERE v <-> %s::vector < %s ORDER BY v <-> %s::vector",
                               (q, r, q))
        assert n1 == n2 == len(exact(conn, "t", "<->", q, r)) or am == "vchordg"
        assert n1 > 0
        assert pushed * 3 < filtered, (pushed, filtered)


@pytest.mark.parametrize("metric", ["ip", "cosine", "l1"])
@pytest.mark.parametrize("typ", ["vector", "halfvec"])
def test_other_metrics_and_halfvec(cluster, metric, typ):
    c = cluster
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(10, 8)) * 3
    data = (centres[rng.integers(0, 10, 1000)] + rng.normal(size=(1000, 8)) * 0.5).astype(np.float16).astype(np.float32)
    load(c, "t", data, typ=typ)
    op, sop, ops = METRICS[metric]
    ams = ["vchordrq"] + (["vchordg"] if metric != "l1" else [])
    for am in ams:
        c.sql(f"CREATE INDEX t_idx ON t USING {am} (v {typ}_{ops}) {index_options(am)}")
        with c.connect() as conn:
            conn.execute("SET enable_seqscan = off")
            exhaustive(conn, am, len(data))
            for qi in range(3):
                q = vec(data[qi * 100])
                d = [row[0] for row in conn.execute(f"SELECT v {op} %s::{typ} FROM t", (q,))]
                r = radius_between(np.array(d), 0.05)
                want = exact(conn, "t", op, q, r, typ)
                rows = conn.execute(
                    f"SELECT id, v {op} %s::{typ} FROM t WHERE v {sop} sphere(%s::{typ}, %s) ORDER BY v {op} %s::{typ}",
                    (q, q, r, q)).fetchall()
                assert {i for i, _ in rows} == want, (am, metric, typ)
                assert [x for _, x in rows] == sorted(x for _, x in rows)
        c.sql("DROP INDEX t_idx")


def test_threshold_and_labels_together(cluster):
    c = cluster
    rng = np.random.default_rng(3)
    data = rng.normal(size=(2000, 8)).astype(np.float32)
    load(c, "t", data)
    c.sql("ALTER TABLE t ADD COLUMN l smallint[]")
    c.sql("UPDATE t SET l = ARRAY[(id % 5)::smallint]")
    c.sql("CREATE INDEX ON t USING vchordg (v, l)")
    with c.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET vchordg.ef_search = 2000")
        q = vec(data[1])
        d = np.linalg.norm(data.astype(np.float64) - data[1], axis=1)
        r = radius_between(d, 0.3)
        conn.execute("SET enable_indexscan = off")
        want = {row[0] for row in conn.execute("SELECT id FROM t WHERE v <-> %s::vector < %s AND l && '{2}'", (q, r))}
        conn.execute("RESET enable_indexscan")
        got = [row[0] for row in conn.execute(
            "SELECT id FROM t WHERE v <<->> sphere(%s::vector, %s) AND l && '{2}' ORDER BY v <-> %s::vector",
            (q, r, q))]
        assert set(got) == want and len(got) == len(want)
