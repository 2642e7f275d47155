"""What every stage runs on: engines for the data stages, atomic I/O, progress reporting.

* :mod:`.engines` — DuckDB (default) or Spark for ingest, thread and panel, one SQL text;
* :mod:`.io` — atomic, deterministic writes (Parquet, JSON) and file hashes;
* :mod:`.progress` — progress bars on a terminal, plain lines in logs.
"""
