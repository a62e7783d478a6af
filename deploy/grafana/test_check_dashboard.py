#!/usr/bin/env python3
"""Tests of check_dashboard.py (stdlib unittest). Run: python3 test_check_dashboard.py"""

import contextlib
import io
import json
import os
import tempfile
import unittest

import check_dashboard as cd

HERE = os.path.dirname(os.path.abspath(__file__))
DASHBOARD = os.path.join(HERE, "cognate.json")
METRICS = os.path.join(HERE, "testdata", "metrics.txt")
RULES = os.path.join(HERE, "..", "prometheus", "cognate.rules.yml")


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cd.main(list(argv))
    return code, out.getvalue(), err.getvalue()


class MetricNames(unittest.TestCase):
    def test_labels_functions_and_clauses_are_not_metrics(self):
        expr = ('histogram_quantile(0.99, sum by (operation, le) '
                '(rate(cognate_request_duration_seconds_bucket{job="$job", instance=~"$instance", le!="0.5"}[$__rate_interval])))')
        self.assertEqual(cd.metric_names(expr), ["cognate_request_duration_seconds_bucket"])

    def test_binary_operators_and_matching(self):
        expr = ('process_open_fds / (process_max_fds > 0) > 0.8\n'
                'and on (job, instance) group_left (version) cognate_build_info')
        self.assertEqual(cd.metric_names(expr), ["process_open_fds", "process_max_fds", "cognate_build_info"])

    def test_numbers_durations_offsets_strings(self):
        expr = ('clamp_min(foo_total offset 5m, 1e-9) * 200 * 1024 + '
                'label_replace(bar, "dst", "$1", "src", "(.*)") - time() - -baz')
        self.assertEqual(cd.metric_names(expr), ["foo_total", "bar", "baz"])

    def test_recording_rule_names_and_without(self):
        expr = 'sum without (instance) (cognate:requests:rate5m) > 0 unless absent(up)'
        self.assertEqual(cd.metric_names(expr), ["cognate:requests:rate5m", "up"])

    def test_grafana_variables(self):
        self.assertEqual(cd.metric_names('sum(increase(x_total{a="${instance:regex}"}[$__range]))'), ["x_total"])

    def test_variable_queries(self):
        self.assertEqual(cd.grafana_variable_query('label_values(cognate_build_info{job="$job"}, instance)'),
                         'cognate_build_info{job="$job"}')
        self.assertEqual(cd.grafana_variable_query("label_values(job)"), "")
        self.assertEqual(cd.grafana_variable_query("query_result(up == 1)"), "up == 1")


class Exposition(unittest.TestCase):
    def test_histogram_suffixes(self):
        names = cd.known_from_exposition(METRICS)
        for n in ("cognate_db_pool_acquire_duration_seconds_bucket",
                  "cognate_db_pool_acquire_duration_seconds_sum",
                  "cognate_db_pool_acquire_duration_seconds_count",
                  "cognate_requests_total", "process_start_time_seconds"):
            self.assertIn(n, names)


class Rules(unittest.TestCase):
    def test_reads_records_and_exprs(self):
        records, exprs = cd.read_rules(RULES)
        self.assertIn("cognate:requests:rate5m", records)
        by_name = dict(exprs)
        self.assertIn("cognate_requests_total", by_name["cognate:internal_errors:ratio_rate5m"])
        self.assertEqual(by_name["CognateDatabaseDown"], "cognate_db_up == 0")

    def test_quoted_and_plain_exprs(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write('groups:\n- name: g\n  rules:\n'
                    '  - expr: "rate(a_total[5m])"\n    record: r:a\n'
                    "  - record: r:b\n    expr: 'b{x=\"y\"} > 0'\n"
                    '  - alert: C\n    expr: c_total\n      > 3\n    for: 1m\n')
        try:
            records, exprs = cd.read_rules(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(records, ["r:a", "r:b"])
        self.assertEqual(exprs, [("r:a", "rate(a_total[5m])"), ("r:b", 'b{x="y"} > 0'), ("C", "c_total > 3")])


class Command(unittest.TestCase):
    def test_dashboard_and_rules_pass(self):
        code, out, err = run(DASHBOARD, "--metrics", METRICS, "--rules", RULES, "--check-rules")
        self.assertEqual(code, 0, err)
        self.assertIn("all known", out)

    def test_recording_rules_unknown_without_rules_file(self):
        code, _, err = run(DASHBOARD, "--metrics", METRICS)
        self.assertEqual(code, 1)
        self.assertIn("cognate:throttled_requests:rate5m", err)

    def test_unknown_metric_in_a_panel_fails(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        panel = next(p for p in dash["panels"] if p["type"] != "row")
        panel["targets"][0]["expr"] = 'sum(rate(cognate_made_up_total{job="$job"}[5m]))'
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(dash, f)
        try:
            code, _, err = run(f.name, "--metrics", METRICS, "--rules", RULES)
        finally:
            os.unlink(f.name)
        self.assertEqual(code, 1)
        self.assertIn("cognate_made_up_total", err)
        self.assertIn(panel["title"], err)

    def test_unknown_metric_in_a_rule_fails(self):
        with open(RULES, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("expr: cognate_db_up == 0", "expr: cognate_database_up == 0")
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write(text)
        try:
            code, _, err = run("--no-dashboard", "--metrics", METRICS, "--rules", f.name, "--check-rules")
        finally:
            os.unlink(f.name)
        self.assertEqual(code, 1)
        self.assertIn("cognate_database_up", err)
        self.assertIn("CognateDatabaseDown", err)

    def test_invalid_dashboards(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        no_ds = dict(dash, templating={"list": [v for v in dash["templating"]["list"] if v["name"] != "DS_PROMETHEUS"]})
        no_panels = {k: v for k, v in dash.items() if k != "panels"}
        for bad in ("{not json", json.dumps(no_ds), json.dumps(no_panels)):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                f.write(bad)
            try:
                code, _, _ = run(f.name, "--metrics", METRICS)
            finally:
                os.unlink(f.name)
            self.assertEqual(code, 2, bad[:40])


if __name__ == "__main__":
    unittest.main()
