"""The gallery: governed ingest, removal, opt-out, retention."""
