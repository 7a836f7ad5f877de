import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, major_of  # noqa: E402

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
