"""Fixtures of the training tests."""

from __future__ import annotations

import pytest

HELP_QA = [
    ("How do I update my credit card?", "Open Settings, choose Billing and click Replace card."),
    ("Can I get a refund for an annual plan?", "Annual plans are refunded in full within 30 days."),
    ("Where do I download invoices?", "Every invoice is listed under Billing > History as a PDF."),
    ("Why are my notes not syncing?", "Sync pauses when a device is offline; reconnect to resume."),
    ("How often does the app sync?", "Changes are pushed within seconds and pulled every minute."),
    ("Can I turn off sync for one notebook?", "Right-click a notebook and choose Keep on this device."),
    ("How can I export all my notes?", "Choose File > Export workspace to download a zip of Markdown."),
    ("Can I print a notebook?", "Open the notebook, press Ctrl+P and pick the sections to print."),
    ("Does export keep attachments?", "Attachments are exported next to each Markdown file."),
    ("How do I change my email address?", "Account > Profile lets you change the email after confirming it."),
    ("Can two people edit a note at once?", "Shared notes update live for everyone who has edit access."),
    ("Where is the trash?", "Deleted notes stay in Trash in the sidebar for 30 days."),
    ("How do I enable two-factor authentication?", "Go to Account > Security and scan the QR code."),
    ("Is my data encrypted?", "Notes are encrypted in transit with TLS and at rest with AES-256."),
    ("What if I lose my phone with the authenticator?", "Use one of the ten recovery codes saved with 2FA."),
]


@pytest.fixture(scope="session")
def help_qa() -> list[tuple[str, str]]:
    """15 help-centre questions with their answers, one topic each (no answer repeats)."""
    return HELP_QA
