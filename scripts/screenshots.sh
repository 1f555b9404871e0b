#!/usr/bin/env bash
# Screenshots of every page of the built book at a desktop (1280 px) and a phone (400 px)
# width, with headless Chromium, so that pages can be looked at, not only parsed.
#
#   bash scripts/book.sh                  # build first: _build/html
#   bash scripts/screenshots.sh           # -> _build/screenshots/<page>-1280.png, -400.png
#   bash scripts/screenshots.sh DIR 08_lr_finder api   # into DIR, only these pages
#
# Needs Debian's `chromium` (apt-get install chromium) and Playwright's Python package (no
# browser download: it drives that Chromium); the script installs the package into .venv.
# The site is served from 127.0.0.1 only. The pages load MathJax from a CDN: for the
# screenshots only, those requests are answered from a local copy of MathJax 3 (fetched once
# from the npm registry into ~/.cache/lrnotes-screenshots); every other outside request is
# refused (the widget and thebe scripts are not needed for a picture). The built pages are
# not changed. It prints each page whose content is wider than the window (a reader would
# have to scroll sideways).
set -euo pipefail
cd "$(dirname "$0")/.."
HTML=${HTML:-_build/html}  # another built site: HTML=/path/to/html
OUT=${1:-_build/screenshots}
shift || true
if [ ! -f "$HTML/index.html" ]; then
  echo "no $HTML/index.html: build the book first (bash scripts/book.sh)" >&2
  exit 1
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
  echo "no Chromium: install Debian's package (apt-get install chromium) and run again" >&2
  exit 1
fi
bash scripts/setup-env.sh
.venv/bin/python -c "import playwright" 2>/dev/null || .venv/bin/python -m pip install -q "playwright>=1.40"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/lrnotes-screenshots
if [ ! -f "$CACHE/mathjax/es5/tex-mml-chtml.js" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && rm -rf package mathjax && npm pack --silent mathjax@3 >/dev/null \
     && tar xzf mathjax-3*.tgz && mv package mathjax && rm -f mathjax-3*.tgz)
fi

.venv/bin/python - "$HTML" "$OUT" "$CHROMIUM" "$CACHE/mathjax" "$@" <<'EOF'
import functools
import http.server
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

html, out, chromium, mathjax = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
only = set(sys.argv[5:])
out.mkdir(parents=True, exist_ok=True)
pages = ["index.html"] + sorted(str(p.relative_to(html)) for p in (html / "book").glob("*.html"))
if only:
    pages = [p for p in pages if Path(p).stem in only]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
threading.Thread(target=server.serve_forever, daemon=True).start()
site = f"http://127.0.0.1:{server.server_address[1]}/"
CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"


def route(request_route):
    url = request_route.request.url
    if url.startswith(site):
        return request_route.continue_()
    if url.startswith(CDN):
        local = mathjax / url[len(CDN):].split("?")[0]
        if local.is_file():
            return request_route.fulfill(path=str(local))
    return request_route.abort()


wide = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    for width in (1280, 400):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.route("**/*", route)
        for name in pages:
            page.goto(site + name, wait_until="networkidle")
            page.evaluate("() => window.MathJax?.startup?.promise")
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            if scroll > width:
                wide.append(f"{name} at {width} px: content {scroll} px wide")
            target = out / f"{Path(name).stem}-{width}.png"
            page.screenshot(path=str(target), full_page=True)
        context.close()
    browser.close()
server.shutdown()
print(f"{2 * len(pages)} screenshots in {out}")
for line in wide:
    print("wider than the window:", line)
EOF
