"""Pure-Python domain of honed: search spaces, metrics, experiments and their records.

Nothing here imports sqlalchemy, fastapi or torch; every object is a frozen snapshot.
"""
