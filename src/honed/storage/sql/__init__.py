"""SQL storage on SQLAlchemy 2: SQLite by default, PostgreSQL for many server processes."""
