#!/usr/bin/env python3
"""Check Cognate's Grafana dashboard (and alerting rules) against real metric names.

Usage:
  check_dashboard.py [DASHBOARD] [--metrics FILE] [--rules FILE] [--check-rules] [--list]

DASHBOARD defaults to cognate.json beside this script. It is validated as a
Grafana dashboard (valid JSON, the expected top-level fields, the
DS_PROMETHEUS and instance variables, panels with unique ids and Prometheus
targets); then every metric name used by every panel target and template
variable query is extracted from its PromQL and must be known:

  --metrics FILE   a Prometheus text exposition (e.g. `curl -s
                   http://127.0.0.1:9090/metrics > metrics.txt` from a running
                   Cognate): names of `# TYPE`/`# HELP` lines and of samples;
                   a histogram NAME also covers NAME_bucket, NAME_sum,
                   NAME_count (a summary NAME_sum, NAME_count).
  --rules FILE     a Prometheus rules file: its recording rule names (`record:`)
                   are known names too.
  --check-rules    also check every `expr:` of the rules file (alerting and
                   recording rules) against the same known names.
  --no-dashboard   check only the rules file (with --check-rules).
  --list           print the metric names found per panel / rule.

The series Prometheus makes itself for every target (up, scrape_*) and for
alerts (ALERTS, ALERTS_FOR_STATE) are always known.

Exit status: 0 all names known; 1 unknown names (listed on stderr, with the
panels or rules using them); 2 invalid input (bad JSON, missing fields,
unreadable file, bad usage).

Python 3 standard library only (no YAML library: the rules file is read with
a small line-based reader that understands `record:`/`expr:` keys with plain,
quoted or block (|, >) values).
"""

import argparse
import json
import os
import re
import sys

# Series Prometheus itself adds.
BUILTIN_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}

# PromQL words that are not metric names: aggregations, keywords, functions
# (functions are also recognised by the "(" that follows them), literals.
PROMQL_WORDS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    # keywords and modifiers
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "atan2", "start", "end",
    # literals
    "inf", "nan", "Inf", "NaN", "INF", "NAN",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "delta", "deriv", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile",
    "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters",
    "double_exponential_smoothing", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
    "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort",
    "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "time",
    "timestamp", "vector", "year", "avg_over_time", "min_over_time",
    "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time", "mad_over_time", "acos", "acosh", "asin", "asinh",
    "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg",
    "rad", "pi",
    # label names that a careless reader could take for metrics
    "le",
}

IDENT = re.compile(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)")
GRAFANA_VAR = re.compile(r"\$(?:\{[^}]*\}|\[\[[^\]]*\]\]|[A-Za-z0-9_]+)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")


def metric_names(expr):
    """The metric names a PromQL expression reads, in order of appearance.

    Names are identifiers not followed by "(" (function calls) that are
    neither PromQL words nor inside {...} label matchers, [...] ranges,
    strings, or by/without/on/ignoring/group_left/group_right label lists.
    Grafana variables ($x, ${x}, [[x]]) are removed first.
    """
    text = GRAFANA_VAR.sub(" ", expr)
    text = STRING.sub('""', text)
    text = re.sub(r"#[^\n]*", " ", text)  # PromQL comments
    text = re.sub(r"\{[^{}]*\}", "{}", text)
    text = re.sub(r"\[[^\[\]]*\]", "[]", text)
    text = LABEL_LIST.sub(" ", text)
    found = []
    for m in IDENT.finditer(text):
        name = m.group(1)
        raw = text[m.end():]
        if raw.lstrip().startswith("("):
            continue  # function call or aggregation
        if name in PROMQL_WORDS:
            continue
        # Numbers such as 1e-9 or 0x1f never start an identifier (lookbehind);
        # durations inside [] are gone. What is left is a metric name, which
        # must be followed by {, [, whitespace, ), an operator, "," or the end.
        if raw and not raw[0].isspace() and raw[0] not in "{[),+-*/%^<>=!@;":
            continue
        if name not in found:
            found.append(name)
    return found


