# `make demo` and `make test` bootstrap everything on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# pytest-xdist: two workers (the machine, like CI's, has 2 cores; the fast suite took 96 s
# instead of 127 s). Each worker has a PostgreSQL database of its own (tests/portal/conftest.py);
# Redis keys, ports and files are per test already. `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2
SCREENSHOTS := docs/screenshots
# The Nu Html Checker the browser tests run over every page they open: the npm package
# vnu-jar, pinned in tests/browser/package-lock.json (its integrity hash checked by npm ci). Scripts are
# off: vnu-jar's postinstall would download a Java of its own; Debian's Java runs it.
VNU := tests/browser/node_modules/vnu-jar/build/dist/vnu.jar

$(VNU): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --ignore-scripts --no-audit --no-fund
	touch $(VNU)

.PHONY: demo test lint format typecheck bench bench-compare clean translations compile upgrade lock screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The lock: requirements.lock, written by `uv pip compile --universal --generate-hashes`.
# uv rather than pip-tools because --universal resolves once for every Python >= 3.11 and
# every platform (with markers), where pip-compile pins for the interpreter it runs on; and
# installing needs nothing but pip: `pip install --require-hashes` refuses any file whose
# hash is not in the lock. uv is fetched only by `make upgrade` / `make lock`.
# Reinstall when the lock (or the project's own metadata) changes.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make upgrade' -o $(LOCK)

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'

# Every dependency to its newest release that pyproject.toml allows.
upgrade: $(BIN)/uv
	$(UV_COMPILE) --upgrade
	$(MAKE) $(STAMP)

# After editing pyproject.toml's dependencies: re-resolve, keeping the other pins.
lock: $(BIN)/uv
	$(UV_COMPILE)
	$(MAKE) $(STAMP)

# `make demo DEMO_ARGS="--port 8000"` passes options on to `haohuan demo`.
DEMO_ARGS ?=

demo: $(STAMP) compile
	$(BIN)/haohuan demo $(DEMO_ARGS)

test: $(STAMP) compile $(VNU)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/negotiation.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/lifecycle.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/assign.py
	$(BIN)/python bench/next_case.py
	$(BIN)/python bench/segment.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/case_page.py
	$(BIN)/python bench/strategy.py

# Every hot path against its baseline, in one run, on PostgreSQL (BENCH_POSTGRES_URL, the
# local server by default) with a database of 1,000,000 cases it builds: the ratio table.
# It needs wrk (apt-get install wrk); BENCH_ARGS=--quick for a shorter try.
BENCH_POSTGRES_URL ?= postgresql://root@127.0.0.1:5432/postgres
bench-compare: $(STAMP) compile
	$(BIN)/python bench/compare.py --postgres-url $(BENCH_POSTGRES_URL) $(BENCH_ARGS)

# The README's pictures: the browser tests, writing their screenshots into docs/.
screenshots: $(STAMP) compile $(VNU)
	HAOHUAN_TEST_BROWSER=1 HAOHUAN_TEST_LOCALSTRIPE=1 HAOHUAN_SCREENSHOTS_DIR=$(SCREENSHOTS) \
		$(BIN)/python -m pytest -n $(PYTEST_WORKERS) tests/browser

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache .artifacts

# Translations: extract the catalog template, merge it into the three catalogs, compile.
CATALOGS := $(foreach l,zh_Hant_TW zh_Hans_CN en,translations/$(l)/LC_MESSAGES/messages)

# The keywords extraction looks for besides Babel's own (gettext, ngettext, pgettext,
# npgettext): the lazy forms. tests/portal/test_i18n.py reads them from here.
KEYWORDS := -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -k pgettext:1c,2 -k npgettext:1c,2,3

translations: $(STAMP)
	$(BIN)/pybabel extract -F translations/babel.cfg $(KEYWORDS) --no-location \
		--sort-output --project=haohuan --copyright-holder=Haohuan -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python -m portal.core.catalogs

# Hong Kong's catalog inherits Taiwan's: overrides.po holds only what Hong Kong says
# differently (portal/core/catalogs.py).
INHERITED := translations/zh_Hant_HK/LC_MESSAGES/messages

compile: $(addsuffix .mo,$(CATALOGS) $(INHERITED))

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@ --statistics

translations/zh_Hant_HK/LC_MESSAGES/messages.mo: translations/zh_Hant_HK/LC_MESSAGES/overrides.po \
		translations/zh_Hant_TW/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/python -m portal.core.catalogs inherit zh_Hant_HK zh_Hant_TW
