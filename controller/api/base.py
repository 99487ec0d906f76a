"""The base of every desired-state model: camelCase on the wire, nothing unknown.

Models are frozen so a loaded resource can be shared between the loader, the diff and
the status page without defensive copies. Frozen, a model's set of the fields its input
named (pydantic's __pydantic_fields_set__, read by model_fields_set) never changes either,
so models that named the same fields share one set: a revision of thousands of services
is tens of thousands of small models, and their sets (216 bytes each at least) were a
third of its memory. pydantic copies the set before it changes it (model_copy).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_FIELDS_SETS: weakref.WeakValueDictionary[frozenset[str], set[str]] = weakref.WeakValueDictionary()
"""One set per combination of field names in use, dropped when no model holds it."""


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )

    def model_post_init(self, context: Any, /) -> None:
        self._share_fields_set()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied._share_fields_set()
        return copied

    def _share_fields_set(self) -> None:
        fields_set = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(fields_set), fields_set)
        if shared is not fields_set:
            object.__setattr__(self, "__pydantic_fields_set__", shared)

    def to_api(self) -> dict[str, Any]:
        """The ECS API's shape: camelCase, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
