"""a real catalog: rich records, versions, soft delete, subjects, history, search

Revision ID: books_0002
Revises: books_0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from books_service.records import derived_fields

revision = "books_0002"
down_revision = "books_0001"
branch_labels = None
depends_on = None

NEW_COLUMNS = [
    sa.Column("subtitle", sa.String(length=500), nullable=True),
    sa.Column("authors", sa.JSON(), nullable=True),
    sa.Column("isbn", sa.String(length=13), nullable=True),
    sa.Column("publisher", sa.String(length=300), nullable=True),
    sa.Column("published_year", sa.Integer(), nullable=True),
    sa.Column("published_date", sa.String(length=10), nullable=True),
    sa.Column("language", sa.String(length=3), nullable=True),
    sa.Column("page_count", sa.Integer(), nullable=True),
    sa.Column("subjects", sa.JSON(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("cover_url", sa.String(length=2000), nullable=True),
    sa.Column("series", sa.String(length=300), nullable=True),
    sa.Column("series_index", sa.Float(), nullable=True),
    sa.Column("copies", sa.Integer(), server_default="1", nullable=False),
    sa.Column("title_key", sa.String(length=500), server_default="", nullable=False),
    sa.Column("author_key", sa.String(length=300), server_default="", nullable=False),
    sa.Column("publisher_key", sa.String(length=300), nullable=True),
    sa.Column("duplicate_key", sa.String(length=900), server_default="", nullable=False),
    sa.Column("search_text", sa.Text(), server_default="", nullable=False),
    sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    sa.Column("updated_by", sa.String(length=64), nullable=True),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("deleted_by", sa.String(length=64), nullable=True),
]
INDEXES = [
    ("ix_books_title_key", ["title_key", "id"]),
    ("ix_books_author_key", ["author_key", "id"]),
    ("ix_books_published_year", ["published_year", "id"]),
    ("ix_books_created_at", ["created_at", "id"]),
    ("ix_books_updated_at", ["updated_at", "id"]),
    ("ix_books_duplicate_key", ["duplicate_key"]),
    ("ix_books_language", ["language"]),
    ("ix_books_publisher_key", ["publisher_key"]),
]


def upgrade() -> None:
    with op.batch_alter_table("books") as batch:
        for column in NEW_COLUMNS:
            batch.add_column(column)

    # Fill the derived columns of the books already there, and record their creation.
    connection = op.get_bind()
    books = sa.table(
        "books",
        sa.column("id", sa.Integer), sa.column("title", sa.String), sa.column("author", sa.String),
        sa.column("created_by", sa.String), sa.column("created_at", sa.DateTime(timezone=True)),
        *[sa.column(c.name, c.type) for c in NEW_COLUMNS],
    )
    op.create_table(
        "book_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"],
                                name=op.f("fk_book_history_book_id_books"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_history")),
    )
    op.create_index(op.f("ix_book_history_book_id"), "book_history", ["book_id"])
    history = sa.table(
        "book_history",
        sa.column("book_id", sa.Integer), sa.column("version", sa.Integer),
        sa.column("action", sa.String), sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("changed_by", sa.String), sa.column("changes", sa.JSON),
    )
    rows = connection.execute(
        sa.select(books.c.id, books.c.title, books.c.author, books.c.created_by, books.c.created_at)
    ).all()
    for row in rows:
        derived = derived_fields(
            {"title": row.title, "author": row.author, "authors": [row.author], "subjects": []}
        )
        connection.execute(
            books.update().where(books.c.id == row.id).values(
                authors=[row.author], subjects=[], updated_by=row.created_by, **derived
            )
        )
        connection.execute(history.insert().values(
            book_id=row.id, version=1, action="created", changed_at=row.created_at,
            changed_by=row.created_by,
            changes={"title": {"from": None, "to": row.title},
                     "author": {"from": None, "to": row.author}},
        ))

    with op.batch_alter_table("books") as batch:  # every row has its lists now
        batch.alter_column("authors", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("subjects", existing_type=sa.JSON(), nullable=False)

    op.create_table(
        "book_subjects",
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("subject_key", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"],
                                name=op.f("fk_book_subjects_book_id_books"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("book_id", "subject_key", name=op.f("pk_book_subjects")),
    )
    op.create_index(op.f("ix_book_subjects_subject_key"), "book_subjects", ["subject_key"])
    for name, columns in INDEXES:
        op.create_index(name, "books", columns)
    op.create_index("uq_books_isbn_live", "books", ["isbn"], unique=True,
                    sqlite_where=sa.text("deleted_at IS NULL"),
                    postgresql_where=sa.text("deleted_at IS NULL"))

    # Full-text search, each database its own way, over the same folded text.
    if connection.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE books_fts USING fts5(search_text, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("INSERT INTO books_fts (rowid, search_text) SELECT id, search_text FROM books")
    else:
        op.execute("CREATE INDEX ix_books_search ON books "
                   "USING GIN (to_tsvector('simple', search_text))")


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        op.execute("DROP TABLE books_fts")
    else:
        op.execute("DROP INDEX ix_books_search")
    op.drop_index("uq_books_isbn_live", table_name="books")
    for name, _ in INDEXES:
        op.drop_index(name, table_name="books")
    op.drop_index(op.f("ix_book_subjects_subject_key"), table_name="book_subjects")
    op.drop_table("book_subjects")
    op.drop_index(op.f("ix_book_history_book_id"), table_name="book_history")
    op.drop_table("book_history")
    with op.batch_alter_table("books") as batch:
        for column in reversed(NEW_COLUMNS):
            batch.drop_column(column.name)
