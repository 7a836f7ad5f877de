"""vchordrq on real clusters: recall on real vectors (crash, replica and concurrency tests are in
test_reliability.py)."""
import os
import numpy as np
import pytest

from data import copy_rows, fashion, fashion_classes, load, vec


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
    1.9) on 5000 real 784-d vectors, for L2 and cosine, in-table, and with 2-bit codes; full
    probes are near-exact."""
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
    cluster.sql("DROP INDEX fm_tab")
    # 2-bit codes (the default only up to 160 dimensions): two planes in each block, about
    # twice the code bytes (the centroids are the same)
    cluster.sql("CREATE INDEX fm_2 ON fm USING vchordrq (v vector_cosine_ops) "
                "WITH (options = E'bits = 2\\nrerank_in_table = true')")
    r = recall(cluster, "fm", "<=>", data, queries)
    assert r >= 0.95, f"cosine recall@10 with 2-bit codes {r}"
    r = recall(cluster, "fm", "<=>", data, queries, settings="SET vchordrq.probes = '1000'")
    assert r >= 0.99, f"cosine recall@10 with 2-bit codes at full probes {r}"
    two = cluster.sql("SELECT pg_relation_size('fm_2')")[0][0]
    assert small * 1.2 < two < small * 2.5, (small, two)
    assert cluster.sql("SELECT vchordrq_verify('fm_2')") == [([],)]


def build_notes(conn, sql: str) -> list[str]:
    """Runs a CREATE INDEX with client_min_messages = debug1; returns its messages."""
    notes = []
    conn.add_notice_handler(lambda d: notes.append(d.message_primary))
    conn.execute("SET client_min_messages = debug1")
    try:
        conn.execute(sql)
    finally:
        conn.execute("RESET client_min_messages")
        conn._notice_handlers.clear()
    return notes


def participants(notes: list[str]) -> int:
    line = next(m for m in notes if m.startswith("vchordrq build:"))
    return int(line.rsplit("rows, ", 1)[1].split()[0])


def lists_and_answers(conn, table: str, queries: np.ndarray) -> list:
    """What tells two indexes' lists apart: at probes 1 with no epsilon cut-off the scan returns
    every row of the query's nearest list (so the set is that list); at full probes the top 10."""
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET vchordrq.epsilon = 4")
    out = []
    for q in queries:
        conn.execute("SET vchordrq.probes = 1")
        members = sorted(r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY v <-> %s", (vec(q),)))
        conn.execute("SET vchordrq.probes = 100000")
        top = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY v <-> %s LIMIT 10", (vec(q),))]
        out.append((members, top))
    return out


def test_parallel_build(cluster):
    """PostgreSQL 17+: a build with parallel workers gives the same lists and answers as a serial
    one (plain and CONCURRENTLY), every row once, a sound index that takes inserts."""
    if cluster.major < 17:
        pytest.skip("parallel index builds need PostgreSQL 17")
    data = fashion("train", 6000)
    queries = fashion("t10k", 40)
    load(cluster, "fm", data)
    with cluster.connect() as conn:
        conn.autocommit = True
        conn.execute("ALTER TABLE fm SET (parallel_workers = 2)")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        notes = build_notes(conn, "CREATE INDEX fm_serial ON fm USING vchordrq (v vector_l2_ops)")
        assert participants(notes) == 1, notes
        serial = lists_and_answers(conn, "fm", queries)
        conn.execute("DROP INDEX fm_serial")
        # 1 worker (the leader scans too), 2 (on a machine with 2 cores or fewer the leader
        # only waits), and 2 CONCURRENTLY
        for workers, create in [
                (1, "CREATE INDEX fm_par ON fm USING vchordrq (v vector_l2_ops)"),
                (2, "CREATE INDEX fm_par ON fm USING vchordrq (v vector_l2_ops)"),
                (2, "CREATE INDEX CONCURRENTLY fm_par ON fm USING vchordrq (v vector_l2_ops)")]:
            conn.execute(f"SET max_parallel_maintenance_workers = {workers}")
            notes = build_notes(conn, create)
            assert participants(notes) == workers + 1, notes
            line = next(m for m in notes if m.startswith("vchordrq parallel insert:"))
            assert ("not scanning" in line) == (workers >= len(os.sched_getaffinity(0))), line
            assert conn.execute("SELECT vchordrq_verify('fm_par')").fetchone()[0] == []
            assert lists_and_answers(conn, "fm", queries) == serial
            # every row exactly once
            conn.execute("SET vchordrq.probes = 100000")
            ids = [r[0] for r in conn.execute("SELECT id FROM fm ORDER BY v <-> %s", (vec(queries[0]),))]
            assert sorted(ids) == list(range(len(data)))
            conn.execute("DROP INDEX fm_par")
        # inserts after a parallel build spread over its chains and are found
        conn.execute("CREATE INDEX fm_par ON fm USING vchordrq (v vector_l2_ops)")
        more = fashion("train", 500, offset=6000)
        copy_rows(conn, "fm", more, 6000)
        assert conn.execute("SELECT vchordrq_verify('fm_par')").fetchone()[0] == []
        conn.execute("SET vchordrq.probes = 100000")
        for i in [6000, 6250, 6499]:
            got = conn.execute("SELECT id FROM fm ORDER BY v <-> %s LIMIT 1", (vec(more[i - 6000]),)).fetchone()
            assert got[0] == i
        assert conn.execute("SELECT count(*) FROM (SELECT id FROM fm ORDER BY v <-> %s) s",
                            (vec(queries[1]),)).fetchone()[0] == 6500


def test_parallel_build_worker_error(cluster):
    """A participant's ERROR fails the whole build with that message: no index is left, no
    worker lingers, and the next build works. The bad rows are deleted but still visible to an
    open snapshot: the sample never reads them, the row scan (which indexes recently dead rows)
    does, in whichever participant scans their blocks."""
    if cluster.major < 17:
        pytest.skip("parallel index builds need PostgreSQL 17")
    import psycopg
    with cluster.connect() as conn:
        conn.autocommit = True
        conn.execute("CREATE TABLE t (id int, v vector) WITH (parallel_workers = 2)")
        conn.execute("INSERT INTO t SELECT i, ARRAY[i % 7, i % 11, 1]::real[]::vector "
                     "FROM generate_series(1, 60000) i")
        conn.execute("INSERT INTO t SELECT -i, '[1,2,3,4]' FROM generate_series(1, 40) i")
        # spread the bad rows over the table: every participant meets some
        conn.execute("UPDATE t SET v = '[1,2,3,4]' WHERE id % 1500 = 0")
        with cluster.connect() as old:
            old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            old.execute("SELECT count(*) FROM t").fetchone()
            conn.execute("DELETE FROM t WHERE id < 0 OR v = '[1,2,3,4]'")
            conn.execute("SET max_parallel_maintenance_workers = 2")
            contexts = []
            for _ in range(4):
                with pytest.raises(psycopg.Error) as e:
                    conn.execute("CREATE INDEX t_v ON t USING vchordrq (v vector_l2_ops)")
                assert "4 dimensions" in str(e.value) or "dimension" in str(e.value), str(e.value)
                contexts.append(e.value.diag.context or "")
                assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 't_v'").fetchone()[0] == 0
            assert any("parallel worker" in c for c in contexts), contexts
            old.execute("ROLLBACK")
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
                            ).fetchone()[0] == 0
        conn.execute("VACUUM t")
        conn.execute("CREATE INDEX t_v ON t USING vchordrq (v vector_l2_ops)")
        assert conn.execute("SELECT vchordrq_verify('t_v')").fetchone()[0] == []


