"""Cython extensions built against the installed arenapool, once per session.

The ``.pyx`` files of this directory are compiled by ``build_extensions.py`` (cythonize
with ``include_dirs=[arenapool.get_include()]``, the system C compiler) into
``target/cython-tests/<hash>/`` at the top of the repository, reused while
nothing they are built from changes. The fixture ``ext`` puts that
directory on ``sys.path`` and gives the modules by name.
"""

import glob
import importlib
import os
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD_ROOT = os.path.join(REPO, "target", "cython-tests")
SOURCES = sorted(glob.glob(os.path.join(HERE, "*.pyx")))

sys.path.insert(0, HERE)  # for build_extensions.py
import build_extensions  # noqa: E402


@pytest.fixture(scope="session")
def build_dir():
    return build_extensions.ensure_built(SOURCES, BUILD_ROOT)


@pytest.fixture(scope="session")
def ext(build_dir):
    if build_dir not in sys.path:
        sys.path.insert(0, build_dir)
    names = [os.path.splitext(os.path.basename(s))[0] for s in SOURCES]
    return types.SimpleNamespace(**{name: importlib.import_module(name) for name in names})
