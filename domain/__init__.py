"""Pure domain logic: event models, planning, quiet hours, routing. No I/O, no Temporal."""
