"""Words the pages show for things the code names: the API's error types, notices after a
redirect, roles and book fields. Lazy, so they are translated in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "title": _l("Title"),
    "subtitle": _l("Subtitle"),
    "authors": _l("Authors"),
    "isbn": _l("ISBN"),
    "publisher": _l("Publisher"),
    "published_year": _l("Year published"),
    "published_date": _l("Date published"),
    "language": _l("Language"),
    "page_count": _l("Pages"),
    "subjects": _l("Subjects"),
    "series": _l("Series"),
    "series_index": _l("Number in the series"),
    "copies": _l("Copies"),
    "cover_url": _l("Cover image URL"),
    "description": _l("Description"),
    "author": _l("Author"),
}
FIELD_HINTS = {
    "authors": _l("One name per line, in the order of the cover."),
    "isbn": _l("ISBN-10 or ISBN-13; hyphens and spaces are fine."),
    "published_date": _l("YYYY, YYYY-MM or YYYY-MM-DD."),
    "language": _l("Two- or three-letter code, e.g. pt, en, spa."),
    "subjects": _l("One subject per line."),
    "copies": _l("How many copies you have (1 if left empty)."),
    "cover_url": _l("An http or https address of an image."),
}
ROLE_NAMES = {
    "admin": _l("Administrator"),
    "librarian": _l("Librarian"),
    "reader": _l("Reader"),
}
ACTION_NAMES = {
    "created": _l("Added"),
    "updated": _l("Changed"),
    "deleted": _l("Deleted"),
    "restored": _l("Restored"),
}
JOB_STATES = {
    "queued": _l("Waiting to start"),
    "running": _l("Importing"),
    "succeeded": _l("Finished"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
}
ROW_ACTIONS = {
    "create": _l("Added"),
    "update": _l("Updated"),
    "skip": _l("Skipped"),
    "reject": _l("Rejected"),
}
# The API's field error types (pydantic's, and the Books Service's own).
ERROR_TYPES = {
    "missing": _l("This field is required."),
    "string_too_long": _l("This is too long."),
    "string_too_short": _l("This is too short."),
    "string_pattern_mismatch": _l("This must not be blank."),
    "string_type": _l("Enter text here."),
    "int_type": _l("Enter a whole number."),
    "int_parsing": _l("Enter a whole number."),
    "int_from_float": _l("Enter a whole number."),
    "float_type": _l("Enter a number."),
    "float_parsing": _l("Enter a number."),
    "greater_than_equal": _l("This number is too small."),
    "greater_than": _l("This number is too small."),
    "less_than_equal": _l("This number is too large."),
    "too_long": _l("Too many entries."),
    "isbn": _l("Not a valid ISBN: check the number and its check digit."),
    "language": _l("Not a known language code (use e.g. pt, en or spa)."),
    "url": _l("Not a valid http or https address."),
    "date": _l("Not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)."),
    "published": _l("The year and the date name different years."),
    "years": _l("The first year must not be after the last."),
    "username": _l("Not a valid username."),
}
CATALOG_ERRORS = {
    "year": _l("Enter a year as digits, e.g. 1999."),
    "sort": _l("Unknown order; the default is used."),
}
NOTICES = {
    "added": _l("The book was added."),
    "saved": _l("Your changes were saved."),
    "deleted": _l("The book was deleted. An administrator can restore it."),
    "restored": _l("The book was restored."),
    "purged": _l("The book was removed for good."),
    "logged_in": _l("You are logged in."),
    "registered": _l("Welcome! Your account was created and you are logged in."),
    "logged_out": _l("You are logged out."),
    "logged_out_here": _l(
        "You are logged out of this browser; the Auth Service could not be told, so your "
        "session there ends when it expires."
    ),
    "logged_out_everywhere": _l("You are logged out on every device."),
    "password_changed": _l("Your password was changed. Your other sessions were ended."),
    "session_ended": _l("Your session has ended. Please log in again."),
    "user_saved": _l("The user was updated."),
}


def error_message(error: dict[str, str]) -> str:
    """One API field error in the reader's language (the API's words when we have none)."""
    known = ERROR_TYPES.get(str(error.get("type", "")))
    if known is not None:
        return str(known)
    message = str(error.get("message", "")).strip()
    return message[:1].upper() + message[1:] if message else str(ERROR_TYPES["missing"])
