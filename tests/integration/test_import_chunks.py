"""On PostgreSQL an upload's stored pieces are compressed with LZ4 (migration books_0009), and
read back byte for byte."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from books_service.transfer.files import open_stored
from common.db import Database
from tests.support.databases import migrated
from tests.support.import_jobs import GOODREADS_HEADER, stored_job
from tests.support.postgres import PostgresServer

COMPRESSION = (
    "SELECT attcompression FROM pg_attribute "
    "WHERE attrelid = 'import_chunks'::regclass AND attname = 'data'"
)


@pytest.fixture
def db(postgres: PostgresServer) -> Iterator[Database]:
    with migrated("books", postgres.create_database("chunks_lz4")) as database:
        yield database


def test_an_upload_is_stored_compressed_with_lz4_and_read_back_as_it_was(db: Database) -> None:
    rng = random.Random(7)
    rows = "".join(
        f'{n},Título {rng.random()} ção,Autor {n},,"=""""",,ficção,read\n' for n in range(60_000)
    )
    data = (GOODREADS_HEADER + rows).encode()
    assert len(data) > 3 * 2**20  # several pieces
    job_id = stored_job(db, data)
    with db.read() as session:
        assert session.scalar(text(COMPRESSION)) == "l"
        methods = session.scalars(
            text("SELECT DISTINCT pg_column_compression(data) FROM import_chunks")
        ).all()
        stored = session.scalar(text("SELECT sum(pg_column_size(data)) FROM import_chunks"))
    assert methods == ["lz4"]
    assert stored < len(data) / 2
    assert open_stored(db.read, job_id).read() == data
