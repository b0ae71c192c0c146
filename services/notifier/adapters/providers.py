"""Delivery providers per channel.

File-based defaults (an e-mail outbox of ``.eml`` files, an SMS/WhatsApp log,
PDF letters) touch only the local disk, so they run inline in the handler's
transaction (``inline = True``). Each is idempotent by contact id, so a batch
replayed after a crash between the write and the commit sends nothing twice: the
``.eml`` and PDF files are named by contact id (a replay rewrites the same file),
and the message log skips a contact id already in its tail (``_SentIndex``). A handler
hands an inline provider the whole batch (``deliver_many``): a folder is made once, the
message log is opened, read and appended once per tenant. Contact ids are unique per tenant only, so every
file lives under its tenant's root (``tenant_root``). Network providers (SMTP, HTTP) are
``inline = False``: the handler marks the task ``ready`` and the dispatcher
sends it outside any database transaction (``service_layer/dispatch.py``).
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import httpx
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import cm
from reportlab.pdfgen import canvas

from libs.events.payloads.contacts import ContactStatus
from libs.runtime.http import DEFAULT_TENANT
from services.notifier.config import NotifierSettings
from services.notifier.domain.messages import Message


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Delivery:
    contact_id: str
    account_id: str
    channel: str
    recipient: Recipient
    message: Message
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class DeliveryResult:
    status: ContactStatus
    provider: str
    detail: str | None = None
    artifact: str | None = None


class Provider(Protocol):
    name: str
    inline: bool

    def deliver(self, delivery: Delivery) -> DeliveryResult: ...

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """``deliver`` for a batch, results in order (what the handler's transaction calls)."""
        ...


def _safe(contact_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in contact_id)


def tenant_root(root: Path, tenant: str) -> Path:
    """Where a tenant's files go: the default tenant keeps the documented layout, others a subtree."""
    return root if tenant == DEFAULT_TENANT else root / "tenants" / _safe(tenant)


def _header(value: str) -> str:
    """One header value on one line; RFC 2047-encoded when it is not ASCII."""
    if value.isascii() and value.isprintable():
        return value  # contact ids, tenants, most subjects: nothing to fold or encode
    return _encoded_header(value)


@lru_cache(maxsize=4096)
def _encoded_header(value: str) -> str:
    """The slow path of ``_header``, cached: the same few subjects come back for every debtor."""
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8").encode()


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_BARE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
"""An ASCII addr-spec with no display name, comment or quoting: what the customer master holds for
almost every debtor, and what ``parseaddr`` gives back unchanged."""


def _address(value: str) -> str:
    """An address header value: a bare address as it is, anything else through ``email.utils``."""
    if _BARE_ADDRESS.fullmatch(value):
        return value
    return _parsed_address(value)


@lru_cache(maxsize=4096)
def _parsed_address(value: str) -> str:
    name, address = parseaddr(" ".join(value.splitlines()))
    return formataddr((name, address), "utf-8") if name else address


def _email_bytes(delivery: Delivery, sender: str, to: str) -> bytes:
    """The message as RFC 5322 bytes: a UTF-8 text body sent 8bit (the ``email`` package's
    generator costs milliseconds per message, the bulk of a batch of contacts)."""
    headers = (
        f"From: {_address(sender)}",
        f"To: {_address(to)}",
        f"Subject: {_header(delivery.message.subject)}",
        f"X-Cobranza-Contact-Id: {_header(delivery.contact_id)}",
        f"X-Cobranza-Tenant: {_header(delivery.tenant)}",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    )
    body = delivery.message.body if delivery.message.body.endswith("\n") else delivery.message.body + "\n"
    return ("\n".join(headers) + "\n\n" + body).encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    """``path.write_bytes`` without the buffered file object (a file per e-mail: the handler's hot loop)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class OutboxFileEmailProvider:
    """Writes each e-mail as an ``.eml`` file: the default when no SMTP server is configured."""

    name = "outbox-file"
    inline = True

    def __init__(self, root: Path, sender: str) -> None:
        self.root = root
        self.sender = sender

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        return self.deliver_many([delivery])[0]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        folders: dict[str, Path] = {}
        out: list[DeliveryResult] = []
        for delivery in deliveries:
            if not delivery.recipient.email:
                out.append(DeliveryResult("failed", self.name, "no e-mail address on file"))
                continue
            folder = folders.get(delivery.tenant)
            if folder is None:
                folder = folders[delivery.tenant] = tenant_root(self.root, delivery.tenant) / "outbox"
                folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{_safe(delivery.contact_id)}.eml"
            _write(path, _email_bytes(delivery, self.sender, delivery.recipient.email))
            out.append(DeliveryResult("sent", self.name, artifact=str(path)))
        return out


class SmtpEmailProvider:
    name = "smtp"
    inline = False

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        s = self.settings
        if not delivery.recipient.email:
            return DeliveryResult("failed", self.name, "no e-mail address on file")
        assert s.smtp_host is not None
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.http_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password or "")
                to = delivery.recipient.email
                refused = smtp.sendmail(s.mail_from, [to], _email_bytes(delivery, s.mail_from, to))
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult("failed", self.name, f"{exc.__class__.__name__}: {exc}"[:1000])
        if refused:
            return DeliveryResult("rejected", self.name, json.dumps(refused, default=str)[:1000])
        return DeliveryResult("sent", self.name)

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        return [self.deliver(d) for d in deliveries]  # the dispatcher's, one connection per message


class _SentIndex:
    """The contact ids written to the tail of one message log, kept current by reading what was appended.

    A replayed batch can only repeat what was written after the last commit, that is the end of
    the log: the index reads at most the last ``TAIL_BYTES`` on first use, then only the bytes
    appended since (by this process or another replica), and remembers the newest ``MAX_IDS``.
    """

    TAIL_BYTES = 16 * 1024 * 1024
    MAX_IDS = 200_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset: int | None = None
        self.ids: OrderedDict[str, None] = OrderedDict()

    def refresh(self) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        if self.offset is not None and size < self.offset:  # truncated or rotated: start again
            self.offset, self.ids = None, OrderedDict()
        start = self.offset if self.offset is not None else max(0, size - self.TAIL_BYTES)
        if start < size:
            with self.path.open("rb") as handle:
                handle.seek(start)
                chunk = handle.read(size - start)
            lines = chunk.split(b"\n")
            if self.offset is None and start > 0:
                lines = lines[1:]  # the first line of a tail read may be cut
            for raw in lines:
                self._note(raw)
        self.offset = size

    def _note(self, raw: bytes) -> None:
        try:
            contact_id = json.loads(raw)["contact_id"] if raw.strip() else None
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(contact_id, str):
            self.add(contact_id)

    def add(self, contact_id: str) -> None:
        self.ids[contact_id] = None
        self.ids.move_to_end(contact_id)
        while len(self.ids) > self.MAX_IDS:
            self.ids.popitem(last=False)

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self.ids


_SENT_INDEXES: dict[Path, _SentIndex] = {}
_SENT_LOCK = threading.Lock()


class LogFileMessagingProvider:
    """Appends SMS/WhatsApp messages to a JSON-lines log: the default without an HTTP gateway.

    A contact id already in the log is not appended again (a batch replayed after a crash
    between the write and the commit), and reported sent as it was.
    """

    inline = True

    def __init__(self, root: Path, channel: str) -> None:
        self.name = f"{channel}-log-file"
        self.root = root
        self.channel = channel

    def path_for(self, tenant: str) -> Path:
        return tenant_root(self.root, tenant) / f"{self.channel}.log"

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        return self.deliver_many([delivery])[0]

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        """One read of the log's new tail and one append per tenant; ids already logged are skipped."""
        out: list[DeliveryResult | None] = [None] * len(deliveries)
        per_tenant: dict[str, list[int]] = {}
        for i, delivery in enumerate(deliveries):
            if not delivery.recipient.phone:
                out[i] = DeliveryResult("failed", self.name, "no phone number on file")
            else:
                per_tenant.setdefault(delivery.tenant, []).append(i)
        for tenant, positions in per_tenant.items():
            path = self.path_for(tenant)
            sent = DeliveryResult("sent", self.name, artifact=str(path))
            self._append(path, [deliveries[i] for i in positions])
            for i in positions:
                out[i] = sent
        return [r for r in out if r is not None]

    def _append(self, path: Path, deliveries: Sequence[Delivery]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _SENT_LOCK:
            index = _SENT_INDEXES.get(path)
            if index is None:
                index = _SENT_INDEXES.setdefault(path.resolve(), _SentIndex(path))
                _SENT_INDEXES[path] = index  # the next batch finds it without resolving the path again
            index.refresh()
            lines: list[str] = []
            batch: set[str] = set()  # noted in the index only once written (the refresh below reads them)
            for delivery in deliveries:
                if delivery.contact_id in index or delivery.contact_id in batch:
                    continue
                batch.add(delivery.contact_id)
                line = {
                    "contact_id": delivery.contact_id,
                    "to": delivery.recipient.phone,
                    "body": delivery.message.body,
                }
                lines.append(json.dumps(line, ensure_ascii=False) + "\n")
            if lines:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
                index.refresh()


class HttpMessagingProvider:
    """POSTs ``{to, body, contact_id, tenant}`` as JSON to an SMS/WhatsApp gateway; 2xx means sent."""

    inline = False

    def __init__(self, url: str, channel: str, token: str | None, timeout_s: float) -> None:
        self.name = f"{channel}-http"
        self.url = url
        self.token = token
        self.timeout_s = timeout_s

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        if not delivery.recipient.phone:
            return DeliveryResult("failed", self.name, "no phone number on file")
        # The gateway may de-duplicate on this key (a dispatch retried after a crash).
        headers = {"Idempotency-Key": f"{delivery.tenant}:{delivery.contact_id}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {
            "to": delivery.recipient.phone,
            "body": delivery.message.body,
            "contact_id": delivery.contact_id,
            "tenant": delivery.tenant,
        }
        try:
            response = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            return DeliveryResult("failed", self.name, f"{exc.__class__.__name__}: {exc}"[:1000])
        if response.is_success:
            return DeliveryResult("sent", self.name)
        status: ContactStatus = "rejected" if 400 <= response.status_code < 500 else "failed"
        return DeliveryResult(status, self.name, f"HTTP {response.status_code}: {response.text[:500]}")

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        return [self.deliver(d) for d in deliveries]  # the dispatcher's, one request per message


class PdfLetterProvider:
    """Renders a letter as a PDF under the state dir, for printing and postal dispatch."""

    name = "pdf-letter"
    inline = True

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, contact_id: str, tenant: str = DEFAULT_TENANT) -> Path:
        return tenant_root(self.root, tenant) / "letters" / f"{_safe(contact_id)}.pdf"

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        if not delivery.recipient.address:
            return DeliveryResult("failed", self.name, "no postal address on file")
        path = self.path_for(delivery.contact_id, delivery.tenant)
        path.parent.mkdir(parents=True, exist_ok=True)
        pdf = canvas.Canvas(str(path), pagesize=LETTER, invariant=True)
        pdf.setTitle(delivery.message.subject)
        _, height = LETTER
        y = height - 3 * cm
        pdf.setFont("Helvetica-Bold", 13)
        pdf.drawString(2.5 * cm, y, delivery.message.subject)
        pdf.setFont("Helvetica", 11)
        y -= 1.2 * cm
        for line in delivery.message.body.splitlines():
            if y < 2.5 * cm:
                pdf.showPage()
                pdf.setFont("Helvetica", 11)
                y = height - 2.5 * cm
            pdf.drawString(2.5 * cm, y, line)
            y -= 0.6 * cm
        pdf.save()
        return DeliveryResult("sent", self.name, artifact=str(path))

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[DeliveryResult]:
        return [self.deliver(d) for d in deliveries]  # a PDF per letter: nothing shared to batch


def providers_for(settings: NotifierSettings) -> dict[str, Provider]:
    """The provider of each channel except voice (a call-center queue, see the API)."""
    root = settings.root
    email: Provider = (
        SmtpEmailProvider(settings)
        if settings.smtp_host
        else OutboxFileEmailProvider(root, f"{settings.sender_name} <{settings.mail_from}>")
    )
    sms: Provider = (
        HttpMessagingProvider(settings.sms_http_url, "sms", settings.http_token, settings.http_timeout_s)
        if settings.sms_http_url
        else LogFileMessagingProvider(root, "sms")
    )
    whatsapp: Provider = (
        HttpMessagingProvider(
            settings.whatsapp_http_url, "whatsapp", settings.http_token, settings.http_timeout_s
        )
        if settings.whatsapp_http_url
        else LogFileMessagingProvider(root, "whatsapp")
    )
    return {"email": email, "sms": sms, "whatsapp": whatsapp, "letter": PdfLetterProvider(root)}
