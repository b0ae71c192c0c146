"""The dashboard's login: a form taking an API key or a bearer token (OIDC access token), kept in
an HttpOnly, SameSite=Strict cookie that the dashboard's pages (GET) accept like the header.

The credential is checked before it is stored (an unknown, revoked or expired one is refused on the
form), and so is the role: only roles that may see ``/dashboard`` get the cookie.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from libs.auth.guard import COOKIE, Authenticator
from libs.auth.policy import roles_for
from libs.runtime.context import ServiceContext

DASHBOARD = "/dashboard"
SESSION_SECONDS = 8 * 3600
"""A working day; a JWT's own expiry still applies (the cookie only carries it)."""

_templates = Environment(
    loader=FileSystemLoader(FilePath(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(default=True),
)

NextPath = Annotated[str, Query(max_length=200)]


def _safe_next(value: str) -> str:
    """Only a local dashboard path (no open redirect to another site)."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else DASHBOARD


def _form(error: str | None, next_path: str, status: int) -> HTMLResponse:
    page = _templates.get_template("login.html").render(error=error, next=_safe_next(next_path))
    return HTMLResponse(page, status_code=status)


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["dashboard"])

    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(next: NextPath = DASHBOARD) -> HTMLResponse:
        return _form(None, next, 200)

    @api.post("/login", include_in_schema=False)
    def login(
        request: Request,
        credential: Annotated[str, Form(min_length=1, max_length=8192)],
        next: Annotated[str, Form(max_length=200)] = DASHBOARD,
    ) -> Response:
        authenticator: Authenticator = request.app.state.authenticator
        token = credential.strip()
        principal = authenticator.authenticate(token)
        if principal is None:
            return _form("La credencial no es válida (desconocida, revocada o vencida).", next, 401)
        allowed = roles_for("GET", DASHBOARD) or frozenset()
        if not principal.roles & allowed:
            return _form("Esta credencial no tiene un rol que pueda ver el tablero.", next, 403)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @api.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return api
