"""The report in a real browser (headless Chromium) at a laptop's and a phone's width: the page never
scrolls sideways, every figure loads, nothing is fetched from the network, and the viewport meta tag is
there. The Markdown report gets the same checks once rendered to HTML as GitHub would show it.

Without chromium the tests skip, except in CI (CI or MATS_EVAL_REQUIRE_BROWSER set), where they fail:
scripts/bootstrap.sh installs Debian's chromium.
"""
from __future__ import annotations

import os
import re

import pytest

from browser import Browser, chromium_path

WIDTHS = (1280, 400)
# How GitHub shows Markdown: images shrink to the page, wide tables scroll inside themselves.
MARKDOWN_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
<style>body{{max-width:60rem;margin:0 auto;padding:1rem;font-family:sans-serif;overflow-wrap:break-word}}
img{{max-width:100%}}table{{display:block;max-width:100%;overflow:auto;border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2rem .4rem}}</style></head><body>{body}</body></html>"""


def browser_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("MATS_EVAL_REQUIRE_BROWSER"))


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        if browser_required():
            pytest.fail("chromium is not installed but CI requires the browser test (scripts/bootstrap.sh "
                        "installs it: apt-get install -y chromium)")
        pytest.skip("no chromium on this machine (apt-get install -y chromium); CI runs this test")
    with Browser() as b:
        yield b


def assert_reads_well(page) -> None:
    layout = page.layout
    assert layout["inner_width"] == page.width, f"the page was laid out {layout['inner_width']} px wide"
    assert layout["scroll_width"] <= layout["client_width"], (
        f"at {page.width} px the page scrolls sideways ({layout['scroll_width']} > {layout['client_width']}); "
        f"too wide: {layout['wider_than_page']}")
    assert layout["viewport_meta"] == "width=device-width, initial-scale=1"
    assert layout["images"], "no figures"
    broken = [i["alt"] or i["src"] for i in layout["images"] if not (i["complete"] and i["natural_width"] > 0)]
    assert not broken, f"figures that did not load: {broken}"
    assert not page.network_requests, f"the page fetched {page.network_requests}"


@pytest.mark.parametrize("width", WIDTHS)
def test_html_report_in_a_browser(built, browser, width):
    page = browser.open(built.out / "report.html", width)
    assert_reads_well(page)
    assert all(len(i["alt"]) > 20 for i in page.layout["images"]), "alt text must state the finding"


def test_html_report_cannot_reach_the_network(built):
    html = built.html
    assert 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html and "<link" not in html


@pytest.mark.parametrize("width", WIDTHS)
def test_markdown_report_in_a_browser(built, browser, width, tmp_path_factory):
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(built.md)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", body, re.I)
    page_path = built.out / "report_md.html"  # next to figures/, which the Markdown links relatively
    page_path.write_text(MARKDOWN_PAGE.format(body=body), encoding="utf-8")
    try:
        assert_reads_well(browser.open(page_path, width))
    finally:
        page_path.unlink()
