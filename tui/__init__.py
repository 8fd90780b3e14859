"""The Craton terminal UI: a Textual status screen that reaches the appliance only over HTTP.

Start it with `tui.launch.attach(url)` (what `craton up` and `craton tui` do, found through the
`craton.frontends` entry point) or `python -m tui --url URL`. The pure modules (`replies`,
`client`, `poller`, `history`, `logtail`, `formatting`, `errors`) never import Textual; the
Textual side is `app`, `commands`, `screens/` and `widgets/`. Nothing here imports `appliance`.
"""
