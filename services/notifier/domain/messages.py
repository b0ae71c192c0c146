"""What a contact says: the message rendered from the step's template for one debtor."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,  # packaged templates: compiled once per process, no stat per message
)


class UnknownTemplate(LookupError):
    pass


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


@lru_cache(maxsize=256)
def _compiled(template: str) -> Template:
    """The compiled template (jinja's own cache still takes a lock and builds a key per lookup)."""
    try:
        return _env.get_template(f"{template}.j2")
    except TemplateNotFound as exc:
        raise UnknownTemplate(f"no template {template!r} in {TEMPLATES}") from exc


def render(template: str, context: dict[str, object]) -> Message:
    """Render ``templates/<template>.j2``; its first line is ``Asunto: ...`` (the subject)."""
    text = _compiled(template).render(context)
    first, _, rest = text.partition("\n")
    if first.lower().startswith("asunto:"):
        return Message(first.split(":", 1)[1].strip(), rest.lstrip("\n"))
    return Message("Información sobre su cuenta", text)
