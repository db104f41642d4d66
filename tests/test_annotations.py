"""The W3C Web Annotation export passes every MUST assertion of the W3C test suite
(JSON Schemas vendored in tests/fixtures/web-annotation-tests, draft-04)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from .conftest import post
from .test_feedback import COST, INTRO, quote, register

SUITE = Path(__file__).parent / "fixtures" / "web-annotation-tests"


@cache
def registry() -> Registry[Any]:
    resources = []
    for path in (SUITE / "definitions").glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["id"], Resource.from_contents(schema, DRAFT4)))
    return Registry().with_resources(resources)


@cache
def must_assertions() -> list[dict[str, Any]]:
    listed = json.loads((SUITE / "annotations" / "annotationMusts.test").read_text())
    return [json.loads((SUITE / name).read_text()) for name in listed["assertions"]]


def failures(annotation: dict[str, Any]) -> list[str]:
    out = []
    for schema in must_assertions():
        validator = Draft4Validator(schema, registry=registry())
        valid = validator.is_valid(annotation)
        if valid != (schema.get("expectedResult", "valid") == "valid"):
            out.append(f"{schema['id']}: {schema.get('errorMessage', '')}")
    return out


def test_the_suite_is_complete_and_can_fail() -> None:
    assert len(must_assertions()) == 54
    broken = {"id": "x", "type": "Note", "target": 5}  # no @context, wrong type, bad target
    assert len(failures(broken)) >= 3


def test_every_exported_annotation_passes_every_must_assertion(client: TestClient) -> None:
    register(client, INTRO, COST)
    post(
        client,
        body="A *close* vote",
        author_name="Ada",
        anchor=quote("seven to two", "council voted ", " on"),
    )
    post(client, body="Too expensive?", anchor=quote("cost too much", "extra hours "))
    register(client, INTRO)  # the second one's passage goes: it is exported as orphaned
    r = client.get("/api/v1/annotations", params={"uri": "/story"})
    assert r.status_code == 200
    assert r.headers["content-type"] == (
        'application/ld+json; profile="http://www.w3.org/ns/anno.jsonld"'
    )
    page = r.json()
    assert page["type"] == "AnnotationPage"
    assert len(page["items"]) == 2
    for annotation in page["items"]:
        assert failures(annotation) == []
        assert annotation["motivation"] == "commenting"
        assert annotation["body"]["type"] == "TextualBody"
        assert annotation["target"]["state"]["type"] == "TimeState"
    first, second = page["items"]
    assert first["creator"] == {"type": "Person", "name": "Ada"}
    exact = [s for s in first["target"]["selector"] if s["type"] == "TextQuoteSelector"]
    assert exact[0]["exact"] == "seven to two"
    assert second["target"]["selector"][0]["exact"] == "cost too much"


def test_plain_comments_are_not_annotations(client: TestClient) -> None:
    post(client, body="no anchor")
    r = client.get("/api/v1/annotations", params={"uri": "/story"})
    assert r.json()["items"] == []
    assert client.get("/api/v1/annotations", params={"uri": "/nowhere"}).status_code == 200


def test_held_feedback_is_not_exported(make_client: Any) -> None:
    client = make_client(moderation="pre")
    post(client, body="held", anchor=quote("anything"))
    assert client.get("/api/v1/annotations", params={"uri": "/story"}).json()["items"] == []
