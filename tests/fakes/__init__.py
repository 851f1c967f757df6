"""Fake providers that behave like the real ones' documented APIs, served over loopback HTTP.

They live for the whole test session, so every test must reach them at addresses of its own:
`ADDRESSES` is the one counter every test module draws its numbers, chats and emails from (two
modules counting from 1 each once sent each other's messages to the same chat).
"""

import itertools

ADDRESSES = itertools.count(1)
