"""Templates in Redis: a set per key, an organisation's set a key may join, and the starters.

What a key may insert is, by name, its own templates over its organisation's over the built-in
starters (those only when the key enabled them): a key inherits its organisation's set and overrides a
template by storing its own under the same name. Keys never see each other's templates. Every key is in
the deployment's organisation (`DEFAULT_ORGANISATION`, written by the admin keys through
`POST /v1/templates?scope=organisation`) unless `join` put it in another.
"""

from __future__ import annotations

from enum import StrEnum

import redis
from redis.client import Pipeline

from core.errors import Conflict, ErrorCode, NotFound
from core.keys import PREFIX
from core.redis_calls import as_hash, as_int, hash_fields, transact
from dictation.starters import starter_templates
from dictation.templates import Template

MAX_TEMPLATES = 200
"""Templates one key (or one organisation) may store."""
DEFAULT_ORGANISATION = "default"
"""The organisation every key inherits from unless it joined another: the deployment's own."""
_ORGANISATION = "organisation"
_BUILTIN = "builtin"


class Source(StrEnum):
    """Where a key's template comes from."""

    OWN = "own"
    ORGANISATION = "organisation"
    BUILTIN = "builtin"


def templates_key(tenant: str) -> str:
    """Hash of a key's own templates: name -> its JSON."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:templates"


def template_settings_key(tenant: str) -> str:
    """Hash of a key's template settings: `organisation` (the set it inherits), `builtin` ("1": starters on)."""
    return f"{PREFIX}:owner:{tenant or 'anonymous'}:templates:settings"


def organisation_templates_key(organisation: str) -> str:
    """Hash of an organisation's templates, inherited by the keys that joined it: name -> its JSON."""
    return f"{PREFIX}:organisation:{organisation}:templates"


class TemplateStore:
    def __init__(self, client: redis.Redis, max_templates: int = MAX_TEMPLATES) -> None:
        self.client = client
        self.max_templates = max_templates

    def put(self, tenant: str, template: Template) -> None:
        """Store (or replace) one of a key's templates; 409 past `max_templates`."""
        self._put(templates_key(tenant), template)

    def put_organisation(self, organisation: str, template: Template) -> None:
        """Store (or replace) one of an organisation's templates."""
        self._put(organisation_templates_key(organisation), template)

    def delete(self, tenant: str, name: str) -> None:
        """Delete one of a key's own templates (an inherited one stays); 404 when it has none by that name."""
        if not self.client.hdel(templates_key(tenant), name):
            raise NotFound(f"this key has no template {name!r} of its own")

    def delete_organisation(self, organisation: str, name: str) -> None:
        if not self.client.hdel(organisation_templates_key(organisation), name):
            raise NotFound(f"organisation {organisation!r} has no template {name!r}")

    def join(self, tenant: str, organisation: str | None) -> None:
        """Make a key inherit an organisation's templates (None: the deployment's, `DEFAULT_ORGANISATION`)."""
        key = template_settings_key(tenant)
        if organisation is None:
            self.client.hdel(key, _ORGANISATION)
        else:
            self.client.hset(key, _ORGANISATION, organisation)

    def enable_builtin(self, tenant: str, enabled: bool = True) -> None:
        """Let a key insert the built-in starter templates (off by default)."""
        self.client.hset(template_settings_key(tenant), _BUILTIN, "1" if enabled else "0")

    def builtin_enabled(self, tenant: str) -> bool:
        return self.client.hget(template_settings_key(tenant), _BUILTIN) == b"1"

    def templates(self, tenant: str) -> dict[str, Template]:
        """Every template the key may insert, by name: its own over its organisation's over the starters."""
        return {name: template for name, (template, _) in self.sourced(tenant).items()}

    def sourced(self, tenant: str) -> dict[str, tuple[Template, Source]]:
        """`templates`, each with where it comes from."""
        settings_key, own_key = template_settings_key(tenant), templates_key(tenant)

        def read(pipe: Pipeline) -> tuple[dict[bytes, bytes], dict[bytes, bytes], dict[bytes, bytes]]:
            settings = as_hash(pipe.hgetall(settings_key))
            organisation = settings.get(_ORGANISATION.encode(), DEFAULT_ORGANISATION.encode())
            org_key = organisation_templates_key(organisation.decode())
            pipe.watch(settings_key, own_key, org_key)
            shared = as_hash(pipe.hgetall(org_key))
            own = as_hash(pipe.hgetall(own_key))
            pipe.multi()  # nothing queued: EXEC only proves the three reads saw one state
            return settings, shared, own

        settings, shared, own = transact(self.client, read, settings_key, own_key)
        found: dict[str, tuple[Template, Source]] = {}
        if settings.get(_BUILTIN.encode()) == b"1":
            found.update((t.name, (t, Source.BUILTIN)) for t in starter_templates())
        for stored, source in ((shared, Source.ORGANISATION), (own, Source.OWN)):
            found.update((name.decode(), (Template.model_validate_json(raw), source)) for name, raw in stored.items())
        return found

    def _put(self, key: str, template: Template) -> None:
        def write(pipe: Pipeline) -> None:
            if not pipe.hexists(key, template.name) and as_int(pipe.hlen(key)) >= self.max_templates:
                raise Conflict(f"{self.max_templates} templates are stored already; delete one first",
                               code=ErrorCode.TOO_MANY_TEMPLATES)
            pipe.multi()
            pipe.hset(key, mapping=hash_fields({template.name: template.model_dump_json()}))

        transact(self.client, write, key)