def test_build_in_tiny_maintenance_work_mem(cluster):
    """maintenance_work_mem = 1MB cannot hold the sample k-means wants: the build samples less,
    says so in a NOTICE, and the index still reaches recall@10 >= 0.9 at probes 16."""
    data = fashion("train", 6000)
    queries = fashion("t10k", 50)
    load(cluster, "fm", data)
    with cluster.connect() as conn:
        conn.execute("SET maintenance_work_mem = '1MB'")
        notes = build_notes(conn, "CREATE INDEX fm_l2 ON fm USING vchordrq (v vector_l2_ops)")
        conn.commit()
    assert any("samples" in n and "maintenance_work_mem" in n for n in notes), notes
    r = recall(cluster, "fm", "<->", data, queries, settings="SET vchordrq.probes = '16'")
    assert r >= 0.9, f"recall@10 {r}"


def test_build_cancel_is_prompt_and_clean(cluster):
    """A query cancel (statement_timeout, or pg_cancel_backend from another session) stops a
    build in any phase within a second or so: the error is 57014, no index is left behind, no
    parallel worker lingers, and the next build works. Both access methods, serial and (17+)
    parallel, k-means made long on purpose so that the cancels land in every phase."""
    import threading
    import time

    import psycopg

    data = fashion("train", 12000)
    load(cluster, "fm", data)
    slow = {
        "vchordrq": "WITH (options = $$[build.internal]\nlists = [300]\nkmeans_iterations = 40$$)",
        "vchordg": "",
    }
    workers = [0, 2] if cluster.major >= 17 else [0]
    with cluster.connect() as conn:
        conn.autocommit = True
        conn.execute("ALTER TABLE fm SET (parallel_workers = 2)")
        for am in ["vchordrq", "vchordg"]:
            for w in workers:
                conn.execute(f"SET max_parallel_maintenance_workers = {w}")
                create = f"CREATE INDEX fm_v ON fm USING {am} (v vector_l2_ops) {slow[am]}"
                # A full build's time, then cancels at points spread over it.
                t = time.monotonic()
                conn.execute(create)
                full = time.monotonic() - t
                conn.execute("DROP INDEX fm_v")
                canceled = 0
                for frac in [0.05, 0.3, 0.6, 0.9]:
                    at = full * frac
                    if frac == 0.6:
                        # from another session, as an operator would
                        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                        timer = threading.Timer(at, lambda: cluster.sql("SELECT pg_cancel_backend(%s)", (pid,)))
                        timer.start()
                    else:
                        conn.execute(f"SET statement_timeout = {max(1, int(at * 1000))}")
                    t = time.monotonic()
                    try:
                        conn.execute(create)
                        conn.execute("DROP INDEX fm_v")  # finished first: a fast machine
                    except psycopg.errors.QueryCanceled:
                        canceled += 1
                        late = time.monotonic() - t - at
                        assert late < 1.5, f"{am} workers {w}: canceled {late:.2f} s late at {frac}"
                    finally:
                        conn.execute("RESET statement_timeout")
                        if frac == 0.6:
                            timer.join()
                    assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'fm_v'").fetchone()[0] == 0
                    assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
                                        ).fetchone()[0] == 0
                assert canceled >= 3, f"{am} workers {w}: only {canceled} of 4 builds were canceled"
                conn.execute(create)
                verify = "vchordrq_verify" if am == "vchordrq" else "vchordg_verify"
                assert conn.execute(f"SELECT {verify}('fm_v')").fetchone()[0] == []
                conn.execute("DROP INDEX fm_v")


