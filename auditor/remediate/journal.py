"""The remediation journal: every write attempted, appended before and after it happens."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from auditor.remediate.plan import Action

JOURNAL_NAME = "remediation-journal.jsonl"


class Journal:
    """Append-only JSON Lines record of every write attempted (flushed and synced)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, action: Action, result: str, **extra: Any) -> None:
        entry = {
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "account_id": action.account_id,
            "region": action.region,
            "server": action.resource_name,
            "arn": action.resource_arn,
            "before": action.before,
            "after": action.after,
            "result": result,
            **extra,
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
