"""The config section of a CSV connector."""

from __future__ import annotations

import codecs

from pydantic import Field, field_validator

from crmbridge.connector import ConnectorSettings
from crmbridge.model import ENTITY_ORDER

__all__ = ["DEFAULT_FILES", "CsvSettings"]

DEFAULT_FILES: dict[str, str] = {entity: f"{entity}.csv" for entity in ENTITY_ORDER}
"""``organizations.csv``, ``stakeholders.csv``, ... : one file per entity."""


class CsvSettings(ConnectorSettings):
    """Settings of a ``type: csv`` connector.

    ``directory`` is taken from the config file's folder when relative; it
    must exist to be read from, and is created when first written to.
    ``files`` names the file of an entity (relative to ``directory``); an
    entity not named there uses the mapping's ``remote:``, else
    ``<entity>.csv``. ``encoding: auto`` detects the encoding (BOM, then
    UTF-8, then charset-normalizer); ``write_encoding`` re-encodes a file when
    it is rewritten (``None``: keep its encoding; new files are UTF-8 with a
    BOM so Excel opens them right). ``delimiter: auto`` sniffs ``,`` ``;`` or
    a tab. ``page_size`` rows make one page of a pull; ``batch_size`` records
    make one push batch, and each batch rewrites the whole file once (about
    4 s for a million rows), so a bulk export of a big file wants a larger one
    (say 20000).
    """

    directory: str = "."
    files: dict[str, str] = Field(default_factory=dict)
    encoding: str = "auto"
    write_encoding: str | None = None
    delimiter: str = "auto"
    neutralise_formulas: bool = True
    page_size: int = Field(default=1000, ge=1)
    batch_size: int = Field(default=1000, ge=1)

    @field_validator("files")
    @classmethod
    def _known_entities(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ENTITY_ORDER))
        if unknown:
            raise ValueError(
                f"unknown entities {', '.join(unknown)}; expected some of {', '.join(ENTITY_ORDER)}"
            )
        return value

    @field_validator("encoding", "write_encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value == "auto":
            return value
        value = {"\\t": "\t", "tab": "\t"}.get(value, value)
        if len(value) != 1 or value in '"\r\n':
            raise ValueError("the delimiter is one character (or auto, or tab)")
        return value
