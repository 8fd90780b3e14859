"""The Craton engine: a standalone, hash-chained, replicated log with SQL projections. Imports nothing else from `appliance`."""
