"""Type-check Grafana dashboard JSON against Grafana's own schema for the pinned version, with tsc.

Grafana publishes its dashboard schema as TypeScript types (npm ``@grafana/schema``, generated from
its CUE kinds); the version matching docker-compose's Grafana image is installed by ``make test``
into tools/grafana-schema (``npm ci``, from its package-lock.json). Each dashboard becomes a .ts
file that assigns the JSON, as object literals, to those types: TypeScript's excess-property check
reports every unknown field and its assignability check every missing required field or wrong
value. Each panel is checked a second time against its panel plugin's own ``Options`` and
``FieldConfig`` (the dashboard type leaves them open). JSON carries no enums, so the types' string
enums are compared by their values (``Json<T>`` below).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOL_DIR = ROOT / "tools" / "grafana-schema"
SCHEMA_DIR = TOOL_DIR / "node_modules" / "@grafana" / "schema"
TSC = TOOL_DIR / "node_modules" / "typescript" / "bin" / "tsc"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# panel type -> the folder and file stem of its plugin's types under dist/esm/raw/composable; None: the
# plugin has no custom field config (its ``fieldConfig.defaults.custom`` must stay empty).
PANEL_PLUGINS: dict[str, tuple[str, str, bool]] = {
    "timeseries": ("timeseries", "TimeSeriesPanelCfg", True),
    "stat": ("stat", "StatPanelCfg", False),
    "table": ("table", "TablePanelCfg", True),
    "state-timeline": ("statetimeline", "StateTimelinePanelCfg", True),
}

PRELUDE = """\
import type {{ Dashboard, FieldConfig, FieldConfigSource, Panel, RowPanel }} from '@grafana/schema';
{imports}

// JSON has no enums: a string enum of the schema is compared by its values.
type Json<T> =
  T extends string ? `${{T}}` :
  T extends number | boolean | null | undefined ? T :
  T extends Array<infer U> ? Array<Json<U>> :
  T extends object ? {{ [K in keyof T]: Json<T[K]> }} : T;
type NoCustom = {{ [key: string]: never }};
type Typed<O, F> = Json<Omit<Panel, 'options' | 'fieldConfig'> & {{
  options?: O;
  fieldConfig?: Omit<FieldConfigSource, 'defaults'> & {{ defaults: Omit<FieldConfig, 'custom'> & {{ custom?: F }} }};
}}>;
"""


@dataclass(frozen=True)
class SchemaError:
    dashboard: str
    where: str  # "dashboard" or "panel <id> <title>"
    message: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.where}: {self.message}"


def installed_version() -> str:
    return json.loads((SCHEMA_DIR / "package.json").read_text())["version"]


def pinned_grafana_version() -> str:
    """The Grafana image docker-compose runs (``grafana/grafana-oss:X.Y.Z``)."""
    match = re.search(r"image:\s*grafana/grafana(?:-oss)?:(\d+\.\d+\.\d+)", COMPOSE_FILE.read_text())
    if match is None:
        raise AssertionError(f"no grafana/grafana-oss:X.Y.Z image in {COMPOSE_FILE}")
    return match.group(1)


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(_panels(panel.get("panels") or []))  # a collapsed row holds its panels
    return out


def typescript_for(dashboard: dict[str, Any]) -> tuple[str, dict[int, str]]:
    """The .ts source checking ``dashboard``, and its line number -> what that line's value is."""
    used = sorted({p["type"] for p in _panels(dashboard.get("panels") or []) if p.get("type") in PANEL_PLUGINS})
    imports = "\n".join(
        f"import type * as {folder} from '@grafana/schema/dist/esm/raw/composable/{folder}/panelcfg/x/{stem}_types.gen';"
        for folder, stem, _ in (PANEL_PLUGINS[t] for t in used))
    lines = PRELUDE.format(imports=imports).splitlines()
    owners: dict[int, str] = {}

    def add(declaration: str, value: Any, owner: str) -> None:
        start = len(lines) + 1
        body = json.dumps(value, indent=2, ensure_ascii=False).splitlines()
        lines.append(f"{declaration} = {body[0]}")
        lines.extend(body[1:-1])
        lines.append(body[-1] + ";" if len(body) > 1 else "")
        for number in range(start, len(lines) + 1):
            owners[number] = owner

    add("export const dashboard: Json<Dashboard>", dashboard, "dashboard")
    for panel in _panels(dashboard.get("panels") or []):
        owner = f"panel {panel.get('id')} {panel.get('title', '')!r} ({panel.get('type')})"
        kind = panel.get("type")
        if kind == "row":
            add(f"export const row_{panel.get('id')}: Json<RowPanel>", panel, owner)
        elif kind in PANEL_PLUGINS:
            folder, _, custom = PANEL_PLUGINS[kind]
            field = f"{folder}.FieldConfig" if custom else "NoCustom"
            add(f"export const panel_{panel.get('id')}: Typed<{folder}.Options, {field}>", panel, owner)
        else:
            lines.append(f"// panel type {kind!r}: no schema in tests/fakes/grafana_schema.py PANEL_PLUGINS")
            owners[len(lines)] = owner
            lines.append(f"const unknown_{panel.get('id')}: never = {json.dumps(kind)};")
            owners[len(lines)] = owner
    return "\n".join(lines) + "\n", owners


_DIAGNOSTIC = re.compile(r"^(?P<file>[^(]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$")


def check_dashboards(dashboards: dict[str, dict[str, Any]], work_dir: Path) -> list[SchemaError]:
    """Every schema error of ``dashboards`` (file name -> JSON); [] when all conform."""
    tsconfig = {
        "compilerOptions": {
            "strict": True, "noEmit": True, "skipLibCheck": True, "target": "ES2020", "module": "ES2020",
            "moduleResolution": "node", "types": [], "noErrorTruncation": True,
            "paths": {"@grafana/schema": [str(SCHEMA_DIR / "dist" / "index.d.ts")],
                      "@grafana/schema/*": [str(SCHEMA_DIR) + "/*"]},
        },
        "files": [],
    }
    owners: dict[str, tuple[str, dict[int, str]]] = {}
    for name, dashboard in sorted(dashboards.items()):
        source, lines = typescript_for(dashboard)
        ts_file = work_dir / (Path(name).stem + ".ts")
        ts_file.write_text(source, encoding="utf-8")
        tsconfig["files"].append(str(ts_file))  # type: ignore[attr-defined]
        owners[ts_file.name] = (name, lines)
    (work_dir / "tsconfig.json").write_text(json.dumps(tsconfig, indent=2))
    result = subprocess.run(["node", str(TSC), "-p", str(work_dir / "tsconfig.json"), "--pretty", "false"],
                            capture_output=True, text=True, timeout=300)
    errors: list[SchemaError] = []
    for line in result.stdout.splitlines():
        match = _DIAGNOSTIC.match(line)
        if match is None:
            if line.strip() and not line.startswith(" "):
                errors.append(SchemaError("tsc", "output", line))
            elif errors:  # a continuation line of the previous message
                errors[-1] = SchemaError(errors[-1].dashboard, errors[-1].where,
                                         errors[-1].message + " " + line.strip())
            continue
        dashboard, lines = owners.get(Path(match["file"]).name, (match["file"], {}))
        errors.append(SchemaError(dashboard, lines.get(int(match["line"]), f"line {match['line']}"),
                                  f"{match['code']} {match['msg']}"))
    if result.returncode != 0 and not errors:
        errors.append(SchemaError("tsc", "exit", f"{result.returncode}: {result.stderr.strip()[-2000:]}"))
    return errors
