"""Fixtures shared by several test files. Helpers that are not fixtures live in plain
modules beside the tests (speech_support.py, compiler_helpers.py, audio_stack.py)."""
