"""Print a vulture whitelist of the names in app/ that frameworks read by name.

Pydantic reads every field of a model to validate and serialise it, SQLAlchemy every mapped
column, an enum is looked up by value, a NamedTuple unpacked by position: none of that is
visible to vulture, which would call each such field unused. Listing them from the classes
themselves, at each run, keeps the static whitelist (scripts/vulture_whitelist.py) small and
never out of date. A whole class nobody uses is still reported: only attributes are listed.
"""

import enum
import importlib
import pkgutil
from collections.abc import Iterator

from pydantic import BaseModel

import app
from app.db import Base


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _ours(cls: type) -> bool:
    return cls.__module__.startswith("app.")


def framework_names() -> dict[str, str]:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    names: dict[str, str] = {}
    for model in filter(_ours, _subclasses(BaseModel)):
        names.update(dict.fromkeys(model.model_fields, f"Pydantic field of {model.__name__}"))
    for mapper in Base.registry.mappers:
        table = mapper.class_.__name__
        names.update(dict.fromkeys(mapper.columns.keys(), f"column of {table}"))
    for members in filter(_ours, _subclasses(enum.Enum)):
        names.update(dict.fromkeys(members.__members__, f"member of {members.__name__}"))
    for record in filter(_ours, _subclasses(tuple)):
        names.update(dict.fromkeys(getattr(record, "_fields", ()), f"field of {record.__name__}"))
    return names


if __name__ == "__main__":
    print("_ = object()")
    for name, origin in sorted(framework_names().items()):
        print(f"_.{name}  # {origin}")
