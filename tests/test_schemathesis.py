"""schemathesis against a live `pycc serve` and its own /api/openapi.json, for both model families.

Every check schemathesis has (`--checks all`): no 5xx, status codes, content types, headers and bodies
as documented, invalid data refused, valid data accepted, and the token guarding what it should (the
LSTM server runs with a token file, the GPT-2 one without). 413 counts as refusing invalid data: the
API answers it for a `text` over `maxLength`, as documented. Examples per operation are kept small for
CI's time (its coverage phase adds the boundary cases of every field on top); the probe ran 3,600 and
900 cases without a failure.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _serving import start_server, stop_server

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token-0123456789"
CONFIG = """\
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
"""


@pytest.fixture(params=["lstm", "gpt2"])
def live_server(request, tmp_path, random_model_dir, tokenizer):
    args = ["--workers", 1, "--rate-limit", "off", "--db", f"sqlite:///{tmp_path / 'events.sqlite'}"]
    headers = []
    if request.param == "lstm":
        (tmp_path / "tokens").write_text(TOKEN + "\n")
        args += ["--model", random_model_dir, "--token-file", tmp_path / "tokens"]
        headers = ["-H", f"Authorization: Bearer {TOKEN}"]
    else:
        from _gpt import write_random_gpt_dir

        args += ["--model", write_random_gpt_dir(tmp_path / "gpt", tokenizer)]
    process, base = start_server(args)
    yield base, headers
    output = stop_server(process)
    assert "Traceback" not in output, output


def test_schemathesis_finds_nothing(live_server, tmp_path):
    base, headers = live_server
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    st = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(st), "--config-file", str(tmp_path / "schemathesis.toml"), "run", f"{base}/api/openapi.json",
         "--checks", "all", "--max-examples", "25", "--seed", "15", "--generation-database", "none",
         "--no-color", "--request-timeout", "10", "--report", "ndjson", "--report-ndjson-path",
         str(tmp_path / "report.ndjson"), *headers],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
    report = (tmp_path / "report.ndjson").read_text()
    for operation in ("POST /api/complete", "POST /api/events", "GET /api/model", "GET /api/health"):
        assert f'"label":"{operation}"' in report.replace('": "', '":"'), operation
