"""Who may see which figures: the one home of the rules that every report, export, the live
status, the public board and the ETA follow (the threat model is in the README, "Report
privacy"). Below the features, so that tracking's ETA follows it too.

Scoping. An exporter counts its own organisation's rows only, exactly. An admin counts every
row, exactly. A driver reads no report. An advocate counts every exporter's rows, but only
through *protected cells*:

- An advocate's answer is a sum of fixed cells: checkpoint × UTC day of arrival (for the
  corridors: origin × destination × UTC day of departure), cut by the filter values asked
  (HS chapter, destination province, …). A window (`from`/`to`) is whole days, so two
  answers can only differ by whole cells.
- A cell enters an answer only if it passes the thresholds: at least `REPORT_MIN_EXPORTERS`
  exporters and `REPORT_MIN_STOPS` completed stops. A cell that fails is left out of every
  answer that would contain it, so no difference of two answers can reveal it.
- A filtered cell (the stops of the cell carrying chapter 25) enters only if what it leaves
  behind in its cell (the stops not carrying 25) is empty or passes too, since the answer
  without the filter minus the answer with it would show the rest (complementary
  suppression, as statistical offices publish tables). Within one cell the published values
  of a dimension never leave a failing remainder either: if the chapters that fail together
  fail, the smallest passing chapter is withheld with them, so that the whole cell minus the
  published chapters never singles out a few stops.
- Each answer says how many stops it left out (`excluded_stops`).

Only what passes here reaches `figures.py`, which computes the same exact figures over the
cells that are left.

An exporter's own figures built from others' rows (its shipment's ETA): see
`cells_beside_own`.
"""

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.auth.principal import Principal
from app.errors import Forbidden

Cell = tuple[Any, ...]  # (checkpoint_id, arrival_day), or (origin, destination, departure day)
# One condition that cuts a cell: ("hs", "25") the stops carrying chapter 25, ("to", "basra")
# those bound for Basra, ("gps", "confirmed") those whose position confirmed them.
Condition = tuple[str, str]
_Key = TypeVar("_Key", bound=Hashable)


# --- who sees what -------------------------------------------------------------------------


def require_report_reader(principal: Principal) -> None:
    if principal.kind == "driver" or principal.role is None:
        raise Forbidden("Reports are for advocates, admins and exporters.")


def is_protected(principal: Principal) -> bool:
    """True when this principal's answers are built from protected cells: an advocate's.
    Admins see exact figures; an exporter's reports cover its own organisation only."""
    return principal.role == Role.advocate


def live_is_exact(principal: Principal) -> bool:
    """The live status covers every exporter's trucks: exact for admins only."""
    return principal.is_admin


def readable(principal: Principal, stmt: Select[Any], organization: Any) -> Select[Any]:
    """`stmt` narrowed to the rows this principal may count (`organization`: the rows'
    exporter organisation column)."""
    require_report_reader(principal)
    if principal.is_exporter:
        return stmt.where(organization == principal.organization_id)
    return stmt


# --- thresholds -----------------------------------------------------------------------------


@dataclass
class Tally:
    """How many stops (or trips) a set of rows holds, how many completed, and whose."""

    stops: int = 0
    completed: int = 0
    exporters: set[Any] = field(default_factory=set)

    def add(self, other: "Tally") -> None:
        self.stops += other.stops
        self.completed += other.completed
        self.exporters |= other.exporters

    @classmethod
    def union(cls, parts: Iterable["Tally"]) -> "Tally":
        total = cls()
        for part in parts:
            total.add(part)
        return total


@dataclass(frozen=True)
class Thresholds:
    min_exporters: int
    min_stops: int

    def passes(self, tally: Tally) -> bool:
        return self.passes_counts(tally.completed, len(tally.exporters))

    def passes_counts(self, completed: int, exporters: int) -> bool:
        return exporters >= self.min_exporters and completed >= self.min_stops

    def passes_in_sql(
        self, completed: ColumnElement[Any], exporters: ColumnElement[Any]
    ) -> ColumnElement[bool]:
        """`passes` for a GROUP BY's HAVING: `completed` counts the group's completed stops,
        `exporters` its distinct exporters (cells too many to bring into Python whole)."""
        return and_(exporters >= self.min_exporters, completed >= self.min_stops)

    def hides(self, tally: Tally) -> bool:
        """A set of rows that may not be shown, nor be left over as a difference. An empty
        set reveals nothing."""
        return tally.stops > 0 and not self.passes(tally)


# --- protected cells ------------------------------------------------------------------------

# The stops of one cell that share what a filter can cut by: (the trip's HS chapters, "25,72";
# its destination province; the stop's position evidence, "confirmed"). Conditions are tested
# against an atom; a dimension the question does not cut by is None in every atom.
Atom = tuple[str | None, str | None, str | None]
WHOLE: Atom = (None, None, None)
_DIMENSION = {"hs": 0, "to": 1, "gps": 2}


