"""Declared muscle sets: the channel names a trial's EMG may carry, and their aliases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from nmm.data.errors import DataValidationError


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class MuscleSet:
    """A named vocabulary of muscles; `aliases` map other spellings onto canonical names."""

    name: str
    muscles: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def canonical(self, label: str, *, source: str | None = None) -> str:
        """Canonical name of `label` (a canonical name or an alias, case/space-insensitive)."""
        lookup = {_key(m): m for m in self.muscles} | {_key(a): m for a, m in self.aliases.items()}
        try:
            return lookup[_key(label)]
        except KeyError:
            raise DataValidationError(
                f"muscle '{label}' is not in the muscle set '{self.name}' "
                f"(known: {', '.join(self.muscles)})",
                source=source,
                channel=label,
            ) from None

    def check(self, names: Iterable[str], *, source: str | None = None) -> None:
        """Raise DataValidationError unless every name is a canonical muscle of this set."""
        for name in names:
            if name not in self.muscles:
                raise DataValidationError(
                    f"channel is not a muscle of the declared set '{self.name}' "
                    f"(known: {', '.join(self.muscles)})",
                    source=source,
                    channel=name,
                )

    def subset(self, names: Iterable[str]) -> MuscleSet:
        """A new set restricted to `names` (e.g. the six arm26 muscles without BRD)."""
        names = tuple(self.canonical(n) for n in names)
        aliases = {a: m for a, m in self.aliases.items() if m in names}
        return MuscleSet(f"{self.name}[{','.join(names)}]", names, aliases, self.description)


@cache
def _builtin_sets() -> dict[str, MuscleSet]:
    text = resources.files("nmm.data").joinpath("muscle_sets.yaml").read_text()
    sets = {}
    for name, spec in yaml.safe_load(text).items():
        aliases = {alias: m for m, al in spec["muscles"].items() for alias in (al or [])}
        sets[name] = MuscleSet(name, tuple(spec["muscles"]), aliases, spec.get("description", ""))
    return sets


def get_muscle_set(name: str | MuscleSet) -> MuscleSet:
    """The built-in muscle set `name` ('elbow', 'upper_limb_surface', 'knee'), or `name` itself."""
    if isinstance(name, MuscleSet):
        return name
    sets = _builtin_sets()
    if name not in sets:
        raise DataValidationError(f"unknown muscle set '{name}' (built in: {', '.join(sets)})")
    return sets[name]


def register_muscle_set(muscle_set: MuscleSet) -> None:
    """Make a user-declared muscle set available by name to readers and trials."""
    _builtin_sets()[muscle_set.name] = muscle_set
