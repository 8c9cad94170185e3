from __future__ import annotations

from pathlib import Path

import pytest

from callcrew.profile import ProfileError, load_profile

pytestmark = pytest.mark.unit


def test_builtin_profile_loads() -> None:
    p = load_profile()
    assert p.name == "Maple Street Salon"
    assert p.service("Haircut") is p.service("haircut") is not None
    assert p.hours["mon"] == []
    assert [(w.open.hour, w.close.hour) for w in p.hours["thu"]] == [(9, 12), (13, 19)]
    assert "Mon closed" in p.hours_text()


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "biz.yaml"
    f.write_text(text)
    return f


BASE = """
name: Test Garage
timezone: Europe/Paris
greeting: Hello
services:
  - {id: tyres, name: Tyre change, duration_minutes: 45}
hours: {tue: "08:00-18:00"}
"""


def test_minimal_profile(tmp_path: Path) -> None:
    p = load_profile(_write(tmp_path, BASE))
    assert p.tz.key == "Europe/Paris"
    assert p.task == "appointments"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("timezone: Mars/Olympus", "timezone", "unknown time zone"),
        ("hours: {tue: '18:00-08:00'}", "hours.tue.0", "before it opens"),
        ("hours: {tue: 'all day'}", "hours", "not a window like 09:00-17:00"),
        ("transfer_number: '555-1234'", "transfer_number", "E.164"),
        ("services: []", "services", "at least 1"),
        ("colour: blue", "colour", "Extra inputs"),
    ],
)
def test_bad_profile_names_file_field_and_problem(
    tmp_path: Path, change: str, field: str, words: str
) -> None:
    key = change.split(":")[0]
    lines = [ln for ln in BASE.strip().splitlines() if not ln.startswith(key)]
    if key == "services":
        lines = [ln for ln in lines if not ln.strip().startswith("- {id")]
    f = _write(tmp_path, "\n".join([*lines, change]))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    msg = str(err.value)
    assert str(f) in msg and f"{field}:" in msg and words in msg


def test_duplicate_service_ids(tmp_path: Path) -> None:
    text = BASE.replace(
        "duration_minutes: 45}",
        "duration_minutes: 45}\n  - {id: tyres, name: Again, duration_minutes: 10}",
    )
    f = _write(tmp_path, text)
    with pytest.raises(ProfileError, match="repeated: tyres"):
        load_profile(f)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="not valid YAML at line"):
        load_profile(_write(tmp_path, "name: [unclosed"))
    with pytest.raises(ProfileError, match="must be a YAML mapping"):
        load_profile(_write(tmp_path, "- a list"))
