"""Existing pgvector clients work unchanged: psycopg 3 with pgvector-python's register_vector
sends and reads numpy arrays in text and binary formats, for vector and halfvec."""
import numpy as np
import pytest
from pgvector import HalfVector
from pgvector.psycopg import register_vector


@pytest.mark.parametrize("fmt", ["t", "b"])  # psycopg placeholders: %t text, %b binary
def test_numpy_round_trip(modal_cluster, fmt):
    """In both modes: over vchord's own types and over pgvector's (where vchord's indexes
    serve pgvector's columns)."""
    cluster = modal_cluster
    rng = np.random.default_rng(7)
    rows = [rng.standard_normal(16).astype(np.float32) for _ in range(50)]
    rows.append(np.array([1.5, -0.0, 3e-5, 65504.0] * 4, dtype=np.float32))
    with cluster.connect() as conn:
        register_vector(conn)
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v vector(16), h halfvec(16))")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO items VALUES (%{fmt}, %{fmt}, %{fmt})",
                            [(i, v, HalfVector(v.astype(np.float16))) for i, v in enumerate(rows)])
        for binary in (False, True):
            with conn.cursor(binary=binary) as cur:
                got = cur.execute("SELECT id, v, h FROM items ORDER BY id").fetchall()
                assert len(got) == len(rows)
                for (i, v, h), want in zip(got, rows):
                    v = v.to_numpy() if hasattr(v, "to_numpy") else v
                    assert v.dtype == np.float32
                    assert np.array_equal(v, want), (binary, i)
                    assert np.array_equal(h.to_numpy(), want.astype(np.float16)), (binary, i)

        # nearest neighbours, found by vchordrq indexes, match numpy
        one_list = "WITH (options = $$[build.internal]\nlists = [1]$$)"
        for opclass in ("vector_l2_ops", "vector_cosine_ops", "vector_ip_ops"):
            conn.execute(f"CREATE INDEX ON items USING vchordrq (v {opclass}) {one_list}")
        conn.execute("SET enable_seqscan = off; SET vchordrq.epsilon = 4")
        q = rng.standard_normal(16).astype(np.float32)
        for op, dist in (("<->", lambda x: np.linalg.norm(x - q)),
                         ("<=>", lambda x: 1 - x @ q / np.linalg.norm(x) / np.linalg.norm(q)),
                         ("<#>", lambda x: -(x @ q))):
            sql = f"SELECT id, v {op} %{fmt} FROM items ORDER BY v {op} %{fmt} LIMIT 5"
            plan = " ".join(r[0] for r in conn.execute("EXPLAIN " + sql, (q, q)))
            assert "Index Scan using items_v" in plan, plan
            got = conn.execute(sql, (q, q)).fetchall()
            want = sorted(range(len(rows)), key=lambda i: dist(rows[i].astype(np.float64)))[:5]
            assert [r[0] for r in got] == want, op
            for (i, d) in got:
                assert d == pytest.approx(dist(rows[i].astype(np.float64)), rel=1e-4, abs=1e-4)


def test_bad_binary_payloads_are_errors(cluster):
    """Hand-made binary values sent as type vector: each gets a clear ERROR."""
    import psycopg
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    with cluster.connect() as conn:
        vector_oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]

        class Raw(bytes):
            pass

        class RawDumper(Dumper):
            format = Format.BINARY
            oid = vector_oid

            def dump(self, obj):
                return bytes(obj)

        conn.adapters.register_dumper(Raw, RawDumper)
        one = b"\x3f\x80\x00\x00"
        assert conn.execute("SELECT %b::text", (Raw(b"\x00\x01\x00\x00" + one),)).fetchone() == ("[1]",)
        for payload, state in ((b"\x00\x02\x00\x00" + one, "22P03"),       # too short for 2 dims
                               (b"\x00\x01\x00\x00" + one + b"\x00", "22P03"),  # trailing byte
                               (b"\x00\x01\x00\x07" + one, "22000"),       # unused field not 0
                               (b"\x00\x00\x00\x00", "22000"),             # no dimensions
                               (b"\x7f\xff\x00\x00", "54000"),             # over 16000 dimensions
                               (b"\x00\x01\x00\x00\x7f\xc0\x00\x00", "22000"),  # NaN
                               (b"\x00", "22P03")):
            with pytest.raises(psycopg.Error) as e:
                conn.execute("SELECT %b", (Raw(payload),))
            assert e.value.sqlstate == state, payload
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_sqlalchemy(modal_cluster):
    """SQLAlchemy 2 with pgvector-python's column types, in both modes: the ORM declares a
    vchordrq index, inserts numpy arrays, and orders by the distance comparators."""
    import sqlalchemy as sa
    from pgvector.sqlalchemy import HALFVEC, Vector
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "sa_items"
        id: Mapped[int] = mapped_column(primary_key=True)
        embedding = mapped_column(Vector(8))
        half = mapped_column(HALFVEC(8))
        __table_args__ = (
            sa.Index("sa_items_rq", "embedding", postgresql_using="vchordrq",
                     postgresql_ops={"embedding": "vector_cosine_ops"}),
            sa.Index("sa_items_half", "half", postgresql_using="vchordrq"),  # default class: l2
        )

    c = modal_cluster
    engine = sa.create_engine(f"postgresql+psycopg://{c.user}@/postgres?host={c.dir}&port={c.port}")
    try:
        Base.metadata.create_all(engine)
        rng = np.random.default_rng(5)
        data = rng.standard_normal((300, 8)).astype(np.float32)
        with Session(engine) as s:
            s.add_all([Item(id=i, embedding=x, half=x) for i, x in enumerate(data)])
            s.commit()
        q = data[17] + 0.01
        with Session(engine) as s:
            s.execute(sa.text("SET enable_seqscan = off"))
            s.execute(sa.text("SET vchordrq.epsilon = 4"))
            stmt = sa.select(Item.id).order_by(Item.embedding.cosine_distance(q)).limit(5)
            assert "sa_items_rq" in " ".join(r[0] for r in s.execute(sa.text("EXPLAIN " + str(
                stmt.compile(engine, compile_kwargs={"literal_binds": True})))))
            got = s.scalars(stmt).all()
            cos = 1 - data @ q / np.linalg.norm(data, axis=1) / np.linalg.norm(q)
            assert got[0] == 17 and set(got) == set(np.argsort(cos)[:5].tolist())
            got = s.scalars(sa.select(Item.id).order_by(Item.half.l2_distance(q)).limit(5)).all()
            assert set(got) == set(np.argsort(np.linalg.norm(data - q, axis=1))[:5].tolist())
            back = s.get(Item, 17)
            assert np.array_equal(np.asarray(back.embedding, dtype=np.float32), data[17])
    finally:
        engine.dispose()
