from __future__ import annotations

from pathlib import Path

import pytest
from agents.desk_profile import DeskProfile, desk

from callcrew.call import ProfileSection
from callcrew.profile import ProfileError, load_profile, parse_profile

pytestmark = pytest.mark.unit


def test_builtin_profile_loads() -> None:
    p = load_profile()
    assert p.name == "Maple Street Salon"
    assert desk(p).service("Haircut") is desk(p).service("haircut") is not None
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
hours: {tue: "08:00-18:00"}
desk:
  services:
    - {id: tyres, name: Tyre change, duration_minutes: 45}
"""


def test_minimal_profile(tmp_path: Path) -> None:
    p = load_profile(_write(tmp_path, BASE))
    assert p.tz.key == "Europe/Paris"
    assert desk(p).task == "appointments" and desk(p).slot_step_minutes == 30


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("timezone: Mars/Olympus", "timezone", "unknown time zone"),
        ("hours: {tue: '18:00-08:00'}", "hours.tue.0", "before it opens"),
        ("hours: {tue: 'all day'}", "hours", "not a window like 09:00-17:00"),
        ("transfer_number: '555-1234'", "transfer_number", "E.164"),
        ("desk: {services: []}", "desk.services", "at least 1"),
        (
            "desk: {services: [{id: x, name: X, duration_minutes: 0}]}",
            "desk.services.0.duration_minutes",
            "greater",
        ),
        (
            "desk: {slot_step: 5, services: [{id: x, name: X, duration_minutes: 5}]}",
            "desk.slot_step",
            "Extra",
        ),
        ("colour: blue", "colour", "Extra inputs"),
    ],
)
def test_bad_profile_names_file_field_and_problem(
    tmp_path: Path, change: str, field: str, words: str
) -> None:
    key = change.split(":")[0]
    lines = [ln for ln in BASE.strip().splitlines() if not ln.startswith(key)]
    if key == "desk":
        lines = [ln for ln in lines if not ln.startswith("  ")]
    f = _write(tmp_path, "\n".join([*lines, change]))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    msg = str(err.value)
    assert str(f) in msg and f"{field}:" in msg and words in msg


def test_duplicate_service_ids(tmp_path: Path) -> None:
    text = BASE.replace(
        "duration_minutes: 45}",
        "duration_minutes: 45}\n    - {id: tyres, name: Again, duration_minutes: 10}",
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


def test_an_old_profile_is_told_its_desk_fields_moved(tmp_path: Path) -> None:
    old = """
name: Old Salon
greeting: Hello
task: appointments
slot_step_minutes: 30
services:
  - {id: cut, name: Cut, duration_minutes: 30}
"""
    with pytest.raises(ProfileError) as err:
        load_profile(_write(tmp_path, old))
    lines = str(err.value).splitlines()[1:]
    assert sorted(lines) == [
        f"  - {key}: moved under desk: (the crew's section); indent it there"
        for key in ("services", "slot_step_minutes", "task")
    ]


def test_the_section_is_required_and_every_problem_is_listed(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile(_write(tmp_path, "name: X\ntimezone: Mars/Olympus\ngreeting: Hi\n"))
    lines = str(err.value).splitlines()
    assert lines[1].startswith("  - timezone: unknown time zone")
    assert lines[2] == "  - desk: required (the crew's section of the profile)"


def test_a_crew_without_a_section_refuses_someone_elses() -> None:
    data = {"name": "X", "greeting": "Hi", "desk": {"services": []}}
    with pytest.raises(ProfileError, match="desk: Extra inputs"):
        parse_profile(data, "p", crew=None)
    p = parse_profile({"name": "X", "greeting": "Hi"}, "p", crew=None)
    assert p.section is None
    with pytest.raises(LookupError, match="no DeskProfile section"):
        desk(p)


def test_an_optional_section_defaults_and_merges_back() -> None:
    optional = ProfileSection("desk", DeskProfile, required=False)
    with pytest.raises(ProfileError, match=r"desk\.services: Field required"):
        parse_profile({"name": "X", "greeting": "Hi"}, "p", crew=optional)
    p = parse_profile(
        {
            "name": "X",
            "greeting": "Hi",
            "desk": {"services": [{"id": "a", "name": "A", "duration_minutes": 5}]},
        },
        "p",
        crew=optional,
    )
    again = parse_profile(p.as_data(), "p", crew=optional)
    assert desk(again) == desk(p) and again == p
