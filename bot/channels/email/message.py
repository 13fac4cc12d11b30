"""A clinician page as an e-mail: the Telegram page's facts, plus its two links, made to stand out.

Plain text first (what any mail client and a pager gateway reads), an HTML alternative with the
same text and the links as buttons. The caller gives the facts; nothing here adds patient data.
"""

from __future__ import annotations

import email.message
import html
from email.utils import formatdate, make_msgid, parseaddr

from bot.i18n import C_
from bot.messaging.pages import level_name

FALLBACK_DOMAIN = "aftercare.invalid"  # for the Message-ID when the sender has no domain

_PRE = (
    "font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;"
    " font-size: 15px; line-height: 1.45; white-space: pre-wrap; margin: 0 0 20px 0;"
)
_BUTTON = (
    "display: inline-block; padding: 10px 18px; margin: 0 8px 8px 0; border-radius: 6px;"
    " font-family: Helvetica, Arial, sans-serif; font-size: 15px; font-weight: bold;"
    " text-decoration: none; color: #ffffff; background: {background};"
)


def page_subject(*, level: str, case_id: int, reference: str) -> str:
    """e.g. "[Aftercare] HIGH priority — case #12 (P-042)"."""
    subject = C_("[Aftercare] {level} priority — case #{id} ({ref})").format(
        level=level_name(level), id=case_id, ref=reference
    )
    return " ".join(subject.split())  # a header is one line


def _button(url: str, label: str, background: str) -> str:
    style = _BUTTON.format(background=background)
    return f'<a href="{html.escape(url)}" style="{style}">{html.escape(label)}</a>'


def _html(text: str, ack_url: str | None, console_url: str | None) -> str:
    buttons = []
    if ack_url:
        buttons.append(_button(ack_url, C_("Acknowledge"), "#b3261e"))
    if console_url:
        buttons.append(_button(console_url, C_("Open in console"), "#1f5fa8"))
    links = f"<p>{''.join(buttons)}</p>" if buttons else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        f'<pre style="{_PRE}">{html.escape(text)}</pre>\n{links}\n</body></html>\n'
    )


def page_email(
    *,
    to: str,
    sender: str,
    subject: str,
    text: str,
    ack_url: str | None,
    console_url: str | None,
) -> email.message.EmailMessage:
    """A page as e-mail: plain-text body = `text`, then "Acknowledge: <ack_url>" and "Open in
    console: <console_url>" lines when given; an HTML alternative with the escaped text and the
    links as buttons. Headers To, From, Subject, Date, Message-ID (in the sender's domain),
    Auto-Submitted: auto-generated, X-Priority: 1 and Importance: high."""
    links = [
        label.format(url=url)
        for label, url in (
            (C_("Acknowledge: {url}"), ack_url),
            (C_("Open in console: {url}"), console_url),
        )
        if url
    ]
    body = "\n".join([text.rstrip("\n"), "", *links]) if links else text.rstrip("\n")

    domain = parseaddr(sender)[1].rpartition("@")[2] or FALLBACK_DOMAIN
    message = email.message.EmailMessage()
    message["To"] = to
    message["From"] = sender
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a page
    message["X-Priority"] = "1"
    message["Importance"] = "high"
    # quoted-printable: 7-bit clean for a relay without 8BITMIME, readable in the raw
    message.set_content(body + "\n", cte="quoted-printable")
    message.add_alternative(
        _html(text, ack_url, console_url), subtype="html", cte="quoted-printable"
    )
    return message
