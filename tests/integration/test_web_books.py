"""Adding, editing, deleting and restoring books through the web pages, against the real APIs:
field errors next to their fields with nothing typed lost, duplicates, edit conflicts."""

from __future__ import annotations

import re
import uuid

import requests
from flask import Flask

from tests.support.clients import bearer
from tests.support.harness import Stack
from tests.support.web import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    add_book,
    csrf_of,
    log_in,
    new_user,
    post_form,
    text_of,
)

ETAG_FIELD = re.compile(r'name="etag" value="([^"]*)"')


def unique(title: str) -> str:
    return f"{title} {uuid.uuid4().hex[:6]}"


def test_a_book_page_shows_every_field_with_hyphenated_isbns_and_catalog_links(
    web_apis: Stack, web: Flask
) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    book_id = add_book(
        client,
        title=unique("Dom Casmurro"),
        subtitle="Romance",
        authors="Machado de Assis",
        isbn="8535902775",
        publisher="Companhia das Letras",
        published_date="1899-05",
        language="por",
        page_count="256",
        subjects="Romance\nLiteratura brasileira",
        series="Obras completas",
        series_index="3",
        copies="2",
        description="Bento Santiago conta sua vida.",
    )
    page = text_of(web.test_client().get(f"/books/{book_id}"))
    assert '<dd id="isbn13">978-85-359-0277-8</dd>' in page
    assert '<dd id="isbn10">85-359-0277-5</dd>' in page
    assert 'href="/?author=Machado+de+Assis"' in page
    assert 'href="/?subject=Literatura+brasileira"' in page
    assert 'href="/?publisher=Companhia+das+Letras"' in page
    assert 'href="/?language=pt"' in page
    assert "Portuguese" in page and "1899-05" in page and "256" in page
    assert "Bento Santiago conta sua vida." in page
    assert 'id="history"' in page


def test_api_field_errors_appear_next_to_their_fields_and_nothing_typed_is_lost(
    web_apis: Stack, web: Flask
) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    title = unique("Livro com erros")
    response = post_form(
        client,
        "/books/new",
        {
            "title": title,
            "authors": "Autora Tal",
            "isbn": "978-85-359-0277-9",  # wrong check digit
            "page_count": "muitas",
            "language": "xx",
            "description": "Uma descrição que não pode se perder.",
        },
    )
    assert response.status_code == 422
    page = text_of(response)
    assert 'id="error-summary"' in page
    for field in ("isbn", "page_count", "language"):
        assert f'id="field-{field}-error1"' in page, field
        assert re.search(rf'id="field-{field}"[^>]*aria-invalid="true"', page), field
    assert "Not a valid ISBN" in page
    assert f'value="{title}"' in page
    assert 'value="978-85-359-0277-9"' in page
    assert 'value="muitas"' in page
    assert "Uma descrição que não pode se perder.</textarea>" in page
    found = requests.get(f"{web_apis.books_url}/books", params={"q": title}, timeout=10)
    assert found.json() == []


