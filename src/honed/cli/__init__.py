"""The ``honed`` command line."""
