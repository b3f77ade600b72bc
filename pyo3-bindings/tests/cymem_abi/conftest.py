"""The ABI self-test: runs only with the cymem switch on.

``python -m arenapool.cymem -m pytest pyo3-bindings/tests/cymem_abi`` (run by
``tests/test_cymem_switch.py``, so by every ``make test-python`` run). The
client ``abi_client.pyx`` is compiled against upstream cymem's own
``cymem.pxd`` (``fetch_cymem_pxd.py``: cymem's sdist from PyPI) into
``target/cython-tests/<hash>/``, like the other Cython tests.
"""

import os
import sys

import pytest

import arenapool.cymem

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cython"))
import build_extensions  # noqa: E402
import fetch_cymem_pxd  # noqa: E402


def pytest_configure(config):
    if not arenapool.cymem.installed():
        raise pytest.UsageError(
            "the ABI self-test runs under the switch: python -m arenapool.cymem -m pytest pyo3-bindings/tests/cymem_abi"
        )


@pytest.fixture(scope="session")
def client():
    pxd = fetch_cymem_pxd.pxd_dir(os.path.join(REPO, "target", "cymem-pxd"))
    out = build_extensions.ensure_built(
        [os.path.join(HERE, "abi_client.pyx")],
        os.path.join(REPO, "target", "cython-tests"),
        include_path=[pxd],
    )
    if out not in sys.path:
        sys.path.insert(0, out)
    import abi_client

    return abi_client
