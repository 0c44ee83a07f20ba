VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-integrations test-triton test-torch test-postgres test-workers lint bench browser-test setup

setup: $(STAMP)

# torch is pinned here (the CPU build installs offline); the package itself accepts torch>=2.4.
# Everything is installed in the same pip call as the pin, so pip can never upgrade torch.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 -e '.[lab,test,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m antigrad.demo

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

test: lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The Lightning and Hugging Face integrations (tests, docstrings, docs/integrations.md):
# installs the `lightning` and `hf` extras when missing (in the same pip call as the torch
# pin) and fails if any of these tests is skipped.
test-integrations: $(STAMP)
	$(PY) -c "import lightning, transformers, accelerate" 2>/dev/null || \
		$(PY) -m pip install -q torch==2.13.0 -e '.[lab,test,lightning,hf]'
	ANTIGRAD_NO_SKIPS=1 $(PY) -m pytest -q -m integrations -p no:cacheprovider \
		tests/integrations tests/test_docs.py tests/test_docstrings.py

# The result store on a PostgreSQL server (and several workers sharing it): needs
# ANTIGRAD_TEST_POSTGRES_URL=postgresql://USER:PASSWORD@HOST:PORT/DB, a database the user
# may create schemas in (`.ci/with-postgres make test-postgres` starts a throw-away
# server); fails if any of these tests is skipped.
test-postgres: $(STAMP)
	@test -n "$$ANTIGRAD_TEST_POSTGRES_URL" || \
		(echo "set ANTIGRAD_TEST_POSTGRES_URL (or run .ci/with-postgres make test-postgres)"; exit 2)
	ANTIGRAD_NO_SKIPS=1 $(PY) -m pytest -q -m postgres -p no:cacheprovider \
		tests/lab/test_store_postgres.py tests/lab/test_workers.py

# Several `antigrad work` processes sharing one comparison in an SQLite store, and a worker
# killed mid-run (a few minutes: each process starts its own Python).
test-workers: $(STAMP)
	$(PY) -m pytest -q -m "workers and not postgres" -p no:cacheprovider tests/lab/test_workers.py

# The Triton backend's generated kernels, run on CPU tensors by Triton's interpreter (the
# extra `triton` is installed when absent; the interpreter must be on before triton loads).
test-triton: $(STAMP)
	$(PY) -c 'import triton' 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 -e '.[lab,test,triton]'
	TRITON_INTERPRET=1 $(PY) -m pytest -q -m triton tests/engine_triton
	TRITON_INTERPRET=1 $(PY) benchmarks/gpu_step.py --smoke
	TRITON_INTERPRET=1 $(PY) benchmarks/gpu_step.py --smoke --capturable --layout mlp-15k

# PyTorch's own optimizer suite (TestOptimRenewed of torch's test/test_optim.py, CPU) with
# antigrad's classes in torch's optim_db; fails on any failure not in
# tests/torch_suite/known_failures.py and on any listed test that passes. About 10 minutes.
test-torch: $(STAMP)
	$(PY) tests/torch_suite/driver.py

bench: $(STAMP)
	$(PY) benchmarks/step_speed.py
	$(PY) benchmarks/second_order.py

# The HTML report opened in headless Chromium (Debian's package, installed when absent).
browser-test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) tests/browser/check_report.py
