"""People's rights over their data: export and erasure over every feature's personal-data
hooks (store.personal), retention, and the audit log's export."""
