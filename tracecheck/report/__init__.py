"""Output formats: one module each (tables: CSV/JSON/Parquet; the report JSON; HTML; manifest)."""
