#!/usr/bin/env python3
"""Write holdcue/locale/numbers.json: how num2words spells 0 to NUMBERS - 1 in every
language holdcue speaks (phrases.languages()). phrases.py reads them from this table,
so that a session's countdowns, seconds and minutes are spelled without importing
num2words (which makes a converter for each of its 50-odd languages: some 20 ms at every
start on this machine, 60-80 ms on a Raspberry Pi 4). Larger numbers are still spelled by
num2words. tests/test_phrases.py checks the table against the installed num2words.
Run it after adding a language or upgrading num2words:

    .venv/bin/python scripts/make_numbers.py
"""

from __future__ import annotations

import json

from num2words import num2words

from holdcue import phrases


def table() -> dict[str, list[str]]:
    return {code: [num2words(n, lang=code) for n in range(phrases.NUMBERS)] for code in phrases.languages()}


def main() -> None:
    text = json.dumps(table(), ensure_ascii=False, indent=0, sort_keys=True) + "\n"
    phrases.NUMBERS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {phrases.NUMBERS_PATH}")


if __name__ == "__main__":
    main()
