"""``python -m arenapool.cymem SCRIPT [ARGS...]`` or
``python -m arenapool.cymem -m MODULE [ARGS...]``: run a program with the
cymem switch on (see :func:`arenapool.cymem.install`)."""

import runpy
import sys

from arenapool.cymem import install

USAGE = "usage: python -m arenapool.cymem SCRIPT [ARGS...] | -m MODULE [ARGS...]"


def main(argv: list) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        raise SystemExit(0 if argv else 2)
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            raise SystemExit(2)
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv[:]
        sys.path[0] = __import__("os").path.dirname(__import__("os").path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
