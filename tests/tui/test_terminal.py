"""End to end: `python -m tui` in a real pseudo-terminal against a real loopback server."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import sys
import termios
from pathlib import Path

from tests.tui.fake_appliance import FakeAppliance
from tests.tui.loopback import LoopbackAppliance

REPO = Path(__file__).resolve().parents[2]
# Reading the terminal in small steps until something shows up; the bound turns a hang into a
# failure. No duration is asserted.
step_s = 0.05
steps_max = 400


class Terminal:
    """A child process on a pty of 100x32 cells, whose output is drained so it never blocks."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 100, 0, 0))
        os.set_blocking(self.master, False)
        self.output = b""
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *argv: str) -> None:
        env = dict(os.environ, TERM="xterm-256color")
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        os.close(self.slave)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.master, 65536):
                self.output += chunk

    async def wait_for_output(self, text: bytes) -> None:
        for _ in range(steps_max):
            self.drain()
            if text in self.output:
                return
            await asyncio.sleep(step_s)
        raise AssertionError(f"{text!r} never appeared; last output: {self.output[-300:]!r}")

    async def wait_for_exit(self) -> int:
        assert self.process is not None
        for _ in range(steps_max):
            self.drain()
            if self.process.returncode is not None:
                return self.process.returncode
            await asyncio.sleep(step_s)
        raise AssertionError("the TUI did not exit")

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        os.close(self.master)


async def test_python_m_tui_draws_the_status_and_q_exits_cleanly() -> None:
    """The real terminal driver shows the appliance as online, and `q` exits 0 and restores the screen."""
    appliance = LoopbackAppliance(FakeAppliance())
    url = await appliance.start()
    terminal = Terminal()
    try:
        await terminal.start(sys.executable, "-m", "tui", "--url", url, "--interval", "0.2")
        await terminal.wait_for_output(b"online")
        await terminal.wait_for_output(b"PLATFORM")
        os.write(terminal.master, b"q")
        assert await terminal.wait_for_exit() == 0
        # Leaving the alternate screen means the user's terminal is given back as it was.
        assert b"\x1b[?1049l" in terminal.output
    finally:
        await terminal.close()
        await appliance.stop()
