"""`python -m tui --url URL`: the status TUI on its own, against a local or remote appliance."""

from tui.launch import main

if __name__ == "__main__":
    raise SystemExit(main())
