# The two commands of the README's contract:
#   make demo  — build and run the spaCy-like pipeline example in release
#   make test  — formatting, lints, every test, and the Miri run
SHELL := /bin/bash
CARGO ?= cargo
# Miri runs the core crate's tests at reduced counts (see `scaled` in tests/)
# and the property harness at 8 cases (PROPTEST_CASES overrides).
MIRIFLAGS ?=

.PHONY: bench-spacy bench-scaling bench-instructions no-std venv test-python bench-py bench-cython demo test fmt-check clippy test-rust miri sanitize bench doc clean proptest-deep fuzz

demo:
	$(CARGO) run --release --example owner

test: fmt-check clippy doc test-rust no-std test-python miri sanitize
	@echo "make test: all checks passed"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace
	# A user's crate that depends on arenapool alone (the derive, downstream).
	CARGO_TARGET_DIR=$(abspath target/downstream) $(CARGO) run -q --manifest-path tests/downstream/Cargo.toml

# Instructions and branches per call of the fast paths beside bumpalo and a
# bare free list, under callgrind: counts, not times (see benches/instructions.py).
bench-instructions:
	@command -v valgrind >/dev/null || (apt-get install -y -q valgrind >/dev/null 2>&1 || sudo apt-get install -y -q valgrind)
	$(CARGO) build --release -p arenapool-benches --bin instructions
	python3 benches/instructions.py target/release/instructions

# With default features off the crate is #![no_std] (core + alloc): built
# for a target that has no std at all, or, if that target cannot be
# installed, for the host (the attribute still forbids std).
no-std:
	@if rustup target add x86_64-unknown-none >/dev/null 2>&1; then \
	  $(CARGO) build -p arenapool --no-default-features --target x86_64-unknown-none; \
	else \
	  echo "make no-std: WARNING: the x86_64-unknown-none target cannot be installed; building no_std for the host"; \
	  $(CARGO) build -p arenapool --no-default-features; \
	fi

# The Python package, built into a venv inside the repo (ignored by git).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9.4,<2" pytest hypothesis numpy mypy "cython>=3.0,<4" setuptools
	# cymem's clients as binary wheels, for the cymem switch's tests and
	# benches (mock: spaCy's shipped tests import it); cymem itself, the
	# peer they run on without the switch.
	$(PY) -m pip install --quiet "spacy==3.8.18" "preshed==3.0.15" "thinc==8.3.14" "cymem==2.0.16" mock
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
# The suite includes pyo3-bindings/tests/cython: Cython extensions built
# against the installed package (cythonize, include_dirs=[get_include()], the
# system C compiler) into target/cython-tests/<hash of their sources>, about
# 5 s once, then reused by both runs while nothing they are built from changes.
PYDEBUG := target/python-debug

test-python: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) -m pytest -q pyo3-bindings/tests
	# Again with no lane owned (as where membarrier(2) is missing): every
	# call takes its lane's lock (pyo3-bindings/src/lane.rs, "Owned lanes").
	ARENAPOOL_NO_MEMBARRIER=1 $(PY) -m pytest -q pyo3-bindings/tests
	$(PY) -m mypy.stubtest arenapool --allowlist pyo3-bindings/stubtest_allowlist.txt
	# spaCy's and preshed's own suites on their binary wheels, with and
	# without the cymem switch: the same outcome for every test (~1 min).
	$(PY) pyo3-bindings/tests/cymem_abi/client_suites.py target/client-suites
	rm -rf $(PYDEBUG)/wheel $(PYDEBUG)/site
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin build --quiet --profile dev --target-dir $(PYDEBUG)/target --out $(PYDEBUG)/wheel -m pyo3-bindings/Cargo.toml
	$(PY) -m zipfile -e $(PYDEBUG)/wheel/arenapool-*.whl $(PYDEBUG)/site
	ARENAPOOL_EXPECT_EXTENSION_DIR=$(abspath $(PYDEBUG)/site) PYTHONPATH=$(abspath $(PYDEBUG)/site) $(PY) -m pytest -q --capture=sys pyo3-bindings/tests

