# The two commands of the README's contract:
#   make demo  — build and run the spaCy-like pipeline example in release
#   make test  — formatting, lints, every test, and the Miri run
SHELL := /bin/bash
CARGO ?= cargo
# Miri runs the core crate's tests at reduced counts (see `scaled` in tests/)
# and the property harness at 8 cases (PROPTEST_CASES overrides).
MIRIFLAGS ?=

.PHONY: venv test-python bench-py demo test fmt-check clippy test-rust miri bench doc clean proptest-deep fuzz

demo:
	$(CARGO) run --release --example owner

test: fmt-check clippy test-rust test-python miri
	@echo "make test: all checks passed"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

# The Python package, built into a venv inside the repo (ignored by git).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9.4,<2" pytest hypothesis numpy mypy
	touch $@

venv: $(VENV)/.installed

# After the suite and stubtest on the release build (the one installed in the
# venv), the same suite once more on a DEBUG build of the extension: Rust's
# debug assertions, overflow and misaligned-pointer checks only run there
# (a release build did not notice RawPool's align(64) inside CPython's
# 16-aligned pyclass memory; a debug one aborts on the first Pool()).
# How: a dev-profile wheel, unpacked into its own directory that goes first
# on PYTHONPATH for that one pytest run (conftest.py checks that it is the
# build imported). Not `maturin develop` without --release: in this mixed
# project it writes the .so into pyo3-bindings/python/arenapool, over the
# release one the venv uses. Not a second venv: a second numpy, pytest and
# maturin to install and keep. Its own --target-dir: sharing target/debug
# with `cargo test` would rebuild pyo3 at each switch (maturin's PYO3_*
# environment differs). --capture=sys lets a Rust panic's message reach the
# terminal before an abort. Cost: the first build ~10 s, after that a few
# seconds for an incremental build and the suite.
PYDEBUG := target/python-debug

test-python: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) -m pytest -q pyo3-bindings/tests
	$(PY) -m mypy.stubtest arenapool --allowlist pyo3-bindings/stubtest_allowlist.txt
	rm -rf $(PYDEBUG)/wheel $(PYDEBUG)/site
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin build --quiet --profile dev --target-dir $(PYDEBUG)/target --out $(PYDEBUG)/wheel -m pyo3-bindings/Cargo.toml
	$(PY) -m zipfile -e $(PYDEBUG)/wheel/arenapool-*.whl $(PYDEBUG)/site
	ARENAPOOL_EXPECT_EXTENSION_DIR=$(abspath $(PYDEBUG)/site) PYTHONPATH=$(abspath $(PYDEBUG)/site) $(PY) -m pytest -q --capture=sys pyo3-bindings/tests

# Installs Miri when missing; if that is impossible, says so loudly and goes on.
miri:
	@if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then \
	  echo "make miri: installing the Miri component (nightly)"; \
	  rustup component add miri rust-src --toolchain nightly || true; \
	fi
	@if rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then \
	  MIRIFLAGS="$(MIRIFLAGS)" $(CARGO) +nightly miri test -p arenapool -p arenapool-proptests; \
	else \
	  echo; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!! WARNING: Miri could not be installed on this machine.                   !!"; \
	  echo "!! The unsafe code was NOT checked under Miri in this run.                 !!"; \
	  echo "!! Install it with: rustup component add miri rust-src --toolchain nightly !!"; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo; \
	fi

# A deep property run (release build); CASES=100000 make proptest-deep
CASES ?= 20000
proptest-deep:
	PROPTEST_CASES=$(CASES) $(CARGO) test --release -p arenapool-proptests

# Coverage-guided fuzzing of the same operation language (not part of `make test`).
FUZZ_SECONDS ?= 300
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && ASAN_OPTIONS=allocator_may_return_null=1 $(CARGO) +nightly fuzz run ops -- -max_total_time=$(FUZZ_SECONDS)

# The criterion suite, cold then warm memory, then the summary table and plot.
WARM := ARENAPOOL_BENCH_MEMORY=warm GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
bench: venv
	$(CARGO) bench -p arenapool-benches --bench peers
	$(WARM) $(CARGO) bench -p arenapool-benches --bench peers
	$(WARM) $(CARGO) bench -p arenapool-benches --bench sync
	$(PY) -m pip install --quiet matplotlib
	$(PY) benches/summary.py target/criterion benches/ratios.png

# arenapool against cymem from Python, same run.
bench-py: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) -m pip install --quiet cymem
	$(PY) pyo3-bindings/bench/bench.py

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p arenapool

clean:
	$(CARGO) clean
