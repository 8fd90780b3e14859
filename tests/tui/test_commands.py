"""Pilot tests of the key bindings and of our command-palette provider."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from tests.tui.conftest import Running, pauses_max

OPENAPI = "http://127.0.0.1:8470/schema"


async def open_palette(running: Running, query: str = "") -> CommandPalette:
    """Open the palette, type `query`, and wait until its hits are listed."""
    await running.pilot.press("ctrl+p")
    palette = running.app.screen
    assert isinstance(palette, CommandPalette)
    await running.pilot.press(*query)
    for _ in range(pauses_max):
        await running.pilot.pause()
        if palette.has_class("-ready") and palette.query_one(CommandList).option_count:
            return palette
    raise AssertionError(f"the palette listed nothing for {query!r}")


def listed_titles(palette: CommandPalette) -> list[str]:
    command_list = palette.query_one(CommandList)
    return [
        str(command_list.get_option_at_index(index).prompt).split("\n")[0] for index in range(command_list.option_count)
    ]


async def run_from_palette(running: Running, query: str, title: str) -> None:
    """Type `query` in the palette, check the best hit is `title`, and run it."""
    palette = await open_palette(running, query)
    assert listed_titles(palette)[0] == title
    await running.pilot.press("down", "enter")
    await running.pilot.pause()


async def test_palette_lists_our_commands_once_and_not_textuals_quit_or_screenshot(running: Running) -> None:
    """Discovery offers refresh, OpenAPI, dark mode and exactly one Quit; Screenshot is not offered."""
    titles = listed_titles(await open_palette(running))
    for title in ("Refresh now", "Show OpenAPI address", "Toggle dark mode", "Quit"):
        assert titles.count(title) == 1, titles
    assert "Screenshot" not in titles


async def test_palette_refresh_now_polls_immediately(running: Running) -> None:
    """ "Refresh now" starts a round at once although the next timed poll is an hour away."""
    running.fake.add_log("fresh line")
    await run_from_palette(running, "refr", "Refresh now")
    await running.settle(2)
    assert running.app.status_screen.last_view is not None
    assert running.app.status_screen.last_view.new_log_lines[-1].message == "fresh line"


async def test_palette_shows_and_copies_the_openapi_address(running: Running) -> None:
    """ "Show OpenAPI address" puts <url>/schema on the clipboard and in a notice."""
    await run_from_palette(running, "api", "Show OpenAPI address")
    assert running.app.clipboard == OPENAPI
    assert OPENAPI in running.app.last_notice


async def test_palette_toggles_dark_mode_both_ways(running: Running) -> None:
    """ "Toggle dark mode" switches to the light theme and back."""
    assert running.app.theme == "textual-dark"
    await run_from_palette(running, "dark", "Toggle dark mode")
    assert running.app.theme == "textual-light"
    await run_from_palette(running, "dark", "Toggle dark mode")
    assert running.app.theme == "textual-dark"


async def test_palette_quit_exits_the_app(running: Running) -> None:
    """ "Quit" from the palette ends the app."""
    await run_from_palette(running, "quit", "Quit")
    assert not running.app.is_running


async def test_keys_r_and_o_refresh_and_show_the_openapi_address(running: Running) -> None:
    """The `r` and `o` bindings do what their palette commands do."""
    await running.pilot.press("r")
    await running.settle(2)
    await running.pilot.press("o")
    assert running.app.clipboard == OPENAPI


async def test_key_q_exits_the_app(running: Running) -> None:
    """`q` ends the app."""
    await running.pilot.press("q")
    await running.pilot.pause()
    assert not running.app.is_running
