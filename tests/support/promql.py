"""What the dashboards and rules may query: metric names in PromQL and the names the API exports.

The exported names come from the inference API itself: statically from the
prometheus-client constructors in ``src/readmission/serving`` (AST, no import
side effects) and, in the end-to-end test, from a real ``/metrics`` scrape.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from tests.support import REPO_ROOT

SERVING_DIR = REPO_ROOT / "src" / "readmission" / "serving"
PUSH_MODULE = REPO_ROOT / "src" / "readmission" / "pushmetrics.py"
"""The pipeline's metrics, pushed to the Pushgateway (``Push.gauge``/``Push.counter`` calls)."""
RULES_DIR = REPO_ROOT / "prometheus" / "rules"
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"

# Series Prometheus makes itself (scrape health, alert state), valid in any expression.
SYNTHETIC = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
_AGGREGATION_GROUPS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABELS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")
_NUMBER_WORDS = {"Inf", "inf", "NaN", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords and label names removed)."""
    text = _STRINGS.sub('""', expr)
    text = _LABELS.sub("", text)
    text = _RANGES.sub("", text)
    text = _AGGREGATION_GROUPS.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word in _KEYWORDS or word in _NUMBER_WORDS:
            continue
        names.add(word)
    return names


# --------------------------------------------------------------------------- what the API exports

_KIND_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}

# A process collector's series (Linux), before its namespace prefix: what the CPU/memory panels use.
PROCESS_SERIES = {
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
}


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


_PUSH_KINDS = {"gauge": "Gauge", "counter": "Counter"}


def declared_metrics(source_dir: Path = SERVING_DIR) -> dict[str, str]:
    """Family name -> prometheus-client kind, for every constructor call with a literal name."""
    found: dict[str, str] = {}
    paths = sorted(source_dir.rglob("*.py")) if source_dir.is_dir() else [source_dir]
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            kind = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            kind = _PUSH_KINDS.get(kind, kind) if source_dir == PUSH_MODULE else kind
            if kind not in _KIND_SUFFIXES:
                continue
            kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            name = _const_str(node.args[0]) if node.args else _const_str(kwargs.get("name"))
            if name is None:
                continue
            parts = [_const_str(kwargs.get("namespace")), _const_str(kwargs.get("subsystem")), name]
            full = "_".join(p for p in parts if p)
            if kind == "Counter":
                full = full.removesuffix("_total")
            elif kind == "Info":
                full = full.removesuffix("_info")
            found[full] = kind
    return found


def process_collector_prefixes(source_dir: Path = SERVING_DIR) -> set[str]:
    """Prefixes of the process_* series: ``ProcessCollector(namespace=...)`` calls, or "" for the default registry."""
    prefixes = set()
    text = ""
    for path in sorted(source_dir.rglob("*.py")):
        source = path.read_text()
        text += source
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
                if name == "ProcessCollector":
                    namespace = next((_const_str(k.value) for k in node.keywords if k.arg == "namespace"), None)
                    prefixes.add(f"{namespace}_" if namespace else "")
    if "CollectorRegistry(" not in text:
        prefixes.add("")  # the default registry carries a process collector
    return prefixes


def exported_series(families: dict[str, str], *, process_prefixes: set[str]) -> set[str]:
    series = {family + suffix for family, kind in families.items() for suffix in _KIND_SUFFIXES[kind]}
    return series | {prefix + name for prefix in process_prefixes for name in PROCESS_SERIES}


def scraped_families(exposition: str) -> dict[str, str]:
    """Family name -> kind (counter, gauge, histogram...) from a /metrics text body."""
    families = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            families[name] = kind
    return families


def scraped_series(exposition: str) -> set[str]:
    """Every series name a scrape can produce, including those of labelled families without samples yet."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
        "stateset": ("",),
        "unknown": ("",),
    }
    names = {
        (family.removesuffix("_total") if kind == "counter" else family) + suffix
        for family, kind in scraped_families(exposition).items()
        for suffix in suffixes.get(kind, ("",))
    }
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


# --------------------------------------------------------------------------- the expressions we ship


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> Iterator[dict]:
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def pushed_series() -> set[str]:
    """Every series the pipeline pushes (read statically from ``readmission.pushmetrics``)."""
    return exported_series(declared_metrics(PUSH_MODULE), process_prefixes=set())


def used_names() -> set[str]:
    """Every metric name a dashboard panel, a dashboard variable or a rule selects."""
    return {name for path in dashboards() for _, expr in dashboard_exprs(path) for name in metric_names(expr)} | {
        name for rule in rules() for name in metric_names(rule["expr"])
    }


def dashboards() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def dashboard_panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    """(where, expr) for every panel target and templating query of a dashboard."""
    dashboard = json.loads(path.read_text())
    exprs = [
        (f"{path.name}: panel {panel.get('title')!r}", target["expr"])
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query or "")
        if match:
            exprs.append((f"{path.name}: variable {variable['name']}", match.group(1)))
    return exprs


def grafana_to_promql(expr: str, *, interval: str = "1m") -> str:
    """A dashboard query as Prometheus itself accepts it (Grafana's variables substituted)."""
    return (
        expr.replace("$__rate_interval", interval)
        .replace("$__interval", interval)
        .replace('=~"$job"', '=~".*"')
        .replace('=~"$instance"', '=~".*"')
    )
