"""Associations between records, kept consistent in both directions.

HubSpot-defined type ids (facts §4.2): contact->company primary 1 / unlabeled 279 and company->contact 2 / 280;
company->deal 6 / 342 and deal->company 5 / 341. A link is either unlabeled or primary, and a primary link also
carries the unlabeled type, as HubSpot returns it. Every primary type id is labelled "Primary" (HubSpot has renamed
some, e.g. "Contact with Primary Company"; only type ids are meant for programs — facts §4.2). A contact has at
most one primary company and a deal at most one primary company; making another one primary demotes the old one
to unlabeled.

Storage: per direction one list indexed by the from-record's slot; an entry is None, one int, or a sorted tuple of
ints, each int encoding ``to_id << 1 | primary``. One link per contact then costs one pointer and one int.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hubspot_sandbox.catalog import COMPANIES, CONTACTS, DEALS

PRIMARY_LABEL = "Primary"


@dataclass(frozen=True, slots=True)
class DirectionTypes:
    primary: int
    unlabeled: int

    def type_ids(self, *, primary: bool) -> tuple[int, ...]:
        return (self.primary, self.unlabeled) if primary else (self.unlabeled,)


@dataclass(frozen=True, slots=True)
class AssociationKind:
    """One undirected pair of object types and the type ids of each direction."""

    left: str
    right: str
    left_to_right: DirectionTypes
    right_to_left: DirectionTypes
    single_primary_side: str  # the type whose records have at most one primary link of this kind

    def direction(self, from_type: str) -> DirectionTypes:
        return self.left_to_right if from_type == self.left else self.right_to_left


ASSOCIATION_KINDS: tuple[AssociationKind, ...] = (
    AssociationKind(
        CONTACTS.name, COMPANIES.name, DirectionTypes(1, 279), DirectionTypes(2, 280), single_primary_side=CONTACTS.name
    ),
    AssociationKind(
        COMPANIES.name, DEALS.name, DirectionTypes(6, 342), DirectionTypes(5, 341), single_primary_side=DEALS.name
    ),
)


def association_kind(from_type: str, to_type: str) -> AssociationKind | None:
    for kind in ASSOCIATION_KINDS:
        if {kind.left, kind.right} == {from_type, to_type} and from_type != to_type:
            return kind
    return None


class Link(NamedTuple):
    to_id: int
    primary: bool


Entry = int | tuple[int, ...] | None


def _decode(entry: Entry) -> tuple[int, ...]:
    if entry is None:
        return ()
    if isinstance(entry, int):
        return (entry,)
    return entry


def _encode(codes: Iterable[int]) -> Entry:
    ordered = tuple(sorted(codes))
    if not ordered:
        return None
    return ordered[0] if len(ordered) == 1 else ordered


class _DirectedLinks:
    """Links of one direction, indexed by the from-record's slot."""

    __slots__ = ("entries", "first_id")

    def __init__(self, first_id: int, entries: list[Entry] | None = None) -> None:
        self.first_id = first_id
        self.entries: list[Entry] = entries if entries is not None else []

    def get(self, from_id: int) -> tuple[int, ...]:
        slot = from_id - self.first_id
        return _decode(self.entries[slot]) if 0 <= slot < len(self.entries) else ()

    def put(self, from_id: int, codes: Iterable[int]) -> None:
        slot = from_id - self.first_id
        if slot >= len(self.entries):
            self.entries.extend([None] * (slot + 1 - len(self.entries)))
        self.entries[slot] = _encode(codes)

    def clone(self) -> _DirectedLinks:
        return _DirectedLinks(self.first_id, list(self.entries))  # entries are immutable


class AssociationGraph:
    __slots__ = ("_links",)

    def __init__(self, first_ids: Mapping[str, int]) -> None:
        self._links: dict[tuple[str, str], _DirectedLinks] = {}
        for kind in ASSOCIATION_KINDS:
            self._links[(kind.left, kind.right)] = _DirectedLinks(first_ids[kind.left])
            self._links[(kind.right, kind.left)] = _DirectedLinks(first_ids[kind.right])

    def links(self, from_type: str, from_id: int, to_type: str) -> list[Link]:
        directed = self._links.get((from_type, to_type))
        if directed is None:
            return []
        return [Link(code >> 1, bool(code & 1)) for code in directed.get(from_id)]

    def link(self, from_type: str, from_id: int, to_type: str, to_id: int, *, primary: bool) -> None:
        """Create or upgrade a link (both directions). ``primary=False`` never downgrades an existing primary."""
        kind = association_kind(from_type, to_type)
        if kind is None:
            raise ValueError(f"no association kind between {from_type} and {to_type}")
        existing = {link.to_id: link.primary for link in self.links(from_type, from_id, to_type)}
        is_primary = primary or existing.get(to_id, False)
        if is_primary:
            single_side_is_from = kind.single_primary_side == from_type
            owner_type, owner_id = (from_type, from_id) if single_side_is_from else (to_type, to_id)
            other_type = to_type if single_side_is_from else from_type
            keep = to_id if single_side_is_from else from_id
            self._demote_primaries(owner_type, owner_id, other_type, keep=keep)
        self._set(from_type, from_id, to_type, to_id, primary=is_primary)
        self._set(to_type, to_id, from_type, from_id, primary=is_primary)

    def unlink(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        if not any(link.to_id == to_id for link in self.links(from_type, from_id, to_type)):
            return False
        self._remove(from_type, from_id, to_type, to_id)
        self._remove(to_type, to_id, from_type, from_id)
        return True

    def bulk_load(
        self, from_type: str, to_type: str, links_by_from: Sequence[Sequence[Link]], first_from_id: int
    ) -> None:
        """Load links for consecutive from-records starting at ``first_from_id`` (generator path).

        Both directions are built in one pass. Meant for records without links yet: a from-record's entry is
        replaced, reverse links are added to what the to-record has.
        """
        forward = self._links[(from_type, to_type)]
        backward = self._links[(to_type, from_type)]
        reverse: dict[int, list[int]] = {}
        for offset, record_links in enumerate(links_by_from):
            if not record_links:
                continue
            from_id = first_from_id + offset
            forward.put(from_id, ((link.to_id << 1) | link.primary for link in record_links))
            for link in record_links:
                reverse.setdefault(link.to_id, []).append((from_id << 1) | link.primary)
        for to_id, codes in reverse.items():
            backward.put(to_id, (*backward.get(to_id), *codes))

    def clone(self) -> AssociationGraph:
        copy = AssociationGraph.__new__(AssociationGraph)
        copy._links = {key: directed.clone() for key, directed in self._links.items()}
        return copy

    def _set(self, from_type: str, from_id: int, to_type: str, to_id: int, *, primary: bool) -> None:
        directed = self._links[(from_type, to_type)]
        codes = [code for code in directed.get(from_id) if code >> 1 != to_id]
        codes.append((to_id << 1) | primary)
        directed.put(from_id, codes)

    def _remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        directed = self._links[(from_type, to_type)]
        directed.put(from_id, (code for code in directed.get(from_id) if code >> 1 != to_id))

    def _demote_primaries(self, owner_type: str, owner_id: int, other_type: str, *, keep: int) -> None:
        for link in self.links(owner_type, owner_id, other_type):
            if link.primary and link.to_id != keep:
                self._set(owner_type, owner_id, other_type, link.to_id, primary=False)
                self._set(other_type, link.to_id, owner_type, owner_id, primary=False)
