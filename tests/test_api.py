"""The JSON API through app.test_client: answers, every bad input, and the OpenAPI document."""
from __future__ import annotations

import json
import threading

import pytest

from pycodecomplete.engine import load_engine
from pycodecomplete.errors import PyccError
from webapp import create_app, engine_of

# ------------------------------------------------------------ a tiny JSON Schema checker --
# Enough of JSON Schema for our own OpenAPI document: type (or list of types), enum,
# required, properties, additionalProperties: false, items, min/max, lengths, $ref.

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, name):
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def check_schema(value, schema, document, path="$"):
    if "$ref" in schema:
        target = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return check_schema(value, target, document, path)
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        assert any(_type_ok(value, t) for t in types), f"{path}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(properties), f"{path}: extra keys {set(value) - set(properties)}"
        for key, sub in properties.items():
            if key in value:
                check_schema(value[key], sub, document, f"{path}.{key}")
    if isinstance(value, list):
        if "maxItems" in schema:
            assert len(value) <= schema["maxItems"], path
        for i, item in enumerate(value):
            check_schema(item, schema.get("items", {}), document, f"{path}[{i}]")
    if isinstance(value, str):
        assert len(value) >= schema.get("minLength", 0), path
        assert len(value) <= schema.get("maxLength", float("inf")), path
    if _type_ok(value, "number"):
        assert value >= schema.get("minimum", float("-inf")), path
        assert value <= schema.get("maximum", float("inf")), path


def response_schema(document, path, method, status):
    operation = document["paths"][path][method]
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]


def post(client, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/complete", data=data, content_type=content_type)


# ------------------------------------------------------------------------ answers --

def test_complete_answers_ranked_suggestions(client):
    response = post(client, {"text": "import o", "n": 4})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == "random-tiny"
    assert 1 <= len(body["suggestions"]) <= 4
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(s["text"], str) and s["text"] for s in body["suggestions"])
    assert body["elapsed_ms"] >= 0


def test_defaults_apply(client):
    body = post(client, {"text": "x = "}).get_json()
    assert len(body["suggestions"]) <= 5
    assert all(len(s["text"]) <= 40 for s in body["suggestions"])


def test_max_chars_limits_suggestions(client):
    body = post(client, {"text": "def f(x):\n    return ", "max_chars": 3}).get_json()
    assert all(1 <= len(s["text"]) <= 3 for s in body["suggestions"])


@pytest.mark.parametrize("text", [
    "caf\u00e9 = '\u2603'\n", "x = 1\x00\x07\x1b[31m", "\ud83d\ude00 emoji", "a\u2028b", "tab\tand\r\nCRLF ",
    "", "\x0b\x0c", "\\u0000 literal escape",
])
def test_non_ascii_and_control_characters_are_served(client, text):
    response = post(client, {"text": text})
    assert response.status_code == 200, response.get_json()
    assert isinstance(response.get_json()["suggestions"], list)


@pytest.mark.parametrize("body", [
    b'{"text": "x = \\ud800"}', b'{"text": "\\udfff"}', b'{"text": "a\\ud800\\ud800b", "document": "\\ud83d"}',
    b'{"text": "\\ude00\\ud83d", "n": 2}',
])
def test_lone_surrogate_escape_is_served(client, body):
    response = post(client, body)
    assert response.status_code == 200, response.data[:200]
    assert isinstance(response.get_json()["suggestions"], list)


@pytest.mark.parametrize("body, n", [(b'{"text": "x", "n": 5.0}', 5), (b'{"text": "x", "n": 2e0}', 2),
                                     (b'{"text": "x", "n": 1.0, "max_chars": 10.0}', 1)])
def test_whole_numbers_are_integers_as_the_schema_says(client, body, n):
    """OpenAPI 3.1 (JSON Schema 2020-12) counts 5.0 as an integer; so does the validator."""
    response = post(client, body)
    assert response.status_code == 200, response.data[:200]
    assert len(response.get_json()["suggestions"]) <= n


