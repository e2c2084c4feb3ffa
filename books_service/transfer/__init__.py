"""Moving a catalog in and out: file formats (one small module each), the import jobs that
bring files in batch by batch, and the streamed export. See docs/import-export.md."""