def matches(atom: Atom, condition: Condition) -> bool:
    kind, value = condition
    if kind == "hs":
        return atom[0] is not None and value in atom[0].split(",")
    if kind in _DIMENSION:
        return atom[_DIMENSION[kind]] == value
    raise ValueError(condition)


def _values(atom: Atom, kind: str) -> set[str]:
    if kind == "hs":
        return set(atom[0].split(",")) if atom[0] else set()
    value = atom[_DIMENSION[kind]]
    return {value} if value else set()


class StopCells:
    """The cells of one advocate's stop-based question, and which of them an answer may use.

    `atoms`: per cell, per atom, the tally of the stops in the report's scope *before* the
    HS-chapter and destination filters (a filtered cell's complement must be known).
    `asked`: the conditions the query's own filters put on every cell."""

    def __init__(
        self,
        atoms: dict[Cell, dict[Atom, Tally]],
        thresholds: Thresholds,
        asked: frozenset[Condition],
    ) -> None:
        self.atoms = atoms
        self.thresholds = thresholds
        self.asked = asked
        self._published: dict[tuple[Cell, str], set[str]] = {}
        self._allowed: dict[tuple[Cell, frozenset[Condition]], bool] = {}

    def allows(self, cell: Cell, extra: Iterable[Condition] = ()) -> bool:
        """May the stops of `cell` meeting the asked conditions (and `extra`) enter an answer?"""
        conditions = self.asked | frozenset(extra)
        key = (cell, conditions)
        if key not in self._allowed:
            self._allowed[key] = self._decide(cell, conditions)
        return self._allowed[key]

    def _decide(self, cell: Cell, conditions: frozenset[Condition]) -> bool:
        atoms = self.atoms.get(cell)
        if not atoms:
            return False
        if not self.thresholds.passes(Tally.union(atoms.values())):
            return False
        for kind, value in conditions:
            if value not in self.published_values(cell, kind):
                return False
        if len(conditions) < 2:
            return True
        # Several conditions at once (chapter 25 bound for Basra): the crossed cell passes,
        # and it leaves no failing remainder in the cell nor in any cell it is cut from.
        inside = self._tally(atoms, conditions)
        if not self.thresholds.passes(inside):
            return False
        for dropped in conditions:
            parent = self._tally(atoms, conditions - {dropped})
            remainder = Tally(
                parent.stops - inside.stops,
                parent.completed - inside.completed,
                self._exporters_outside(atoms, conditions - {dropped}, conditions),
            )
            if self.thresholds.hides(remainder):
                return False
        return True

    def _tally(self, atoms: dict[Atom, Tally], conditions: frozenset[Condition]) -> Tally:
        return Tally.union(
            t for atom, t in atoms.items() if all(matches(atom, c) for c in conditions)
        )

    def _exporters_outside(
        self, atoms: dict[Atom, Tally], parent: frozenset[Condition], child: frozenset[Condition]
    ) -> set[Any]:
        found: set[Any] = set()
        for atom, tally in atoms.items():
            if all(matches(atom, c) for c in parent) and not all(matches(atom, c) for c in child):
                found |= tally.exporters
        return found

    def published_values(self, cell: Cell, kind: str) -> set[str]:
        """The values of one dimension (chapters, destinations) whose filtered cell may be
        shown: each passes, leaves a passing (or empty) complement, and together they leave
        a passing (or empty) remainder."""
        key = (cell, kind)
        if key in self._published:
            return self._published[key]
        atoms = self.atoms.get(cell, {})
        subsets: dict[str, list[Atom]] = defaultdict(list)
        for atom in atoms:
            for value in _values(atom, kind):
                subsets[value].append(atom)

        def tally_of(selected: Iterable[Atom]) -> Tally:
            return Tally.union(atoms[a] for a in selected)

        published = set()
        for value, inside in subsets.items():
            outside = [a for a in atoms if a not in inside]
            if self.thresholds.passes(tally_of(inside)) and not self.thresholds.hides(
                tally_of(outside)
            ):
                published.add(value)
        while published:
            remainder = [a for a in atoms if not (_values(a, kind) & published)]
            if not self.thresholds.hides(tally_of(remainder)):
                break
            smallest = min(published, key=lambda v: (tally_of(subsets[v]).completed, v))
            published.discard(smallest)
        self._published[key] = published
        return published

    def exporters_of(self, cells: Iterable[Cell]) -> set[Any]:
        """The exporters of these cells' stops, of the cells as a whole: more than a filtered
        part may hold, but only used to tell whether a group has any cell shown (every cell
        shown has enough exporters on its own)."""
        found: set[Any] = set()
        for cell in cells:
            for tally in self.atoms.get(cell, {}).values():
                found |= tally.exporters
        return found

    def excluded_stops(self, rows_of: Callable[[Atom], list[frozenset[Condition]]]) -> int:
        """Stops in the question's scope left out of at least one row they belong to.
        `rows_of(atom)`: the extra conditions of each row an atom's stops count in (one
        empty set for a report whose rows take whole cells)."""
        excluded = 0
        for cell, atoms in self.atoms.items():
            for atom, tally in atoms.items():
                if not all(matches(atom, c) for c in self.asked):
                    continue
                if any(not self.allows(cell, extra) for extra in rows_of(atom)):
                    excluded += tally.stops
        return excluded


