"""SQL persistence: models (advanced-alchemy bases), engine and session configuration, migrations."""
