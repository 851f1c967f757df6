"""`notification.requested` at ingest: the named template must exist, or nothing is accepted.

A one-off names its template (`order_status`, `manager_note`, ...): a file under
message_templates/ or one the tenant has published. An unknown name is a 422 naming
`data.template` now, rather than a message that fails at its `send_at`, hours later.
"""

from __future__ import annotations

from api.cloudevents import ParsedEvent
from api.problems import FieldError, Problem
from domain.events import Notification
from i18n import TemplateRenderer
from store import Store

_FILES = TemplateRenderer()


async def check_templates(store: Store, tenant: str, events: list[ParsedEvent], *, batch: bool) -> None:
    wanted = [(i, e.data.template) for i, e in enumerate(events) if isinstance(e.data, Notification)]
    if not wanted:
        return
    files = _FILES.available()
    errors = []
    for index, key in wanted:
        if key in files or await store.published_templates(tenant, key):
            continue
        where = f"[{index}]." if batch else ""
        errors.append(FieldError(field=f"{where}data.template", message=f"no template named {key!r}"))
    if errors:
        raise Problem(422, "Unknown template", "nothing was accepted; fix the fields named below", errors)