def stop_atoms(
    session: Session,
    source: Callable[..., Select[Any]],
    cell_columns: list[Any],
    chapters: Any | None,
    destination: Any | None,
    organization: Any,
    completed: ColumnElement[Any],
    position: Any | None = None,
) -> dict[Cell, dict[Atom, Tally]]:
    """Tallies per cell and atom from one GROUP BY. `source(*columns)`: SELECT columns FROM
    the rows in scope. `chapters`/`destination`/`position`: the columns of a dimension the
    question cuts by, or None (its atoms then hold the whole cell)."""
    dimensions = (chapters, destination, position)
    atom_columns = [c for c in dimensions if c is not None]
    keys = [*cell_columns, *atom_columns, organization]
    width = len(cell_columns)
    found: dict[Cell, dict[Atom, Tally]] = defaultdict(dict)
    # Read raw off the DB-API cursor: a row per cell, atom and exporter is many rows, and
    # turning each id into a UUID object cost more than the query. The cells' own keys are
    # turned into what the reports' queries give (UUIDs) once per cell.
    stmt = source(*keys, func.count(), completed).group_by(*keys)
    result = session.connection().execute(stmt)
    for row in result.cursor.fetchall():
        rest = iter(row[width : width + len(atom_columns)])
        atom: Atom = (
            next(rest) if chapters is not None else None,
            next(rest) if destination is not None else None,
            next(rest) if position is not None else None,
        )
        tally = found[tuple(row[:width])].setdefault(atom, Tally())
        tally.add(Tally(int(row[-2]), int(row[-1] or 0), {row[-3]}))
    result.close()
    processors = [_result_processor(session, column) for column in cell_columns]
    return {
        tuple(p(v) if p else v for p, v in zip(processors, cell, strict=True)): atoms
        for cell, atoms in found.items()
    }


def _result_processor(session: Session, column: Any) -> Callable[[Any], Any] | None:
    dialect = session.get_bind().dialect
    return column.type.result_processor(dialect, None)  # type: ignore[no-any-return]


def complement_passes(
    thresholds: Thresholds, inside: dict[Cell, Tally], outside: dict[Cell, Tally]
) -> set[Cell]:
    """Cells whose filtered part (`inside`) passes and whose rest (`outside`) passes or is
    empty: for questions cut by one yes/no condition (the corridors' trips through a
    checkpoint, or carrying a chapter)."""
    return {
        cell
        for cell, tally in inside.items()
        if thresholds.passes(tally) and not thresholds.hides(outside.get(cell, Tally()))
    }


def must_suppress(principal: Principal, organizations: int, min_exporters: int) -> bool:
    """A whole group too small for an advocate (kept for groups that no cell can cut)."""
    return is_protected(principal) and organizations < min_exporters


def cells_beside_own(
    thresholds: Thresholds, cells: Mapping[_Key, Mapping[Any, int]], own: Any
) -> set[_Key]:
    """The cells a figure about one exporter's own shipment (its ETA: the waits at the
    checkpoints ahead, the corridor's speeds, app/tracking/eta_inputs.py) may take other
    exporters' rows from. `cells`: per cell, completed rows (stops, delivered trips) of each
    exporter that has any. A cell is shown when its rows of exporters other than `own` pass
    the thresholds on their own: the exporter knows its own rows, so they are no cover (it
    could take them away). Each cell is one checkpoint's (one corridor's) UTC day, settled
    (ended two days ago: late events have come in by then), so its rows are final; a coarser
    figure (a province's, the network's) is a union of such cells. Two such figures then
    differ only by whole cells that passed, never by one truck that stopped in between, nor
    by a checkpoint's day that failed inside a province's."""
    shown = set()
    for cell, rows in cells.items():
        mine = rows.get(own, 0)
        others = len(rows) - (own in rows)  # `rows` holds exporters with rows only
        if thresholds.passes_counts(sum(rows.values()) - mine, others):
            shown.add(cell)
    return shown


def thresholds_of(settings: Any) -> Thresholds:
    return Thresholds(settings.report_min_exporters, settings.report_min_stops)


def public_thresholds_of(settings: Any) -> Thresholds:
    """The public board's (app/public): a clock hour of one checkpoint, or a day, is shown
    with PUBLIC_MIN_STOPS completed stops from REPORT_MIN_EXPORTERS exporters. Fewer stops
    than an advocate's cell needs, as the public cells are fixed windows that never overlap:
    every public figure is a sum of whole cells that passed, so no difference of two answers
    isolates a cell that did not."""
    return Thresholds(settings.report_min_exporters, settings.public_min_stops)


def live_count_for_public(count: int) -> int:
    """A count of trucks now (no cell, no window: the public board's `trucks_now`), to the
    nearest 5: it moves in steps of five trucks, never of one, and 0 says fewer than 3."""
    return 5 * ((count + 2) // 5)
