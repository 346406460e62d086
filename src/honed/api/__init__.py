"""The SigOpt v1 wire format: input schemas (pydantic) and output rendering."""
