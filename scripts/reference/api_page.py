"""The API reference: every operation and schema of the app's own OpenAPI, as a static page."""

from __future__ import annotations

from typing import Any

from scripts.reference.markdown import HEADER, cell


def openapi_schema() -> dict[str, Any]:
    from api.main import create_app
    from core.settings import Settings

    schema: dict[str, Any] = create_app(Settings(dev_mode=True)).openapi()
    return schema


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_schema_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}))}"
    return str(schema.get("type", schema.get("format", "any")))


def _properties_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = ["| Field | Type | Required | Description |\n|---|---|---|---|\n"]
    for name, prop in schema.get("properties", {}).items():
        rows.append(f"| `{name}` | {cell(_schema_type(prop))} | {'yes' if name in required else ''} | "
                    f"{cell(prop.get('description', ''))} |\n")
    return "".join(rows)


def api_page(schema: dict[str, Any]) -> str:
    parts = [HEADER, f"# API\n\n{cell(schema['info'].get('title', ''))} {schema['info'].get('version', '')}: every "
             "operation of the HTTP API, rendered from the app's own OpenAPI schema "
             "([openapi.json](openapi.json); a running API also serves it at `/openapi.json`, with Swagger UI "
             "at `/docs` and ReDoc at `/redoc`, no CDN needed). The guides explain the fields: "
             "[jobs](../guides/jobs.md), [live dictation](../guides/live-dictation.md), "
             "[OpenAI route](../guides/openai.md), [webhooks](../guides/webhooks.md).\n\n## Operations\n\n"]
    components = schema.get("components", {}).get("schemas", {})
    for path, item in schema["paths"].items():
        for method, op in item.items():
            parts.append(f"### `{method.upper()} {path}`\n\n")
            if op.get("summary"):
                parts.append(f"**{cell(op['summary'])}.** ")
            if op.get("description"):
                parts.append(" ".join(op["description"].split()))
            parts.append("\n\n")
            params = op.get("parameters", [])
            if params:
                parts.append("| Parameter | In | Type | Required | Description |\n|---|---|---|---|---|\n")
                for p in params:
                    parts.append(f"| `{p['name']}` | {p['in']} | {cell(_schema_type(p.get('schema', {})))} | "
                                 f"{'yes' if p.get('required') else ''} | {cell(p.get('description', ''))} |\n")
                parts.append("\n")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                parts.append(f"Request body: `{media}`, {_schema_type(content.get('schema', {}))}.\n\n")
            responses = op.get("responses", {})
            if responses:
                parts.append("| Status | Description |\n|---|---|\n")
                for status, response in responses.items():
                    parts.append(f"| {status} | {cell(response.get('description', ''))} |\n")
                parts.append("\n")
    parts.append("## Schemas\n\n")
    for name, component in components.items():
        parts.append(f"### {name}\n\n")
        if component.get("description"):
            parts.append(" ".join(component["description"].split()) + "\n\n")
        if component.get("properties"):
            parts.append(_properties_table(component) + "\n")
        elif "enum" in component:
            parts.append("One of " + ", ".join(f"`{v}`" for v in component["enum"]) + ".\n\n")
    return "".join(parts)
