"""requests.csv (what a web form or spreadsheet exports) -> [Request] and rejected rows.

UTF-8 with or without BOM, comma or semicolon separated, quoted fields with
newlines. Headers are matched without regard to case, spaces or
underscores, with a few common spellings (see COLUMNS). A bad row is never
fatal: it is returned as a Rejection with its row number and the reason,
and the good rows go on. Reasons never quote the person's name or address.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.model import LIMITS, BookletError, megabytes
from pipeline.sources import CONTROL_RE

COLUMNS = {
    "request_id": ("requestid", "id", "request"),
    "date": ("date", "requestdate", "received"),
    "name": ("fullname", "name"),
    "address": ("address", "addresslines", "street", "address1"),
    "address2": ("address2", "addressline2"),
    "city": ("city", "town", "cityregionpostcode", "citystatezip"),
    "region": ("region", "state", "province", "county"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode"),
    "country": ("country", "countrycode"),
    "email": ("email", "emailaddress"),
    "edition": ("edition",),
    "copies": ("copies", "numberofcopies", "count", "quantity"),
    "note": ("note", "personalnote", "volunteernote", "message"),
}
REQUIRED = ("request_id", "name", "address", "country")
LETTER_COUNTRIES = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA", "CA", "CANADA"}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_COPIES = 20


@dataclass(frozen=True)
class Request:
    row: int  # the CSV row number (the header is row 1)
    request_id: str
    date: str
    name: str
    address: tuple[str, ...]  # every line under the name on the label
    country: str
    email: str
    edition: str
    copies: int
    note: str


@dataclass(frozen=True)
class Rejection:
    row: int
    request_id: str  # may be "" when the row has none
    reason: str


def read_requests(path: Path, editions: tuple[str, ...]) -> tuple[list[Request], list[Rejection]]:
    """Parse the CSV; every row becomes a Request or a Rejection (in file order)."""
    size = path.stat().st_size
    if size > LIMITS.requests_bytes:
        raise BookletError.at(str(path), None, f"is {megabytes(size)}, over the "
                                               f"{megabytes(LIMITS.requests_bytes)} limit",
                              "split it into several batches")
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise BookletError.at(str(path), None, "the requests file is empty")
    dialect = _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as err:
        raise BookletError.at(str(path), 1, f"cannot read the header row: {err}") from None
    columns = _columns(header, path)
    requests: list[Request] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    bad_rows = _undecodable_rows(raw)
    row = 1
    line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            row += 1
            rejected.append(Rejection(row, "", f"the row cannot be read as CSV ({err})"))
            continue
        row += 1  # rows as a spreadsheet numbers them: the header is row 1
        first_line, last_line = line, reader.line_num
        line = last_line
        if not any(cell.strip() for cell in cells):
            continue
        values = {key: cells[i].strip() if i < len(cells) else "" for key, i in columns.items()}
        request_id = values.get("request_id", "")
        undecodable = any(n in bad_rows for n in range(first_line + 1, last_line + 1))
        reason = _problem(values, seen, editions, undecodable)
        if reason:
            rejected.append(Rejection(row, request_id if ID_RE.match(request_id) else "", reason))
            continue
        seen.add(request_id)
        requests.append(_request(row, values, editions))
    return requests, rejected


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = text[:8192]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _columns(header: list[str], path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = re.sub(r"[\s_\-/.]+", "", name.strip().lower())
        for column, spellings in COLUMNS.items():
            if key in spellings and column not in found:
                found[column] = index
                break
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise BookletError.at(
            str(path), 1, f"no column for: {', '.join(missing)}",
            "the README lists the column names (for example: request_id, name, address, "
            "city, postcode, country, edition, copies, note)",
        )
    return found


def _undecodable_rows(raw: bytes) -> set[int]:
    """Line numbers holding bytes that are not UTF-8 (their rows are rejected)."""
    rows = set()
    for number, line in enumerate(raw.split(b"\n"), 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            rows.add(number)
    return rows


def _problem(values: dict[str, str], seen: set[str], editions: tuple[str, ...],
             undecodable: bool) -> str | None:
    request_id = values.get("request_id", "")
    if undecodable:
        return "the row has bytes that are not UTF-8 text (save the file as UTF-8)"
    for key, value in values.items():  # the reason names the column, never the text
        if len(value) > LIMITS.request_field_chars:
            return f"the {key} is over {LIMITS.request_field_chars:,} characters long"
        if CONTROL_RE.search(value):
            return f"the {key} has a control character in it"
        if re.search(rf"\S{{{LIMITS.word_chars + 1},}}", value):
            return f"the {key} has a word of more than {LIMITS.word_chars:,} characters"
    if not request_id:
        return "no request id"
    if not ID_RE.match(request_id):
        return "the request id must be letters, digits, - or _ (it names the file)"
    if request_id in seen:
        return f"request id {request_id} appears twice"
    if not values.get("name"):
        return "no name"
    if not (values.get("address") or values.get("address2")):
        return "no address"
    if not values.get("country"):
        return "no country"
    edition = values.get("edition", "")
    if edition and edition not in editions:
        return f"unknown edition '{edition[:40]}' (editions: {', '.join(editions)})"
    copies = values.get("copies", "") or "1"
    if not copies.isdigit() or not 1 <= int(copies) <= MAX_COPIES:
        return f"copies must be a whole number from 1 to {MAX_COPIES}"
    return None


def _request(row: int, values: dict[str, str], editions: tuple[str, ...]) -> Request:
    country = values["country"]
    edition = values.get("edition") or (
        "letter" if country.upper() in LETTER_COUNTRIES else "a4"
    )
    if edition not in editions:  # a project without these editions: its default
        edition = editions[0]
    address = [line.strip() for line in values.get("address", "").splitlines() if line.strip()]
    if values.get("address2"):
        address.append(values["address2"])
    town = " ".join(v for v in (values.get("city", ""), values.get("region", ""),
                                values.get("postcode", "")) if v)
    if town:
        address.append(town)
    address.append(country)
    return Request(
        row=row,
        request_id=values["request_id"],
        date=values.get("date", ""),
        name=" ".join(values["name"].split()),
        address=tuple(address),
        country=country,
        email=values.get("email", ""),
        edition=edition,
        copies=int(values.get("copies") or 1),
        note=values.get("note", ""),
    )
