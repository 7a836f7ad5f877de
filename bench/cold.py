"""make bench-cold: scans that read the index from storage, with and without I/O hints.

The index is larger than what PostgreSQL and the OS have cached when a query starts: before
every query the index and its table are evicted from shared buffers (pg_buffercache's
pg_buffercache_evict_relation, PostgreSQL 17+) and the OS page cache is dropped
(/proc/sys/vm/drop_caches; root). Each query then runs with `effective_io_concurrency = 0`
(no hints: every page read waits for its I/O, as before the hints existed) or at the
server's default (vchord asks the kernel for the pages it will read next: the first pages of
the next probed lists and the page after the one read ahead, the vectors of a rerank batch,
and vchordg's neighbour pages), alternating query by query. Then the same with warm caches,
to show what the hints cost when everything is cached.

Data: bench/scale.py's Gaussian mixture (128-d). vchordrq at --rows, vchordg at --g-rows.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
from scale import Mixture, copy_binary, vec  # noqa: E402

SQL = "SELECT id FROM items ORDER BY v <-> %s::vector LIMIT 10"


def drop_os_cache():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def one(conn, q) -> float:
    t = time.perf_counter()
    conn.execute(SQL, (q,)).fetchall()
    return time.perf_counter() - t


def compare(c, am, knob, setting, qs, cold_n, warm_n):
    default = c.sql("SHOW effective_io_concurrency")[0][0]
    rows = []
    with c.connect() as conn:
        conn.autocommit = True
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_buffercache")
        conn.execute("SET enable_seqscan = off")
        conn.execute(f"SET {knob} = '{setting}'")
        cold = {"0": [], default: []}
        for i, q in enumerate(qs[:cold_n]):
            for eic in (["0", default] if i % 2 == 0 else [default, "0"]):
                conn.execute(f"SET effective_io_concurrency = {eic}")
                conn.execute("SELECT pg_buffercache_evict_relation('idx'), pg_buffercache_evict_relation('items')")
                drop_os_cache()
                cold[eic].append(one(conn, q))
        warm = {"0": [], default: []}
        for eic in ("0", default):
            conn.execute(f"SET effective_io_concurrency = {eic}")
            for q in qs[:warm_n]:
                one(conn, q)
        for _ in range(2):
            for eic in ("0", default):
                conn.execute(f"SET effective_io_concurrency = {eic}")
                warm[eic].extend(one(conn, q) for q in qs[:warm_n])
        for eic in ("0", default):
            c_ms = np.array(cold[eic]) * 1e3
            w_ms = np.array(warm[eic]) * 1e3
            rows.append((am, f"{knob} = {setting}", eic, c_ms.mean(), np.percentile(c_ms, 50),
                         np.percentile(c_ms, 99), w_ms.mean()))
            print("  ", rows[-1], flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--g-rows", type=int, default=200_000)
    ap.add_argument("--probes", default="96")
    ap.add_argument("--ef", default="128")
    ap.add_argument("--cold-queries", type=int, default=40)
    ap.add_argument("--warm-queries", type=int, default=300)
    args = ap.parse_args()
    conf = {"shared_buffers": "'1GB'", "jit": "off", "max_parallel_maintenance_workers": "2",
            "max_wal_size": "'8GB'", "checkpoint_timeout": "'30min'"}
    out = []
    with Cluster(args.pg_config, name="cold", conf=conf) as c:
        c.sql("CREATE EXTENSION vchord")
        for am, n, knob, setting in [("vchordrq", args.rows, "vchordrq.probes", args.probes),
                                     ("vchordg", args.g_rows, "vchordg.ef_search", args.ef)]:
            if n <= 0:
                continue
            mix = Mixture(n, 128, 26, 1.0, 300)
            with c.connect() as conn:
                conn.autocommit = True
                conn.execute("DROP TABLE IF EXISTS items")
                conn.execute("CREATE TABLE items (id int, v vector(128))")
                for start, rows in mix.chunks():
                    copy_binary(conn, rows, start)
                conn.execute("VACUUM ANALYZE items")
                conn.execute("SET maintenance_work_mem = '1GB'")
                t = time.perf_counter()
                conn.execute(f"CREATE INDEX idx ON items USING {am} (v)")
                size = conn.execute("SELECT pg_relation_size('idx')").fetchone()[0]
            print(f"== {am}, {n} rows: built in {time.perf_counter() - t:.0f} s, {size / 2**20:.0f} MiB", flush=True)
            qs = [vec(q) for q in mix.queries()]
            out += [(n, size) + r for r in compare(c, am, knob, setting, qs, args.cold_queries, args.warm_queries)]
        assert c.crashes() == [], "server log shows crashes"
    print(f"\n{time.strftime('%Y-%m-%d')}, PostgreSQL 18, 128-d Gaussian mixture, shared_buffers 1 GB, "
          f"{args.cold_queries} cold queries (index, table and OS cache emptied before each), "
          f"{args.warm_queries} warm ones twice\n")
    print("| rows | index MiB | index | setting | effective_io_concurrency | cold mean ms | cold p50 ms "
          "| cold p99 ms | warm mean ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, size, am, setting, eic, mean, p50, p99, warm in out:
        print(f"| {n} | {size / 2**20:.0f} | {am} | {setting} | {eic} | {mean:.1f} | {p50:.1f} | {p99:.1f} | {warm:.2f} |")


if __name__ == "__main__":
    main()
