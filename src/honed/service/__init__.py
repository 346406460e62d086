"""Use cases and transaction boundaries; the only caller of storage and engines."""
