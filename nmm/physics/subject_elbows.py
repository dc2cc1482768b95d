"""Each subject's torch elbow: the configured model's, or that of the subject's own ``.osim``.

A lab brings one scaled OpenSim model per subject (:attr:`nmm.data.schema.Subject.model`); the
NMM, SynX, the personalised ``.osim`` export and ``nmm-validate`` start from it. A
:class:`SubjectElbows` holds the :class:`~nmm.physics.elbow.ElbowModel` of the configured model
(``physics.osim``) for every subject without its own, and one per distinct own model and
recorded posture (subjects whose files have the same content and who were recorded in the same
posture share one object, so grouping by object groups by model and posture).
:func:`nmm.opensim.torch_elbow.subject_elbows` builds it with OpenSim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nmm.physics.elbow import ElbowModel

__all__ = ["SubjectElbows"]


@dataclass(frozen=True)
class SubjectElbows:
    """The torch elbow of every subject.

    Attributes:
        default: the elbow of the configured model (``physics.osim``), for every subject not in
            ``own``.
        own: ``{subject: elbow}`` of the subjects whose own model differs (by content) from the
            configured one, or who were recorded in their own posture.
        models: ``{subject: absolute .osim path}`` of the subjects in ``own``: the model their
            elbow was sampled from and their personalised ``.osim`` is written from (the
            configured one for a subject with only its own posture).
        postures: ``{subject: {coordinate: value}}`` (rad or m) of the subjects in ``own``
            recorded in their own posture (:mod:`nmm.data.posture`): ``physics.locked`` updated
            by the subject's values, as its elbow was sampled.
    """

    default: ElbowModel
    own: Mapping[str, ElbowModel] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    postures: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "own", dict(self.own))  # a copy (picklable for LOSO workers)
        object.__setattr__(self, "models", dict(self.models))
        object.__setattr__(self, "postures", {s: dict(p) for s, p in self.postures.items()})
        if set(self.models) != set(self.own):
            raise ValueError(
                f"subjects with their own elbow {sorted(self.own)} and with a model file "
                f"{sorted(self.models)} differ"
            )
        if not set(self.postures) <= set(self.own):
            raise ValueError(
                f"subjects with their own posture {sorted(self.postures)} lack their own elbow "
                f"(those with one: {sorted(self.own)})"
            )
        for subject, elbow in self.own.items():
            if tuple(elbow.muscle_names) != tuple(self.default.muscle_names):
                raise ValueError(
                    f"subject {subject}: elbow muscles {list(elbow.muscle_names)} differ from "
                    f"the configured model's {list(self.default.muscle_names)}"
                )

    @classmethod
    def of(cls, elbow: ElbowModel | SubjectElbows) -> SubjectElbows:
        """``elbow`` itself, or one elbow for every subject."""
        return elbow if isinstance(elbow, SubjectElbows) else cls(elbow)

    def __getitem__(self, subject: str) -> ElbowModel:
        """The elbow of ``subject`` (its own model's, else the configured one)."""
        return self.own.get(subject, self.default)

    @property
    def muscle_names(self) -> tuple[str, ...]:
        """The muscles of every elbow, in order."""
        return tuple(self.default.muscle_names)

    def model(self, subject: str, configured: str | None) -> str | None:
        """The ``.osim`` of ``subject``: its own, else ``configured`` (``physics.osim``)."""
        return self.models.get(subject, configured)

    def posture(self, subject: str) -> dict[str, float] | None:
        """The held coordinates (rad or m) ``subject``'s elbow was sampled at, if it has its own
        posture; None: the configured ``physics.locked``."""
        held = self.postures.get(subject)
        return None if held is None else dict(held)

    def distinct(self, subjects: Iterable[str]) -> list[ElbowModel]:
        """The different elbows of ``subjects``, in order of first appearance."""
        out: dict[int, ElbowModel] = {}
        for s in subjects:
            out.setdefault(id(self[s]), self[s])
        return list(out.values())

    def merged(self, other: SubjectElbows) -> SubjectElbows:
        """These subjects' elbows and ``other``'s own (``other`` wins for a subject in both);
        the default stays this one's."""
        postures = {s: p for s, p in self.postures.items() if s not in other.own}
        return SubjectElbows(
            self.default,
            {**self.own, **other.own},
            {**self.models, **other.models},
            {**postures, **other.postures},
        )
