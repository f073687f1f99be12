"""Bundled theme files; installed as the package `writer._themes` (see pyproject)."""