def test_a_missing_author_is_shown_on_the_authors_field(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    response = post_form(client, "/books/new", {"title": unique("Sem autor")})
    assert response.status_code == 422
    assert 'id="field-authors-error1"' in text_of(response)


def test_a_duplicate_links_to_the_existing_book_and_can_be_added_anyway(
    web_apis: Stack, web: Flask
) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    title = unique("Duplicado")
    first = add_book(client, title=title, authors="Mesma Autora")
    response = post_form(client, "/books/new", {"title": title, "authors": "Mesma Autora"})
    assert response.status_code == 409
    page = text_of(response)
    assert f'id="duplicate-link" href="/books/{first}"' in page
    assert 'id="add-anyway"' in page
    assert f'value="{title}"' in page
    token = csrf_of(client, "/books/new")
    anyway = client.post(
        "/books/new",
        data={
            "title": title,
            "authors": "Mesma Autora",
            "allow_duplicate": "1",
            "csrf_token": token,
        },
    )
    assert anyway.status_code == 303
    found = requests.get(f"{web_apis.books_url}/books", params={"q": title}, timeout=10)
    assert found.headers["X-Total-Count"] == "2"


def test_an_edit_saves_with_the_etag_read_with_the_form(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    book_id = add_book(client, title=unique("Para editar"), authors="Autor")
    form = text_of(client.get(f"/books/{book_id}/edit"))
    etag = ETAG_FIELD.search(form).group(1)  # type: ignore[union-attr]
    assert etag.startswith('"') or etag.startswith("&#34;")
    values = {"title": "Título novo", "authors": "Autor", "copies": "3", "etag": etag}
    values["etag"] = values["etag"].replace("&#34;", '"')
    response = post_form(client, f"/books/{book_id}/edit", values)
    assert response.status_code == 303, text_of(response)
    book = requests.get(f"{web_apis.books_url}/books/{book_id}", timeout=10).json()
    assert (book["title"], book["copies"], book["version"]) == ("Título novo", 3, 2)


def test_an_edit_conflict_shows_both_versions_and_overwrites_nothing(
    web_apis: Stack, web: Flask
) -> None:
    mine = web.test_client()
    new_user(web_apis, mine)
    book_id = add_book(mine, title=unique("Conflito"), authors="Autora", publisher="Antiga")
    form = text_of(mine.get(f"/books/{book_id}/edit"))
    etag = ETAG_FIELD.search(form).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    # Someone else saves first, from another browser.
    theirs = web.test_client()
    new_user(web_apis, theirs)
    their_form = text_of(theirs.get(f"/books/{book_id}/edit"))
    their_etag = ETAG_FIELD.search(their_form).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    saved = post_form(
        theirs,
        f"/books/{book_id}/edit",
        {"title": "Conflito", "authors": "Autora", "publisher": "Deles", "etag": their_etag},
    )
    assert saved.status_code == 303
    # Mine arrives with the old ETag: refused, shown field by field.
    response = post_form(
        mine,
        f"/books/{book_id}/edit",
        {"title": "Conflito", "authors": "Autora", "publisher": "Minha", "etag": etag},
    )
    assert response.status_code == 409
    page = text_of(response)
    assert 'id="conflict"' in page
    assert 'id="conflict-publisher"' in page
    assert "Deles" in page and 'value="Minha"' in page
    stored = requests.get(f"{web_apis.books_url}/books/{book_id}", timeout=10).json()
    assert stored["publisher"] == "Deles"
    # Choosing their publisher and saving again works, with the new ETag from the page.
    new_etag = ETAG_FIELD.search(page).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    resolved = post_form(
        mine,
        f"/books/{book_id}/edit",
        {
            "title": "Conflito resolvido",
            "authors": "Autora",
            "publisher": "Minha",
            "choose_publisher": "theirs",
            "theirs_publisher": "Deles",
            "etag": new_etag,
        },
    )
    assert resolved.status_code == 303, text_of(resolved)
    stored = requests.get(f"{web_apis.books_url}/books/{book_id}", timeout=10).json()
    assert (stored["title"], stored["publisher"]) == ("Conflito resolvido", "Deles")


def test_a_change_only_they_made_is_proposed_as_theirs_not_undone(
    web_apis: Stack, web: Flask
) -> None:
    mine = web.test_client()
    new_user(web_apis, mine)
    book_id = add_book(mine, title=unique("Só deles"), authors="Autora", publisher="Antiga")
    my_form = text_of(mine.get(f"/books/{book_id}/edit"))
    stored = requests.get(f"{web_apis.books_url}/books/{book_id}", timeout=10).json()
    theirs = web.test_client()
    new_user(web_apis, theirs)
    their_form = text_of(theirs.get(f"/books/{book_id}/edit"))
    their_etag = ETAG_FIELD.search(their_form).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    saved = post_form(
        theirs,
        f"/books/{book_id}/edit",
        {"title": stored["title"], "authors": "Autora", "publisher": "Nova", "etag": their_etag},
    )
    assert saved.status_code == 303
    # I change only the copies, from the form opened before their change.
    fields = dict(re.findall(r'name="(original_[a-z_]+|etag)" value="([^"]*)"', my_form))
    fields = {k: v.replace("&#34;", '"') for k, v in fields.items()}
    response = post_form(
        mine,
        f"/books/{book_id}/edit",
        {
            **fields,
            "title": stored["title"],
            "authors": "Autora",
            "publisher": "Antiga",
            "copies": "4",
        },
    )
    assert response.status_code == 409
    page = text_of(response)
    assert 'id="conflict-publisher"' in page
    assert 'id="choose-publisher-theirs" name="choose_publisher" value="theirs" checked' in page
    assert 'id="conflict-copies"' not in page  # only I changed the copies: no conflict


def test_an_edit_without_an_etag_is_refused_not_forced(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    book_id = add_book(client, title=unique("Sem ETag"), authors="Autor")
    response = post_form(
        client, f"/books/{book_id}/edit", {"title": "Forçado", "authors": "Autor", "etag": ""}
    )
    assert response.status_code == 409
    stored = requests.get(f"{web_apis.books_url}/books/{book_id}", timeout=10).json()
    assert stored["version"] == 1


def test_delete_then_restore_and_purge_as_an_administrator(web_apis: Stack, web: Flask) -> None:
    librarian = web.test_client()
    new_user(web_apis, librarian)
    title = unique("Apagar e voltar")
    book_id = add_book(librarian, title=title, authors="Autor")
    confirm = text_of(librarian.get(f"/books/{book_id}/delete"))
    etag = ETAG_FIELD.search(confirm).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    deleted = post_form(librarian, f"/books/{book_id}/delete", {"etag": etag})
    assert deleted.status_code == 303
    assert librarian.get(f"/books/{book_id}").status_code == 404
    assert librarian.get("/admin/deleted").status_code == 403

    admin = web.test_client()
    log_in(admin, ADMIN_NAME, ADMIN_PASSWORD)
    listing = text_of(admin.get("/admin/deleted"))
    assert f'id="deleted-{book_id}"' in listing and title in listing
    restored = post_form(
        admin, f"/admin/deleted/{book_id}/restore", {}, token_from="/admin/deleted"
    )
    assert restored.status_code == 303
    assert admin.get(f"/books/{book_id}").status_code == 200

    token = requests.post(
        f"{web_apis.auth_url}/login",
        json={"username": ADMIN_NAME, "password": ADMIN_PASSWORD},
        timeout=10,
    ).json()["access_token"]
    requests.delete(f"{web_apis.books_url}/books/{book_id}", headers=bearer(token), timeout=10)
    purge_page = admin.get(f"/admin/deleted/{book_id}/purge")
    assert purge_page.status_code == 200
    purged = post_form(admin, f"/admin/deleted/{book_id}/purge", {})
    assert purged.status_code == 303
    gone = requests.get(
        f"{web_apis.books_url}/books/deleted/{book_id}", headers=bearer(token), timeout=10
    )
    assert gone.status_code == 404


def test_readers_cannot_add_and_anonymous_visitors_are_sent_to_log_in(
    web_apis: Stack, web: Flask
) -> None:
    anonymous = web.test_client()
    response = anonymous.get("/books/new")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/books/new")
    reader = web.test_client()
    new_user(web_apis, reader, role="reader")
    assert reader.get("/books/new").status_code == 403
    refused = post_form(reader, "/books/new", {"title": "x", "authors": "y"}, token_from="/")
    assert refused.status_code == 403


def test_an_unknown_book_is_a_404_page(web: Flask) -> None:
    response = web.test_client().get("/books/999999")
    assert response.status_code == 404
    assert 'data-status="404"' in text_of(response)


def test_the_pages_speak_portuguese_when_chosen(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    chosen = post_form(client, "/language", {"locale": "pt_BR", "next": "/books/new"}, "/")
    assert chosen.status_code == 303
    assert chosen.headers["Location"] == "/books/new"
    response = post_form(
        client, "/books/new", {"title": unique("Livro"), "authors": "A", "isbn": "123"}
    )
    page = text_of(response)
    assert '<html lang="pt-BR">' in page
    assert "ISBN inválido" in page
    book_id = add_book(client, title=unique("Livro"), authors="Autora", language="en")
    book_page = text_of(client.get(f"/books/{book_id}"))
    assert "Inglês" in book_page and "Histórico" in book_page
    assert " de " in book_page.split('id="history"')[1]  # dates as Portuguese writes them
    for path in ("/", "/account", f"/books/{book_id}/edit", f"/books/{book_id}/delete"):
        assert client.get(path).status_code == 200, path
