"""Watchdog started by Stack.start(): ``python -m devstack._reaper OWNER_PID WORKDIR``.

Runs in its own session.  When the owner process is gone (our parent pid changes
because we got re-parented) and the workdir still exists, the owner died without
tearing down: kill the recorded process groups and remove the workdir.  A normal
Stack.stop() terminates this process first-hand.
"""

import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    owner, workdir = int(sys.argv[1]), Path(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == owner and workdir.is_dir():
        time.sleep(1)
    if not workdir.is_dir():
        return 0
    from devstack.stack import clean_workdir  # imported late: keep the idle watchdog small

    n = clean_workdir(workdir)
    print(f"owner {owner} gone: killed {n} process group(s) of {workdir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
