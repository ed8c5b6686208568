"""The API's requests and answers as pydantic models: one definition validates and documents.

Why pydantic, and not spectree, flask-openapi3 or APIFlask: those three wrap
pydantic (or marshmallow) in their own request hooks and error answers (a 422
with a list of errors), while this API promises ``{"error": "..."}`` with the
right 4xx and keeps its own views. pydantic alone gives both halves from the
same classes: `model_validate` checks a request, and `model_json_schema` writes
JSON Schema 2020-12, which is OpenAPI 3.1's schema dialect, so `webapp.openapi`
puts the generated schemas into the document unchanged. One dependency, and no
hand-written table that can drift from the validator (it did: the old validator
refused ``"n": 5.0``, which the schema's ``integer`` admits).

Conventions kept from before: JSON numbers that are whole (``5.0``) are integers,
as JSON Schema says; booleans and strings are not numbers (strict mode);
unknown fields are refused by name; a `text` over the limit is 413. Lone
surrogates in strings (``"\\ud800"``) become U+FFFD before validation, as the
engine itself would make them (`engine.base.clean_text`): pydantic refuses them
as invalid Unicode, and they are served, not refused.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from werkzeug.exceptions import HTTPException

from pycodecomplete.engine.base import replace_surrogates
from pycodecomplete.engine.request import MAX_CHARS_RANGE, N_RANGE

DOCUMENT_ID_CHARS = 200
MAX_EVENTS = 100  # events per POST /api/events
MAX_DEADLINE_MS = 60_000  # the largest request budget when the server sets none


MAX_FILES = 16  # project files one request may send
MAX_FILES_FACTOR = 4  # their characters together, in text limits


def check_sizes(args, max_text_chars: int) -> None:
    """The limits that span fields: `text` and `suffix` together, and all `files` together (413)."""
    if len(args.text) + len(args.suffix) > max_text_chars:
        raise ApiError(413, f"'text' and 'suffix' have {len(args.text) + len(args.suffix)} characters together; "
                            f"the limit is {max_text_chars}")
    total = sum(len(f) for f in args.files or ())
    if total > MAX_FILES_FACTOR * max_text_chars:
        raise ApiError(413, f"'files' have {total} characters together; the limit is {MAX_FILES_FACTOR * max_text_chars}")


class ApiError(HTTPException):
    """A refusal with a status and a message: the app's handler answers it as ``{"error": message}``."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(description=message)
        self.code = code
        self.extra_headers = headers or {}


def _whole(value):
    """A whole JSON number (``5.0``) is an integer (JSON Schema 2020-12, section 6.1.1 of the validation spec)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _valid_unicode(value):
    return replace_surrogates(value) if isinstance(value, str) else value


def whole(low: int, high: int):
    """An integer from `low` to `high` (the bounds first, so the schema shows them as minimum and maximum)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole)]


