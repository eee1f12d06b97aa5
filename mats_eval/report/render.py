"""The report's content model (sections of blocks) and its two renderings, HTML and Markdown.

The report is assembled once as a list of Sections made of Blocks (paragraph,
callout, bullets, table, figure) and rendered twice, so the HTML and the Markdown
cannot drift apart.

The HTML is one self-contained file that must read well from a 400 px phone to a
1280 px laptop: a viewport meta tag; a Content-Security-Policy that forbids every
network load (figures are inline data: PNGs, CSS is inline, no scripts); figures
scale down to the page width; tables fill the page width and, on narrow screens,
turn each row into a small card of "column: value" lines rather than running off
the page.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# default-src 'none': no fetch, font, frame or script; images only inline, styles only inline
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
VIEWPORT = "width=device-width, initial-scale=1"
NARROW = "40rem"  # below this width tables are shown as one card per row
WIDE = 7  # tables with more columns than this are shown as cards at every width


@dataclass
class Paragraph:
    text: str


@dataclass
class Callout:
    """A boxed message; level is 'fail' (red), 'warn' (amber), 'pass' (green) or 'decision' (blue)."""

    title: str
    text: str
    level: str = "warn"
    items: list[str] = field(default_factory=list)  # shown as a list under the text


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class FigureBlock:
    """A figure: `name` is its file stem in figures/, `alt` states its finding, `caption` explains it."""

    name: str
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2  # 2: a part of the report, 3: a part of the appendix

    def add(self, *blocks) -> "Section":
        self.blocks.extend(b for b in blocks if b is not None)
        return self


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as text: floats to 3 significant figures, NaN and None as blank (both renderers)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.3g}"
        return "" if v is None else str(v)
    return frame.apply(lambda col: col.map(cell)) if len(frame.columns) else frame


# --- HTML -----------------------------------------------------------------------


def _cards(selector: str) -> str:
    """CSS showing each row of `selector` tables as a card of 'column: value' lines."""
    t = selector
    return (f"{t},{t} tbody,{t} tr,{t} td,{t} caption{{display:block;width:100%}}{t} thead{{display:none}}"
            f"{t} tr{{border:1px solid #d0d0d0;border-radius:4px;margin:.5rem 0;padding:.2rem 0}}"
            f"{t} td{{border:0;text-align:left;padding:.1rem .5rem}}"
            f'{t} td::before{{content:attr(data-label) ": ";font-weight:600}}')


CSS = f"""
*,*::before,*::after{{box-sizing:border-box}}
body{{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:56rem;margin:0 auto;
padding:1rem;color:#1f1f1f;line-height:1.5;font-size:1rem;overflow-wrap:break-word}}
h1{{font-size:1.6rem;line-height:1.25;border-bottom:2px solid #444;padding-bottom:.3rem}}
h2{{font-size:1.3rem;margin-top:2.2rem;border-bottom:1px solid #ccc}}h3{{font-size:1.1rem;margin-top:1.6rem}}
p,li{{max-width:46rem}}
table{{border-collapse:collapse;font-size:.9rem;margin:.6rem 0 1.2rem;width:100%}}
th,td{{border:1px solid #d0d0d0;padding:.3rem .5rem;text-align:right;vertical-align:top}}td{{overflow-wrap:anywhere}}
th{{background:#f3f3f3}}td:first-child,th:first-child,td.text,th.text{{text-align:left}}
caption{{text-align:left;font-weight:600;padding:.3rem 0;caption-side:top}}
.callout{{border:2px solid;border-radius:6px;padding:.7rem 1rem;margin:1rem 0}}.callout p{{margin:.4rem 0 0}}
.callout ul{{margin:.4rem 0 0;padding-left:1.2rem}}
.fail{{background:#fde8e8;border-color:#c62828}}.fail strong{{color:#b71c1c}}
.warn{{background:#fff7e0;border-color:#d39e00}}.pass{{background:#e8f5e9;border-color:#2e7d32}}
.decision{{background:#e8f0fe;border-color:#1a56c4}}.decision strong{{font-size:1.15rem}}
figure{{margin:1rem 0}}figure img{{display:block;max-width:100%;height:auto}}
figcaption{{font-size:.9rem;color:#444;margin-top:.3rem}}
{_cards("table.wide")}
@media (max-width:{NARROW}){{body{{padding:.6rem}}{_cards("table.cards")}}}
"""


def render_html(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h{section.level}>{html.escape(section.title)}</h{section.level}>")
        body.extend(html_block(b) for b in section.blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta name="viewport" content="{VIEWPORT}">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def html_block(block) -> str:
    match block:
        case Paragraph(text=text):
            return f"<p>{html.escape(text)}</p>"
        case Callout(title=t, text=text, level=level, items=items):
            listed = "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>" if items else ""
            said = f"<p>{html.escape(text)}</p>" if text else ""
            return f'<div class="callout {level}"><strong>{html.escape(t)}</strong>{said}{listed}</div>'
        case Bullets(items=items):
            return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
        case Table(frame=frame, caption=caption):
            return html_table(formatted(frame), caption)
        case FigureBlock(png=png, alt=alt, caption=caption):
            data = base64.b64encode(png).decode("ascii")
            return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    raise TypeError(f"unknown block {block!r}")


def html_table(cells: pd.DataFrame, caption: str) -> str:
    """A table whose cells carry their column name (data-label) for the narrow-screen card layout."""
    text_columns = {c for c in cells.columns if not _numeric_column(cells[c])}

    def cls(column) -> str:
        return ' class="text"' if column in text_columns else ""
    head = "".join(f"<th{cls(c)}>{html.escape(str(c))}</th>" for c in cells.columns)
    rows = "".join(
        "<tr>" + "".join(f'<td{cls(c)} data-label="{html.escape(str(c))}">{html.escape(v)}</td>'
                         for c, v in zip(cells.columns, row)) + "</tr>"
        for row in cells.itertuples(index=False))
    caption = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    layout = "cards wide" if len(cells.columns) > WIDE else "cards"
    return f'<table class="{layout}">{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _numeric_column(cells: pd.Series) -> bool:
    """True when every non-blank cell reads as a number (percentages and '1.2 to 3.4' count as text)."""
    def number(s: str) -> bool:
        try:
            float(s)
            return True
        except ValueError:
            return False
    filled = [s for s in cells if s != ""]
    return bool(filled) and all(number(s) for s in filled)


# --- Markdown -------------------------------------------------------------------


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"{'#' * section.level} {section.title}", ""]
        for block in section.blocks:
            lines += [markdown_block(block), ""]
    return "\n".join(lines)


def markdown_block(block) -> str:
    match block:
        case Paragraph(text=text):
            return text
        case Callout(title=t, text=text, level=level, items=items):
            mark = {"fail": "⛔", "warn": "⚠️", "pass": "✅", "decision": "➡️"}.get(level, "")
            lines = [f"> {mark} **{t}**"] + ([">", f"> {text}"] if text else []) + (
                [">"] + [f"> - {i}" for i in items] if items else [])
            return "\n".join(lines)
        case Bullets(items=items):
            return "\n".join(f"- {i}" for i in items)
        case Table(frame=frame, caption=caption):
            return (f"*{caption}*\n\n" if caption else "") + markdown_table(formatted(frame))
        case FigureBlock(name=name, alt=alt, caption=caption):
            return f"![{_md_escape(alt)}](figures/{name}.png)" + (f"\n\n*{caption}*" if caption else "")
    raise TypeError(f"unknown block {block!r}")


def _md_escape(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of string cells (pipes escaped)."""
    def row(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
    return "\n".join([row(frame.columns), row(["---"] * frame.shape[1])]
                     + [row(r) for r in frame.itertuples(index=False)])
