"""Webhook callbacks: signing, SSRF-safe targets, the due-time schedule and the light delivery process."""
