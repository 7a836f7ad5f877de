"""make bench-scale: vchordrq (and vchordg, where its build finishes in time) at millions of rows
of a reproducible clustered synthetic dataset, in one PostgreSQL 18 with vchord preloaded. Not
part of make test: a run at 1M rows takes minutes, at 10M about an hour.

The data (--dims 128): a Gaussian mixture with a decaying spectrum, generated in numpy from a
seed. rows/--rows-per-centre centres (at least 100) are drawn with per-direction scales --spread (1 + j)^-0.5;
each row is a centre plus noise with scales (1 + j)^-0.5; everything is turned by one random
rotation, so no axis is special. The queries are 1000 more draws from the same mixture. Rows go
in with binary COPY (pgvector's binary format, which vchord's vector reads).

Per size and index: build time (maintenance_work_mem --mwm, 2 parallel workers), peak private
memory of the build's processes (the backend and its workers, sampled every 20 ms), index size;
then the search sweep with warm caches (recall@10 against numpy's exact top 10, QPS on one
connection, p99) and the cheapest setting that reaches recall 0.95; at that setting, QPS and p99
again after a restart with shared_buffers a quarter of the index (the second pass over the
queries: the steady state of a small buffer pool; the OS page cache is not emptied, so reads
that miss shared buffers cost a copy, not a disk read). Prints a markdown table, and how each
figure grows with the rows.
"""
import argparse
import os
import struct
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build import PeakSampler, private_kib  # noqa: E402
from cluster import Cluster  # noqa: E402

QUERIES = 1000
CHUNK = 250_000


# ---- data ---------------------------------------------------------------------------------------
class Mixture:
    """The synthetic dataset of `n` rows: its chunks, in order, from `seed`."""

    def __init__(self, n: int, dims: int, seed: int, spread: float, per_centre: int):
        self.n, self.dims, self.seed = n, dims, seed
        rng = np.random.default_rng(seed)
        self.scales = (1 + np.arange(dims)) ** -0.5
        k = max(100, n // per_centre)
        self.centres = rng.normal(size=(k, dims)) * self.scales * spread
        q, r = np.linalg.qr(rng.normal(size=(dims, dims)))
        self.rotation = q * np.sign(np.diag(r))

    def draw(self, m: int, rng) -> np.ndarray:
        x = self.centres[rng.integers(0, len(self.centres), m)] + rng.normal(size=(m, self.dims)) * self.scales
        return (x @ self.rotation).astype(np.float32)

    def chunks(self):
        rng = np.random.default_rng(self.seed + 1)
        for start in range(0, self.n, CHUNK):
            yield start, self.draw(min(CHUNK, self.n - start), rng)

    def queries(self) -> np.ndarray:
        return self.draw(QUERIES, np.random.default_rng(self.seed + 2))


def copy_binary(conn, rows: np.ndarray, first_id: int) -> None:
    """COPY items (id, v) FROM STDIN (FORMAT binary): every tuple as bytes numpy lays out."""
    dims = rows.shape[1]
    dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"), ("l2", ">i4"), ("dim", ">i2"),
                   ("unused", ">i2"), ("v", ">f4", (dims,))])
    a = np.empty(len(rows), dtype=dt)
    a["nf"], a["l1"], a["l2"], a["dim"], a["unused"] = 2, 4, 4 + 4 * dims, dims, 0
    a["id"] = np.arange(first_id, first_id + len(rows))
    a["v"] = rows
    with conn.cursor().copy("COPY items (id, v) FROM STDIN (FORMAT binary)") as cp:
        cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
        cp.write(a.tobytes())
        cp.write(struct.pack(">h", -1))


def exact_top10(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Ids of each query's 10 nearest rows (L2), over the rows in blocks."""
    best_d = np.full((len(queries), 10), np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 10), dtype=np.int64)
    qn = (queries ** 2).sum(1)[:, None]
    for s in range(0, len(data), 100_000):
        b = data[s:s + 100_000]
        d = qn - 2 * queries @ b.T + (b ** 2).sum(1)[None, :]
        part = np.argpartition(d, 10, axis=1)[:, :10]
        dd = np.take_along_axis(d, part, axis=1)
        cd, ci = np.concatenate([best_d, dd], 1), np.concatenate([best_i, part + s], 1)
        keep = np.argsort(cd, axis=1)[:, :10]
        best_d, best_i = np.take_along_axis(cd, keep, 1), np.take_along_axis(ci, keep, 1)
    return best_i


