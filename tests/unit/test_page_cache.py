"""The per-worker page cache keeps the pages of the newest catalog version it has seen, and
only those: a page of an older version is neither served nor stored."""

from __future__ import annotations

from books_service.page_cache import CachedPage, PageCache, page_tag


def page(text: str) -> CachedPage:
    return CachedPage(text.encode(), (("X-Total-Count", "1"),))


def test_a_page_is_served_only_for_the_version_it_was_built_at() -> None:
    cache = PageCache()
    cache.put(5, "?limit=50", page("five"))
    assert cache.get(5, "?limit=50") == page("five")
    assert cache.get(6, "?limit=50") is None
    assert cache.get(4, "?limit=50") is None


def test_a_newer_version_drops_every_older_page() -> None:
    cache = PageCache()
    cache.put(5, "a", page("a5"))
    cache.put(5, "b", page("b5"))
    cache.put(6, "a", page("a6"))
    assert cache.get(6, "a") == page("a6")
    assert cache.get(6, "b") is None
    assert cache.get(5, "b") is None


def test_a_page_read_at_an_older_version_is_not_stored() -> None:
    cache = PageCache()
    cache.put(6, "a", page("a6"))
    cache.put(5, "b", page("b5"))  # a request that began before version 6 was seen
    assert cache.get(5, "b") is None
    assert cache.get(6, "a") == page("a6")


def test_the_least_recently_used_page_goes_first() -> None:
    cache = PageCache(max_pages=2)
    cache.put(1, "a", page("a"))
    cache.put(1, "b", page("b"))
    assert cache.get(1, "a") is not None
    cache.put(1, "c", page("c"))
    assert cache.get(1, "b") is None
    assert cache.get(1, "a") is not None
    assert cache.get(1, "c") is not None


def test_the_tag_names_the_version_and_the_query() -> None:
    assert page_tag(3, "?limit=50") == page_tag(3, "?limit=50")
    assert page_tag(3, "?limit=50") != page_tag(4, "?limit=50")
    assert page_tag(3, "?limit=50") != page_tag(3, "?limit=49")
    assert page_tag(3, "x").startswith('"3-') and page_tag(3, "x").endswith('"')


def test_the_cache_keeps_no_more_bytes_than_its_bound_dropping_the_oldest_pages() -> None:
    one = page("x" * 1000)
    cache = PageCache(max_pages=100, max_bytes=3 * one.size)
    for key in "abcd":
        cache.put(1, key, one)
    assert cache.get(1, "a") is None  # the oldest went for the fourth
    assert all(cache.get(1, key) == one for key in "bcd")
    assert cache.bytes == 3 * one.size
    cache.put(1, "b", page("y" * 10))  # replaced: the old page's bytes are given back
    assert cache.bytes == 2 * one.size + page("y" * 10).size
    cache.put(2, "e", page("e"))  # a new version starts from nothing
    assert cache.bytes == page("e").size
    assert cache.get(2, "e") == page("e")


def test_a_page_larger_than_the_whole_bound_is_not_kept_and_drops_nothing() -> None:
    cache = PageCache(max_bytes=1000)
    cache.put(1, "small", page("s"))
    cache.put(1, "huge", page("h" * 2000))
    assert cache.get(1, "huge") is None
    assert cache.get(1, "small") == page("s")
    assert cache.bytes == page("s").size
