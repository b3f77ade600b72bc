"""spaCy's and preshed's own test suites, on their binary wheels, with and
without the cymem switch: the same results, test by test.

Each suite runs twice side by side: ``python -m pytest --pyargs SUITE`` and
``python -m arenapool.cymem -m pytest --pyargs SUITE``, each writing JUnit
XML. The outcome of every test (passed, failed, error, skipped) must be
the same in both runs, and the switched run must have made its pools with
arenapool (``switch_probe.py``). Hypothesis tests run with a fixed seed in
both (``fixed_seed.py``), so no outcome changes by chance. Prints a table; exits non-zero on any
difference. Usage: ``python client_suites.py OUT_DIR [SUITE...]``.
"""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ["preshed.tests", "spacy.tests.doc", "spacy.tests.tokenizer", "spacy.tests.vocab_vectors"]
# The switched run of each suite must have made at least this many pools
# (each spaCy Doc is one; preshed's suite makes 36).
MIN_POOLS = 10


def outcomes(path):
    """{test id: outcome} from a JUnit XML file."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[test] = kinds[0] if kinds else "passed"
    return found


def start(suite, out, switched):
    tag = "switched" if switched else "plain"
    xml = os.path.join(out, f"{suite}.{tag}.xml")
    probe = os.path.join(out, f"{suite}.probe.json")
    prefix = ["-m", "arenapool.cymem"] if switched else []
    argv = [sys.executable, *prefix, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "fixed_seed"]
    argv += ["--pyargs", suite, f"--junitxml={xml}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if switched:
        argv += ["-p", "switch_probe"]
        env["ARENAPOOL_SWITCH_PROBE"] = probe
    log = open(os.path.join(out, f"{suite}.{tag}.log"), "w")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=out, env=env), xml, probe


def main(out, suites):
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    failed = []
    print(f"{'suite':28} {'without the switch':>30} {'with it':>30}  seconds")
    for suite in suites:
        began = time.monotonic()
        (plain, plain_xml, _), (switched, switched_xml, probe) = start(suite, out, False), start(suite, out, True)
        codes = plain.wait(), switched.wait()
        seconds = time.monotonic() - began
        if not (os.path.exists(plain_xml) and os.path.exists(switched_xml)):
            failed.append(f"{suite}: a run wrote no results (exit codes {codes}; see {out}/{suite}.*.log)")
            continue
        a, b = outcomes(plain_xml), outcomes(switched_xml)

        def tally(found):
            counts = {}
            for kind in found.values():
                counts[kind] = counts.get(kind, 0) + 1
            return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))

        print(f"{suite:28} {tally(a):>30} {tally(b):>30}  {seconds:6.1f}")
        differ = sorted(t for t in a.keys() | b.keys() if a.get(t) != b.get(t))
        for test in differ[:20]:
            failed.append(f"{suite}: {test}: {a.get(test, 'absent')} without the switch, {b.get(test, 'absent')} with it")
        with open(probe) as f:
            seen = json.load(f)
        if not seen["switched"] or seen["pools_made"] < MIN_POOLS:
            failed.append(f"{suite}: the switched run was not on arenapool: {seen}")
        elif suite.startswith("spacy"):
            print(f"{'':28} {'':>30} {seen['pools_made']:>24} pools")
    for line in failed:
        print("DIFFERENCE:", line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:] or SUITES))
