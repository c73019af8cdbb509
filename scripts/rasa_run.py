"""``rasa run`` with its API token taken from the environment, never from the command line.

    .venv-rasa/bin/python scripts/rasa_run.py run --enable-api ...     (RASA_TOKEN set)

A token on the command line is visible to every local user in the process list; here it is read
from ``RASA_TOKEN`` and handed to Rasa's argument parser inside the process. Without
``RASA_TOKEN`` it refuses to start the HTTP API (``--enable-api``): the API must never be open.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    token = (os.environ.get("RASA_TOKEN") or "").strip()
    if "--enable-api" in args:
        if not token:
            sys.exit("rasa_run.py: RASA_TOKEN is not set; refusing to start Rasa's HTTP API without a token")
        # "--auth-token=VALUE": a token that starts with "-" (token_urlsafe makes one in 64) would
        # otherwise be read by argparse as an option, and Rasa would not start.
        args += [f"--auth-token={token}"]
    os.environ.pop("RASA_TOKEN", None)  # not inherited by anything Rasa starts
    sys.argv = ["rasa", *args]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
