"""The TUI's screens. Today there is one, the status screen."""
