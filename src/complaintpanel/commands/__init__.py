"""Thin typer layers, one module per stage; each defines ``register(app)``."""
