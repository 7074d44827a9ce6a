"""The prove stage: who owns each bucket, and how its access is configured."""
