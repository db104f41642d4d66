"""Storage: SQLAlchemy Core tables, migrations and one query module per aggregate.

The only package with SQL. SQLite (WAL, one writer) and PostgreSQL run the same code.
"""
