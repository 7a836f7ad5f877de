"""vchordrq on real clusters: recall on real vectors (crash, replica and concurrency tests are in
test_reliability.py)."""
import numpy as np

from data import fashion, load, vec


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
    size = cluster.sql("SELECT pg_relation_size('fm_cos')")[0][0]
    cluster.sql("DROP INDEX fm_cos")
    # rerank_in_table: codes only, vectors (TOASTed, 3 KB each) read back from the table
    cluster.sql("CREATE INDEX fm_tab ON fm USING vchordrq (v vector_cosine_ops) "
                "WITH (options = 'rerank_in_table = true')")
    r = recall(cluster, "fm", "<=>", data, queries)
    assert r >= 0.95, f"cosine recall@10 with rerank_in_table {r}"
    small = cluster.sql("SELECT pg_relation_size('fm_tab')")[0][0]
    assert small * 10 < size, (small, size)
    assert cluster.sql("SELECT vchordrq_verify('fm_tab')") == [([],)]
