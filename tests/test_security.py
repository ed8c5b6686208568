"""Fit to expose: tokens, the Host check, what /api/model shows, rate limits, bad text, and a real
gunicorn against slow clients, chunked bodies and requests it cannot parse (every answer JSON).

Each probe finding of issue 15 is a test here that failed before its fix: the GPT-2 500 on a lone
surrogate, four slow clients stalling a worker, chunked bodies past the 2 MB limit, host paths in
/api/model, any Host accepted, and gunicorn's HTML 414/431.
"""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from _serving import ROOT, free_port, raw_request, start_server, stop_server
from webapp import create_app

TOKEN, OTHER = "t0ken-for-tests-0123456789", "another-token-abcdefghijk"


def post(client, body, headers=None):
    return client.post("/api/complete", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guarded(random_model_dir):
    return create_app({"TESTING": True, "MODEL_DIR": str(random_model_dir), "API_TOKENS": [TOKEN, OTHER],
                       "RATE_LIMIT": "off"}).test_client()


# ------------------------------------------------------------------------- tokens --

def test_guarded_endpoints_need_a_token(guarded):
    for method, path in (("post", "/api/complete"), ("get", "/api/model"), ("get", "/metrics")):
        response = getattr(guarded, method)(path, json={"text": "x"} if method == "post" else None)
        assert response.status_code == 401, path
        assert response.is_json and set(response.get_json()) == {"error"}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="pycc"'
    assert guarded.get("/api/health").status_code == 200  # stays open
    assert guarded.get("/api/openapi.json").status_code == 200
    assert guarded.get("/").status_code == 200  # the page asks for the token


def test_a_wrong_token_is_refused_and_never_echoed(guarded):
    for header in ("Bearer not-a-token-of-ours-xyz", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}",
                   TOKEN, "Bearer", "Bearer  "):
        response = post(guarded, {"text": "x"}, {"Authorization": header})
        assert response.status_code == 401, header
        assert "invalid_token" in response.headers["WWW-Authenticate"]
        assert TOKEN[:10] not in response.get_data(as_text=True) and "not-a-token" not in response.get_data(as_text=True)


def test_the_right_tokens_pass(guarded):
    for token in (TOKEN, OTHER):
        assert post(guarded, {"text": "import o"}, bearer(token)).status_code == 200
        assert guarded.get("/api/model", headers=bearer(token)).status_code == 200
    assert post(guarded, {"text": "x"}, {"Authorization": f"bearer {TOKEN}"}).status_code == 200  # scheme: any case


def test_only_digests_of_tokens_stay_in_the_app(random_model_dir):
    app = create_app({"MODEL_DIR": str(random_model_dir), "API_TOKENS": [TOKEN]})
    assert app.config["API_TOKENS"] is None
    assert TOKEN not in repr(vars(app.extensions["pycodecomplete.auth"]))


