-- Migrations are now recorded by sqlx's migrator in _sqlx_migrations (with
-- checksums); the earlier migrator's bookkeeping goes.
DROP TABLE IF EXISTS schema_migrations;
