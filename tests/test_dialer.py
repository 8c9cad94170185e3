"""`callcrew dial` (one number or a CSV campaign), the outbound metadata contract, and the
stub's dialling outcomes that the worker's outbound path meets."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from livekit import api
from typer.testing import CliRunner

from callcrew.cli import app
from callcrew.settings import Settings
from callcrew.store import Store, open_store
from callcrew.telephony.metadata import OutboundMetadata, parse_outbound_metadata
from tests.twirp_stub import (
    API_KEY,
    API_SECRET,
    BUSY,
    NO_ANSWER_480,
    StubWorker,
    TwirpFailure,
    TwirpStub,
    running_stub,
    stub_in_thread,
)

pytestmark = pytest.mark.unit
runner = CliRunner()

ROOM_RE = re.compile(r"^call-out-[0-9a-f]{12}$")


def add_outbound(stub: TwirpStub, name: str) -> str:
    info = stub._create_outbound(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name=name, address="sip.example.com", numbers=["+15550100000"]
            )
        )
    )
    assert isinstance(info, api.SIPOutboundTrunkInfo)
    return info.sip_trunk_id


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwirpStub]:
    """The Twirp stub with an idle worker registered for the agent names these tests use."""
    with stub_in_thread() as s:
        s.workers = [StubWorker("callcrew"), StubWorker("outbound-desk", id="AW_desk")]
        monkeypatch.setenv("LIVEKIT_URL", s.url)
        monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
        monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
        yield s


@pytest.fixture
def appointments() -> Iterator[Store]:
    """The default store (sqlite:///var/callcrew.db in the test's folder) with appointments
    1-50, so the ids the campaigns name exist."""
    store = open_store(Settings().database_url)
    customer = store.crew_data.customers.create("Dana Whitfield", "+14155550132")
    first = datetime(2026, 6, 15, 13, 0, tzinfo=UTC)
    for i in range(50):
        start = first + timedelta(hours=i)
        store.crew_data.appointments.book(
            customer.id, "haircut", start, start + timedelta(minutes=30)
        )
    yield store
    store.close()


def dial(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["dial", *args])
    return result.exit_code, result.output


def dispatched(stub: TwirpStub) -> list[OutboundMetadata]:
    return [parse_outbound_metadata(d.metadata) for d in stub.dispatches]


def test_metadata_round_trip() -> None:
    meta = OutboundMetadata(
        phone_number="+14155550132",
        purpose="reminder",
        data={"appointment_id": 42, "name": "Dana", "note": "bring ID"},
        trunk="ST_abc",
        campaign="camp-1",
        line=3,
    )
    assert parse_outbound_metadata(meta.to_json()) == meta
    minimal = OutboundMetadata(phone_number="+14155550132", purpose="custom")
    assert json.loads(minimal.to_json()) == {
        "phone_number": "+14155550132",
        "purpose": "custom",
        "data": {},
    }
    assert parse_outbound_metadata(minimal.to_json()) == minimal


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "metadata is empty"),
        ("{not json", "not JSON"),
        ('["+14155550132"]', "must be a JSON object, got list"),
        ('{"purpose": "custom"}', "phone_number: Field required"),
        ('{"phone_number": "4155550132", "purpose": "custom"}', "is not an E.164 number"),
        ('{"phone_number": "+14155550132", "purpose": "Sell!"}', "purpose: String should match"),
        ('{"phone_number": "+14155550132", "purpose": "sell"}', "purpose 'sell' is not one of"),
        ('{"phone_number": "+14155550132", "purpose": "custom", "data": 3}', "data: Input should"),
        (
            '{"phone_number": "+14155550132", "purpose": "custom", "colour": "red"}',
            "colour: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_metadata_is_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_outbound_metadata(text, purposes=["custom", "reminder", "confirm"])


# --- one call -------------------------------------------------------------------------------


@pytest.mark.usefixtures("appointments")
def test_dial_one_number(stub: TwirpStub) -> None:
    trunk_id = add_outbound(stub, "carrier-out")
    code, out = dial(
        "(415) 555-0132",
        "--purpose",
        "reminder",
        "--data",
        "appointment_id=42",
        "--metadata",
        '{"note": "bring ID"}',
    )
    assert code == 0, out
    assert f'through outbound trunk "carrier-out" ({trunk_id})' in out
    assert stub.methods("CreateRoom") == ["CreateRoom"]
    # One request creates the room with our dispatch in it: no default (unnamed-agent) dispatch,
    # which a room created without `agents` would get.
    (d,) = stub.dispatches
    assert d.agent_name == "callcrew"
    assert ROOM_RE.match(d.room) and "4155550132" not in d.room
    assert d.room in out and f"(dispatch {d.id})" in out
    room = stub.rooms[d.room].room
    assert room.empty_timeout > 0 and room.departure_timeout > 0
    (meta,) = dispatched(stub)
    assert meta == OutboundMetadata(
        phone_number="+14155550132",
        purpose="reminder",
        data={"appointment_id": 42, "note": "bring ID"},
        trunk=trunk_id,
    )


def test_dial_uses_the_named_trunk_or_the_setting(
    stub: TwirpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_outbound(stub, "a")
    b = add_outbound(stub, "b")
    code, out = dial("+14155550132", "--purpose", "custom")
    assert code == 2
    assert "several outbound trunks (a, b)" in out and "--trunk" in out
    code, out = dial("+14155550132", "--purpose", "custom", "--trunk", "nope")
    assert code == 2
    assert "no outbound trunk named 'nope' (it has: a, b)" in out
    assert dial("+14155550132", "--purpose", "custom", "--trunk", "b")[0] == 0
    monkeypatch.setenv("SIP_OUTBOUND_TRUNK", "b")
    assert dial("+14155550132", "--purpose", "custom")[0] == 0
    assert [m.trunk for m in dispatched(stub)] == [b, b]
    monkeypatch.setenv("AGENT_NAME", "outbound-desk")
    assert dial("+14155550132", "--purpose", "custom")[0] == 0
    assert stub.dispatches[-1].agent_name == "outbound-desk"


def test_dial_without_any_outbound_trunk_says_what_to_do(stub: TwirpStub) -> None:
    code, out = dial("+14155550132", "--purpose", "custom")
    assert code == 2
    assert "no outbound SIP trunk" in out and "callcrew sip apply" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["+14155550132"], "--purpose is required"),
        (["+14155550132", "--purpose", "sell"], "--purpose must be one of"),
        (
            ["+14155550132", "--purpose", "reminder"],
            "purpose 'reminder': appointment_id: Field required (its data: appointment_id "
            "(required: the appointment the call is about)",
        ),
        (["+14155550132", "--purpose", "custom", "--data", "note"], "--data 'note' is not key"),
        (
            ["+14155550132", "--purpose", "confirm", "--data", "appointment_id=x7"],
            "appointment_id: appointment id 'x7' is not a number",
        ),
        (["555-0132", "--purpose", "custom"], "cannot dial '555-0132'"),
        (["+14155550132", "--purpose", "custom", "--metadata", "{"], "--metadata is not JSON"),
        (["+14155550132", "--purpose", "custom", "--metadata", "[1]"], "must be a JSON object"),
        (["+14155550132", "--purpose", "custom", "--region", "XX"], "--region 'XX'"),
        (["--purpose", "custom"], "either a NUMBER or --csv"),
        (["+14155550132", "--purpose", "custom", "--max-concurrent", "0"], "max-concurrent"),
    ],
)
def test_bad_arguments_exit_2_before_any_call(
    stub: TwirpStub, args: list[str], message: str
) -> None:
    add_outbound(stub, "carrier-out")
    before = len(stub.calls)
    code, out = dial(*args)
    assert code == 2, out
    assert message in out
    assert len(stub.calls) == before


def test_dial_needs_livekit_settings() -> None:
    code, out = dial("+14155550132", "--purpose", "custom")
    assert code == 2
    assert "LIVEKIT_URL is not set" in out


def test_unreachable_livekit_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LIVEKIT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    code, out = dial("+14155550132", "--purpose", "custom")
    assert code == 1
    assert "cannot reach LiveKit" in out


def test_a_refused_room_exits_1(stub: TwirpStub) -> None:
    add_outbound(stub, "carrier-out")
    stub.fail["RoomService/CreateRoom"] = TwirpFailure("resource_exhausted", "too many rooms", 429)
    code, out = dial("+14155550132", "--purpose", "custom")
    assert code == 1
    assert "could not create the room: LiveKit refused it (resource_exhausted" in out
    assert stub.rooms == {} and stub.dispatches == []


# --- a worker must take the job; the appointment must exist ---------------------------------


def test_a_dispatch_nobody_takes_is_not_placed_exits_1_and_leaves_a_report(
    stub: TwirpStub, appointments: Store
) -> None:
    """livekit-server drops a dispatch no worker takes; dial must not say "placed"."""
    add_outbound(stub, "carrier-out")
    stub.workers = []  # no `callcrew start` running
    code, out = dial(
        "+14155550132", "--purpose", "confirm", "--data", "appointment_id=7",
        "--confirm-timeout", "0.2", "--poll-interval", "0.01",
    )  # fmt: skip
    assert code == 1, out
    assert "not placed: no worker took the call within 0.2 s" in out
    assert "placed: agent" not in out
    (d,) = stub.dispatches
    assert list(d.state.jobs) == []
    assert stub.deleted_rooms == [d.room]  # no late worker can still ring the callee
    (report,) = appointments.reports.list()
    assert report["room"] == d.room and report["channel"] == "outbound"
    assert report["outcome"] == "failed" and report["ended_by"] == "no_worker"
    assert "no worker took the call" in report["errors"][0]


def test_a_worker_at_the_servers_target_load_gets_no_job(stub: TwirpStub) -> None:
    """The server's agents.target_load decides, not the worker's own threshold: a worker at
    0.72 is refused by the default 0.7 and taken by a server configured with 0.75."""
    add_outbound(stub, "carrier-out")
    stub.workers = [StubWorker("callcrew", load=0.72)]
    args = ("+14155550132", "--purpose", "custom", "--confirm-timeout", "0.2")
    code, out = dial(*args, "--poll-interval", "0.01")
    assert code == 1 and "not placed" in out
    stub.target_load = 0.75
    code, out = dial(*args, "--poll-interval", "0.01")
    assert code == 0, out
    assert "placed: agent callcrew took the call in room call-out-" in out
    job = stub.dispatches[-1].state.jobs[0]
    assert job.state.status == api.JobStatus.JS_RUNNING and job.state.worker_id == "AW_stub"


def test_a_campaign_counts_dispatches_nobody_took_as_not_placed(
    stub: TwirpStub, tmp_path: Path, appointments: Store
) -> None:
    """Under load the server drops some dispatches: each one is listed, and dial exits 1."""
    add_outbound(stub, "carrier-out")
    stub.workers = [StubWorker("callcrew", load_per_job=0.2)]  # full after 4 jobs (0.8 > 0.7)
    rows = "\n".join(f"+1 646 555 01{i:02d},custom" for i in range(6))
    path = write_campaign(tmp_path, "phone_number,purpose\n" + rows + "\n")
    code, out = dial(
        "--csv", str(path), "--max-concurrent", "1", "--no-wait",
        "--confirm-timeout", "0.2", "--poll-interval", "0.01",
    )  # fmt: skip
    assert code == 1, out
    assert "4 placed, 2 failed (2 not placed: no worker took them), 0 skipped" in out
    assert "line 6: +16465550104: not placed: no worker took the call" in out
    assert "line 7: +16465550105: not placed" in out
    not_placed = [r for r in appointments.reports.list() if r["ended_by"] == "no_worker"]
    assert sorted(r["caller_number"] for r in not_placed) == ["+16465550104", "+16465550105"]


@pytest.mark.usefixtures("appointments")
def test_dial_checks_the_appointment_exists_before_dispatching(
    stub: TwirpStub, tmp_path: Path
) -> None:
    add_outbound(stub, "carrier-out")
    before = len(stub.calls)
    code, out = dial("+14155550132", "--purpose", "reminder", "--data", "appointment_id=999")
    assert code == 2
    assert out.strip() == (
        "appointment 999 does not exist in the store (DATABASE_URL); nothing dialled"
    )
    assert len(stub.calls) == before  # LiveKit was never asked
    text = (
        "phone_number,purpose,appointment_id\n+14155550132,reminder,42\n+12125550188,confirm,999\n"
    )
    code, out = dial("--csv", str(write_campaign(tmp_path, text)), "--poll-interval", "0.01")
    assert code == 0, out
    assert "1 placed, 0 failed (0 not placed: no worker took them), 1 skipped" in out
    assert "line 3: appointment 999 does not exist" in out
    assert [m.data["appointment_id"] for m in dispatched(stub)] == [42]


def test_the_stub_gives_rooms_without_agents_the_default_dispatch() -> None:
    """Why dial puts its dispatch in CreateRoom: the server's backward-compatible default."""
    stub = TwirpStub()
    stub._create_room(api.CreateRoomRequest(name="bare"))
    stub._create_dispatch(api.CreateAgentDispatchRequest(room="implicit", agent_name="callcrew"))
    assert sorted((d.room, d.agent_name) for d in stub.dispatches) == [
        ("bare", ""),
        ("implicit", ""),
        ("implicit", "callcrew"),
    ]


# --- campaigns ------------------------------------------------------------------------------

CAMPAIGN = """\
phone_number,purpose,appointment_id,name
# a comment line
(415) 555-0132,reminder,42,Dana
+44 20 7183 8750,confirm,43,Ravi
not a number,reminder,44,Bad
+1 212 555 0188,,45,Uses default
+1 212 555 0199,reminder,,No appointment
415-555-0132,custom,,Duplicate of line 3
+1 646 555 0111,sell,46,Bad purpose
+1 646 555 0122,reminder,x7,Bad appointment

+1 646 555 0133,custom,,Last
"""


def write_campaign(tmp_path: Path, text: str = CAMPAIGN) -> Path:
    p = tmp_path / "campaign.csv"
    p.write_text(text)
    return p


@pytest.mark.usefixtures("appointments")
def test_a_campaign_dials_good_rows_and_reports_bad_ones(stub: TwirpStub, tmp_path: Path) -> None:
    trunk_id = add_outbound(stub, "carrier-out")
    code, out = dial(
        "--csv",
        str(write_campaign(tmp_path)),
        "--purpose",
        "confirm",
        "--metadata",
        '{"clinic": "Maple"}',
        "--poll-interval",
        "0.01",
    )
    assert code == 0, out
    metas = dispatched(stub)
    assert [(m.phone_number, m.line) for m in metas] == [
        ("+14155550132", 3),
        ("+442071838750", 4),
        ("+12125550188", 6),
        ("+16465550133", 12),
    ]
    campaign = metas[0].campaign
    assert campaign and campaign.startswith("camp-")
    assert all(m.campaign == campaign and m.trunk == trunk_id for m in metas)
    assert metas[0].purpose == "reminder"
    # Every column but the number and the purpose is the purpose's data, over --metadata.
    assert metas[0].data == {"appointment_id": 42, "clinic": "Maple", "name": "Dana"}
    assert metas[2].purpose == "confirm"  # the --purpose default for an empty cell
    assert metas[3].data == {"clinic": "Maple", "name": "Last"}
    assert f"campaign {campaign}: 4 placed, 0 failed (0 not placed: no worker took them)" in out
    assert ", 5 skipped" in out
    for line, reason in [
        (5, "'not a number' is not a phone number"),
        (7, "purpose 'reminder': appointment_id: Field required (its data: appointment_id"),
        (8, "+14155550132 is already on line 3"),
        (9, "purpose 'sell' is not one of custom, reminder, confirm"),
        (10, "purpose 'reminder': appointment_id: appointment id 'x7' is not a number"),
    ]:
        assert f"line {line}: {reason}" in out, line
    rooms = [d.room for d in stub.dispatches]
    assert len(set(rooms)) == 4 and all(ROOM_RE.match(r) for r in rooms)


def test_a_campaign_keeps_at_most_n_calls_in_progress(stub: TwirpStub, tmp_path: Path) -> None:
    add_outbound(stub, "carrier-out")
    stub.room_lifetime = 0.25  # each call lasts a quarter second
    rows = "\n".join(f"+1 646 555 01{i:02d},custom" for i in range(6))
    path = write_campaign(tmp_path, "phone_number,purpose\n" + rows + "\n")
    code, out = dial("--csv", str(path), "--max-concurrent", "2", "--poll-interval", "0.02")
    assert code == 0, out
    assert len(stub.dispatches) == 6
    assert stub.peak_open_rooms == 2
    assert "6 placed, 0 failed (0 not placed: no worker took them), 0 skipped" in out
    assert "ListRooms" in stub.methods()


@pytest.mark.usefixtures("appointments")
def test_a_campaign_with_a_failed_dispatch_exits_1(stub: TwirpStub, tmp_path: Path) -> None:
    add_outbound(stub, "carrier-out")

    def refuse_ravi(call: object) -> TwirpFailure | None:
        req = getattr(call, "request", None)
        if isinstance(req, api.CreateRoomRequest) and "442071838750" in req.agents[0].metadata:
            return TwirpFailure("internal", "room allocation failed", 500)
        return None

    stub.fail_when = refuse_ravi
    code, out = dial("--csv", str(write_campaign(tmp_path)), "--poll-interval", "0.01")
    assert code == 1
    # no --purpose: line 6 has none
    assert "2 placed, 1 failed (0 not placed: no worker took them), 6 skipped" in out
    assert "line 6: no purpose" in out
    assert "line 4: +442071838750: could not create the room" in out


def test_campaign_files_that_cannot_be_dialled_exit_2(stub: TwirpStub, tmp_path: Path) -> None:
    add_outbound(stub, "carrier-out")
    code, out = dial("--csv", str(tmp_path / "missing.csv"))
    assert code == 2 and "campaign file not found" in out
    code, out = dial("--csv", str(write_campaign(tmp_path, "name,email\nDana,d@x\n")))
    assert code == 2 and "no phone number column" in out
    code, out = dial("--csv", str(write_campaign(tmp_path, "phone\n12\n")))
    assert code == 2
    assert "line 2: '12' is not a possible phone number" in out
    assert "no row can be dialled" in out
    assert stub.dispatches == []


@pytest.mark.usefixtures("appointments")
def test_campaign_dry_run_needs_no_server(tmp_path: Path) -> None:
    code, out = dial("--csv", str(write_campaign(tmp_path)), "--dry-run", "--purpose", "confirm")
    assert code == 0, out
    assert "would dial line 3: +14155550132 -> room call-out-" in out
    assert '"appointment_id":42' in out
    assert "line 5: 'not a number' is not a phone number" in out
    assert "dry run: nothing dispatched" in out


# --- what the worker meets when it dials (the stub's SIP outcomes) ---------------------------


async def test_the_stub_answers_dials_with_programmed_outcomes() -> None:
    stub = TwirpStub(dial_outcomes={"+14155550100": BUSY, "+14155550101": NO_ANSWER_480})
    async with running_stub(stub) as s:
        trunk = add_outbound(s, "carrier-out")
        lk = api.LiveKitAPI(s.url, API_KEY, API_SECRET)
        try:

            def req(number: str) -> api.CreateSIPParticipantRequest:
                return api.CreateSIPParticipantRequest(
                    room_name="call-out-1",
                    sip_trunk_id=trunk,
                    sip_call_to=number,
                    participant_identity=f"callee-{number[1:]}",
                    wait_until_answered=True,
                )

            info = await lk.sip.create_sip_participant(req("+14155550132"))
            assert info.participant_identity == "callee-14155550132"
            with pytest.raises(api.SipCallError) as busy:
                await lk.sip.create_sip_participant(req("+14155550100"))
            assert busy.value.sip_status_code == 486
            assert busy.value.sip_status == "Busy Here"
            with pytest.raises(api.SipCallError) as no_answer:
                await lk.sip.create_sip_participant(req("+14155550101"))
            assert no_answer.value.sip_status_code == 480
            bad = req("+14155550132")
            bad.sip_trunk_id = "ST_missing"
            with pytest.raises(api.ServerError) as missing:
                await lk.sip.create_sip_participant(bad)
            assert not isinstance(missing.value, api.SipCallError)
            assert missing.value.status == 404

            stub.transfer_outcomes["tel:+14155550199"] = BUSY
            ok = await lk.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name="call-out-1",
                    participant_identity="callee-14155550132",
                    transfer_to="tel:+14155550111",
                )
            )
            assert ok.status == api.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL
            with pytest.raises(api.SipCallError) as refused:
                await lk.sip.transfer_sip_participant(
                    api.TransferSIPParticipantRequest(
                        room_name="call-out-1",
                        participant_identity="callee-14155550132",
                        transfer_to="tel:+14155550199",
                    )
                )
            assert refused.value.sip_status_code == 486
            assert [p.sip_call_to for p in stub.sip_participants] == [
                "+14155550132",
                "+14155550100",
                "+14155550101",
            ]  # the request with an unknown trunk was refused before dialling
        finally:
            await lk.aclose()