# ---- measurement --------------------------------------------------------------------------------
def vec(v) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]"


def run(conn, qs) -> tuple[list[float], list[list[int]]]:
    sql = "SELECT id FROM items ORDER BY v <-> %s::vector LIMIT 10"
    lat, res = [], []
    for q in qs:
        t = time.perf_counter()
        rows = conn.execute(sql, (q,), prepare=True).fetchall()
        lat.append(time.perf_counter() - t)
        res.append([r[0] for r in rows])
    return lat, res


def measure(conn, knob: str, setting, qs, truth) -> tuple[float, float, float]:
    """recall@10, QPS, p99 ms at one setting (after 50 warm-up queries)."""
    conn.execute(f"SET {knob} = '{setting}'")
    run(conn, qs[:50])
    lat, res = run(conn, qs)
    recall = np.mean([len(set(r) & set(t.tolist())) / 10 for r, t in zip(res, truth)])
    return float(recall), len(qs) / sum(lat), float(np.percentile(lat, 99) * 1000)


def build(c, conn, create: str, limit_min: float):
    """Seconds, peak private memory (KiB) and size of one build; None when it ran past
    `limit_min` minutes (statement_timeout)."""
    conn.execute("DROP INDEX IF EXISTS idx")
    conn.execute("CHECKPOINT")
    conn.execute(f"SET statement_timeout = '{int(limit_min * 60)}s'")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    base = private_kib(pid)
    s = PeakSampler(c, pid)
    s.start()
    t = time.perf_counter()
    try:
        conn.execute(create)
    except Exception as e:  # statement_timeout: reported, not fatal
        print(f"  build stopped: {str(e).splitlines()[0]}", flush=True)
        return None
    finally:
        s.stop_.set()
        s.join()
        conn.execute("RESET statement_timeout")
    secs = time.perf_counter() - t
    size = conn.execute("SELECT pg_relation_size('idx')").fetchone()[0]
    return secs, max(0, s.peak - base), size


SWEEPS = {
    "vchordrq": ("vchordrq.probes", [1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384]),
    "vchordg": ("vchordg.ef_search", [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]),
}


