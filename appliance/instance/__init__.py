"""The instance aggregate: this appliance's identity, name, setup token and instance settings."""
