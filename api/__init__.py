"""The HTTP API: CloudEvents in, delivery log, timelines, contacts and settings out."""
