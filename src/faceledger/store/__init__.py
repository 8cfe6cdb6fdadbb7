"""The database: SQLAlchemy tables, repositories and Alembic migrations. The source of truth."""
