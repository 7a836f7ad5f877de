import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, major_of, pg_config  # noqa: E402

PG_CONFIGS = os.environ.get("VCHORD_PG_CONFIGS", "pg_config").split()


@pytest.fixture(params=PG_CONFIGS, ids=lambda p: f"pg{major_of(p)}")
def pg_config_path(request):
    return request.param


@pytest.fixture
def cluster(pg_config_path, request):
    """A started cluster with vchord preloaded and created in database postgres; after the test
    its log must show no crash."""
    with Cluster(pg_config_path, name=request.node.name[:20]) as c:
        c.sql("CREATE EXTENSION vchord")
        yield c
        assert c.crashes() == [], "server log shows crashes"


def has_pgvector(pg_config_path: str) -> bool:
    return os.path.exists(os.path.join(pg_config(pg_config_path, "--sharedir"), "extension", "vector.control"))


@pytest.fixture(params=["own types", "pgvector"])
def modal_cluster(pg_config_path, request):
    """A started cluster with vchord created in database postgres, in each of its two modes:
    over its own types, and over pgvector's (created first; skipped where the server has no
    pgvector)."""
    if request.param == "pgvector" and not has_pgvector(pg_config_path):
        pytest.skip("this server has no pgvector")
    with Cluster(pg_config_path, name=request.node.name[:20]) as c:
        if request.param == "pgvector":
            c.sql("CREATE EXTENSION vector")
        c.sql("CREATE EXTENSION vchord")
        c.mode = request.param
        yield c
        assert c.crashes() == [], "server log shows crashes"
