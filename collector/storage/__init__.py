"""Trace and log storage: SQLite under the data directory, or in memory for tests."""
