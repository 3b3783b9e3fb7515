"""HTML checks for every catalog page: a strict HTML5 parse and the accessibility basics."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

import html5lib


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


class Page:
    """A fetched page's elements: links, images, ids, form controls and labels."""

    def __init__(self, url: str, markup: str):
        self.url = url
        collector = _Collector()
        collector.feed(markup)
        self.tags = collector.tags
        self.text = " ".join(" ".join(collector.text).split())

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def links(self) -> list[str]:
        """Absolute URLs of every ``a href``, ``img src`` and ``link href``, fragments dropped."""
        out = []
        for tag, attr in (("a", "href"), ("img", "src"), ("link", "href")):
            for attrs in self.all(tag):
                if attrs.get(attr):
                    out.append(urldefrag(urljoin(self.url, attrs[attr]))[0])
        return out


def validate(url: str, markup: str) -> Page:
    """Parse strictly (any HTML5 parse error fails) and check ids, labels, alt text, language."""
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(markup)
    page = Page(url, markup)
    assert markup.startswith("<!DOCTYPE html>"), url
    assert page.all("html")[0].get("lang") == "en", url
    assert len(page.all("h1")) == 1, f"{url}: one h1 expected"
    assert page.all("title"), url
    ids = Counter(a["id"] for _, a in page.tags if "id" in a)
    assert not [i for i, n in ids.items() if n > 1], f"{url}: duplicate ids {ids}"
    labelled = {a["for"] for a in page.all("label") if "for" in a}
    for name, attrs in page.tags:
        if name in ("select", "textarea") or (
            name == "input" and attrs.get("type", "text") not in ("hidden", "checkbox", "radio", "submit")
        ):
            assert attrs.get("id") in labelled or attrs.get("aria-label"), f"{url}: unlabelled {name} {attrs}"
    for attrs in page.all("img"):
        assert attrs.get("alt"), f"{url}: img without alt {attrs}"
    return page