def test_openapi_declares_the_bearer_scheme_and_401(guarded):
    document = guarded.get("/api/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert "401" in document["paths"]["/api/complete"]["post"]["responses"]
    assert document["paths"]["/api/health"]["get"]["security"] == []


# --------------------------------------------------------------------------- hosts --

@pytest.mark.parametrize("host, status", [
    ("localhost", 200), ("localhost:5000", 200), ("127.0.0.1:5000", 200), ("[::1]:5000", 200), ("LocalHost", 200),
    ("evil.example", 400), ("evil.example:5000", 400), ("127.0.0.1.evil.example", 400), ("localhost.", 200),
    ("", 400), ("a b", 400),
])
def test_the_host_header_must_name_this_server(client, host, status):
    response = client.get("/api/health", headers={"Host": host})
    assert response.status_code == status, host
    assert response.is_json
    if status == 400:
        assert "pycc serve --allowed-host" in response.get_json()["error"]


def test_allowed_hosts_are_configurable(random_model_dir):
    app = create_app({"MODEL_DIR": str(random_model_dir), "ALLOWED_HOSTS": ["code.example.org", ".team.example"]})
    client = app.test_client()
    assert client.get("/api/health", headers={"Host": "code.example.org"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "a.team.example:8080"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 400
    anyone = create_app({"MODEL_DIR": str(random_model_dir), "ALLOWED_HOSTS": None}).test_client()
    assert anyone.get("/api/health", headers={"Host": "whatever.example"}).status_code == 200


# ------------------------------------------------------------------ /api/model --

def test_model_info_shows_names_not_host_paths(make_random_model_dir):
    from pycodecomplete.artifact import write_json_atomic

    path = make_random_model_dir(name="secretive")
    write_json_atomic(path / "summary.json", {
        "corpus": {"roots": ["stdlib", str(path.parent / "home" / "alice" / "work-code")], "files": 3},
        "hardware": {"platform": "Linux-6.1-x86_64-with-glibc2.36", "python": "3.11.7", "keras": "3.15.1"},
        "validation_files": ["/srv/data/clones/a/b.py"], "steps": 5})
    model = create_app({"MODEL_DIR": str(path)}).test_client().get("/api/model").get_json()
    text = json.dumps(model)
    assert str(path) not in text and "/home/alice" not in text and "/srv/data" not in text
    assert "Linux-6.1" not in text and "path" not in model
    assert model["name"] == "secretive" and model["summary"]["hardware"]["python"] == "3.11.7"
    assert model["summary"]["corpus"]["roots"] == ["stdlib", "work-code"]
    exposed = create_app({"MODEL_DIR": str(path), "EXPOSE_MODEL_PATHS": True}).test_client().get("/api/model")
    assert exposed.get_json()["path"] == str(path) and "Linux-6.1" in exposed.get_data(as_text=True)


# -------------------------------------------------------------------- rate limits --

def test_rate_limit_answers_json_429_with_retry_after(random_model_dir):
    app = create_app({"MODEL_DIR": str(random_model_dir), "RATE_LIMIT": "3 per minute", "API_TOKENS": [TOKEN, OTHER]})
    client = app.test_client()
    for _ in range(3):
        assert post(client, {"text": "x"}, bearer(TOKEN)).status_code == 200
    refused = post(client, {"text": "x"}, bearer(TOKEN))
    assert refused.status_code == 429 and set(refused.get_json()) == {"error"}
    assert "3 per 1 minute" in refused.get_json()["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert post(client, {"text": "x"}, bearer(OTHER)).status_code == 200  # per token
    assert client.get("/api/health").status_code == 200  # never limited
    for _ in range(5):  # guessing tokens is limited per address
        client.get("/api/model", headers=bearer("guessing-a-token-0000000"))
    assert client.get("/api/model", headers=bearer("guessing-a-token-0000000")).status_code == 429


def test_rate_limit_per_address_without_tokens(random_model_dir):
    client = create_app({"MODEL_DIR": str(random_model_dir), "RATE_LIMIT": "2 per minute"}).test_client()
    statuses = [post(client, {"text": "x"}).status_code for _ in range(3)]
    other = post(client, {"text": "x"}, {"X-Forwarded-For": "10.9.9.9"})  # not trusted: same address
    assert statuses == [200, 200, 429] and other.status_code == 429
    elsewhere = client.post("/api/complete", json={"text": "x"}, environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert elsewhere.status_code == 200


# --------------------------------------------------------------------- bad input --

def test_a_chunked_body_over_the_limit_is_refused(client):
    """Werkzeug cut such a stream at MAX_CONTENT_LENGTH (64 KiB here) and the rest parsed: 200 before."""
    body = b'{"text": "import o"}' + b" " * (100 * 1024)
    response = client.post("/api/complete", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and "error" in response.get_json()
    small = client.post("/api/complete", input_stream=io.BytesIO(b'{"text": "import o"}'),
                        content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                        environ_overrides={"wsgi.input_terminated": True})
    assert small.status_code == 200


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory, tokenizer):
    from _gpt import write_random_gpt_dir

    return write_random_gpt_dir(tmp_path_factory.mktemp("gpt"), tokenizer)


@pytest.mark.parametrize("raw", [b'{"text": "x = \\ud800"}', b'{"text": "\\udfff\\ud800 = 1\\n"}',
                                 b'{"text": "s = \'\\ud83d", "document": "d"}'])
def test_a_lone_surrogate_is_served_by_the_gpt_family(gpt_dir, raw):
    client = create_app({"MODEL_DIR": str(gpt_dir), "RATE_LIMIT": "off"}).test_client()
    response = client.post("/api/complete", data=raw, content_type="application/json")
    assert response.status_code == 200, response.data[:300]
    assert isinstance(response.get_json()["suggestions"], list)


def test_both_engines_take_lone_surrogates_where_text_enters(gpt_dir, random_model_dir):
    from pycodecomplete.engine import load_engine

    for path in (gpt_dir, random_model_dir):
        engine = load_engine(path)
        assert isinstance(engine.complete("x = '\ud800", n=2), list)
        assert isinstance(engine.complete("\udfffdef f(", n=2, document="d"), list)
        assert isinstance("".join(engine.generate("import \ud800", chars=5, seed=1)), str)
    lstm = load_engine(random_model_dir)
    assert lstm.complete("a = '\ud800") == lstm.complete("a = '\ufffd")  # the same unknown character as before


# -------------------------------------------------------------------- pycc serve --

def pycc(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "pycodecomplete", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_serving_other_machines_without_a_token_is_refused(random_model_dir):
    result = pycc("serve", "--model", random_model_dir, "--host", "0.0.0.0", "--port", free_port())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--token-file" in lines[0] and "--allow-no-token" in lines[0]


@pytest.mark.parametrize("content, message", [("short-token\n", "shorter than 16"), ("\n# none\n", "holds no token"),
                                              ("has a space in it here\n", "without spaces")])
def test_bad_token_files_are_one_clear_line(tmp_path, random_model_dir, content, message):
    path = tmp_path / "tokens"
    path.write_text(content)
    result = pycc("serve", "--model", random_model_dir, "--token-file", path, "--port", free_port())
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert "short-token" not in result.stderr and "has a space" not in result.stderr  # never shown


@pytest.fixture(scope="module")
def server(random_model_dir):
    """One worker of four threads, as the probe ran it; telemetry off."""
    process, base = start_server(["--model", random_model_dir, "--workers", 1, "--threads", 4, "--no-telemetry",
                                  "--rate-limit", "off"])
    yield base
    stop_server(process)


@pytest.mark.slow
def test_slow_clients_do_not_stall_the_server(server):
    """Eight connections send their bodies a byte every 0.3 s for 8 s; every other request is still
    answered at once. On the old gthread setup the slow ones held all four threads, and requests timed out."""
    port = int(server.rsplit(":", 1)[1])
    stop = time.monotonic() + 8
    opened = threading.Barrier(9)

    def slow_client():
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /api/complete HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{")
            opened.wait()
            while time.monotonic() < stop:
                sock.sendall(b" ")
                time.sleep(0.3)

    slow = [threading.Thread(target=slow_client, daemon=True) for _ in range(8)]
    for thread in slow:
        thread.start()
    opened.wait()
    time.sleep(0.5)
    latencies = []
    while time.monotonic() < stop - 1:
        started = time.monotonic()
        answer = requests.post(f"{server}/api/complete", json={"text": "def f(x"}, timeout=2)
        latencies.append(time.monotonic() - started)
        assert answer.status_code == 200
        time.sleep(0.2)
    for thread in slow:
        thread.join(timeout=10)
    assert len(latencies) >= 10 and max(latencies) < 1.0, latencies


@pytest.mark.slow
def test_a_chunked_body_over_2_mb_gets_413_json_from_the_server(server):
    def body():  # valid JSON, then 3 MB of spaces: cut at 2 MiB it still parsed, and was answered 200
        yield b'{"text": "import o"}'
        for _ in range(30):
            yield b" " * 100_000

    response = requests.post(f"{server}/api/complete", data=body(), headers={"Content-Type": "application/json"},
                             timeout=30)
    assert response.status_code == 413 and response.json()["error"].startswith("request body is larger")
    small = requests.post(f"{server}/api/complete", data=iter([b'{"text": ', b'"import o"}']),
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert small.status_code == 200 and small.json()["suggestions"]


@pytest.mark.slow
@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /api/health?" + b"q" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
    (b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
    (b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
     431),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400),
    (b"POST /api/complete HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n"
     b"\r\n{", 413),
])
def test_every_refusal_from_the_server_is_json(server, request_bytes, status):
    got, headers, body = raw_request(server, request_bytes)
    assert got == status, body[:200]
    assert headers["content-type"].startswith("application/json")
    assert isinstance(json.loads(body)["error"], str)


def test_the_cli_and_the_app_share_their_defaults():
    """The CLI imports only the standard library, so it restates two defaults of the app."""
    from pycodecomplete.cli import exposure
    from webapp import DEFAULTS
    from webapp.limits import DEFAULT_RATE_LIMIT

    assert exposure.DEFAULT_RATE_LIMIT == DEFAULT_RATE_LIMIT
    assert exposure.DEFAULT_DEADLINE_MS == DEFAULTS["DEADLINE_MS"]


def test_serve_flags_pick_hosts_and_limits(tmp_path):
    import socket as sock

    from pycodecomplete.cli import build_parser
    from pycodecomplete.cli.exposure import exposure_config

    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")
    parse = build_parser().parse_args
    local = exposure_config(parse(["serve", "--no-telemetry"]))
    assert local["ALLOWED_HOSTS"] == ["127.0.0.1", "::1", "localhost"] and local["RATE_LIMIT"] == "off"
    shared = exposure_config(parse(["serve", "--no-telemetry", "--host", "0.0.0.0", "--token-file", str(tokens),
                                    "--allowed-host", "code.example.org"]))
    assert {sock.gethostname(), "127.0.0.1", "code.example.org"} <= set(shared["ALLOWED_HOSTS"])
    assert shared["RATE_LIMIT"] == "50 per second; 1500 per minute" and shared["API_TOKENS"] == [TOKEN]
    assert exposure_config(parse(["serve", "--no-telemetry", "--allowed-host", "*"]))["ALLOWED_HOSTS"] is None
    assert exposure_config(parse(["serve", "--no-telemetry", "--host", "10.1.2.3", "--allow-no-token",
                                  "--rate-limit", "5 per second"]))["RATE_LIMIT"] == "5 per second"
