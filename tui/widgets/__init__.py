"""The status screen's widgets, one module per screen area.

Each widget takes the poller's `StatusView` (or a part of it) in a `show` method and renders it;
none of them talks HTTP, polls or keeps appliance state of its own beyond what it displays.
Text from the appliance is shown with markup off, so a stray `[` cannot restyle the screen.
"""
