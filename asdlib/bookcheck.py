"""``make check-book``: open the built book in headless Chromium, offline, and check what a reader sees.

For every page of the HTML build (``_build/html``; search, index and the theme's own
pages aside) this module:

1. reads the built file and fails if it loads a script, style sheet, font, image or
   audio from the network (``http://``, ``https://`` or ``//`` in ``src``/``href`` of
   ``<script>``, ``<link rel=stylesheet|preload|icon>``, ``<img>``, ``<audio>``,
   ``<source>``, ``<iframe>``): the book must render without internet;
2. fails if an image or audio file it refers to is missing or empty, and compares the
   number of figures (``image/png``, ``image/svg+xml``, ``image/jpeg`` outputs) and audio
   players (``<audio`` in HTML outputs) of the page's source (the executed notebook
   ``<page>.ipynb``, or the ``{figure}`` / ``![](...)`` images of a ``<page>.md``) with the
   ``<img>`` and ``<audio>`` elements of the built page: fewer is a failure;
3. opens the page in headless Chromium (``--dump-dom`` after the page's scripts ran,
   with a virtual time budget) and fails if raw TeX delimiters ``\\(`` ``\\[`` or ``$$``
   are visible in the text (code blocks aside), or if the source page has math and the
   rendered one has no MathJax output (``<mjx-container>``);
4. takes a screenshot of the top of the page (``--screenshot``), whose path it prints.

Nothing is downloaded: Chromium opens ``file://`` pages with the network disabled
(``--host-resolver-rules`` maps every host to nowhere). Without a Chromium binary the check
fails and says how to install one (Debian: ``apt-get install chromium``) or, with
``--allow-missing-browser``, runs the static checks only and says it skipped the rest.

``python -m asdlib.bookcheck [BUILD_DIR] [--out SCREENSHOT_DIR]``; exit status 0 when every
page passes, 1 when a check fails, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables tried in order (``$ASD_CHROMIUM`` first when set)."""

SKIPPED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
RAW_MATH = re.compile(r"\\\(|\\\[|\$\$")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)
_SKIP_TEXT_IN = {"script", "style", "pre", "code", "textarea", "mjx-assistive-mml", "noscript", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# --------------------------------------------------------------------------- reading HTML

@dataclass
class PageFacts:
    """What one HTML document holds, as far as the checks go."""

    remote: list[str] = field(default_factory=list)      # "<tag> url" of network assets
    local: list[str] = field(default_factory=list)       # src of local <img>/<audio>/<source>
    images: int = 0
    audio: int = 0
    math: int = 0          # elements of class "math" (Sphinx's markup before MathJax runs)
    mathjax: int = 0       # <mjx-container> elements (MathJax's output)
    text: list[str] = field(default_factory=list)        # visible text, outside code and scripts


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._stack: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        url = None
        if tag in ("script", "img", "audio", "source", "iframe", "video"):
            url = a.get("src")
        elif tag == "link" and set(a.get("rel", "").lower().split()) & {"stylesheet", "preload", "icon", "modulepreload"}:
            url = a.get("href")
        if url:
            if _REMOTE.match(url):
                self.facts.remote.append(f"<{tag}> {url}")
            elif tag in ("img", "audio", "source") and not url.startswith("data:"):
                self.facts.local.append(url)
        if tag == "img":
            self.facts.images += 1
        elif tag == "audio":
            self.facts.audio += 1
        elif tag == "mjx-container":
            self.facts.mathjax += 1
        if "math" in a.get("class", "").split():
            self.facts.math += 1
        if tag not in _VOID:
            self._stack.append(tag)
            if tag in _SKIP_TEXT_IN:
                self._hidden += 1

    def handle_endtag(self, tag):
        if tag in _VOID or tag not in self._stack:
            return
        while self._stack:
            top = self._stack.pop()
            if top in _SKIP_TEXT_IN:
                self._hidden -= 1
            if top == tag:
                break

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.facts.text.append(data)


def page_facts(html: str) -> PageFacts:
    """Parse one HTML document (:class:`PageFacts`)."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.facts


def raw_math(facts: PageFacts) -> list[str]:
    """Visible text with a raw TeX delimiter in it (what a reader sees when MathJax did not run)."""
    return [t.strip()[:80] for t in facts.text if RAW_MATH.search(t)]


# --------------------------------------------------------------------------- what the source promises

def expected_media(source: Path | None) -> tuple[int, int]:
    """(figures, audio players) of a page's source: an executed notebook's image outputs and
    ``<audio`` HTML outputs, or a Markdown page's ``{figure}`` directives and ``![](...)`` images."""
    if source is None or not source.is_file():
        return 0, 0
    if source.suffix == ".ipynb":
        nb = json.loads(source.read_text(encoding="utf-8"))
        figures = audio = 0
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if any(k in data for k in ("image/png", "image/svg+xml", "image/jpeg")):
                    figures += 1
                html = data.get("text/html", "")
                html = "".join(html) if isinstance(html, list) else html
                audio += html.count("<audio")
        return figures, audio
    text = source.read_text(encoding="utf-8")
    return len(re.findall(r"\{figure\}|\{image\}|!\[[^\]]*\]\(", text)), text.count("<audio")


def source_of(page: Path, build_dir: Path, source_root: Path) -> Path | None:
    """The source document of a built page (``<docname>.ipynb`` or ``.md`` under ``source_root``)."""
    stem = page.relative_to(build_dir).with_suffix("")
    for suffix in (".ipynb", ".md"):
        candidate = source_root / stem.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- the browser

def find_browser() -> str | None:
    """The Chromium executable: ``$ASD_CHROMIUM``, else the first of :data:`BROWSERS` on the PATH."""
    env = os.environ.get("ASD_CHROMIUM")
    if env:
        return env if shutil.which(env) or Path(env).is_file() else None
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _browser_command(browser: str, profile: str, budget_ms: int) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
            "--allow-file-access-from-files", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            f"--virtual-time-budget={budget_ms}"]


