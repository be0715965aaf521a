"""Outside world -> validated reports: validation, file formats, demo data, CLI (the vocabulary is core.vocab)."""
