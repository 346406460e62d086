"""Use cases and transaction boundaries; the only caller of storage and engines.

Each service takes the storage roles it uses (honed.storage), not the whole ``Storage``:
its ``<Name>Roles`` Protocol lists them. Wiring passes the one store to all of them.
"""
