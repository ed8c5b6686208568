"""The editor page blueprint: a code textarea with at.js completions (see static/editor.js)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for

from webapp.events import recorder_of
from webapp.extensions import engine_of
from webapp.security import auth_required

bp = Blueprint("editor", __name__)


@bp.get("/")
def index():
    config = current_app.config
    return render_template(
        "editor.html",
        model_name=engine_of(current_app).name,
        api_url=url_for("api.complete"),
        debounce_ms=int(config["EDITOR_DEBOUNCE_MS"]),
        suggestions=int(config["EDITOR_SUGGESTIONS"]),
        auth_required=auth_required(current_app),
        events_url=url_for("telemetry.events") if recorder_of(current_app) is not None else None,
    )
