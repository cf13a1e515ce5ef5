# Two commands on a fresh machine with Python 3.11 and make: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-servers install lint bench clean nginx chromium pdf-tools postgresql doc-tools faketime

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install pdf-tools
	@test -f $(DATA)/fieldsync.db || $(BIN)/fieldsync init --data $(DATA) --demo
	$(BIN)/fieldsync serve --data $(DATA) --host $(HOST) --port $(PORT)

# The reverse-proxy tests run the nginx of docs/nginx.conf (Debian's package; root in CI, else sudo).
test: install nginx chromium pdf-tools postgresql doc-tools faketime
	$(BIN)/ruff check sync server client_sdk tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2
	FIELDSYNC_TEST_BACKEND=postgresql $(BIN)/python -m pytest -n 2 $(SERVERS_CORE)

# Two servers over one PostgreSQL database behind one address (tests/conftest.py): the sync core's
# HTTP tests in `make test`, every test in `make test-servers` (README, "Testing").
# Kept to the protocol's core so that `make test` stays within its budget: the other areas'
# cross-process behaviour has tests of their own in the first step (test_processes.py, the
# reliability suite, test_shared_*.py, test_s3_blobs.py, test_operations.py).
SERVERS_CORE := tests/test_servers.py tests/server/test_push.py tests/server/test_pull.py \
  tests/server/test_scope.py

test-servers: install nginx chromium pdf-tools postgresql doc-tools faketime
	FIELDSYNC_TEST_BACKEND=postgresql $(BIN)/python -m pytest -n 2

nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c \
	  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx'

# The console's browser tests drive Debian's chromium (Playwright cannot download its own here).
chromium:
	@test -x /usr/bin/chromium || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c \
	  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'

# The tests start their own PostgreSQL server (tests/pg.py) from Debian's package; it is not run as a service.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c \
	  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql'

# The printable sheets: WeasyPrint's pango and harfbuzz-subset (only chromium brings it otherwise), the Chinese font (Noto Sans CJK SC, SIL OFL 1.1),
# and poppler-utils, with which the tests read the PDFs back (Debian's packages).
pdf-tools:
	@dpkg -s libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk poppler-utils >/dev/null 2>&1 || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk poppler-utils'

# The programs docs/operations.md's checks of a restored server use; tests/e2e/test_doc_examples.py runs them.
doc-tools:
	@command -v sqlite3 >/dev/null && command -v jq >/dev/null || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c \
	  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 jq'

# New Year's Eve with real processes: tests/faketime.py runs them on a faked wall clock (Debian's libfaketime).
faketime:
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c \
	  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime'

lint: install
	$(BIN)/ruff check sync server client_sdk tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/sync_throughput.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .hypothesis