def test_planner_takes_the_indexes_unforced(cluster):
    """With default planner settings (no enable_seqscan = off), ORDER BY distance LIMIT on a
    table of 8000 real 784-d vectors (TOASTed: a sequential scan detoasts every one, which the
    planner does not price) uses vchordrq, in the index and in-table, and vchordg, in the index
    and in-table with a label column, also under a label filter of 10 % selectivity."""
    data = fashion("train", 8000)
    labels = fashion_classes("train", 8000)
    q = vec(fashion("t10k", 1)[0])
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE fp (id int PRIMARY KEY, v vector(784), labels smallint[])")
        with conn.cursor().copy("COPY fp (id, v, labels) FROM STDIN") as cp:
            for i, (row, c) in enumerate(zip(data, labels)):
                cp.write_row((i, vec(row), [int(c)]))
        conn.execute("VACUUM ANALYZE fp")

        def plan(where: str = "") -> str:
            rows = conn.execute(f"EXPLAIN SELECT id FROM fp {where} ORDER BY v <-> %s LIMIT 10", (q,))
            return "\n".join(r[0] for r in rows)

        for options in ["", "rerank_in_table = true"]:
            conn.execute(f"CREATE INDEX fp_rq ON fp USING vchordrq (v vector_l2_ops) WITH (options = '{options}')")
            assert "Index Scan using fp_rq" in plan(), (options, plan())
            conn.execute("DROP INDEX fp_rq")
        conn.execute("CREATE INDEX fp_g ON fp USING vchordg (v vector_l2_ops)")
        assert "Index Scan using fp_g" in plan(), plan()
        conn.execute("DROP INDEX fp_g")
        conn.execute("CREATE INDEX fp_gl ON fp USING vchordg (v vector_l2_ops, labels) "
                     "WITH (options = 'rerank_in_table = true')")
        assert "Index Scan using fp_gl" in plan(), plan()
        p = plan("WHERE labels && '{6}'")
        assert "Index Scan using fp_gl" in p and "Index Cond" in p, p


def test_updates_and_vacuum_reuse_index_space(cluster):
    """Five rounds of UPDATE of every row, each followed by VACUUM: inserts reuse the room
    vacuum frees in the lists' code and vector pages, so the index stays near twice its
    built size (old and new versions coexist until VACUUM) instead of growing by a whole
    index a round; it verifies clean and finds every row at full probes."""
    rng = np.random.default_rng(5)
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE ch (id int PRIMARY KEY, v vector(64))")
        copy_rows(conn, "ch", rng.standard_normal((4000, 64)).astype(np.float32), 0)
        for options in ["", "rerank_in_table = true"]:
            conn.execute(f"CREATE INDEX ch_v ON ch USING vchordrq (v vector_l2_ops) WITH (options = '{options}')")
            built = conn.execute("SELECT pg_relation_size('ch_v')").fetchone()[0]
            for _ in range(5):
                conn.execute("UPDATE ch SET v = (SELECT array_agg(random() - 0.5) FROM generate_series(1, 64) "
                             "WHERE id >= 0)::vector")
                conn.execute("VACUUM ch")
            size = conn.execute("SELECT pg_relation_size('ch_v')").fetchone()[0]
            assert size <= 2.5 * built, (options, built, size)
            assert conn.execute("SELECT vchordrq_verify('ch_v')").fetchone()[0] == []
            conn.execute("SET enable_seqscan = off; SET vchordrq.probes = '1000'; SET vchordrq.epsilon = 4")
            got = [r[0] for r in conn.execute("SELECT id FROM ch ORDER BY v <-> %s LIMIT 100000", (vec([0] * 64),))]
            assert sorted(got) == list(range(4000))
            conn.execute("RESET enable_seqscan; RESET vchordrq.probes; RESET vchordrq.epsilon")
            conn.execute("DROP INDEX ch_v")
