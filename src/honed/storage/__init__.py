"""Persistence behind one contract (honed.storage.base.Storage); SQL is the implementation."""
