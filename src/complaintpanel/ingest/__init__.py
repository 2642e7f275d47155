"""Stage 1, raw conversations → tweets: read, validate and pseudonymise raw data.

* :mod:`.stage` — the ``ingest`` stage: one call from a raw file to ``tweets.parquet``,
  ``rejects.parquet`` and ``ingest_report.json``;
* :mod:`.sources` — reading CSV, Parquet and JSON files into a staging table;
* :mod:`.json_records` — flattening conversation JSON (e.g. the IBM layout) to records;
* :mod:`.mapping` — TOML column mappings (built-in ones in ``mappings/``);
* :mod:`.validate` — typed columns, reject reasons and derived reply links;
* :mod:`.pseudonymise` — the keyed hash that replaces customer identifiers.
"""

from complaintpanel.ingest.mapping import IngestError, MappingError
from complaintpanel.ingest.stage import REJECT_REASONS, choose_mapping, ingest

__all__ = ["REJECT_REASONS", "IngestError", "MappingError", "choose_mapping", "ingest"]
