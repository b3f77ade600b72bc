"""A pytest plugin for the switched runs of ``client_suites.py``: at the end
of the session it writes to ``$ARENAPOOL_SWITCH_PROBE`` whether
``cymem.cymem`` was arenapool's and how many of its pools were made."""

import json
import os
import sys


def pytest_sessionfinish(session, exitstatus):
    import arenapool.cymem

    with open(os.environ["ARENAPOOL_SWITCH_PROBE"], "w") as f:
        json.dump(
            {
                "switched": sys.modules.get("cymem.cymem") is arenapool.cymem,
                "pools_made": arenapool.cymem._native._pools_made(),
            },
            f,
        )
