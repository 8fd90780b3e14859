"""Event store: nats-server supervisor, JetStream event store, KV session store, in-memory reference."""
