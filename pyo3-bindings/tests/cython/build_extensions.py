"""Builds Cython extensions against the installed arenapool.

The way a user's project builds: ``cythonize`` over ``Extension``s whose
``include_dirs`` hold ``arenapool.get_include()``, the ``.pxd`` found on
``sys.path`` (``cimport arenapool``), the system C compiler.

``ensure_built(sources, root)`` gives a directory holding the built modules.
It is keyed by a hash of everything the build reads (the ``.pyx`` files,
``arenapool.h``, ``__init__.pxd``, this file, the Cython and Python
versions, the optimisation flag and the caller's ``extra_key``), under
``root``: a rebuild happens only when one of them changes,
and the release and debug runs of ``make test-python`` share one build
(the extensions include the header and link nothing of arenapool's, so the
same ``.so`` serves both). The compilation runs in a subprocess
(``python build_extensions.py LIB TEMP OPT SOURCES...``, with the
``include_path`` in ``ARENAPOOL_CYTHON_INCLUDE``) so that setuptools' state stays
out of the caller's process.
"""

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import arenapool


def _key(sources, opt, extra_key, include_path):
    digest = hashlib.sha256()
    digest.update(f"{opt} {extra_key}".encode())
    # The .pxd files found through `include_path` (upstream cymem's, for the
    # ABI self-test).
    for directory in include_path:
        for pxd in sorted(glob.glob(os.path.join(directory, "**", "*.pxd"), recursive=True)):
            digest.update(os.path.relpath(pxd, directory).encode() + b"\0")
            with open(pxd, "rb") as f:
                digest.update(f.read())
    include = arenapool.get_include()
    # The sources, what they `include` (the .pxi files beside them) and the
    # package's header and .pxd.
    included = sorted({pxi for src in sources for pxi in glob.glob(os.path.join(os.path.dirname(src), "*.pxi"))})
    files = [*sorted(sources), *included, os.path.join(include, "arenapool.h"), os.path.join(include, "__init__.pxd"), __file__]
    for path in files:
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read())
    import Cython

    digest.update(f"{Cython.__version__} {sys.version} {sys.platform}".encode())
    return digest.hexdigest()[:16]


def ensure_built(sources, root, opt="-O1", extra_key="", include_path=()):
    """The directory with the built extensions of ``sources`` (built if needed).

    ``opt``: the optimisation flag. The tests use -O1 (a third of -O3's
    compile time; they measure nothing), the benchmark -O2.
    ``include_path``: more directories where ``cimport`` finds ``.pxd`` files.
    """
    out = os.path.join(root, _key(sources, opt, extra_key, include_path))
    if os.path.exists(os.path.join(out, ".done")):
        return out
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="build-", dir=root)
    try:
        lib, temp = os.path.join(staging, "lib"), os.path.join(staging, "temp")
        done = subprocess.run(
            [sys.executable, __file__, lib, temp, opt, *sources],
            capture_output=True,
            text=True,
            env={**os.environ, "ARENAPOOL_CYTHON_INCLUDE": os.pathsep.join(include_path)},
        )
        if done.returncode != 0:
            raise RuntimeError(f"building {sources} failed:\n{done.stdout}\n{done.stderr}")
        with open(os.path.join(lib, ".done"), "w") as f:
            f.write("\n".join(sources))
        try:
            os.rename(lib, out)
        except OSError:
            if not os.path.exists(os.path.join(out, ".done")):  # not a concurrent build's
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _compile(lib, temp, opt, sources):
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    extensions = [
        Extension(
            os.path.splitext(os.path.basename(source))[0],
            [source],
            include_dirs=[arenapool.get_include()],
            extra_compile_args=[opt, "-Wall", "-Werror=incompatible-pointer-types"],
        )
        for source in sources
    ]
    setup(
        name="arenapool-cython-tests",
        ext_modules=cythonize(
            extensions,
            build_dir=temp,
            quiet=True,
            nthreads=os.cpu_count() or 1,
            compiler_directives={"language_level": 3},
            include_path=[d for d in os.environ.get("ARENAPOOL_CYTHON_INCLUDE", "").split(os.pathsep) if d],
        ),
        script_args=["build_ext", "--build-lib", lib, "--build-temp", temp, "-j", str(os.cpu_count() or 1), "-q"],
    )


if __name__ == "__main__":
    _compile(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