def test_document_requests_match_stateless_ones(client):
    text = "import os\n\ndef main(argv):\n    return os.path.join(argv[0], 'x')\n"
    for end in range(1, len(text), 4):
        with_doc = post(client, {"text": text[:end], "document": "doc-1"}).get_json()["suggestions"]
        without = post(client, {"text": text[:end]}).get_json()["suggestions"]
        assert [s["text"] for s in with_doc] == [s["text"] for s in without]


def test_concurrent_requests_for_one_document(app):
    fresh = load_engine(engine_of(app).artifact.path)
    text = "class Point:\n    def __init__(self, x, y):\n        self.x = x\n"
    prefixes = [text[:k] for k in range(1, len(text))]
    expected = {p: [s.text for s in fresh.complete(p)] for p in prefixes[::3]}
    failures = []

    def worker(offset):
        client = app.test_client()
        for p in list(expected)[offset::2] + list(expected)[::-1]:
            response = post(client, {"text": p, "document": "shared"})
            if response.status_code != 200 or [s["text"] for s in response.get_json()["suggestions"]] != expected[p]:
                failures.append(p)

    threads = [threading.Thread(target=worker, args=(k % 2,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_health_and_model(client):
    assert client.get("/api/health").get_json() == {"status": "ok", "model": "random-tiny"}
    model = client.get("/api/model").get_json()
    assert model["name"] == "random-tiny"
    assert model["config"]["lstm_layers"] == 2 and model["config"]["arch"] == "lstm"
    assert model["summary"]["note"] == "random weights for tests"
    assert "val_loss" in model["metrics"]
    assert model["engine"]["context"] == "document"


# ---------------------------------------------------------------------- bad input --

BAD_REQUESTS = [
    # body, content type, status
    (b'{"text": ', "application/json", 400),
    (b"", "application/json", 400),
    (b"{'text': 'x'}", "application/json", 400),
    (b'{"text": "x"} trailing', "application/json", 400),
    (b'{"text": "x"}', "text/plain", 415),
    (b'{"text": "x"}', "application/x-www-form-urlencoded", 415),
    (b'{"text": "x"}', "", 415),
    (b"[]", "application/json", 400),
    (b"null", "application/json", 400),
    (b'"text"', "application/json", 400),
    (b"{}", "application/json", 400),
    (b'{"text": 12}', "application/json", 400),
    (b'{"text": null}', "application/json", 400),
    (b'{"text": ["a"]}', "application/json", 400),
    (b'{"text": "x", "n": 0}', "application/json", 400),
    (b'{"text": "x", "n": 11}', "application/json", 400),
    (b'{"text": "x", "n": -3}', "application/json", 400),
    (b'{"text": "x", "n": "5"}', "application/json", 400),
    (b'{"text": "x", "n": 5.5}', "application/json", 400),
    (b'{"text": "x", "n": 1e300}', "application/json", 400),
    (b'{"text": "x", "n": true}', "application/json", 400),
    (b'{"text": "x", "n": null}', "application/json", 400),
    (b'{"text": "x", "n": 1e400}', "application/json", 400),
    (b'{"text": "x", "n": NaN}', "application/json", 400),
    (b'{"text": "x", "n": Infinity}', "application/json", 400),
    (b'{"text": "x", "max_chars": 0}', "application/json", 400),
    (b'{"text": "x", "max_chars": 201}', "application/json", 400),
    (b'{"text": "x", "max_chars": "ten"}', "application/json", 400),
    (b'{"text": "x", "document": 7}', "application/json", 400),
    (b'{"text": "x", "document": ""}', "application/json", 400),
    (b'{"text": "x", "document": "' + b"d" * 201 + b'"}', "application/json", 400),
    (b'{"text": "x", "cursor": 3}', "application/json", 400),
    (b'\xff\xfe{"text": "x"}', "application/json", 400),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 413),  # over MAX_CONTENT_LENGTH (64 KiB)
    (b"[" * 30_000 + b"]" * 30_000, "application/json", 400),  # nested too deeply
    (json.dumps({"text": "x" * 5001}).encode(), "application/json", 413),  # over MAX_TEXT_CHARS
    (json.dumps({"text": "x" * 70_000}).encode(), "application/json", 413),  # over MAX_CONTENT_LENGTH
]


@pytest.mark.parametrize("body, content_type, status", BAD_REQUESTS,
                         ids=[f"{i}-{s}" for i, (_, _, s) in enumerate(BAD_REQUESTS)])
def test_bad_input_is_a_json_4xx(client, body, content_type, status):
    response = post(client, body, content_type)
    assert response.status_code == status, response.data[:200]
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]


def test_limits_are_inclusive(client):
    assert post(client, {"text": "x" * 5000, "n": 10, "max_chars": 200}).status_code == 200
    assert post(client, {"text": "x", "n": 1, "max_chars": 1, "document": "d" * 200}).status_code == 200
    assert post(client, {"text": "x", "document": None}).status_code == 200


def test_other_routes_and_methods_answer_json(client):
    for response, status in [(client.get("/api/complete"), 405), (client.put("/api/health"), 405),
                             (client.get("/api/nothing"), 404), (client.get("/nothing"), 404)]:
        assert response.status_code == status
        assert "error" in response.get_json()


def test_json_content_type_with_charset_is_accepted(client):
    response = post(client, {"text": "x"}, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


# ------------------------------------------------------------------------ OpenAPI --

def test_openapi_document_is_true_to_behaviour(app, client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    check_schema(document, response_schema(document, "/api/openapi.json", "get", 200), document)

    # Every documented path exists with its methods, and every /api route is documented.
    routes = {r.rule: r.methods - {"HEAD", "OPTIONS"} for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert {p: {m.upper() for m in ops} for p, ops in document["paths"].items()} == routes

    # Real answers match their schemas.
    answer = post(client, {"text": "import o", "n": 3, "document": "d"}).get_json()
    check_schema(answer, response_schema(document, "/api/complete", "post", 200), document)
    check_schema(client.get("/api/health").get_json(), response_schema(document, "/api/health", "get", 200), document)
    check_schema(client.get("/api/model").get_json(), response_schema(document, "/api/model", "get", 200), document)

    # Documented errors are what the API answers, in the documented shape.
    for body, content_type, status in BAD_REQUESTS:
        response = post(client, body, content_type)
        assert str(response.status_code) in document["paths"]["/api/complete"]["post"]["responses"]
        check_schema(response.get_json(), response_schema(document, "/api/complete", "post", response.status_code),
                     document)

    # The request schema's limits are the validator's limits, and valid requests pass.
    request_schema = document["components"]["schemas"]["CompleteRequest"]
    fields = request_schema["properties"]
    assert request_schema["required"] == ["text"]
    assert fields["text"]["maxLength"] == 5000
    for name in ("n", "max_chars"):
        low, high = fields[name]["minimum"], fields[name]["maximum"]
        assert post(client, {"text": "x", name: low}).status_code == 200
        assert post(client, {"text": "x", name: high}).status_code == 200
        assert post(client, {"text": "x", name: low - 1}).status_code == 400
        assert post(client, {"text": "x", name: high + 1}).status_code == 400
    assert fields["n"]["default"] == 5 and fields["max_chars"]["default"] == 40
    assert len(post(client, {"text": "x = ", "n": 10}).get_json()["suggestions"]) <= 10
    for example in ({"text": "x"}, {"text": "x", "n": 2, "max_chars": 7, "document": "a"}):
        check_schema(example, request_schema, document)
        assert post(client, example).status_code == 200


# -------------------------------------------------------------------- app factory --

def test_factory_reads_prefixed_environment(monkeypatch, random_model_dir):
    monkeypatch.setenv("PYCC_MODEL_DIR", str(random_model_dir))
    monkeypatch.setenv("PYCC_MAX_TEXT_CHARS", "10")
    monkeypatch.setenv("PYCC_ENGINE_SETTINGS", '{"beam_width": 7}')
    app = create_app()
    assert app.config["MAX_TEXT_CHARS"] == 10
    assert engine_of(app).settings.beam_width == 7
    assert post(app.test_client(), {"text": "x" * 11}).status_code == 413
    assert create_app({"MAX_TEXT_CHARS": 99}).config["MAX_TEXT_CHARS"] == 99  # test_config wins


def test_factory_loads_an_engine_from_a_factory_string():
    app = create_app({"ENGINE_FACTORY": "stub_engine:create_engine"})
    body = post(app.test_client(), {"text": "x"}).get_json()
    assert body["model"] == "stub-model"
    assert body["suggestions"][0]["text"] == "<img src=x onerror=alert(1)>"


def test_factory_refuses_a_missing_model(tmp_path):
    with pytest.raises(PyccError, match="does not exist"):
        create_app({"MODEL_DIR": str(tmp_path / "absent")})


def test_editor_page(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "random-tiny" in html and 'id="editor"' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in ("vendor/jquery/jquery.min.js", "vendor/at.js/jquery.atwho.min.js",
                  "vendor/jquery.caret/jquery.caret.min.js", "vendor/at.js/jquery.atwho.min.css",
                  "editor.js", "editor.css"):
        assert f"/static/{asset}" in html
        assert client.get(f"/static/{asset}").status_code == 200


def test_vendored_libraries_carry_their_licenses():
    from pathlib import Path

    import webapp

    vendor = Path(webapp.__file__).parent / "static" / "vendor"
    for library, license_file in (("jquery", "LICENSE.txt"), ("at.js", "LICENSE-MIT"),
                                  ("jquery.caret", "LICENSE-MIT")):
        assert "Permission is hereby granted" in (vendor / library / license_file).read_text()


# ------------------------------------------------------------------ suffix and project files --

def test_the_suffix_is_never_repeated_and_is_documented(client):
    answer = post(client, {"text": "print(os.path.join(a", "suffix": "))\n", "n": 10})
    assert answer.status_code == 200
    from pycodecomplete.engine.suffix import repeats_suffix

    texts = [s["text"] for s in answer.get_json()["suggestions"]]
    assert not any(repeats_suffix(t, "print(os.path.join(a", "))\n") for t in texts)
    request = client.get("/api/openapi.json").get_json()["components"]["schemas"]["CompleteRequest"]["properties"]
    assert request["suffix"]["type"] == "string" and request["files"]["anyOf"][0]["type"] == "array"


@pytest.mark.parametrize("body, status, message", [
    ({"text": "x", "suffix": 3}, 400, "suffix"),
    ({"text": "x", "suffix": None}, 400, "suffix"),
    ({"text": "x" * 3000, "suffix": "y" * 2001}, 413, "together"),  # each fits the 5000 limit, not both
    ({"text": "x", "suffix": "y" * 5001}, 413, "suffix"),
    ({"text": "x", "files": "not a list"}, 400, "files"),
    ({"text": "x", "files": [1]}, 400, "files"),
    ({"text": "x", "files": ["a"] * 17}, 413, "files"),
    ({"text": "x", "files": ["y" * 5000] * 5}, 413, "together"),
])
def test_suffix_and_files_bad_input(client, body, status, message):
    answer = post(client, body)
    assert answer.status_code == status, answer.get_json()
    assert message in answer.get_json()["error"]


def test_identifiers_of_project_files_are_offered(client):
    text = "import helpers\nvalue = helpers.compu"
    files = ["def compute_everything(x):\n    return x\n"]
    answer = post(client, {"text": text, "files": files, "n": 5})
    assert answer.status_code == 200
    assert "te_everything" in [s["text"] for s in answer.get_json()["suggestions"]]
