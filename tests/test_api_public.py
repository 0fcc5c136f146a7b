"""The public API through the real app: health, catalog, program preview, static files."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from litestar import Litestar
from litestar.middleware.compression import gzip_facade
from litestar.testing import AsyncTestClient

from server.api.compression import takes_gzip
from tests.test_flow_therapist_patient import create_patient, join

Client = AsyncTestClient[Litestar]

NECK = {"upper-trapezius", "levator-scapulae", "suboccipitals", "sternocleidomastoid", "scalenes"}


def _fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


async def test_health_reports_the_schema_version(client: Client) -> None:
    r = await client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["schema_version"] >= 1
    assert r.headers["cache-control"] == "no-store"


async def test_muscles_are_listed_by_region_with_the_neck_muscles(client: Client) -> None:
    r = await client.get("/api/v1/catalog/muscles")
    assert r.status_code == 200
    regions = {g["region"]: {m["id"] for m in g["muscles"]} for g in r.json()}
    assert regions["neck"] >= NECK


async def test_muscles_come_in_spanish_on_request(client: Client) -> None:
    r = await client.get("/api/v1/catalog/muscles", params={"region": "neck", "lang": "es"})
    names = {m["id"]: m["name"] for g in r.json() for m in g["muscles"]}
    assert names["upper-trapezius"] == "Trapecio superior (parte alta del hombro)"
    assert [g["region"] for g in r.json()] == ["neck"]


async def test_exercises_filter_by_muscle_and_kind(client: Client) -> None:
    r = await client.get("/api/v1/catalog/exercises", params={"muscle": "levator-scapulae", "kind": "stretch"})
    assert r.status_code == 200
    found = r.json()
    assert found
    assert all(e["kind"] == "stretch" and "levator-scapulae" in e["muscles"] for e in found)
    one = await client.get(f"/api/v1/catalog/exercises/{found[0]['id']}")
    assert one.status_code == 200
    body = one.json()
    assert body["steps"]
    assert body["stop"]
    assert body["feel"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"muscle": "nope"}, "muscle"),
        ({"kind": "jumping"}, "kind"),
        ({"lang": "fr"}, "lang"),
        ({"muscle": "x" * 65}, "muscle"),
    ],
)
async def test_bad_catalog_filters_name_the_parameter(client: Client, params: dict[str, str], field: str) -> None:
    r = await client.get("/api/v1/catalog/exercises", params=params)
    assert r.status_code == 400
    assert field in _fields(r.json())


async def test_bad_region_names_the_parameter(client: Client) -> None:
    r = await client.get("/api/v1/catalog/muscles", params={"region": "tail"})
    assert r.status_code == 400
    assert _fields(r.json()) == ["region"]


async def test_an_unknown_exercise_is_404(client: Client) -> None:
    r = await client.get("/api/v1/catalog/exercises/no-such-thing")
    assert r.status_code == 404
    assert "no-such-thing" in r.json()["detail"]


async def test_preview_turns_treated_muscles_into_a_phased_program(therapist: Client) -> None:
    r = await therapist.post(
        "/api/v1/programs/preview",
        json={"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": "2026-11-20"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["id"] for p in body["phases"]] == ["aftercare", "mobility", "progression", "maintenance"]
    assert body["treated_on"] == "2026-11-20"
    assert any(i["side"] == "left" for i in body["items"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"treated": [{"muscle": "nope", "side": "left"}], "treated_on": "2026-11-20"}, 422, "treated[0].muscle"),
        ({"treated": [{"muscle": "scalenes", "side": "up"}], "treated_on": "2026-11-20"}, 400, "treated[0].side"),
        ({"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "20/11/2026"}, 400, "treated_on"),
        ({"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "2026-02-30"}, 400, "treated_on"),
        ({"treated": [], "treated_on": "2026-11-20"}, 400, "treated"),
        ({"treated": [{"muscle": "scalenes"}], "treated_on": "2026-11-20", "extra": 1}, 400, "extra"),
        (
            {"treated": [{"muscle": "scalenes", "side": "left", "depth": 3}], "treated_on": "2026-11-20"},
            400,
            "treated[0].depth",
        ),
        ({"treated_on": "2026-11-20"}, 400, "treated"),
        (
            {"treated": [{"muscle": "scalenes"}], "treated_on": "2026-11-20", "conditions": ["nope"]},
            422,
            "conditions[0]",
        ),
    ],
)
async def test_bad_preview_input_names_the_field(
    therapist: Client, body: dict[str, Any], status: int, field: str
) -> None:
    r = await therapist.post("/api/v1/programs/preview", json=body)
    assert r.status_code == status, r.text
    assert field in _fields(r.json()), r.json()


async def test_a_body_that_is_not_json_is_a_400(therapist: Client) -> None:
    r = await therapist.post(
        "/api/v1/programs/preview", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["errors"]


async def test_an_oversized_body_is_refused_with_413(therapist: Client) -> None:
    big = {"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "2026-11-20", "pad": "x" * 300_000}
    r = await therapist.post("/api/v1/programs/preview", json=big)
    assert r.status_code == 413


async def test_the_pwa_is_served_at_the_root_with_security_headers(client: Client) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


async def test_the_openapi_schema_documents_the_api(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"/api/v1/health", "/api/v1/catalog/muscles", "/api/v1/programs/preview"} <= set(paths)


async def test_every_operation_documents_its_audience_and_errors(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert set(schema["components"]["securitySchemes"]) == {"therapistSession", "csrfToken", "deviceToken"}
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = [code for code in responses if code.startswith("4")]
            assert "400" in errors, (method, path)
            for code in errors:
                ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody", (method, path, code)
            public = path.startswith(("/api/v1/catalog", "/api/v1/health", "/api/v1/ping", "/api/v1/push/public-key"))
            if not public and not path.endswith(("/auth/login", "/patient/join")):
                assert operation.get("security"), f"{method} {path} does not say who may call it"


async def test_request_bodies_are_documented_with_every_limit_the_server_checks(client: Client) -> None:
    for path in ("/schema/openapi.json", "/schema/openapi.yaml"):
        r = await client.get(path)
        assert r.status_code == 200
        schemas = (r.json() if path.endswith("json") else yaml.safe_load(r.text))["components"]["schemas"]
        [sets, _] = schemas["CompletionIn"]["properties"]["sets_done"]["anyOf"]
        assert (sets["minimum"], sets["maximum"]) == (0, 20)
        assert schemas["CheckinIn"]["properties"]["red_flags"]["items"]["maxLength"] == 64
        assert schemas["PlanItem"]["properties"]["slots"]["items"]["enum"] == ["evening", "midday", "morning"]
        assert schemas["SyncIn"]["properties"]["completions"]["items"] == {"$ref": "#/components/schemas/CompletionIn"}


async def test_errors_of_routes_without_an_id_in_the_path_are_documented(
    therapist: Client, other_client: Client
) -> None:
    """The 404s and 415s such routes answer (the status-code check cannot guess them from the path)."""
    paths = (await therapist.get("/schema/openapi.json")).json()["paths"]
    patient = await create_patient(therapist)
    phone = other_client
    await join(therapist, phone, patient["id"])
    answers = {
        ("get", "/api/v1/patient/plan"): await phone.get("/api/v1/patient/plan"),  # none assigned yet
        ("delete", "/api/v1/patient/push/subscriptions"): await phone.delete(
            "/api/v1/patient/push/subscriptions", params={"endpoint": "https://push.example/none"}
        ),
        ("post", "/api/v1/patient/sync"): await phone.post(
            "/api/v1/patient/sync", content=b"{}", headers={"content-type": "text/plain"}
        ),
    }
    assert [r.status_code for r in answers.values()] == [404, 404, 415]
    for (method, path), r in answers.items():
        assert str(r.status_code) in paths[path][method]["responses"], (method, path, r.status_code)
    assert "429" in paths["/api/v1/patient/push/test"]["post"]["responses"]


async def test_large_responses_are_gzipped_for_clients_that_accept_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []

    class CountedGzipFile(gzip_facade.GzipFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gzip_facade, "GzipFile", CountedGzipFile)
    browser = {"accept-encoding": "gzip, deflate, br, zstd"}
    r = await client.get("/api/v1/catalog/exercises", headers=browser)
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()
    plain = await client.get("/api/v1/catalog/exercises", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == r.json()
    assert len(made) == 1
    # A static file is compressed whole once and kept: no compressor is made for it per request.
    for _ in range(2):
        shell = await client.get("/", headers=browser)
        assert (shell.status_code, shell.headers["content-encoding"]) == (200, "gzip")
        assert "<html" in shell.text
    assert len(made) == 1
    # An answer too small to gain passes untouched, and no compressor is made for it (each costs ~40 us).
    small = await client.get("/api/v1/ping", headers=browser)
    assert small.status_code == 200
    assert "content-encoding" not in small.headers
    assert len(made) == 1


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [
        ("gzip, deflate, br, zstd", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000, deflate", False),
        ("gzip;q=zero", False),
        ("identity", False),
        ("", False),
        ("*", False),  # Litestar's middleware compresses only for gzip named
    ],
)
def test_gzip_is_taken_only_where_the_client_names_it_and_does_not_refuse_it(accept_encoding: str, gzip: bool) -> None:
    assert takes_gzip(accept_encoding) is gzip


async def test_a_client_that_refuses_gzip_gets_no_gzip_from_any_route(client: Client) -> None:
    # RFC 9110: "gzip;q=0" says "not gzip"; the app answered it in gzip all the same.
    refusing = {"accept-encoding": "gzip;q=0, deflate"}
    for path in ("/api/v1/catalog/exercises", "/"):
        r = await client.get(path, headers=refusing)
        assert r.status_code == 200
        assert "content-encoding" not in r.headers, path
        assert len(r.content) >= 1024  # big enough to be compressed for a client that takes gzip


async def test_the_pwa_folders_developer_notes_are_not_served(client: Client) -> None:
    for path in ("/README.md", "/console/README.md", "/readme.MD"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "Unknot" not in r.text
    assert (await client.get("/manifest.webmanifest")).status_code == 200
    assert (await client.get("/console/")).status_code == 200


async def test_conditions_are_listed_with_what_they_add(client: Client) -> None:
    r = await client.get("/api/v1/catalog/conditions", params={"lang": "es"})
    assert r.status_code == 200
    found = {c["id"]: c for c in r.json()}
    assert found["neck-pain"]["name"] == "Dolor de cuello"
    assert found["neck-pain"]["summary"]
    assert "chin-tuck" in found["neck-pain"]["extra"]
    bad = await client.get("/api/v1/catalog/conditions", params={"lang": "fr"})
    assert bad.status_code == 400
    assert _fields(bad.json()) == ["lang"]
