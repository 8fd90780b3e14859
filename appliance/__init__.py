"""The Craton appliance: the control plane of a managed Craton service and a local Craton cluster,
in one air-gapped program."""

__version__ = "0.1.0"
