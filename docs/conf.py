"""Sphinx configuration of the fgamcd-env docs (MyST Markdown pages, autodoc API reference)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "fgamcd-env"
author = "fgamcd-env developers"
copyright = "2026, fgamcd-env developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "fgamcd-env"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# Inherited docstrings (Gymnasium's, PettingZoo's) describe those libraries, not this package.
autodoc_inherit_docstrings = False
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
