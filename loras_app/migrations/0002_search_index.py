"""The trigram index behind LoRA search: SQLite FTS5 (trigram tokenizer) kept in sync by
triggers, or a pg_trgm GIN index on PostgreSQL. GIN, not GiST: it serves both the substring
``LIKE '%q%'`` and the thresholded ``q <% search_text`` from posting lists, reading only the
rows that share enough trigrams, while a GiST nearest-first ``<<->`` walk visited most of the
index on every query (~25 ms at 100k rows; GiST signatures of a long text are nearly all
ones). Written by hand: it is vendor-specific.

A later migration that makes SQLite rebuild ``loras_app_lora`` drops the triggers with the
old table; run ``search_index_sql`` again there.
"""

from django.db import migrations

TABLE = "loras_app_lora"

SQLITE = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_fts USING fts5("
    f"search_text, content='{TABLE}', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_fts_ai AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {TABLE}_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_fts_ad AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {TABLE}_fts({TABLE}_fts, rowid, search_text) "
    f"VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_fts_au AFTER UPDATE OF search_text ON {TABLE} BEGIN "
    f"INSERT INTO {TABLE}_fts({TABLE}_fts, rowid, search_text) "
    f"VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {TABLE}_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"INSERT INTO {TABLE}_fts({TABLE}_fts) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {TABLE}_fts_ai",
    f"DROP TRIGGER IF EXISTS {TABLE}_fts_ad",
    f"DROP TRIGGER IF EXISTS {TABLE}_fts_au",
    f"DROP TABLE IF EXISTS {TABLE}_fts",
]
POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"DROP INDEX IF EXISTS {TABLE}_search_trgm",  # the earlier GiST index, on a dev database
    f"CREATE INDEX IF NOT EXISTS {TABLE}_search_gin ON {TABLE} "
    "USING gin (search_text gin_trgm_ops)",
]
POSTGRESQL_REVERSE = [
    f"DROP INDEX IF EXISTS {TABLE}_search_gin",
    f"DROP INDEX IF EXISTS {TABLE}_search_trgm",
]


def search_index_sql(apps, schema_editor, reverse=False):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = SQLITE_REVERSE if reverse else SQLITE
    elif vendor == "postgresql":
        statements = POSTGRESQL_REVERSE if reverse else POSTGRESQL
    else:
        return  # other databases fall back to the prefix candidates only
    for sql in statements:
        schema_editor.execute(sql)


def drop_search_index(apps, schema_editor):
    search_index_sql(apps, schema_editor, reverse=True)


class Migration(migrations.Migration):
    dependencies = [("loras_app", "0001_initial")]

    operations = [migrations.RunPython(search_index_sql, drop_search_index)]
