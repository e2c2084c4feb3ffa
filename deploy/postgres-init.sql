-- Each service owns its own database: the auth one is POSTGRES_DB, this is the books one.
CREATE DATABASE estante_books OWNER estante;
