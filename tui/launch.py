"""How the TUI is started: `attach()` for the appliance (entry point `craton.frontends`) and
`main()` for `python -m tui --url URL`.

It owns the lifetime of the HTTP client and the app. `attach` runs the app in the caller's event
loop until the user quits and then returns; it must never call `sys.exit`, print, or write to
stdout/stderr, because `craton up` shares the process and the terminal with it and shuts the
appliance down when it returns.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import httpx
from textual.app import AutopilotCallbackType

from tui.app import CratonApp, poll_interval_s_default
from tui.client import ApplianceClient, normalise_base_url
from tui.errors import AddressInvalid, invariant
from tui.poller import Poller

url_default = "http://127.0.0.1:8470"
# A request may take about the poll interval, within these bounds: rounds never overlap, so a
# slow appliance slows the rounds down instead of stacking them up; 0.5 s keeps loopback polls
# from timing out on a busy machine, and 5 s makes a remote appliance that stopped answering show
# as unreachable within seconds rather than after a long TCP timeout.
request_timeout_s_min = 0.5
request_timeout_s_max = 5.0
poll_interval_s_max = 3600.0


def request_timeout_for(poll_interval_s: float) -> float:
    return min(max(poll_interval_s, request_timeout_s_min), request_timeout_s_max)


async def attach(
    url: str,
    *,
    poll_interval_s: float = poll_interval_s_default,
    transport: httpx.AsyncBaseTransport | None = None,
    headless: bool = False,
    auto_pilot: AutopilotCallbackType | None = None,
) -> None:
    """Run the TUI against the appliance at `url` until the user quits, then return.

    `transport`, `headless` and `auto_pilot` exist for tests and scripted runs; the appliance
    calls `attach(url, poll_interval_s=...)` only. An unusable `url` raises `AddressInvalid`
    before anything is drawn. Cancelling the task that awaits it closes the app, restores the
    terminal and raises `CancelledError` as usual.
    """
    invariant(0 < poll_interval_s <= poll_interval_s_max, "the poll interval must be in (0, 3600] s")
    base_url = normalise_base_url(url)
    timeout_s = request_timeout_for(poll_interval_s)
    async with ApplianceClient(base_url, transport=transport, request_timeout_s=timeout_s) as client:
        app = CratonApp(Poller(client), poll_interval_s=poll_interval_s)
        await app.run_async(headless=headless, auto_pilot=auto_pilot)
    # Textual absorbs a cancellation of the task running it (it still restores the terminal);
    # re-raise it so a caller that cancels attach() sees the usual CancelledError.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tui", description="Attach the Craton status TUI to a running appliance."
    )
    parser.add_argument("--url", default=url_default, help=f"the appliance's HTTP address ({url_default})")
    parser.add_argument(
        "--interval",
        type=float,
        default=poll_interval_s_default,
        metavar="SECONDS",
        help=f"seconds between polls ({poll_interval_s_default:g})",
    )
    arguments = parser.parse_args(argv)
    if not 0 < arguments.interval <= poll_interval_s_max:
        parser.error(f"--interval must be a number of seconds in (0, {poll_interval_s_max:g}]")
    try:
        normalise_base_url(arguments.url)
    except AddressInvalid as error:
        parser.error(error.message)
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tui`: argument errors exit 2 with one line on stderr, as for any CLI."""
    arguments = _arguments(argv)
    asyncio.run(attach(arguments.url, poll_interval_s=arguments.interval))
    return 0
