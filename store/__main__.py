"""`python -m store [DATABASE_URL]`: migrate the database to the newest schema."""

from __future__ import annotations

import os
import sys

from store.migrate import migrate

migrate(sys.argv[1] if len(sys.argv) > 1 else os.environ["DATABASE_URL"])
