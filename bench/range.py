"""make bench-range: distance-threshold queries on real vectors, in one PostgreSQL 18 with
vchord preloaded. Not part of make test.

For each dataset (bench.py's loaders) and index (vchordrq, vchordg at their defaults), per
query a radius that holds the query's exact k nearest rows (k = 10 and 100: halfway between
the k-th and the (k+1)-th exact distance). Then, per search setting, over the same queries:
- `pushed`: `WHERE v <<op>> sphere(q, r) ORDER BY v <op> q`, the threshold as an index
  condition: mean latency, and recall (the share of the k rows within r that it returns);
- `plain`: `WHERE v <op> q < r ORDER BY v <op> q`, what a user writes without the operator,
  in the plan the planner picks (named in the table: the index, which then streams on until
  no row is left, or a sequential scan and a sort): mean latency over the first
  --filter-queries.
Prints a markdown table.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import DATASETS, load, vec  # noqa: E402
from cluster import Cluster  # noqa: E402

OPS = {"l2": ("<->", "<<->>", "vector_l2_ops"), "cosine": ("<=>", "<<=>>", "vector_cosine_ops")}
SETTINGS = {"vchordrq": ("vchordrq.probes", ["10", "40"]), "vchordg": ("vchordg.ef_search", ["64", "128"])}


def distances(base, q, metric):
    if metric == "cosine":
        return 1 - (base @ q) / (np.linalg.norm(base, axis=1) * np.linalg.norm(q))
    return np.linalg.norm(base - q, axis=1)


def timed(conn, sql, args):
    t = time.perf_counter()
    rows = conn.execute(sql, args).fetchall()
    return time.perf_counter() - t, rows


def plan_of(conn, sql, args) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, args).fetchall())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--datasets", default="fashion-mnist,glove-50")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--filter-queries", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    conf = {"shared_buffers": "'2GB'", "jit": "off", "max_parallel_workers_per_gather": "0"}
    out = []
    with Cluster(args.pg_config, name="range", conf=conf) as c:
        c.sql("CREATE EXTENSION vchord")
        for name in args.datasets.split(","):
            base, queries, metric = DATASETS[name](args.quick)
            queries = queries[: args.queries]
            op, sop, opclass = OPS[metric]
            b64 = base.astype(np.float64)
            radii = {}
            for k in (10, 100):
                rs = []
                for q in queries:
                    d = np.sort(distances(b64, q.astype(np.float64), metric))
                    rs.append(float((d[k - 1] + d[k]) / 2))
                radii[k] = rs
            with c.connect() as conn:
                conn.autocommit = True
                load(conn, base)
            print(f"== {name}: {len(base)} rows, {len(queries)} queries", flush=True)
            for am in ("vchordrq", "vchordg"):
                c.sql("DROP INDEX IF EXISTS idx")
                t = time.perf_counter()
                c.sql(f"CREATE INDEX idx ON items USING {am} (v {opclass})")
                print(f"  {am} built in {time.perf_counter() - t:.0f} s", flush=True)
                knob, values = SETTINGS[am]
                with c.connect() as conn:
                    conn.autocommit = True
                    for value in values:
                        conn.execute(f"SET {knob} = '{value}'")
                        for k in (10, 100):
                            lat, rec = [], []
                            for q, r in zip(queries, radii[k]):
                                sql = (f"SELECT id FROM items WHERE v {sop} sphere(%s::vector, %s) "
                                       f"ORDER BY v {op} %s::vector")
                                if not lat:
                                    assert "Index Cond" in plan_of(conn, sql, (vec(q), r, vec(q)))
                                s, rows = timed(conn, sql, (vec(q), r, vec(q)))
                                lat.append(s)
                                rec.append(min(len(rows), k) / k)
                            flt = []
                            plain = f"SELECT id FROM items WHERE v {op} %s::vector < %s ORDER BY v {op} %s::vector"
                            for q, r in list(zip(queries, radii[k]))[: args.filter_queries]:
                                s, _ = timed(conn, plain, (vec(q), r, vec(q)))
                                flt.append(s)
                            q, r = queries[0], radii[k][0]
                            how = "index" if "Index Scan" in plan_of(conn, plain, (vec(q), r, vec(q))) else "seq scan"
                            out.append((name, am, f"{knob} = {value}", k, np.mean(rec), 1e3 * np.mean(lat),
                                        1e3 * np.mean(flt), how))
                            print("  ", out[-1], flush=True)
            with c.connect() as conn:
                conn.execute("SET enable_indexscan = off")
                seq = []
                for q, r in list(zip(queries, radii[10]))[: args.filter_queries]:
                    s, _ = timed(conn, f"SELECT id FROM items WHERE v {op} %s::vector < %s ORDER BY v {op} %s::vector",
                                 (vec(q), r, vec(q)))
                    seq.append(s)
                out.append((name, "none", "", 10, 1.0, float("nan"), 1e3 * np.mean(seq), "seq scan"))
        assert c.crashes() == [], "server log shows crashes"
    print(f"\n{time.strftime('%Y-%m-%d')}, PostgreSQL 18, one connection, radius = halfway between "
          f"the k-th and (k+1)-th exact distance\n")
    print("| dataset | index | setting | rows within r | recall | `<<op>> sphere` ms | plain `<op> < r` ms | its plan |")
    print("|---|---|---|---|---|---|---|---|")
    for name, am, setting, k, rec, ms, fms, how in out:
        print(f"| {name} | {am} | {setting} | {k} | {rec:.3f} | {ms:.2f} | {fms:.1f} | {how} |")


if __name__ == "__main__":
    main()
