"""vchordrq on real clusters: recall on real vectors, crash recovery during concurrent writes."""
import gzip
import random
import threading
import time

import numpy as np
import pytest

FASHION = "/usr/share/datasets/fashion-mnist"


def fashion(name: str, n: int, offset: int = 0) -> np.ndarray:
    """Fashion-MNIST images as float32 vectors (Debian's dataset-fashion-mnist)."""
    with gzip.open(f"{FASHION}/{name}-images-idx3-ubyte.gz") as f:
        raw = f.read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)
    return imgs[offset:offset + n].astype(np.float32)


def vec(v) -> str:
    return "[" + ",".join(f"{x:g}" for x in v) + "]"


def load(c, table: str, data: np.ndarray, typ: str = "vector") -> None:
    with c.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v {typ}({data.shape[1]}))")
        with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN") as cp:
            for i, row in enumerate(data):
                cp.write_row((i, vec(row)))


def recall(c, table: str, op: str, data: np.ndarray, queries: np.ndarray, k: int = 10,
           settings: str = "") -> float:
    if op == "<->":
        truth = [np.argsort(((data - q) ** 2).sum(1), kind="stable")[:k] for q in queries]
    else:  # cosine
        dn = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-30)
        truth = [np.argsort(-(dn @ (q / np.linalg.norm(q))), kind="stable")[:k] for q in queries]
    hits = 0
    with c.connect() as conn:
        conn.execute("SET enable_seqscan = off")
        for s in filter(None, settings.split(";")):
            conn.execute(s)
        for q, t in zip(queries, truth):
            plan = conn.execute(f"EXPLAIN SELECT id FROM {table} ORDER BY v {op} %s LIMIT {k}", (vec(q),)).fetchall()
            assert "Index Scan" in plan[1][0], plan
            got = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY v {op} %s LIMIT {k}", (vec(q),))]
            assert len(got) == k
            hits += len(set(got) & set(int(x) for x in t))
    return hits / (k * len(queries))


def test_recall_on_fashion_mnist(cluster):
    """recall@10 >= 0.95 with the defaults (lists = sqrt(rows), probes = sqrt(lists), epsilon
    1.9) on 5000 real 784-d vectors, for L2 and cosine; full probes are near-exact."""
    data = fashion("train", 5000)
    queries = fashion("t10k", 50)
    load(cluster, "fm", data)
    cluster.sql("CREATE INDEX fm_l2 ON fm USING vchordrq (v vector_l2_ops)")
    r = recall(cluster, "fm", "<->", data, queries)
    assert r >= 0.95, f"L2 recall@10 {r}"
    r = recall(cluster, "fm", "<->", data, queries, settings="SET vchordrq.probes = '1000'")
    assert r >= 0.99, f"L2 recall@10 at full probes {r}"
    cluster.sql("DROP INDEX fm_l2")
    cluster.sql("CREATE INDEX fm_cos ON fm USING vchordrq (v vector_cosine_ops)")
    r = recall(cluster, "fm", "<=>", data, queries)
    assert r >= 0.95, f"cosine recall@10 {r}"
    assert cluster.sql("SELECT vchordrq_verify('fm_cos')") == [([],)]


def test_crash_during_concurrent_writes(pg_config_path):
    """Clients insert and delete concurrently; the server is stopped with -m immediate at a
    random moment and restarted, several times. Every committed row is found by an index scan
    at full probes, no committed delete is, and the index verifies clean."""
    from cluster import Cluster

    dims = 16
    rng = random.Random(7)
    committed: set[int] = set()
    maybe: set[int] = set()  # in flight when the server died: either outcome is correct
    deleted: set[int] = set()
    lock = threading.Lock()
    next_id = [0]

    def writer(c, stop: threading.Event, seed: int):
        r = random.Random(seed)
        try:
            conn = c.connect()
        except Exception:
            return
        with conn:
            while not stop.is_set():
                with lock:
                    ids = list(range(next_id[0], next_id[0] + 5))
                    next_id[0] += 5
                    maybe.update(ids)
                    victim = r.choice(sorted(committed)) if committed and r.random() < 0.3 else None
                try:
                    with conn.transaction():
                        for i in ids:
                            conn.execute("INSERT INTO crash VALUES (%s, %s)",
                                         (i, vec([r.uniform(-1, 1) for _ in range(dims)])))
                        if victim is not None:
                            conn.execute("DELETE FROM crash WHERE id = %s", (victim,))
                except Exception:
                    return  # the server went away
                with lock:
                    committed.update(ids)
                    maybe.difference_update(ids)
                    if victim is not None:
                        committed.discard(victim)
                        deleted.add(victim)

    with Cluster(pg_config_path, name="crash") as c:
        c.sql("CREATE EXTENSION vchord")
        c.sql(f"CREATE TABLE crash (id int PRIMARY KEY, v vector({dims}))")
        c.sql("INSERT INTO crash SELECT i, ARRAY(SELECT random() * 2 - 1 FROM generate_series(1, %s) "
              "WHERE i IS NOT NULL)::real[]::vector FROM generate_series(-2000, -1) i" % dims)
        committed.update(range(-2000, 0))
        c.sql("CREATE INDEX ON crash USING vchordrq (v vector_l2_ops) WITH (options = $$"
              "[build.internal]\nlists = [20]$$)")
        for cycle in range(3):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(c, stop, 100 * cycle + t)) for t in range(3)]
            for t in threads:
                t.start()
            time.sleep(1.0 + rng.random() * 2)
            c.stop("immediate")
            stop.set()
            for t in threads:
                t.join(timeout=60)
            c.start()
            with c.connect() as conn:
                conn.execute("SET enable_seqscan = off")
                conn.execute("SET vchordrq.probes = '1000'")
                conn.execute("SET vchordrq.epsilon = 4")
                found = [r[0] for r in conn.execute(
                    "SELECT id FROM crash ORDER BY v <-> %s LIMIT 1000000", (vec([0] * dims),))]
                table = {r[0] for r in conn.execute("SELECT id FROM crash")}
                assert conn.execute("SELECT vchordrq_verify('crash_v_idx')").fetchone()[0] == []
            assert len(found) == len(set(found)), "a row was returned twice"
            found = set(found)
            assert committed <= found, f"cycle {cycle}: committed rows missing: {sorted(committed - found)[:10]}"
            assert not (deleted & found - maybe), "deleted rows returned"
            assert found == table, "index and table disagree"
            assert found - committed <= maybe
            print(f"crash cycle {cycle}: {len(found)} rows found, {len(deleted)} deleted so far, "
                  f"{len(maybe)} in flight at the crash")
            # What survived is now simply committed.
            committed.clear()
            committed.update(found)
            maybe.clear()
        log = c.read_log()
        assert "PANIC" not in log and "TRAP:" not in log and "terminated by signal" not in log
