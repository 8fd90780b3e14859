"""The one error the packaging scripts raise: a build step failed for a reason the user can fix.

It carries a one-line message; `build.py` prints it and exits non-zero. Nothing else lives here.
"""

from __future__ import annotations


class BuildError(Exception):
    """A build step refused to go on; the message says why in one line."""
