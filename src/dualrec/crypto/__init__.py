"""Encryption at rest (``envelope``) and the signed evidence package
(``evidence``, one file that can be handed out as the offline verifier)."""
