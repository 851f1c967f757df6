"""Side effects of the lifecycles: planning (local), rendering, routing, delivering, recording.

Workflows import only `activities.models`; the worker imports the implementations.
"""
