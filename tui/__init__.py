"""The Craton terminal UI: a Textual status screen and, behind a sign-in, the identity screens
(Users, Organisations, Members, Sessions, Audit); it reaches the appliance only over HTTP.

Start it with `tui.launch.attach(url)` (what `craton up` and `craton tui` do, found through the
`craton.frontends` entry point) or `python -m tui --url URL`. The pure modules (`replies`,
`client`, `poller`, `history`, `logtail`, `formatting`, `errors`, and for identity `session`,
`identity_api`, `identity_replies`, `identity_format`) never import Textual; the Textual side is
`app`, `commands`, `screens/` and `widgets/`. Nothing here imports `appliance`, and tokens live
only in the memory of `session.Session`.
"""
