"""The HTTP transport: FastAPI routes in SigOpt v1 shapes over honed.service."""