def bench_index(c, am: str, opts: str, qs, truth, limit_min: float) -> dict | None:
    knob, settings = SWEEPS[am]
    create = f"CREATE INDEX idx ON items USING {am} (v vector_l2_ops){opts}"
    with c.connect() as conn:
        conn.autocommit = True
        conn.execute(f"SET maintenance_work_mem = '{ARGS.mwm}'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        b = build(c, conn, create, limit_min)
        if b is None:
            return None
        secs, peak, size = b
        print(f"  {am}: build {secs:.1f} s, peak {peak / 1024:.0f} MiB, size {size / 2**20:.1f} MiB", flush=True)
        conn.execute("SET enable_seqscan = off")
        sweep, at = [], None
        for s in settings:
            r = measure(conn, knob, s, qs, truth)
            sweep.append((s, *r))
            print(f"    {knob} = {s}: recall {r[0]:.3f}, {r[1]:.0f} QPS, p99 {r[2]:.2f} ms", flush=True)
            if r[0] >= 0.95:
                at = sweep[-1]
                break
    row = {"am": am, "build": secs, "peak": peak, "size": size, "sweep": sweep, "at": at}
    if at is not None:
        # a quarter of the index in shared buffers
        sb = max(16 * 1024, size // 4 // 1024)
        c.sql(f"ALTER SYSTEM SET shared_buffers = '{sb}kB'")
        c.stop()
        c.start()
        with c.connect() as conn:
            conn.execute("SET enable_seqscan = off")
            measure(conn, knob, at[0], qs, truth)  # fills the small pool
            r = measure(conn, knob, at[0], qs, truth)
            row["small"] = (sb, r[1], r[2])
            print(f"    shared_buffers {sb // 1024} MiB: {r[1]:.0f} QPS, p99 {r[2]:.2f} ms", flush=True)
        c.sql("ALTER SYSTEM RESET shared_buffers")
        c.stop()
        c.start()
    with c.connect() as conn:
        conn.execute("DROP INDEX idx")
    return row


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--sizes", default="1000000,5000000,10000000")
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--rows-per-centre", type=int, default=300)
    ap.add_argument("--spread", type=float, default=1.0,
                    help="the centres' scale against the rows' noise (larger: clusters apart, easier)")
    ap.add_argument("--mwm", default="1GB", help="maintenance_work_mem of the builds")
    ap.add_argument("--g-sizes", default="1000000", help="sizes at which vchordg is built too")
    ap.add_argument("--g-minutes", type=float, default=60, help="vchordg's build limit")
    ARGS = ap.parse_args()
    conf = {"shared_buffers": "'4GB'", "max_parallel_maintenance_workers": "2", "max_worker_processes": "8",
            "max_parallel_workers": "4", "jit": "off", "max_wal_size": "'8GB'", "checkpoint_timeout": "'30min'"}
    out = []
    g_sizes = {int(x) for x in ARGS.g_sizes.split(",") if x}
    with Cluster(ARGS.pg_config, name="scale", conf=conf) as c:
        c.sql("CREATE EXTENSION vchord")
        for n in [int(x) for x in ARGS.sizes.split(",")]:
            print(f"\n== {n} rows x {ARGS.dims}", flush=True)
            mix = Mixture(n, ARGS.dims, ARGS.seed, ARGS.spread, ARGS.rows_per_centre)
            data = np.empty((n, ARGS.dims), dtype=np.float32)
            t = time.perf_counter()
            with c.connect() as conn:
                conn.autocommit = True
                conn.execute("DROP TABLE IF EXISTS items")
                conn.execute(f"CREATE TABLE items (id int, v vector({ARGS.dims}))")
                for start, rows in mix.chunks():
                    data[start:start + len(rows)] = rows
                    copy_binary(conn, rows, start)
                conn.execute("VACUUM ANALYZE items")
            print(f"  loaded in {time.perf_counter() - t:.0f} s", flush=True)
            qs_np = mix.queries()
            t = time.perf_counter()
            truth = exact_top10(data, qs_np)
            print(f"  exact top 10 in {time.perf_counter() - t:.0f} s", flush=True)
            del data
            qs = [vec(q) for q in qs_np]
            for am in ["vchordrq", "vchordg"]:
                if am == "vchordg" and n not in g_sizes:
                    continue
                limit = ARGS.g_minutes if am == "vchordg" else 24 * 60
                opts = " WITH (options = 'rerank_in_table = true')" if am == "vchordg" else ""
                row = bench_index(c, am, opts, qs, truth, limit)
                out.append((n, row if row is not None else {"am": am, "stopped": limit}))
        assert c.crashes() == [], "server log shows crashes"
    print(f"\n{time.strftime('%Y-%m-%d')}, PostgreSQL 18, {ARGS.dims} dims, spread {ARGS.spread}, {ARGS.rows_per_centre} rows a centre, maintenance_work_mem {ARGS.mwm}, "
          f"2 parallel workers, {QUERIES} queries\n")
    print("| rows | index | build s | peak MiB | size MiB | setting @0.95 | recall@10 | QPS | p99 ms "
          "| shared_buffers MiB | QPS | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, r in out:
        if "stopped" in r:
            print(f"| {n} | {r['am']} | over {r['stopped']:.0f} min | | | | | | | | | |")
            continue
        at = r["at"] or (None, float("nan"), float("nan"), float("nan"))
        sb = r.get("small", (0, float("nan"), float("nan")))
        print(f"| {n} | {r['am']} | {r['build']:.1f} | {r['peak'] / 1024:.0f} | {r['size'] / 2**20:.1f} | "
              f"{at[0]} | {at[1]:.3f} | {at[2]:.0f} | {at[3]:.2f} | {sb[0] // 1024} | {sb[1]:.0f} | {sb[2]:.2f} |")
    for am in ["vchordrq", "vchordg"]:
        rs = [(n, r) for n, r in out if r["am"] == am and "stopped" not in r]
        for (n0, a), (n1, b) in zip(rs, rs[1:]):
            print(f"{am}, {n0} -> {n1} rows (x{n1 / n0:.1f}): build x{b['build'] / a['build']:.2f}, "
                  f"peak memory x{b['peak'] / max(a['peak'], 1):.2f}, size x{b['size'] / a['size']:.2f}"
                  + (f", QPS at recall 0.95 x{b['at'][2] / a['at'][2]:.2f}" if a["at"] and b["at"] else ""))
    for n, r in out:
        if "sweep" in r:
            print(f"- {n} {r['am']}: " + ", ".join(f"{s}: {rc:.3f} / {q:.0f}" for s, rc, q, _ in r["sweep"]))


if __name__ == "__main__":
    main()
