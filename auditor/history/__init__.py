"""The run history: the SQLite database (local or in S3) and its read-only views."""
