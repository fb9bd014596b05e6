"""JSON numbers as JSON Schema counts them, shared by the API contracts (registry schemas and the
model signature).

JSON Schema (draft 2020-12, section 6.1.1 of the validation vocabulary) defines ``integer`` as
any number with a zero fractional part: ``3``, ``3.0`` and ``3e0`` are all integers. Pydantic's
strict integers refuse ``3.0``; its lax integers also take ``"3"`` and ``true``, which JSON
Schema does not. ``JsonInteger`` accepts exactly what ``type: integer`` accepts.
"""

from __future__ import annotations

from pydantic import BeforeValidator


def _integral(value: object) -> object:
    """``value`` as an ``int`` if it is a float with no fractional part, else unchanged (the
    strict integer validation that follows then accepts or refuses it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Put after ``StrictInt`` and its ``Field`` bounds in an ``Annotated`` type:
#: ``Annotated[StrictInt, Field(ge=1), JsonInteger]`` accepts ``3`` and ``3.0``, refuses ``3.5``,
#: ``"3"`` and ``true``, and its JSON Schema stays ``{"type": "integer", "minimum": 1}``.
#: (Nesting the bounds in a second ``Annotated`` would emit ``ge``/``le`` instead of
#: ``minimum``/``maximum`` in the JSON Schema.)
JsonInteger = BeforeValidator(_integral)
