"""Benchmarks of the running application (not part of the test suite).

Patients' words are sealed at rest as in production: every benchmark runs with a throwaway
AFTERCARE_DATA_KEY (made here unless one is set), passed to the instances it starts."""

import os

from bot.crypto.keys import new_entry

DATA_KEY = os.environ.get("AFTERCARE_DATA_KEY") or new_entry("bench")
os.environ["AFTERCARE_DATA_KEY"] = DATA_KEY
