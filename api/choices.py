"""A string field whose allowed values are a registry's names, read when validating and when OpenAPI
is built: an entry added to the registry is accepted and documented without touching the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


@dataclass(frozen=True, eq=False)  # hashed by identity: the registry is a dict
class OneOf:
    """`Annotated[str, OneOf(REGISTRY)]`: a name in `REGISTRY` (a 422 naming them otherwise)."""

    registry: Mapping[str, object]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["enum"] = list(self.registry)
        return json_schema

    def _check(self, value: str) -> str:
        if value not in self.registry:
            # Worded as pydantic words a Literal's refusal, which these fields were.
            names = [repr(name) for name in self.registry]
            expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value
