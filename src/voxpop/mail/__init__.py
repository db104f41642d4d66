"""Notification e-mails: per-language templates (``render``) and MIME wire bytes (``message``)."""
