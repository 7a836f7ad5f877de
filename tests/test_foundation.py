"""The extension on real clusters: preload enforcement and module metadata."""
import psycopg
import pytest

from cluster import Cluster


def test_refuses_to_load_without_preload(pg_config_path):
    with Cluster(pg_config_path, name="nopreload", preload=False) as c:
        for statement in ("CREATE EXTENSION vchord", "LOAD 'vchord'"):
            with pytest.raises(psycopg.Error) as e:
                c.sql(statement)
            diag = e.value.diag
            assert e.value.sqlstate == "55000", statement
            assert diag.message_primary == "vchord must be loaded via shared_preload_libraries"
            assert "shared_preload_libraries" in diag.message_hint
        # the session and the server are fine afterwards
        assert c.sql("SELECT 1") == [(1,)]
        assert c.crashes() == []


def test_loads_when_preloaded(cluster):
    assert cluster.sql("SHOW shared_preload_libraries") == [("vchord",)]
    assert cluster.sql("SELECT extversion FROM pg_extension WHERE extname = 'vchord'") == [("0.3.0",)]
    if cluster.major >= 18:
        # PG_MODULE_MAGIC_EXT records the name and version
        rows = cluster.sql("SELECT module_name, version FROM pg_get_loaded_modules() WHERE file_name LIKE 'vchord%'")
        assert rows == [("vchord", "0.3.0")]  # the library's version is the extension's