Text = Annotated[str, BeforeValidator(_valid_unicode)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


def complete_request_model(max_text_chars: int, default_max_chars: int, max_deadline_ms: int | None):
    """The CompleteRequest model for this server's limits (they come from its config and engine)."""
    return create_model(
        "CompleteRequest", __base__=_Strict,
        text=(Annotated[Text, Field(max_length=max_text_chars, description=(
            "The code before the cursor. Any Unicode is accepted; characters outside the model's vocabulary "
            "are mapped to close ASCII ones, and lone surrogates to U+FFFD."))], ...),
        n=(whole(*N_RANGE), Field(5, description="How many suggestions to return at most.")),
        max_chars=(whole(*MAX_CHARS_RANGE), Field(default_max_chars, description="Longest suggestion, in characters.")),
        document=(Annotated[Text, Field(min_length=1, max_length=DOCUMENT_ID_CHARS)] | None, Field(
            None, description="An id for the document being edited. Requests with the same id reuse the model "
                              "state of the previous text, so only new characters are computed.")),
        suffix=(Annotated[Text, Field(max_length=max_text_chars, description=(
            "The code after the cursor. Suggestions never repeat it; a model trained for fill-in-the-middle "
            "also reads it. Counted with `text` against the text limit (413 beyond)."))], ""),
        files=(Annotated[list[Annotated[Text, Field(max_length=max_text_chars)]], Field(max_length=MAX_FILES)] | None,
               Field(None, description=(
                   f"Other files of the same project (at most {MAX_FILES}, {MAX_FILES_FACTOR} times the text limit "
                   "in all): their identifiers are offered too, below the document's own (413 beyond)."))),
        deadline_ms=(whole(1, max_deadline_ms or MAX_DEADLINE_MS) | None, Field(None, description=(
            "A time budget for this request in ms, at most the server's own. When it runs out the answer "
            "holds the best suggestions found so far, and `cut` says what was cut."))),
    )


class Suggestion(_Answer):
    text: str = Field(min_length=1, description="Text to insert at the cursor")
    score: float = Field(ge=0, le=1, description="The model's probability of this continuation")


class CompleteResponse(_Answer):
    suggestions: list[Suggestion] = Field(max_length=N_RANGE[1])
    model: str
    elapsed_ms: float = Field(ge=0, description="Time spent in the server on this request")
    budget_ms: float | None = Field(description="The time budget this request had (null: none)")
    cut: Literal["read", "search"] | None = Field(description=(
        "What the budget cut short: `read` (a long document not read to the end yet; the answer comes from its "
        "last 100 characters, and the next request of the same document continues the reading), `search` "
        "(the best suggestions found in time), or null"))


class Health(_Answer):
    status: Literal["ok"]
    model: str


class ModelInfo(BaseModel):
    """The served model. Host paths and the platform string are left out unless the operator asks."""

    model_config = ConfigDict(extra="allow")
    name: str
    family: str | None = None
    format_version: int | None = None
    config: dict[str, Any] | None = Field(None, description="The training config (architecture)")
    vocabulary: dict[str, Any] | None = None
    summary: dict[str, Any] | None = Field(None, description="Training summary, without host paths")
    metrics: dict[str, Any] | None = Field(None, description="Evaluation metrics")
    engine: dict[str, Any] = Field(description="Completion engine settings")


class Event(_Strict):
    kind: Literal["shown", "accepted", "dismissed"] = Field(description=(
        "`shown`: suggestions were shown; `accepted`: one of them was inserted; `dismissed`: they were "
        "closed without one"))
    model: Annotated[Text, Field(min_length=1, max_length=200, description="The model that made the suggestions")]
    rank: whole(0, N_RANGE[1] - 1) | None = Field(
        None, description="Place of the accepted suggestion in the list (0: the first)")
    length: whole(0, MAX_CHARS_RANGE[1]) = Field(description=(
        "Characters of the accepted suggestion; for `shown` and `dismissed`, of the first one"))
    latency_ms: float = Field(ge=0, le=600_000, description="Time from the keystroke to the suggestions shown")
    source: Literal["editor", "lsp", "api"] = Field("api", description="What sent the event")


class EventsRequest(_Strict):
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS, description=(
        "What happened to suggestions. Never code: only kinds, ranks, lengths, latencies and model names."))


class EventsResponse(_Answer):
    recorded: int = Field(ge=0, description="Events queued for the database (written in batches)")


class Error(_Answer):
    error: str


def validate(model: type[BaseModel], body: dict) -> BaseModel:
    """`body` as `model`, or an `ApiError` with one clear message (413 for a `text` over its limit)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _api_error(model, body, exc.errors(include_url=False)) from None


def _api_error(model, body: dict, errors: list[dict]) -> ApiError:
    unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    if unknown:
        known = ", ".join(model.model_fields)
        return ApiError(400, f"unknown field(s): {', '.join(unknown)} (known: {known})")
    error = errors[0]
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return ApiError(400, f"'{where}' is required")
    if error["type"] in ("string_too_long", "too_long") and error["loc"] == ("text",):
        limit = error.get("ctx", {}).get("max_length")
        return ApiError(413, f"'text' has {len(body.get('text', ''))} characters; the limit is {limit}")
    if error["type"] in ("string_too_long", "too_long") and error["loc"][:1] in (("suffix",), ("files",)):
        limit = error.get("ctx", {}).get("max_length")
        return ApiError(413, f"'{where}' is over its limit of {limit}")
    if error["type"] == "extra_forbidden":
        return ApiError(400, f"'{where}' is not a known field")
    return ApiError(400, f"'{where}': {error['msg']}")
