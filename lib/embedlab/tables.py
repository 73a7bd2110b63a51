"""Tables a reader can sort in the static page: plain HTML with a few lines of JavaScript inside it.

Why a small script and not a table library: the book's tables have a dozen rows, and sorting
them needs nothing but a click handler per column. itables, the maintained choice, is not in
the book's environment, and its offline mode inlines DataTables' whole bundle (with jQuery)
into every page that shows a table, which the pages' weight budget (issue 17: Lighthouse
performance of at least 90) cannot spare. The script below is served inside the page itself,
needs no CDN and no kernel, and works from the keyboard: each header is a button.
Book: Chapter 6, "Choosing an embedding model".
"""

from __future__ import annotations

import hashlib
import math
from html import escape

from IPython.display import HTML

# One copy per table, so that a table works wherever its HTML lands (a page, a live notebook).
# Each header button sorts its column; clicking again reverses it. Empty cells (no value) stay
# last in both directions; numbers compare as numbers, text as text; ties keep the earlier order.
_SCRIPT = """
(function () {
  var table = document.getElementById("%(id)s");
  if (!table || table.dataset.sortable) return;
  table.dataset.sortable = "1";
  var body = table.tBodies[0];
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (header, column) {
    header.querySelector("button").addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      var rows = Array.prototype.slice.call(body.rows).map(function (row, position) {
        return {row: row, position: position, key: row.cells[column].dataset.sort};
      });
      var numeric = header.dataset.type === "number";
      rows.sort(function (a, b) {
        var emptyA = a.key === "", emptyB = b.key === "";
        if (emptyA || emptyB) return emptyA === emptyB ? a.position - b.position : (emptyA ? 1 : -1);
        var order = numeric ? parseFloat(a.key) - parseFloat(b.key) : a.key.localeCompare(b.key);
        return (ascending ? order : -order) || a.position - b.position;
      });
      rows.forEach(function (entry) { body.appendChild(entry.row); });
      headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
})();
"""

_STYLE = """
#%(id)s-box {overflow-x: auto; max-width: 100%%;}
#%(id)s {border-collapse: collapse; font-size: 0.85em;}
#%(id)s th, #%(id)s td {padding: 0.25em 0.5em; border-bottom: 1px solid #ddd; vertical-align: top;}
#%(id)s td.number {text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;}
#%(id)s th button {font: inherit; font-weight: bold; border: 0; background: none; padding: 0; cursor: pointer;
                   text-align: left; color: inherit;}
#%(id)s th[aria-sort="ascending"] button::after {content: " \\25B2";}
#%(id)s th[aria-sort="descending"] button::after {content: " \\25BC";}
#%(id)s th[aria-sort="none"] button::after {content: " \\21C5"; color: #999;}
"""


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sortable_table(frame, headers: dict | None = None, formats: dict | None = None, widths: dict | None = None,
                   caption: str = "", missing: str = "—") -> HTML:
    """``frame`` (a pandas DataFrame) as an HTML table sortable by every column in the page.

    ``headers`` maps a column to the header a reader sees (default: the column's name);
    ``formats`` maps a column to a format string for its numbers (``"{:,.2f}"``; default ``str``);
    ``widths`` maps a column to a CSS minimum width (``"12em"``), so that a long name wraps over
    at most a line or two while the table scrolls sideways inside its box when the page is
    narrower than the table. A column is sorted as numbers when all its values are numbers (or
    missing); a missing value shows as ``missing`` and sorts last either way. ``caption`` names
    the table for a screen reader and shows above it. Book: Chapter 6, "Choosing an embedding model".
    """
    headers, formats, widths = headers or {}, formats or {}, widths or {}
    unknown = (set(headers) | set(formats) | set(widths)) - set(frame.columns)
    if unknown:
        raise ValueError(f"no column named {', '.join(map(repr, sorted(unknown)))} in the table; "
                         f"its columns are {', '.join(map(repr, frame.columns))}")
    records = frame.to_dict("records")
    numeric = {column: all(_is_number(r[column]) or _is_missing(r[column]) for r in records) for column in frame.columns}
    # The id only has to be unique in the page: a hash of the table's content and its headers.
    table_id = "sortable-" + hashlib.sha256((frame.to_json() + repr(headers)).encode()).hexdigest()[:12]

    def header_cell(column) -> str:
        width = f" style='min-width:{widths[column]}'" if column in widths else ""
        kind = "number" if numeric[column] else "text"
        return (f"<th scope='col' aria-sort='none' data-type='{kind}'{width}>"
                f"<button type='button'>{escape(str(headers.get(column, column)))}</button></th>")

    def body_cell(column, value) -> str:
        if _is_missing(value):
            return f"<td data-sort=''{' class=number' if numeric[column] else ''}>{escape(missing)}</td>"
        shown = formats.get(column, "{}").format(value)
        key = repr(float(value)) if numeric[column] else str(value).lower()
        return f"<td data-sort='{escape(key)}'{' class=number' if numeric[column] else ''}>{escape(shown)}</td>"

    rows = "".join("<tr>" + "".join(body_cell(c, r[c]) for c in frame.columns) + "</tr>" for r in records)
    caption_html = f"<caption style='caption-side:top;text-align:left'>{escape(caption)}</caption>" if caption else ""
    return HTML(f"<style>{_STYLE % {'id': table_id}}</style><div id='{table_id}-box'>"
                f"<table id='{table_id}'>{caption_html}<thead><tr>{''.join(header_cell(c) for c in frame.columns)}"
                f"</tr></thead><tbody>{rows}</tbody></table></div><script>{_SCRIPT % {'id': table_id}}</script>")
