"""The condition a score belongs to: model x method x intermediate, with one label everywhere.

Every table, figure, comparison row and `--compare` argument names a condition by `Condition.label`
("xlmr-base / finetune / none"): all three parts spelled out, so no default is guessed, and the label
parses back (`parse_condition`). The transfer protocol is a fourth part, named in the label only when it
is not zero-shot ("xlmr-base / finetune / none / few-shot:100"). A NamedTuple, so a groupby key (model, method, intermediate) is one.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

from xlt.errors import XltError

FIELDS = ("model", "method", "intermediate", "protocol")  # the condition's columns in every frame
ZERO_SHOT = "zero-shot"  # the default protocol: left out of labels (xlt.study.protocols)


class Condition(NamedTuple):
    model: str
    method: str
    intermediate: str
    protocol: str = ZERO_SHOT  # transfer protocol; a label names it only when it is not zero-shot

    @property
    def label(self) -> str:
        return " / ".join(self if self.protocol != ZERO_SHOT else self[:3])

    def matches(self, spec: dict) -> bool:
        """True when every part `spec` names (some of model / method / intermediate) is this one's."""
        return all(spec.get(f) in (None, v) for f, v in zip(FIELDS, self))


def protocol_key(protocol: str) -> tuple:
    """Sort key of a transfer protocol: zero-shot, few-shot:K by K, then the others (translate-train) by name."""
    if protocol == ZERO_SHOT:
        return (0, 0, protocol)
    if protocol.startswith("few-shot:"):
        return (1, int(protocol.split(":", 1)[1]), protocol)
    return (2, 0, protocol)


def conditions_of(frame) -> list[Condition]:
    """The distinct conditions of a frame with model / method / intermediate columns, sorted (protocols in
    protocol_key order: zero-shot first)."""
    found = {Condition(*c) for c in frame[list(FIELDS)].itertuples(index=False)}
    return sorted(found, key=lambda c: (*c[:3], protocol_key(c.protocol)))


def check_spec(spec: dict) -> None:
    if bad := set(spec) - set(FIELDS):
        raise XltError(f"condition keys {sorted(bad)} unknown (use {', '.join(FIELDS)})")


def resolve(spec: dict, conditions, where: str) -> Condition | None:
    """The one condition that `spec` names; None when there is none; XltError when several."""
    check_spec(spec)
    found = [c for c in conditions if Condition(*c).matches(spec)]
    if len(found) > 1:
        raise XltError(f"{'/'.join(spec.values())} matches several conditions in {where}: "
                       + "; ".join(Condition(*c).label for c in found) + " (give model/method/intermediate)")
    return Condition(*found[0]) if found else None


def parse_condition(text: str, conditions) -> dict:
    """A --compare argument: a model, method or intermediate name, or a label 'model/method/intermediate'."""
    t = text.strip()
    conditions = [Condition(*c) for c in conditions]  # the protocol filled in where a tuple has none
    for i, dim in enumerate(FIELDS):
        if t in {c[i] for c in conditions}:
            return {dim: t}
    labels = {Condition(*c).label.replace(" ", ""): Condition(*c) for c in conditions}
    if (found := labels.get(t.replace(" ", ""))) is not None:
        return dict(zip(FIELDS, found))
    shown = "; ".join(Condition(*c).label for c in sorted(conditions))
    raise XltError(f"--compare {text!r} is not a model, method, intermediate or model/method/intermediate "
                   f"of this study (conditions: {shown})")


def default_pairs(conditions) -> list[tuple[Condition, Condition]]:
    """Every pair of conditions that differ in exactly one of model / method / intermediate."""
    return [(Condition(*a), Condition(*b)) for a, b in combinations(sorted(conditions), 2)
            if sum(x != y for x, y in zip(a, b)) == 1]