def grafana_variable_query(query):
    """The PromQL inside a Grafana Prometheus variable query."""
    q = query.strip()
    m = re.match(r"label_values\s*\((.*)\)\s*$", q, re.S)
    if m:
        inner = m.group(1)
        # label_values(expr, label) or label_values(label)
        depth = 0
        for i, ch in enumerate(inner):
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
            elif ch == "," and depth == 0:
                return inner[:i]
        return ""
    m = re.match(r"query_result\s*\((.*)\)\s*$", q, re.S)
    if m:
        return m.group(1)
    if re.match(r"(label_names|metrics)\s*\(", q):
        return ""
    return q


def known_from_exposition(path):
    """Metric names a text exposition file offers."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                    name = parts[2]
                    names.add(name)
                    if parts[1] == "TYPE" and len(parts) >= 4:
                        kind = parts[3]
                        if kind in ("histogram", "gaugehistogram"):
                            names.update({name + "_bucket", name + "_sum", name + "_count"})
                        elif kind == "summary":
                            names.update({name + "_sum", name + "_count"})
                        elif kind == "counter" and not name.endswith("_total"):
                            names.add(name + "_total")  # OpenMetrics style
                continue
            m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)", line)
            if m:
                names.add(m.group(1))
    return names


def _yaml_scalar(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return re.sub(r"\s+#.*$", "", value)


def read_rules(path):
    """(recording rule names, [(rule name, expr)]) of a rules file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    records, exprs = [], []
    current = None  # name of the rule being read (record or alert)
    pending_expr = []  # exprs of the current rule item seen before its name
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(-\s+)?(record|alert|expr):\s*(.*)$", line)
        if not m:
            i += 1
            continue
        indent = len(m.group(1)) + (len(m.group(2)) if m.group(2) else 0)
        key, value = m.group(3), m.group(4)
        if m.group(2):  # a new list item: a new rule
            current = None
        if key in ("record", "alert"):
            current = _yaml_scalar(value)
            if key == "record":
                records.append(current)
            for j, e in enumerate(pending_expr):
                exprs[e] = (current, exprs[e][1])
            pending_expr = []
            i += 1
            continue
        # expr
        i += 1
        if re.match(r"^[|>][+-]?\d*\s*(#.*)?$", value):
            block = []
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            text = "\n".join(block)
        else:
            text = value.strip()
            if text[:1] in "\"'":
                # quoted, possibly over several lines
                while (i < len(lines) and
                       not (len(text) >= 2 and text[-1] == text[0] and not text.endswith("\\" + text[0]))):
                    text += " " + lines[i].strip()
                    i += 1
                text = _yaml_scalar(text)
            else:
                # plain scalar continued on more-indented lines
                while (i < len(lines) and lines[i].strip() and
                       len(lines[i]) - len(lines[i].lstrip()) > indent and
                       not re.match(r"^\s*[A-Za-z_]+:(\s|$)", lines[i])):
                    text += " " + lines[i].strip()
                    i += 1
                text = _yaml_scalar(text)
        exprs.append((current or "?", text))
        if current is None:
            pending_expr.append(len(exprs) - 1)
    return records, exprs


class Invalid(Exception):
    pass


