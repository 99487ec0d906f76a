"""The base of every desired-state model: camelCase on the wire, nothing unknown.

Models are frozen so a loaded resource can be shared between the loader, the diff and
the status page without defensive copies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


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

    def to_api(self) -> dict[str, Any]:
        """The ECS API's shape: camelCase, no unset fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