def render(browser: str, page: Path, *, budget_ms: int = 20000, timeout: float = 120.0) -> str:
    """The page's DOM after its scripts ran (MathJax typesets within the virtual time budget)."""
    with tempfile.TemporaryDirectory(prefix="asd-check-book-") as profile:
        done = subprocess.run([*_browser_command(browser, profile, budget_ms), "--dump-dom", page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or "<html" not in done.stdout.lower():
        raise RuntimeError(f"{browser} could not render {page} (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout


def screenshot(browser: str, page: Path, target: Path, *, size=(1280, 1600), budget_ms: int = 20000,
               timeout: float = 120.0) -> Path:
    """A PNG of the top of the rendered page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="asd-check-book-") as profile:
        subprocess.run([*_browser_command(browser, profile, budget_ms), f"--window-size={size[0]},{size[1]}",
                        f"--screenshot={target}", page.resolve().as_uri()],
                       capture_output=True, text=True, timeout=timeout)
    if not target.is_file() or target.stat().st_size == 0:
        raise RuntimeError(f"{browser} wrote no screenshot of {page}")
    return target


# --------------------------------------------------------------------------- the check

def content_pages(build_dir: Path) -> list[Path]:
    """The book's pages: every ``*.html`` of the build but the search/index pages and the theme's files."""
    pages = []
    for path in sorted(build_dir.rglob("*.html")):
        rel = path.relative_to(build_dir)
        if rel.parts[0].startswith("_") or path.name in SKIPPED_PAGES:
            continue
        pages.append(path)
    return pages


def check_static(page: Path, html: str, source: Path | None) -> list[str]:
    """The checks that need no browser (1 and 2 of the module docstring); the problems found."""
    facts = page_facts(html)
    problems = [f"loads from the network: {url}" for url in facts.remote]
    for src in facts.local:
        target = (page.parent / unquote(urlparse(src).path)).resolve()
        if not target.is_file() or target.stat().st_size == 0:
            problems.append(f"missing or empty file: {src}")
    figures, audio = expected_media(source)
    if facts.images < figures:
        problems.append(f"{figures} figure(s) in {source.name}, {facts.images} image(s) on the page")
    if facts.audio < audio:
        problems.append(f"{audio} audio player(s) in {source.name}, {facts.audio} on the page")
    return problems


def check_rendered(static_html: str, dom: str) -> list[str]:
    """The checks on the DOM after the scripts ran (3 of the module docstring)."""
    before, after = page_facts(static_html), page_facts(dom)
    problems = [f"raw TeX visible: {text!r}" for text in raw_math(after)]
    if before.math and not after.mathjax:
        problems.append(f"{before.math} math element(s) in the source, no rendered math (MathJax did not run)")
    return problems


def check_book(build_dir: Path, source_root: Path, out_dir: Path, *, browser: str | None,
               log=print) -> dict[str, list[str]]:
    """Check every page; returns {page: problems} (empty lists for pages that pass)."""
    results = {}
    pages = content_pages(build_dir)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {build_dir}: build the book first (make book)")
    for page in pages:
        rel = page.relative_to(build_dir)
        html = page.read_text(encoding="utf-8")
        problems = check_static(page, html, source_of(page, build_dir, source_root))
        shot = None
        if browser:
            try:
                problems += check_rendered(html, render(browser, page))
                shot = screenshot(browser, page, out_dir / rel.with_suffix(".png"))
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                problems.append(str(err))
        facts = page_facts(html)
        status = "ok  " if not problems else "FAIL"
        log(f"{status} {rel}  (math {facts.math}, images {facts.images}, audio {facts.audio})"
            + (f"  screenshot: {shot}" if shot else ""))
        for problem in problems:
            log(f"       - {problem}")
        results[str(rel)] = problems
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asdlib.bookcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path("_build/html"), help="the HTML build")
    parser.add_argument("--source-root", type=Path, default=Path("."), help="the book's source root (_config.yml)")
    parser.add_argument("--out", type=Path, default=Path("_build/check-book"), help="folder of the screenshots")
    parser.add_argument("--allow-missing-browser", action="store_true",
                        help="without Chromium, run the static checks only (and say so) instead of failing")
    args = parser.parse_args(argv)
    if not args.build_dir.is_dir():
        print(f"check-book: {args.build_dir} does not exist: build the book first (make book)", file=sys.stderr)
        return 2
    browser = find_browser()
    if browser is None:
        message = ("check-book: no Chromium found (tried $ASD_CHROMIUM, " + ", ".join(BROWSERS) + "); "
                   "on Debian/Ubuntu: apt-get install chromium")
        if not args.allow_missing_browser:
            print(message, file=sys.stderr)
            return 2
        print(message + ". SKIPPED the rendered checks (math, screenshots); static checks only.")
    results = check_book(args.build_dir, args.source_root, args.out, browser=browser)
    failed = [page for page, problems in results.items() if problems]
    print(f"check-book: {len(results) - len(failed)} of {len(results)} page(s) pass"
          + (f"; failing: {', '.join(failed)}" if failed else "")
          + ("" if browser else " (static checks only: no browser)"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
