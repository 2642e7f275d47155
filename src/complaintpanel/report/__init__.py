"""Reporting: figures (seaborn; PDF + PNG), tables (LaTeX + Markdown) and the paper (Typst)."""