# Miri, three ways. Installs the component when missing; if that is
# impossible, says so loudly and goes on.
#  1. Stacked Borrows (Miri's default): every test of the core crate and the
#     property harness, at the reduced counts of `scaled` and `config`.
#  2. Tree Borrows: the tests whose unsafe code is about threads, caches,
#     pointers handed back by collections and the harness's thread mode.
#  3. Strict provenance: the single-thread `Pool` tests. Not the others:
#     parking_lot keeps a parked thread's address in an AtomicUsize (an
#     integer-to-pointer cast whenever a thread waits on a lock or condvar),
#     and the allocator-api2 impls give narrowed pointers back the engine's
#     provenance through `with_exposed_provenance` by design
#     (`RawPool::rederive`), which strict provenance forbids. For the same
#     reason 1 and 2 run with permissive provenance (no warning per cast).
MIRI_THREADED := --test sync --test sync_cross_thread --test sync_lifecycle --test threads --test allocator --test debug_format --test zones --test retain --test rc_pool --test conveniences
MIRI_SINGLE := --lib --test alloc --test reuse --test large_growth --test realloc --test drops --test foreign --test zones --test retain --test rc_pool --test conveniences
MIRI_HARNESS_THREADS := --test sync_pool_threads_model
miri:
	@if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then \
	  echo "make miri: installing the Miri component (nightly)"; \
	  rustup component add miri rust-src --toolchain nightly || true; \
	fi
	@if rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then \
	  set -e; \
	  echo "make miri: 1/3 Stacked Borrows, every test"; \
	  MIRIFLAGS="-Zmiri-permissive-provenance $(MIRIFLAGS)" $(CARGO) +nightly miri test -p arenapool -p arenapool-proptests; \
	  echo "make miri: 2/3 Tree Borrows, threads, caches and collections"; \
	  MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance $(MIRIFLAGS)" $(CARGO) +nightly miri test -p arenapool $(MIRI_THREADED); \
	  MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance $(MIRIFLAGS)" $(CARGO) +nightly miri test -p arenapool-proptests $(MIRI_HARNESS_THREADS); \
	  echo "make miri: 3/3 strict provenance, single-thread Pool tests"; \
	  MIRIFLAGS="-Zmiri-strict-provenance $(MIRIFLAGS)" $(CARGO) +nightly miri test -p arenapool $(MIRI_SINGLE) -- --skip raw::shared; \
	else \
	  echo; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo "!! WARNING: Miri could not be installed on this machine.                   !!"; \
	  echo "!! The unsafe code was NOT checked under Miri in this run.                 !!"; \
	  echo "!! Install it with: rustup component add miri rust-src --toolchain nightly !!"; \
	  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	  echo; \
	fi

# ThreadSanitizer over the Rust tests that run threads: std rebuilt with the
# sanitizer (-Zbuild-std, nightly with rust-src, which `miri` installs too),
# in its own target directory (allocator_may_return_null: the harness asks
# for a petabyte to see the refusal). If the toolchain cannot build it, says so
# loudly and goes on (the Miri runs above still check the threaded code).
TSAN_TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
TSAN_TESTS := --test sync --test sync_cross_thread --test sync_lifecycle --test threads --test allocator --test debug_format
sanitize:
	@if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then \
	  rustup component add rust-src --toolchain nightly || true; \
	fi
	@if rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src'; then \
	  RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1 allocator_may_return_null=1" \
	    CARGO_TARGET_DIR=target/tsan $(CARGO) +nightly test -Zbuild-std --target $(TSAN_TARGET) -p arenapool $(TSAN_TESTS) && \
	  RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1 allocator_may_return_null=1" \
	    CARGO_TARGET_DIR=target/tsan $(CARGO) +nightly test -Zbuild-std --target $(TSAN_TARGET) -p arenapool-proptests $(MIRI_HARNESS_THREADS); \
	else \
	  echo "!! WARNING: rust-src for nightly is missing: ThreadSanitizer did NOT run. !!"; \
	fi

