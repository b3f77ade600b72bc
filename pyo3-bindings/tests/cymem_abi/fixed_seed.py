"""A pytest plugin for both runs of ``client_suites.py``: every Hypothesis
test runs with seed 0 and no example database.

The two runs are compared test by test, so a test must not change its
outcome by chance. spaCy's ``test_tokenizer_explain_fuzzy[hu]`` is an
``xfail`` Hypothesis test: with random examples it sometimes finds its
known failure (recorded as skipped) and sometimes not (recorded as
passed), whichever allocator runs it, and a shared ``.hypothesis``
database would let one run replay what the other found. A fixed seed
without a database makes each run draw the same examples.
"""

import hypothesis


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        test = getattr(item, "obj", None)
        test = getattr(test, "__func__", test)
        if getattr(test, "is_hypothesis_test", False) or hasattr(test, "hypothesis"):
            hypothesis.seed(0)(test)