def dashboard_queries(dash):
    """Validate the dashboard's shape; yield (where, PromQL) for every query."""
    if not isinstance(dash, dict):
        raise Invalid("the dashboard is not a JSON object")
    for field, kind in (("title", str), ("uid", str), ("schemaVersion", int),
                        ("panels", list), ("templating", dict), ("time", dict)):
        if field not in dash:
            raise Invalid(f"top-level field {field!r} is missing")
        if not isinstance(dash[field], kind):
            raise Invalid(f"top-level field {field!r} is not a {kind.__name__}")
    if dash["schemaVersion"] < 30:
        raise Invalid(f"schemaVersion {dash['schemaVersion']} is too old (expected 30 or later)")
    variables = dash["templating"].get("list")
    if not isinstance(variables, list):
        raise Invalid("templating.list is missing")
    by_name = {v.get("name"): v for v in variables if isinstance(v, dict)}
    ds = by_name.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        raise Invalid("no DS_PROMETHEUS variable of type datasource (query prometheus)")
    if "instance" not in by_name:
        raise Invalid("no instance variable")
    for v in variables:
        if v.get("type") == "query":
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query", "")
            if not isinstance(q, str) or not q.strip():
                raise Invalid(f"variable {v.get('name')!r} has no query")
            yield f"variable ${v.get('name')}", grafana_variable_query(q)

    ids = set()

    def walk(panels, row_title):
        for p in panels:
            if not isinstance(p, dict):
                raise Invalid("a panel is not a JSON object")
            title = p.get("title")
            pid = p.get("id")
            if not isinstance(title, str) or not title:
                raise Invalid(f"panel {pid!r} has no title")
            if not isinstance(pid, int) or pid in ids:
                raise Invalid(f"panel {title!r}: missing or duplicate id {pid!r}")
            ids.add(pid)
            g = p.get("gridPos")
            if not (isinstance(g, dict) and all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y"))
                    and g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24):
                raise Invalid(f"panel {title!r}: bad gridPos {g!r}")
            if p.get("type") == "row":
                # An open row's panels follow it; a collapsed row holds them.
                row_title = title
                yield from walk(p.get("panels", []), title)
                continue
            targets = p.get("targets")
            if not isinstance(targets, list) or not targets:
                raise Invalid(f"panel {title!r} has no targets")
            pds = p.get("datasource", {})
            if not (isinstance(pds, dict) and pds.get("uid") == "${DS_PROMETHEUS}"):
                raise Invalid(f"panel {title!r}: datasource is not ${{DS_PROMETHEUS}}")
            for t in targets:
                expr = t.get("expr") if isinstance(t, dict) else None
                if not isinstance(expr, str) or not expr.strip():
                    raise Invalid(f"panel {title!r}: a target has no expr")
                yield f"{row_title} / {title} [{t.get('refId', '?')}]", expr

    yield from walk(dash["panels"], "-")
    if not ids:
        raise Invalid("the dashboard has no panels")


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dashboard", nargs="?", default=os.path.join(here, "cognate.json"))
    ap.add_argument("--metrics", action="append", default=[], metavar="FILE",
                    help="a text exposition file (repeatable)")
    ap.add_argument("--rules", action="append", default=[], metavar="FILE",
                    help="a Prometheus rules file (repeatable)")
    ap.add_argument("--check-rules", action="store_true",
                    help="also check the expressions of the rules files")
    ap.add_argument("--no-dashboard", action="store_true",
                    help="do not check a dashboard (use with --check-rules)")
    ap.add_argument("--list", action="store_true", help="print the names found")
    args = ap.parse_args(argv)

    if not args.metrics and not args.rules:
        ap.error("give --metrics FILE and/or --rules FILE")
    if args.check_rules and not args.rules:
        ap.error("--check-rules needs --rules FILE")
    if args.no_dashboard and not args.check_rules:
        ap.error("--no-dashboard leaves nothing to check without --check-rules")

    known = set(BUILTIN_SERIES)
    uses = []  # (where, [names])
    try:
        for path in args.metrics:
            names = known_from_exposition(path)
            if not names:
                raise Invalid(f"{path}: no metric found")
            known |= names
        for path in args.rules:
            records, exprs = read_rules(path)
            if not records and not exprs:
                raise Invalid(f"{path}: no rule found")
            known |= set(records)
            if args.check_rules:
                for name, expr in exprs:
                    uses.append((f"{os.path.basename(path)}: {name}", metric_names(expr)))
        if not args.no_dashboard:
            try:
                with open(args.dashboard, encoding="utf-8") as f:
                    dash = json.load(f)
            except json.JSONDecodeError as e:
                raise Invalid(f"{args.dashboard}: not valid JSON: {e}")
            for where, expr in dashboard_queries(dash):
                uses.append((where, metric_names(expr)))
    except (Invalid, OSError) as e:
        print(f"check_dashboard: {e}", file=sys.stderr)
        return 2

    unknown = {}
    for where, names in uses:
        if args.list:
            print(f"{where}: {', '.join(names) or '(none)'}")
        for n in names:
            if n not in known:
                unknown.setdefault(n, []).append(where)
    checked = sum(1 for _ in uses)
    if unknown:
        print(f"check_dashboard: {len(unknown)} unknown metric name(s):", file=sys.stderr)
        for n in sorted(unknown):
            print(f"  {n}  (used by: {'; '.join(unknown[n])})", file=sys.stderr)
        return 1
    distinct = sorted({n for _, names in uses for n in names})
    print(f"check_dashboard: OK: {checked} expressions, {len(distinct)} distinct metric names, all known")
    return 0


if __name__ == "__main__":
    sys.exit(main())
