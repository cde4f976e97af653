"""make check-book (asdlib.bookcheck): what it flags on hand-made pages, and, where Chromium is
installed, that it sees MathJax render offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from asdlib import bookcheck

STATIC = """<html><head>
<script src="_static/mathjax/tex-chtml.js"></script>
<link rel="stylesheet" href="_static/book.css">
</head><body>
<p>Inline <span class="math notranslate nohighlight">\\(x^2\\)</span> and a block:</p>
<div class="math notranslate nohighlight">\\[ y = 1 \\]</div>
<pre>print("\\\\(not math\\\\)")</pre>
<img src="_images/fig.png"><audio controls><source src="data:audio/wav;base64,AAAA"></audio>
</body></html>"""


def test_page_facts_counts_math_media_and_sees_raw_tex_outside_code_only():
    facts = bookcheck.page_facts(STATIC)
    assert (facts.math, facts.images, facts.audio, facts.mathjax) == (2, 1, 1, 0)
    assert facts.local == ["_images/fig.png"] and facts.remote == []
    assert len(bookcheck.raw_math(facts)) == 2          # the two math elements; the <pre> is code
    rendered = STATIC.replace('<span class="math notranslate nohighlight">\\(x^2\\)</span>', "<mjx-container>x</mjx-container>")
    rendered = rendered.replace('<div class="math notranslate nohighlight">\\[ y = 1 \\]</div>', "<mjx-container>y</mjx-container>")
    assert bookcheck.check_rendered(STATIC, rendered) == []
    problems = bookcheck.check_rendered(STATIC, STATIC)
    assert any("raw TeX visible" in p for p in problems) and any("no rendered math" in p for p in problems)


def test_network_assets_and_missing_files_fail(tmp_path):
    page = tmp_path / "page.html"
    html = STATIC.replace("_static/mathjax/tex-chtml.js", "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js")
    html = html.replace("_static/book.css", "//fonts.example.org/font.css")
    problems = bookcheck.check_static(page, html, None)
    assert "loads from the network: <script> https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js" in problems
    assert "loads from the network: <link> //fonts.example.org/font.css" in problems
    assert "missing or empty file: _images/fig.png" in problems
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"png")
    assert bookcheck.check_static(page, STATIC, None) == []


def test_fewer_figures_or_audio_players_than_the_notebook_has_fail(tmp_path):
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"image/png": "iVBOR"}},
        {"output_type": "display_data", "data": {"image/png": "iVBOR"}},
        {"output_type": "display_data", "data": {"text/html": ["<audio controls>", "</audio>"]}},
        {"output_type": "display_data", "data": {"text/html": "<audio controls></audio>"}}]}]}
    source = tmp_path / "chapter.ipynb"
    source.write_text(json.dumps(nb))
    assert bookcheck.expected_media(source) == (2, 2)
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"png")
    problems = bookcheck.check_static(tmp_path / "chapter.html", STATIC, source)
    assert problems == ["2 figure(s) in chapter.ipynb, 1 image(s) on the page",
                        "2 audio player(s) in chapter.ipynb, 1 on the page"]
    md = tmp_path / "results.md"
    md.write_text(":::{figure} results_summary.png\n:name: fig\n\ncaption\n:::\n")
    assert bookcheck.expected_media(md) == (1, 0)


def test_content_pages_and_their_sources(tmp_path):
    build, root = tmp_path / "_build" / "html", tmp_path
    for rel in ("book/intro.html", "book/_generated/chapters/x.html", "search.html", "genindex.html",
                "_static/a.html"):
        (build / rel).parent.mkdir(parents=True, exist_ok=True)
        (build / rel).write_text("<html></html>")
    (root / "book" / "_generated" / "chapters").mkdir(parents=True)
    (root / "book" / "_generated" / "chapters" / "x.ipynb").write_text("{}")
    pages = bookcheck.content_pages(build)
    assert [p.relative_to(build).as_posix() for p in pages] == ["book/_generated/chapters/x.html", "book/intro.html"]
    assert bookcheck.source_of(pages[0], build, root) == root / "book" / "_generated" / "chapters" / "x.ipynb"
    assert bookcheck.source_of(pages[1], build, root) is None


def test_without_a_browser_the_check_fails_clearly_or_runs_static_checks_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASD_CHROMIUM", str(tmp_path / "no-such-browser"))
    build = tmp_path / "html"
    build.mkdir()
    (build / "index.html").write_text("<html><body><p>no math</p></body></html>")
    assert bookcheck.main([str(build), "--source-root", str(tmp_path)]) == 2
    assert "apt-get install chromium" in capsys.readouterr().err
    assert bookcheck.main([str(build), "--source-root", str(tmp_path), "--allow-missing-browser"]) == 0
    out = capsys.readouterr().out
    assert "SKIPPED the rendered checks" in out and "1 of 1 page(s) pass" in out


@pytest.mark.skipif(bookcheck.find_browser() is None, reason="no Chromium (apt-get install chromium)")
def test_chromium_renders_the_bundled_mathjax_offline(tmp_path):
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        pytest.skip("sphinx-mathjax-offline is not installed")
    shutil.copytree(Path(spec.origin).parent / "static" / "mathjax", tmp_path / "mathjax")
    page = tmp_path / "page.html"
    page.write_text('<html><head><script defer src="mathjax/tex-chtml.js"></script></head><body>'
                    '<p class="math">\\(E = mc^2\\)</p></body></html>')
    browser = bookcheck.find_browser()
    dom = bookcheck.render(browser, page, budget_ms=10000)
    assert bookcheck.check_rendered(page.read_text(), dom) == []
    assert bookcheck.page_facts(dom).mathjax == 1
    shot = bookcheck.screenshot(browser, page, tmp_path / "shot.png", size=(400, 300), budget_ms=5000)
    assert shot.read_bytes()[:4] == b"\x89PNG"
