"""`/v1/templates`: a key's dictation templates (auto-texts), over its organisation's, over the starters.

A key stores its own templates; every key inherits the organisation's set (written by the keys in
`template_admin_keys`, with `scope=organisation`) and overrides one by storing its own under the same
name. The built-in starters (dictation/data/templates.toml) are inserted only once a key turns them on
(`PUT /v1/template-settings`). One key never sees another's own templates.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, StrictBool

from api.deps import RedisDep, SettingsDep, TenantDep
from api.errors import error_responses
from core.errors import Forbidden, NotFound
from dictation.template_store import DEFAULT_ORGANISATION, Source, TemplateStore
from dictation.templates import Template

router = APIRouter(tags=["templates"])
Scope = Literal["own", "organisation"]
ScopeQuery = Annotated[Scope, Query(description="`organisation`: the set every key inherits (an admin key)")]


class TemplatePublic(Template):
    """A template as a key sees it, with where it comes from."""

    source: Source


class TemplateList(BaseModel):
    templates: list[TemplatePublic]
    """Every template the key may insert, by name, its own first: what "insert <trigger>" finds."""
    builtin: bool
    """Whether the built-in starters are on for this key."""


class TemplateSettings(BaseModel):
    builtin: StrictBool
    """Let this key insert the built-in starter templates (off unless turned on)."""


def _templates(client: RedisDep) -> TemplateStore:
    return TemplateStore(client)


TemplatesDep = Annotated[TemplateStore, Depends(_templates)]


def _admin(request: Request, settings: SettingsDep, tenant: TenantDep) -> None:
    """Only an admin key (or anyone, with auth off) writes the organisation's set."""
    token = request.headers.get("authorization", "").partition(" ")[2].encode("utf-8", "surrogateescape")
    if settings.api_keys and not any(hmac.compare_digest(token, key.encode()) for key in settings.template_admin_keys):
        raise Forbidden("only a key in ENDOSCRIBE_TEMPLATE_ADMIN_KEYS writes the organisation's templates; "
                        "store this one as your own (without scope=organisation)")


def _public(template: Template, source: Source) -> TemplatePublic:
    return TemplatePublic(**template.model_dump(), source=source)


@router.post("/v1/templates", status_code=201, response_model=TemplatePublic,
             responses=error_responses(400, 401, 403, 409, 413, 422, 429, 503))
def create_template(body: Template, store: TemplatesDep, tenant: TenantDep, request: Request, settings: SettingsDep,
                    scope: ScopeQuery = "own") -> TemplatePublic:
    """Store (or replace, by name) a template: its trigger phrases, said after "insert", and its body with
    `[field]`, `[a|b|c]` and `[a|*b|c]` fields."""
    if scope == "organisation":
        _admin(request, settings, tenant)
        store.put_organisation(DEFAULT_ORGANISATION, body)
        return _public(body, Source.ORGANISATION)
    store.put(tenant, body)
    return _public(body, Source.OWN)


@router.get("/v1/templates", response_model=TemplateList, responses=error_responses(401, 429))
def list_templates(store: TemplatesDep, tenant: TenantDep) -> TemplateList:
    """What this key may insert: its own templates, the organisation's it does not override, the starters if on."""
    order = {Source.OWN: 0, Source.ORGANISATION: 1, Source.BUILTIN: 2}
    found = sorted(store.sourced(tenant).values(), key=lambda pair: (order[pair[1]], pair[0].name))
    return TemplateList(templates=[_public(t, s) for t, s in found], builtin=store.builtin_enabled(tenant))


@router.get("/v1/templates/{name}", response_model=TemplatePublic, responses=error_responses(401, 404, 429))
def read_template(name: str, store: TemplatesDep, tenant: TenantDep) -> TemplatePublic:
    """The template "insert" finds under this name for this key."""
    found = store.sourced(tenant).get(name)
    if found is None:
        raise NotFound(f"this key has no template {name!r}; list them with GET /v1/templates")
    return _public(*found)


@router.delete("/v1/templates/{name}", status_code=204, responses=error_responses(401, 403, 404, 422, 429))
def delete_template(name: str, store: TemplatesDep, tenant: TenantDep, request: Request, settings: SettingsDep,
                    scope: ScopeQuery = "own") -> Response:
    """Delete the key's own template (the organisation's by that name shows through again), or with
    `scope=organisation` the organisation's (an admin key)."""
    if scope == "organisation":
        _admin(request, settings, tenant)
        store.delete_organisation(DEFAULT_ORGANISATION, name)
    else:
        store.delete(tenant, name)
    return Response(status_code=204)


@router.get("/v1/template-settings", response_model=TemplateSettings, responses=error_responses(401, 429))
def read_template_settings(store: TemplatesDep, tenant: TenantDep) -> TemplateSettings:
    return TemplateSettings(builtin=store.builtin_enabled(tenant))


@router.put("/v1/template-settings", response_model=TemplateSettings,
            responses=error_responses(400, 401, 413, 422, 429))
def write_template_settings(body: TemplateSettings, store: TemplatesDep, tenant: TenantDep) -> TemplateSettings:
    """Turn the built-in starter templates on or off for this key."""
    store.enable_builtin(tenant, body.builtin)
    return body
