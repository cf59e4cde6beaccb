"""booklet: Markdown chapters -> a print-ready guide (see pipeline/build.py)."""

__version__ = "0.1.0"