# A deep property run (release build); CASES=100000 make proptest-deep
CASES ?= 20000
proptest-deep:
	PROPTEST_CASES=$(CASES) $(CARGO) test --release -p arenapool-proptests

# Coverage-guided fuzzing of the same operation language (not part of
# `make test`): `ops` drives a single-thread Pool, `ops_threads` a SyncPool
# across 2-4 threads; FUZZ_SECONDS each, both at once (one core each).
FUZZ_SECONDS ?= 600
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	cd fuzz && $(CARGO) +nightly fuzz build ops && $(CARGO) +nightly fuzz build ops_threads
	cd fuzz && { ASAN_OPTIONS=allocator_may_return_null=1 $(CARGO) +nightly fuzz run ops -- -max_total_time=$(FUZZ_SECONDS) 2>&1 | tail -n 20 > ../target/fuzz-ops.log & \
	  ASAN_OPTIONS=allocator_may_return_null=1 $(CARGO) +nightly fuzz run ops_threads -- -max_total_time=$(FUZZ_SECONDS) 2>&1 | tail -n 20 > ../target/fuzz-ops_threads.log; wait; }
	@for mode in ops ops_threads; do echo "== $$mode"; grep -E "^#[0-9]+.*(DONE|pulse)|Done [0-9]+ runs|ERROR|panicked" target/fuzz-$$mode.log | tail -n 3; done

# The criterion suite, cold then warm memory, then the summary table and plot.
WARM := ARENAPOOL_BENCH_MEMORY=warm GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
bench: venv
	$(CARGO) bench -p arenapool-benches --bench peers
	$(WARM) $(CARGO) bench -p arenapool-benches --bench peers
	$(WARM) $(CARGO) bench -p arenapool-benches --bench sync
	$(WARM) $(CARGO) bench -p arenapool-benches --bench cross_thread
	$(WARM) $(CARGO) run --release -p arenapool-benches --bin w5_rounds
	$(WARM) $(CARGO) run --release -p arenapool-benches --bin w6_rounds
	$(PY) -m pip install --quiet matplotlib
	$(PY) benches/summary.py target/criterion benches/ratios.png

# How cost grows with work: W2 against live blocks (1e3-1e7), W4 against
# allocations per document (10-1e5); a CSV and benches/scaling.png.
bench-scaling: venv
	$(CARGO) build --release -p arenapool-benches --bin scaling
	$(WARM) target/release/scaling | tee target/scaling.csv
	$(PY) -m pip install --quiet matplotlib
	$(PY) benches/scaling.py target/scaling.csv benches/scaling.png

# arenapool against cymem from Python, same run.
bench-py: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) -m pip install --quiet cymem
	$(PY) pyo3-bindings/bench/bench.py

# arenapool's C-level API against cymem's cdef Pool from Cython loops, same
# run (a script, not a timed test): builds pyo3-bindings/bench/bench_cython_ext.pyx
# at -O2 into target/cython-bench, prints the table (REPEATS=7 by default).
bench-cython: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) -m pip install --quiet "cymem>=2.0,<2.1"
	$(PY) pyo3-bindings/bench/bench_cython.py

# spaCy on arenapool: real cymem against the cymem switch (arenapool.cymem),
# same binaries, separate processes, alternating (a script, not a timed
# test): nlp.pipe, memory zones with RSS, and a Cython client compiled
# against upstream cymem's .pxd. PERF=1 adds the allocator's share (perf).
bench-spacy: venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/maturin develop --release -m pyo3-bindings/Cargo.toml
	$(PY) pyo3-bindings/bench/bench_spacy.py

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p arenapool

clean:
	$(CARGO) clean
