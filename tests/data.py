"""Real vectors for the end-to-end tests, and small helpers shared by them."""
import gzip

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def fashion(name: str, n: int, offset: int = 0) -> np.ndarray:
    """Fashion-MNIST images as float32 vectors (Debian's dataset-fashion-mnist)."""
    with gzip.open(f"{FASHION}/{name}-images-idx3-ubyte.gz") as f:
        raw = f.read()
    imgs = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)
    return imgs[offset:offset + n].astype(np.float32)


def fashion_classes(name: str, n: int, offset: int = 0) -> np.ndarray:
    """The Fashion-MNIST images' classes (0-9, about a tenth of the images each)."""
    with gzip.open(f"{FASHION}/{name}-labels-idx1-ubyte.gz") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=8)[offset:offset + n].astype(np.int16)


def vec(v) -> str:
    return "[" + ",".join(f"{x:g}" for x in v) + "]"


def load(c, table: str, data: np.ndarray, typ: str = "vector", first_id: int = 0) -> None:
    """Creates `table (id int PRIMARY KEY, v typ(dims))` and copies the rows in."""
    with c.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v {typ}({data.shape[1]}))")
        copy_rows(conn, table, data, first_id)


def copy_rows(conn, table: str, data: np.ndarray, first_id: int) -> None:
    with conn.cursor().copy(f"COPY {table} (id, v) FROM STDIN") as cp:
        for i, row in enumerate(data):
            cp.write_row((first_id + i, vec(row)))
