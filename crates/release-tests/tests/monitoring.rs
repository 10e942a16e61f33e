//! The chart's Grafana dashboard and PrometheusRule alerts (`grafanaDashboard`,
//! `prometheusRule` values), rendered by the real `helm`: every PromQL
//! expression parses (promql-parser), and every metric and label it selects is
//! one capmaas-manager really exports (read from the controller's own metrics
//! registry, each family fed one sample so its labels show).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use capmaas_controller::metrics::{MaasObserver, Metrics};
use common::{docs, helm, one};
use maas_api::{RequestEvent, RequestObserver};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;

const CHART: &str = "charts/capmaas";
/// Labels Prometheus adds to every scraped series (the ServiceMonitor's target labels).
const TARGET_LABELS: &[&str] = &[
    "namespace",
    "pod",
    "job",
    "instance",
    "service",
    "container",
];

fn render(sets: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "capmaas",
        CHART,
        "--namespace",
        "capmaas-system",
        "--kube-version",
        "1.36.0",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let text = helm(&args).unwrap();
    docs(&text, &format!("helm template {sets:?}"))
}

/// Series name → its label names, as the manager's registry encodes them.
fn exported_series() -> BTreeMap<String, BTreeSet<String>> {
    let m = std::sync::Arc::new(Metrics::new());
    m.reconciled("MaasMachine", true, Duration::from_millis(3));
    m.error("MaasMachine", "transient");
    m.machine_state("ns/a", Some("Deploying"));
    m.poller_list();
    m.workload_sync("set");
    m.workload_clients(1);
    m.kube_request("patch");
    MaasObserver(m.clone()).observe(&RequestEvent {
        method: "POST",
        endpoint: "machines/",
        op: Some("allocate"),
        status: Some(200),
        latency: Duration::from_millis(20),
        attempt: 1,
        error_class: None,
    });
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut families = BTreeSet::new();
    for line in m.encode().lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split_whitespace().next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let labels = series.entry(name.to_owned()).or_default();
        if line[name_end..].starts_with('{') {
            let body = &line[name_end + 1..line.find('}').unwrap()];
            for pair in body.split(',').filter(|p| !p.is_empty()) {
                labels.insert(pair.split('=').next().unwrap().to_owned());
            }
        }
    }
    // Every registered family shows at least one series (the samples above cover all).
    for f in &families {
        assert!(
            series
                .keys()
                .any(|s| s == f || s.starts_with(&format!("{f}_"))),
            "family {f} has no sample: feed it in exported_series()"
        );
    }
    series
}

#[derive(Default)]
struct Selectors(Vec<(String, Vec<String>)>);

impl ExprVisitor for Selectors {
    type Error = String;
    fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
        let vs = match e {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let name = vs
            .name
            .clone()
            .ok_or_else(|| format!("a selector without a metric name: {e}"))?;
        let labels = vs
            .matchers
            .matchers
            .iter()
            .map(|m| m.name.clone())
            .filter(|n| n != "__name__")
            .collect();
        self.0.push((name, labels));
        Ok(true)
    }
}

