"""Loaded by Python at start-up when this folder is on PYTHONPATH (bench.sqltrace): every SQL
statement, commit and Bot API call of the process, one line each, into
`$AFTERCARE_SQLTRACE.<pid>`. Benchmarks only; nothing of the application imports it."""

import os
import sys
from pathlib import Path

if os.environ.get("AFTERCARE_SQLTRACE"):
    sys.path.append(str(Path(__file__).resolve().parents[2]))  # the checkout, for bench
    from bench.sqltrace import install

    install(f"{os.environ['AFTERCARE_SQLTRACE']}.{os.getpid()}")
