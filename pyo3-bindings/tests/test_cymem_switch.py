"""The cymem switch (``arenapool.cymem``), each case in a fresh interpreter:
the switch is per process and must come before cymem's clients import."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args, code=None, check=True, timeout=600):
    argv = [sys.executable, *args] + (["-c", textwrap.dedent(code)] if code is not None else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def test_the_abi_self_test_passes_under_the_switch():
    """tests/cymem_abi: a client compiled against upstream cymem's .pxd,
    every slot and field, run through ``python -m arenapool.cymem -m``."""
    done = run("-m", "arenapool.cymem", "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(HERE, "cymem_abi"))
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= 22 and "failed" not in done.stdout, done.stdout


def test_install_refuses_after_another_cymem_was_imported():
    done = run(
        code="""
        import cymem.cymem, arenapool.cymem
        try:
            arenapool.cymem.install()
        except RuntimeError as e:
            print("refused:", e)
        assert not arenapool.cymem.installed()
        """
    )
    assert "refused: arenapool.cymem.install(): cymem.cymem was imported already" in done.stdout


def test_install_is_idempotent_and_covers_both_names():
    run(
        code="""
        import sys, arenapool.cymem as c
        c.install(); c.install()
        import cymem, cymem.cymem
        from cymem.cymem import Pool, Address
        from cymem import cymem as inner
        assert c.installed() and inner is c and cymem.cymem is c and Pool is c.Pool
        assert cymem.__version__ == c.CYMEM_VERSION
        """
    )


def test_the_switch_needs_no_real_cymem():
    """With the real package made unimportable, cymem's clients still load."""
    run(
        code="""
        import sys
        class NoCymem:
            def find_spec(self, name, path=None, target=None):
                if name == "cymem" or name.startswith("cymem."):
                    raise ImportError("real cymem hidden by the test")
        sys.meta_path.insert(0, NoCymem())
        import arenapool.cymem as c
        c.install()
        import preshed.maps
        m = preshed.maps.PreshMap()
        for i in range(1, 1000):
            m[i] = i * 2
        assert m[999] == 1998
        """
    )


def test_warnings_as_errors_at_import_and_the_pools_are_arenapools():
    """``-W error``: no size warning from any client's type check; spaCy's
    own pools are arenapool's and counted in total_reserved()."""
    done = run(
        "-W",
        "error",
        code="""
        import arenapool, arenapool.cymem as c
        c.install()
        import preshed.maps, preshed.counter, thinc.api, spacy
        from spacy.tokens import Doc
        nlp = spacy.blank("en")
        before = arenapool.total_reserved()
        docs = [nlp(f"Words make documents, number {i} of many.") for i in range(500)]
        assert all(type(doc.mem) is c.Pool for doc in docs)
        import gc
        # The vocabulary's and the string store's own pools (private fields,
        # seen through the collector's view of them).
        for owner in (nlp.vocab, nlp.vocab.strings):
            pools = [r for r in gc.get_referents(owner) if type(r).__name__ == "Pool"]
            assert pools and all(type(pool) is c.Pool for pool in pools), pools
        assert type(nlp.vocab.morphology.mem) is c.Pool
        grown = arenapool.total_reserved() - before
        assert grown > 500 * docs[0].mem.size, grown
        del docs
        print("ok", grown)
        """,
    )
    assert done.stdout.startswith("ok")


def test_python_m_runs_a_script_with_its_arguments(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "import sys, cymem.cymem, arenapool.cymem\n"
        "assert cymem.cymem is arenapool.cymem and __name__ == '__main__'\n"
        "print('args', sys.argv)\n"
    )
    done = run("-m", "arenapool.cymem", str(script), "a", "--b")
    assert f"args [{str(script)!r}, 'a', '--b']" in done.stdout


def test_python_m_runs_a_module(tmp_path):
    (tmp_path / "switched_prog.py").write_text(
        "import sys, cymem.cymem, arenapool.cymem\n"
        "assert cymem.cymem is arenapool.cymem and __name__ == '__main__'\n"
        "print('module', sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "arenapool.cymem", "-m", "switched_prog", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and "module ['x']" in done.stdout, done.stderr


def test_python_m_without_a_program_prints_its_usage():
    done = run("-m", "arenapool.cymem", check=False)
    assert done.returncode == 2 and "usage: python -m arenapool.cymem" in done.stderr
    done = run("-m", "arenapool.cymem", "-m", check=False)
    assert done.returncode == 2