/// Parses `expr` and checks each selector against the exported series; returns the metric names.
fn check_expr(
    expr: &str,
    exported: &BTreeMap<String, BTreeSet<String>>,
    origin: &str,
) -> Vec<String> {
    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{origin}: {expr:?}: {e}"));
    let mut v = Selectors::default();
    walk_expr(&mut v, &parsed).unwrap_or_else(|e| panic!("{origin}: {e}"));
    assert!(!v.0.is_empty(), "{origin}: {expr:?} selects no metric");
    for (name, labels) in &v.0 {
        let known = exported.get(name).unwrap_or_else(|| {
            panic!(
                "{origin}: {name} is not a metric capmaas-manager exports: {:?}",
                exported.keys().collect::<Vec<_>>()
            )
        });
        for l in labels {
            assert!(
                known.contains(l) || TARGET_LABELS.contains(&l.as_str()),
                "{origin}: {name} has no label {l:?} (it has {known:?})"
            );
        }
    }
    v.0.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn exported_series_are_read_from_the_registry() {
    let s = exported_series();
    // The parser of exported_series() itself: counters get _total, histograms _bucket/_sum/_count.
    assert!(s["capmaas_reconcile_errors_total"].contains("class"));
    assert!(s["capmaas_maas_request_duration_seconds_bucket"].contains("le"));
    assert!(s.contains_key("capmaas_poller_lists_total"));
    assert!(!s.contains_key("capmaas_reconciles"));
    let mut sample = BTreeMap::new();
    sample.insert("capmaas_up".to_owned(), BTreeSet::new());
    let err = std::panic::catch_unwind(|| check_expr("capmaas_down > 0", &sample, "t"));
    assert!(err.is_err(), "an unknown metric is refused");
    let err = std::panic::catch_unwind(|| check_expr("capmaas_up{state=\"x\"}", &sample, "t"));
    assert!(err.is_err(), "an unknown label is refused");
    let err = std::panic::catch_unwind(|| check_expr("sum(rate(capmaas_up[5m])", &sample, "t"));
    assert!(err.is_err(), "a PromQL syntax error is refused");
}

#[test]
fn the_alerts_use_only_exported_metrics() {
    let exported = exported_series();
    assert!(
        render(&[]).iter().all(|d| d["kind"] != "PrometheusRule"),
        "off by default"
    );
    let d = render(&[
        "prometheusRule.enabled=true",
        "prometheusRule.labels.release=prom",
        "deployTimeout=2h",
    ]);
    let rule = one(&d, "PrometheusRule", "capmaas");
    assert_eq!(rule["metadata"]["labels"]["release"], "prom");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let mut alerts = BTreeMap::new();
    let mut used = BTreeSet::new();
    for r in rules {
        let name = r["alert"].as_str().unwrap().to_owned();
        let expr = r["expr"].as_str().unwrap();
        used.extend(check_expr(expr, &exported, &name));
        assert!(
            expr.contains(r#"namespace="capmaas-system""#),
            "{name}: scoped to the release namespace: {expr}"
        );
        for key in ["summary", "description"] {
            assert!(
                r["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name}: {key}"
            );
        }
        assert!(
            ["critical", "warning"].contains(&r["labels"]["severity"].as_str().unwrap()),
            "{name}"
        );
        alerts.insert(name, r.clone());
    }
    for a in [
        "CapmaasManagerAbsent",
        "CapmaasMaasUnreachable",
        "CapmaasMachinesStuckDeploying",
        "CapmaasMachinesStuckReleasing",
        "CapmaasDeployFailed",
        "CapmaasReconcileErrors",
        "CapmaasPermanentErrors",
    ] {
        assert!(alerts.contains_key(a), "{a} missing: {:?}", alerts.keys());
    }
    // The stuck-deploying alert waits the manager's own deploy timeout (the chart value).
    assert_eq!(alerts["CapmaasMachinesStuckDeploying"]["for"], "2h");
    assert_eq!(alerts["CapmaasMachinesStuckReleasing"]["for"], "30m");
    assert!(
        alerts["CapmaasReconcileErrors"]["expr"]
            .as_str()
            .unwrap()
            .contains("by (namespace, pod, kind, class)"),
        "reconcile errors are reported by class"
    );
    for m in [
        "capmaas_maas_requests_total",
        "capmaas_maas_machines",
        "capmaas_reconcile_errors_total",
    ] {
        assert!(used.contains(m), "{m} unused: {used:?}");
    }
    // An explicit wait overrides the deploy timeout.
    let d = render(&[
        "prometheusRule.enabled=true",
        "prometheusRule.deployStuckFor=3h",
    ]);
    let rules = &one(&d, "PrometheusRule", "capmaas")["spec"]["groups"][0]["rules"];
    let stuck = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == "CapmaasMachinesStuckDeploying")
        .unwrap();
    assert_eq!(stuck["for"], "3h");
    let err = helm(&[
        "template",
        "capmaas",
        CHART,
        "--set",
        "prometheusRule.releaseStuckFor=soon",
    ])
    .unwrap_err();
    assert!(err.contains("/prometheusRule/releaseStuckFor"), "{err}");
}

#[test]
fn the_dashboard_is_grafana_json_over_exported_metrics() {
    let exported = exported_series();
    assert!(
        render(&[]).iter().all(|d| d["kind"] != "ConfigMap"),
        "off by default"
    );
    let d = render(&["grafanaDashboard.enabled=true"]);
    let cm = one(&d, "ConfigMap", "capmaas-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = cm["data"]["capmaas.json"].as_str().unwrap();
    let dash: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("dashboard JSON: {e}"));
    // The file the chart ships, byte for byte.
    let file = std::fs::read_to_string(common::root().join(CHART).join("dashboards/capmaas.json"))
        .unwrap();
    assert_eq!(text.trim_end(), file.trim_end());

    assert_eq!(dash["uid"], "capmaas-manager");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 30);
    let vars = dash["templating"]["list"].as_array().unwrap();
    let var_names: BTreeSet<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(var_names, BTreeSet::from(["datasource", "namespace"]));
    for v in vars.iter().filter(|v| v["type"] == "query") {
        // label_values(<metric>, <label>)
        let q = v["query"]["query"].as_str().unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap();
        let (metric, label) = inner.split_once(", ").unwrap();
        assert!(exported.contains_key(metric), "variable query {q}");
        assert!(TARGET_LABELS.contains(&label), "variable query {q}");
    }

    let panels = dash["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut exprs = 0;
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{}",
            p["title"]
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains(r#"namespace=~"$namespace""#), "{expr}");
            // Grafana's variables, as Grafana substitutes them.
            let promql = expr
                .replace("$__rate_interval", "5m")
                .replace("$namespace", ".*");
            used.extend(check_expr(&promql, &exported, p["title"].as_str().unwrap()));
            exprs += 1;
        }
    }
    assert!(exprs >= 10, "{exprs} expressions");
    // Every family the manager exports is on the dashboard.
    let families: BTreeSet<String> = exported
        .keys()
        .map(|s| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| s.strip_suffix(suffix))
                .unwrap_or(s)
                .to_owned()
        })
        .collect();
    for f in &families {
        assert!(
            used.iter()
                .any(|u| u == f || u.starts_with(&format!("{f}_"))),
            "{f} is not on the dashboard"
        );
    }
}
