"""The bundled offline demo: a small news site with real chrome, served on loopback."""

from pathlib import Path

SITE = Path(__file__).resolve().parent / "site"
