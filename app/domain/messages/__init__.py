"""Messages: the store port with SQL and MongoDB adapters, history, edits, reactions, receipts, search."""
