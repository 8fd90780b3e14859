"""Read model: apsw connection, numbered migrations, projector runner with checkpoints."""
