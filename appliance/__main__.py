"""Entry point of `craton` and `python -m appliance`."""

from appliance.runtime.cli import main

if __name__ == "__main__":
    main()
