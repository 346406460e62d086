"""End-to-end tests: the official sigopt client against real ``honed serve`` processes."""
