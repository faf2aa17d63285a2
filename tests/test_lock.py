"""The lock files say what pyproject.toml asks for: a dependency added, dropped or re-ranged
there without `./scripts/lock` fails here, before an install silently differs from the tests'."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(lock: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            found[canonicalize_name(match[1])] = match[2]
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"{lock}: not a pinned requirement: {line!r}")
    return found


def direct(*groups: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    wanted = [*project["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for group in groups:
        wanted += project["optional-dependencies"][group]
    return [Requirement(spec) for spec in wanted]


def _check(lock: str, requirements: list[Requirement]) -> None:
    pinned = pins(lock)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in {lock}: run ./scripts/lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside {requirement}: run ./scripts/lock"
        )


def test_the_service_lock_pins_every_direct_dependency_in_its_range() -> None:
    _check("requirements.lock", direct())


def test_the_test_lock_pins_the_test_tools_too() -> None:
    _check("requirements-test.lock", direct("test"))


def test_the_service_runs_the_versions_the_tests_ran() -> None:
    service, tested = pins("requirements.lock"), pins("requirements-test.lock")
    differ = {name: (v, tested.get(name)) for name, v in service.items() if tested.get(name) != v}
    assert not differ, f"requirements.lock differs from requirements-test.lock: {differ}"


def test_every_pin_carries_its_hashes() -> None:
    for lock in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / lock).read_text()
        assert text.count("--hash=sha256:") >= len(pins(lock)), lock
