"""What a contact says: the message rendered from the step's template for one debtor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class UnknownTemplate(LookupError):
    pass


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def render(template: str, context: dict[str, object]) -> Message:
    """Render ``templates/<template>.j2``; its first line is ``Asunto: ...`` (the subject)."""
    try:
        text = _env.get_template(f"{template}.j2").render(**context)
    except TemplateNotFound as exc:
        raise UnknownTemplate(f"no template {template!r} in {TEMPLATES}") from exc
    first, _, rest = text.partition("\n")
    if first.lower().startswith("asunto:"):
        return Message(first.split(":", 1)[1].strip(), rest.lstrip("\n"))
    return Message("Información sobre su cuenta", text)
