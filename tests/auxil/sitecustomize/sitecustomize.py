"""Started first by Python in a subprocess of a `pytest --wall-clock=...` run (see wall_clock.py):
travel to the same instant as the test process, ticking on."""

import os

TRAVELLER = None
_offset = os.environ.get("TEST_WALL_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    TRAVELLER = time_machine.travel(time.time() + float(_offset), tick=True)
    TRAVELLER.start()
