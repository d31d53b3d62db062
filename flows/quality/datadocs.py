"""Great Expectations Data Docs that open offline.

GX 1.24's pages load their CSS, scripts and fonts from public CDNs (and a logo from GX's S3
bucket), so offline they render unstyled. :func:`build` builds the site, copies it to a folder,
ships the same files (``flows/datadocs_assets``: the exact npm package versions the pages ask
for; see MANIFEST.md there) and rewrites every link to them to a relative path.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from flows.errors import CorpusMonitorError

ASSETS_DIR = Path(__file__).resolve().parent / "datadocs_assets"

# URL in GX's templates -> file under datadocs_assets/
CDN_FILES: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": (
        "forevolve-bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": (
        "bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fortawesome-fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/dist/umd/popper.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "bootstrap-table-1.19.1/dist/extensions/"
    "filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "bootstrap-table-1.19.0/dist/extensions/"
    "filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "bootstrap-table-1.19.0/dist/extensions/"
    "filter-control/bootstrap-table-filter-control.min.css",
}
_GX_IMAGES = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
    r"(?:logo-long\.png|full_logo_dark\.png)[^\"')\s]*"
)
_FAVICON = re.compile(r'href="(?:\.\./)*static/images/favicon\.ico"')
_SRI = re.compile(r'\s(?:integrity|crossorigin)="[^"]*"')
# Anything still loaded from the network: src=, href= of a stylesheet/script/icon, or url().
_REMOTE = re.compile(
    r"""(?:<(?:script|img|iframe)\b[^>]*\bsrc|<link\b[^>]*\bhref)\s*=\s*["'](?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def build(expectations_dir: Path, out: Path) -> Path:
    """Build the Data Docs of the context in ``expectations_dir`` into ``out``; returns the
    index page."""
    if not (expectations_dir / "great_expectations.yml").is_file():
        raise CorpusMonitorError(f"{expectations_dir}: no Great Expectations context here")
    import great_expectations as gx

    ctx = gx.get_context(mode="file", context_root_dir=str(expectations_dir))
    sites = ctx.build_data_docs()
    site = Path(str(sites["local_site"]).removeprefix("file://")).parent
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(site, out)
    make_offline(out)
    return out / "index.html"


def make_offline(site: Path) -> None:
    """Ship the assets into ``site/static/vendor`` and point every page at them."""
    vendor = site / "static" / "vendor"
    shutil.copytree(ASSETS_DIR, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for url, local in CDN_FILES.items():
            rel = os.path.relpath(vendor / local, page.parent).replace(os.sep, "/")
            text = text.replace(f'"{url}"', f'"{rel}"').replace(f"'{url}'", f"'{rel}'")
        images = os.path.relpath(site / "static" / "images", page.parent).replace(os.sep, "/")
        text = _GX_IMAGES.sub(f"{images}/logo-long.png", text)
        # GX's validation pages point one folder short for the icon
        text = _FAVICON.sub(f'href="{images}/favicon.ico"', text)
        page.write_text(_SRI.sub("", text), encoding="utf-8")
    for css in (site / "static" / "styles").glob("*.css"):
        css.write_text(_GX_IMAGES.sub("../images/logo-long.png", css.read_text("utf-8")), "utf-8")


def remote_references(site: Path) -> list[str]:
    """Every network load left in the site's pages and stylesheets (links to follow are not
    loads and are not listed)."""
    found = []
    for f in [*site.rglob("*.html"), *site.rglob("*.css")]:
        for m in _REMOTE.finditer(f.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{f.relative_to(site)}: {m.group(0)}")
    return found
