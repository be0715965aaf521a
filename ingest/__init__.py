"""Outside world -> validated reports: vocabularies, validation, file formats, demo data, CLI."""
