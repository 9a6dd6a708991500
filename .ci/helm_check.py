"""Render, lint and validate the Helm chart in helm/headway offline.

Run through .ci/helm-check, which installs helm-python-sdk (Helm's Go library behind a C
interface) and kubernetes-validate (the Kubernetes OpenAPI schemas as JSON Schema) into a
virtualenv. No cluster and no helm binary are involved.

Every valid value set is checked against values.schema.json, linted with `helm lint
--strict`, rendered, and each rendered object is validated against the strict Kubernetes
schemas of the oldest supported and the newest bundled Kubernetes version. The rendered
objects must also match the values (which objects exist, which variables the server gets,
the security settings), and every variable the chart sets must be a row of
docs/configuration.md, the server's own list of settings. Every invalid value set must fail
rendering with the expected error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import kubernetes_validate
import kubernetes_validate.utils
import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "helm" / "headway"
RELEASE = "headway"
NAMESPACE = "okr"

# The oldest version matches kubeVersion in Chart.yaml.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]

# Custom resources have no schema in kubernetes-validate, so only the assertions in
# check_objects check them.
NOT_IN_KUBERNETES_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

# The output of `headway print-config`: one table row per variable the server reads.
CONFIGURATION_DOC = REPO / "docs" / "configuration.md"

# ConfigMap variables that are always set, with the value path they come from.
ALWAYS_SET = {
    "HEADWAY_DATABASE_MAX_CONNECTIONS": "database.maxConnections",
    "HEADWAY_JWT_ISSUER": "jwt.issuer",
    "HEADWAY_JWT_AUDIENCE": "jwt.audience",
    "HEADWAY_JWT_LEEWAY_SECONDS": "jwt.leewaySeconds",
    "HEADWAY_WORKERS": "server.workers",
    "HEADWAY_MAX_BODY_BYTES": "server.maxBodyBytes",
    "HEADWAY_REQUEST_TIMEOUT_MS": "server.requestTimeoutMs",
    "HEADWAY_MAX_BATCH_OPERATIONS": "server.maxBatchOperations",
    "HEADWAY_MAX_QUERY_DEPTH": "server.maxQueryDepth",
    "HEADWAY_MAX_QUERY_COMPLEXITY": "server.maxQueryComplexity",
    "HEADWAY_MAX_ALIASES": "server.maxAliases",
    "HEADWAY_RATE_LIMIT_PER_SECOND": "server.rateLimitPerSecond",
    "HEADWAY_RATE_LIMIT_BURST": "server.rateLimitBurst",
    "HEADWAY_INTROSPECTION": "server.introspection",
    "HEADWAY_FIELD_SUGGESTIONS": "server.fieldSuggestions",
    "HEADWAY_SEED_DEMO": "server.seedDemo",
    "HEADWAY_SHUTDOWN_DELAY_SECONDS": "shutdown.delaySeconds",
    "HEADWAY_SHUTDOWN_GRACE_SECONDS": "shutdown.graceSeconds",
    "RUST_LOG": "logging.level",
}

# ConfigMap variables that are set only when their value is not empty.
SET_WHEN_NOT_EMPTY = {
    "HEADWAY_LOG_FORMAT": "logging.format",
    "HEADWAY_WEBHOOK_ALLOW_NETWORKS": "webhooks.allowNetworks",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "otel.endpoint",
    "OTEL_SERVICE_NAME": "otel.serviceName",
    "OTEL_RESOURCE_ATTRIBUTES": "otel.resourceAttributes",
}

# Value sets that must fail. Each has a name, the values, the stage that rejects them
# ("schema" for values.schema.json, "template" for a cross-field rule in _helpers.tpl), and
# texts that the error must contain.
INVALID_VALUE_SETS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "wrong types, enums and minimums",
        {
            "replicaCount": "three",
            "image": {"pullPolicy": "Sometimes"},
            "server": {"maxQueryDepth": 0},
            "logging": {"format": "xml"},
            "shutdown": {"graceSeconds": -1},
        },
        "schema",
        [
            "at '/replicaCount'",
            "at '/image/pullPolicy'",
            "at '/server/maxQueryDepth'",
            "at '/logging/format'",
            "at '/shutdown/graceSeconds'",
        ],
    ),
    (
        "negative rate limit",
        {"server": {"rateLimitPerSecond": -1, "rateLimitBurst": 0}},
        "schema",
        ["at '/server/rateLimitPerSecond'", "at '/server/rateLimitBurst'"],
    ),
    (
        "unknown public key algorithm",
        {"jwt": {"publicKeys": {"algorithm": "HS256"}}},
        "schema",
        ["at '/jwt/publicKeys/algorithm'"],
    ),
    ("https trace endpoint", {"otel": {"endpoint": "https://collector:4318"}}, "schema", ["at '/otel/endpoint'"]),
    (
        "unknown webhook network",
        {"webhooks": {"allowNetworks": ["public"]}},
        "schema",
        ["at '/webhooks/allowNetworks/0'"],
    ),
    ("unknown value name", {"replicas": 3}, "schema", ["additional properties 'replicas'"]),
    ("no signing key at all", {"jwt": {"existingSecret": {"name": ""}}}, "schema", ["at '/jwt'"]),
    (
        "public keys without a file",
        {"jwt": {"publicKeys": {"enabled": True, "existingSecret": "idp-keys"}}},
        "schema",
        ["at '/jwt/publicKeys'"],
    ),
    ("ingress without hosts", {"ingress": {"enabled": True, "hosts": []}}, "schema", ["at '/ingress/hosts'"]),
    (
        "secret name with capitals",
        {"database": {"existingSecret": {"name": "DB"}}},
        "schema",
        ["at '/database/existingSecret/name'"],
    ),
    ("numeric extraEnv value", {"extraEnv": [{"name": "A", "value": 1}]}, "schema", ["at '/extraEnv/0/value'"]),
    (
        "minReplicas above maxReplicas",
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}},
        "template",
        ["autoscaling.minReplicas (5) is greater than autoscaling.maxReplicas (2)"],
    ),
    (
        "both disruption budget fields",
        {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}},
        "template",
        ["podDisruptionBudget: set only one of minAvailable and maxUnavailable"],
    ),
    (
        "preStop sleep longer than the grace period",
        {"preStopSleepSeconds": 60, "terminationGracePeriodSeconds": 45},
        "template",
        [
            "preStopSleepSeconds (60) + shutdown.delaySeconds (0) + shutdown.graceSeconds (30) = 90 "
            "must be less than terminationGracePeriodSeconds (45)"
        ],
    ),
    (
        "shutdown sum equal to the grace period",
        {"preStopSleepSeconds": 5, "shutdown": {"delaySeconds": 10, "graceSeconds": 30}},
        "template",
        [
            "preStopSleepSeconds (5) + shutdown.delaySeconds (10) + shutdown.graceSeconds (30) = 45 "
            "must be less than terminationGracePeriodSeconds (45)"
        ],
    ),
]


class Report:
    """Counts the checks and prints one line for each."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, case: str, step: str, run: Callable[[], str | None]) -> None:
        """Call `run`, which returns an optional detail and raises on failure, and print the outcome.

        A missing field in a rendered object (KeyError, IndexError, StopIteration) counts as
        a failure too.
        """
        try:
            detail = run()
        except (
            AssertionError,
            ValueError,
            helm.HelmError,
            kubernetes_validate.ValidationError,
            KeyError,
            IndexError,
            StopIteration,
        ) as error:
            self.failed += 1
            reason = str(error) if isinstance(error, (AssertionError, helm.HelmError)) else repr(error)
            print(f"FAIL {case}: {step}: {reason}")
            return
        self.passed += 1
        print(f"ok   {case}: {step}" + (f" ({detail})" if detail else ""))


def lookup(values: dict[str, Any], dotted_path: str) -> Any:
    for key in dotted_path.split("."):
        values = values[key]
    return values


def env_text(value: Any) -> str:
    """Format a value as the chart writes it into an environment variable."""
    if isinstance(value, list):
        return ",".join(env_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Parse the rendered templates into objects, leaving out NOTES.txt and empty documents."""
    objects = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise AssertionError(f"{template} is not valid YAML: {error}") from error
        for document in documents:
            if document is None:
                continue
            assert isinstance(document, dict), f"{template} rendered a non-object document"
            for field in ("apiVersion", "kind", "metadata"):
                assert field in document, f"{template} rendered an object without {field}"
            objects.append(document)
    return objects


def check_lint(values: dict[str, Any]) -> str | None:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBERNETES_VERSIONS[0]}")
    # Severity 1 is information, such as "icon is recommended". Severity 2 and 3 are warnings
    # and errors.
    problems = [f"{m['path']}: {m['error'].strip()}" for m in report["messages"] if m["severity"] >= 2]
    problems += [error.strip() for error in report["errors"] if error.strip() not in " ".join(problems)]
    assert not problems, "; ".join(problems)
    notes = [m["error"] for m in report["messages"] if m["severity"] < 2]
    return f"info: {'; '.join(notes)}" if notes else None


def check_kubernetes_schemas(objects: list[dict[str, Any]]) -> str | None:
    skipped = []
    for item in objects:
        name = f"{item['kind']}/{item['metadata']['name']}"
        if (item["apiVersion"], item["kind"]) in NOT_IN_KUBERNETES_SCHEMAS:
            skipped.append(name)
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(item, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                raise AssertionError(f"{name} is invalid for Kubernetes {version} at {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                raise AssertionError(error.message)
    validated = len(objects) - len(skipped)
    detail = f"{validated} objects against Kubernetes {' and '.join(KUBERNETES_VERSIONS)}"
    if skipped:
        detail += f"; skipped {', '.join(skipped)}, a custom resource with no Kubernetes schema"
    return detail


def find(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [item for item in objects if item["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def documented_variables() -> set[str]:
    """Return the variables in the first column of the table in docs/configuration.md."""
    rows = [line for line in CONFIGURATION_DOC.read_text().splitlines() if line.startswith("| `")]
    variables = {row.split("`")[1] for row in rows}
    assert "HEADWAY_DATABASE_URL" in variables, f"no variable table found in {CONFIGURATION_DOC}"
    return variables


def check_variables_known(variables: set[str]) -> None:
    """Check that the server reads every variable that the chart sets."""
    unknown = sorted(variables - documented_variables())
    assert not unknown, (
        f"the chart sets {', '.join(unknown)}, which {CONFIGURATION_DOC.relative_to(REPO)} does not list, "
        "so the server ignores it; use a variable from that file"
    )


def chart_variables(objects: list[dict[str, Any]], values: dict[str, Any]) -> set[str]:
    """Return the names of the variables that the chart itself sets, leaving out extraEnv.

    check_deployment checks that the extraEnv entries come last in the server's env list.
    """
    names = set(find(objects, "ConfigMap")["data"])
    server_env = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    names |= {entry["name"] for entry in server_env[: len(server_env) - len(values["extraEnv"])]}
    if values["migrations"]["enabled"]:
        for container in find(objects, "Job")["spec"]["template"]["spec"]["containers"]:
            names |= {entry["name"] for entry in container["env"]}
    return names


def check_unknown_variable_rejected() -> str:
    """Check that check_variables_known fails on a variable that the server does not read."""
    try:
        check_variables_known({"HEADWAY_LISTEN", "HEADWAY_JWT_ALGORITHMS"})
    except AssertionError as error:
        return str(error)
    raise AssertionError("check_variables_known accepted HEADWAY_JWT_ALGORITHMS, which the server does not read")


def check_objects(objects: list[dict[str, Any]], values: dict[str, Any]) -> str | None:
    """Check that the rendered objects follow the merged values."""
    kinds = check_kinds(objects, values)
    check_variables_known(chart_variables(objects, values))
    config = find(objects, "ConfigMap")["data"]
    check_config_map(config, values)
    deployment = find(objects, "Deployment")
    check_deployment(deployment, values)
    if values["migrations"]["enabled"]:
        check_migration_job(find(objects, "Job"), values)
    check_optional_objects(objects, values)

    service_selector = find(objects, "Service")["spec"]["selector"]
    assert service_selector == deployment["spec"]["selector"]["matchLabels"], "Service and Deployment selectors differ"
    assert service_selector["app.kubernetes.io/component"] == "server", service_selector
    return f"{len(objects)} objects: {', '.join(kinds)}"


def check_kinds(objects: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    kinds = sorted(item["kind"] for item in objects)
    expected = {"ConfigMap", "Deployment", "Service"}
    optional = {
        "Job": values["migrations"]["enabled"],
        "HorizontalPodAutoscaler": values["autoscaling"]["enabled"],
        "Ingress": values["ingress"]["enabled"],
        "PodDisruptionBudget": values["podDisruptionBudget"]["enabled"],
        "ServiceMonitor": values["serviceMonitor"]["enabled"],
    }
    expected |= {kind for kind, enabled in optional.items() if enabled}
    assert kinds == sorted(expected), f"rendered kinds {kinds}, expected {sorted(expected)}"
    assert "Secret" not in kinds, "the chart must never create a Secret"
    for item in objects:
        assert len(item["metadata"]["name"]) <= 63, f"name {item['metadata']['name']} is longer than 63"
    return kinds


def check_config_map(config: dict[str, str], values: dict[str, Any]) -> None:
    expected = {"HEADWAY_LISTEN": "0.0.0.0:8080", "HEADWAY_MODE": "production"}
    for variable, path in ALWAYS_SET.items():
        expected[variable] = env_text(lookup(values, path))
    for variable, path in SET_WHEN_NOT_EMPTY.items():
        if lookup(values, path):
            expected[variable] = env_text(lookup(values, path))
    public_keys = values["jwt"]["publicKeys"]
    if public_keys["enabled"]:
        for variable, key in (("HEADWAY_JWT_PUBLIC_KEY_FILE", "publicKeyFile"), ("HEADWAY_JWKS_FILE", "jwksFile")):
            if public_keys[key]:
                expected[variable] = f"{public_keys['mountPath']}/{public_keys[key]}"
        if public_keys["publicKeyFile"]:
            expected["HEADWAY_JWT_PUBLIC_KEY_ALGORITHM"] = public_keys["algorithm"]
    for variable in sorted(expected.keys() | config.keys()):
        assert config.get(variable) == expected.get(variable), (
            f"ConfigMap {variable} is {config.get(variable)!r}, expected {expected.get(variable)!r}"
        )


def check_deployment(deployment: dict[str, Any], values: dict[str, Any]) -> None:
    assert ("replicas" in deployment["spec"]) != values["autoscaling"]["enabled"], (
        "the Deployment must set replicas exactly when autoscaling is disabled"
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["serve"], container["args"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}], container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    check_security(container["securityContext"], pod["securityContext"])
    assert pod["automountServiceAccountToken"] is False

    secret_env = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    expected_secrets = {"HEADWAY_DATABASE_URL": values["database"]["existingSecret"]}
    if values["redis"]["enabled"]:
        expected_secrets["HEADWAY_REDIS_URL"] = values["redis"]["existingSecret"]
    if values["jwt"]["existingSecret"]["name"]:
        expected_secrets["HEADWAY_JWT_SECRET"] = values["jwt"]["existingSecret"]
    assert secret_env == expected_secrets, f"secret references {secret_env}, expected {expected_secrets}"

    # Kubernetes uses the last definition of a repeated name, so extraEnv must come last to
    # override the chart's own variables.
    extra_names = [entry["name"] for entry in values["extraEnv"]]
    env_names = [entry["name"] for entry in container["env"]]
    if extra_names:
        assert env_names[-len(extra_names) :] == extra_names, f"extraEnv is not last in the env list {env_names}"

    public_keys = values["jwt"]["publicKeys"]
    if public_keys["enabled"]:
        mount = container["volumeMounts"][0]
        assert mount["mountPath"] == public_keys["mountPath"], mount
        assert mount["readOnly"] is True, mount
        assert pod["volumes"][0]["secret"]["secretName"] == public_keys["existingSecret"], pod["volumes"]
    else:
        assert "volumeMounts" not in container, "no volume mount expected without jwt.publicKeys"
        assert "volumes" not in pod, "no volume expected without jwt.publicKeys"


def check_optional_objects(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """Check the HorizontalPodAutoscaler, PodDisruptionBudget, Ingress and ServiceMonitor."""
    autoscaling = values["autoscaling"]
    if autoscaling["enabled"]:
        spec = find(objects, "HorizontalPodAutoscaler")["spec"]
        assert spec["minReplicas"] == autoscaling["minReplicas"], spec
        assert spec["maxReplicas"] == autoscaling["maxReplicas"], spec
        targets = {
            metric["resource"]["name"]: metric["resource"]["target"]["averageUtilization"]
            for metric in spec["metrics"]
        }
        expected_targets = {"cpu": autoscaling["targetCPUUtilizationPercentage"]}
        if autoscaling.get("targetMemoryUtilizationPercentage") is not None:
            expected_targets["memory"] = autoscaling["targetMemoryUtilizationPercentage"]
        assert targets == expected_targets, f"autoscaler targets {targets}, expected {expected_targets}"

    budget = values["podDisruptionBudget"]
    if budget["enabled"]:
        spec = find(objects, "PodDisruptionBudget")["spec"]
        limits = {key: spec[key] for key in ("minAvailable", "maxUnavailable") if key in spec}
        expected_limits = {
            key: budget[key] for key in ("minAvailable", "maxUnavailable") if budget.get(key) is not None
        } or {"maxUnavailable": 1}
        assert limits == expected_limits, f"disruption budget {limits}, expected {expected_limits}"

    ingress = values["ingress"]
    if ingress["enabled"]:
        spec = find(objects, "Ingress")["spec"]
        assert spec.get("ingressClassName") == (ingress["className"] or None), spec
        hosts = [rule.get("host", "") for rule in spec["rules"]]
        assert hosts == [host["host"] for host in ingress["hosts"]], f"Ingress hosts {hosts}"
        assert spec.get("tls", []) == ingress["tls"], f"Ingress TLS {spec.get('tls')}"
        for rule in spec["rules"]:
            for path in rule["http"]["paths"]:
                assert not routes_metrics(path["path"], path["pathType"]), (
                    f"the Ingress routes /metrics through {path['path']} ({path['pathType']})"
                )

    monitor = values["serviceMonitor"]
    if monitor["enabled"]:
        endpoint = find(objects, "ServiceMonitor")["spec"]["endpoints"][0]
        assert endpoint["port"] == "http", endpoint
        assert endpoint["path"] == monitor["path"], endpoint


def routes_metrics(path: str, path_type: str) -> bool:
    """Check whether an Ingress path matches /metrics, which must stay inside the cluster.

    Prefix matches whole path elements. ImplementationSpecific depends on the controller, so
    it is checked as a plain string prefix, the broadest reading.
    """
    if path_type == "Exact":
        return path == "/metrics"
    if path_type == "Prefix":
        return path.rstrip("/") in ("", "/metrics")
    return "/metrics".startswith(path)


def check_security(container: dict[str, Any], pod: dict[str, Any]) -> None:
    assert container["runAsNonRoot"] is True, container
    assert container["runAsUser"] == 65532, container
    assert container["readOnlyRootFilesystem"] is True, container
    assert container["allowPrivilegeEscalation"] is False, container
    assert container["capabilities"] == {"drop": ["ALL"]}, container
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, pod


def check_migration_job(job: dict[str, Any], values: dict[str, Any]) -> None:
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade", annotations
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded", annotations
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["migrate"], container["args"]
    database = next(entry for entry in container["env"] if entry["name"] == "HEADWAY_DATABASE_URL")
    assert database["valueFrom"]["secretKeyRef"] == values["database"]["existingSecret"], database
    assert "envFrom" not in container, "a pre-install hook cannot use the chart's ConfigMap, which does not exist yet"
    check_security(container["securityContext"], pod["securityContext"])
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations"


def value_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Return the dotted paths of the leaves of a values tree. An empty map counts as a leaf."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += value_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def check_values_documented() -> str:
    """Check that the values table of docs/deploy.md lists every default value and no other.

    A row documents a value and everything below it, so `resources` covers
    `resources.requests.cpu`.
    """
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    guide = (REPO / "docs" / "deploy.md").read_text()
    table = guide[guide.index("## Chart values") :]
    documented = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    paths = value_paths(defaults)

    def covers(row: str, path: str) -> bool:
        return path == row or path.startswith(f"{row}.")

    missing = [path for path in paths if not any(covers(row, path) for row in documented)]
    unknown = [row for row in documented if not any(covers(row, path) for path in paths)]
    assert not missing, f"docs/deploy.md does not list {', '.join(missing)}"
    assert not unknown, f"docs/deploy.md lists {', '.join(unknown)}, which values.yaml does not have"
    return f"{len(documented)} rows cover {len(paths)} values"


def check_valid_set(report: Report, chart: helm.Chart, case: str, values: dict[str, Any]) -> dict[str, Any]:
    merged = chart.merge_values(values)
    report.check(case, "values.schema.json", lambda: chart.validate_schema(values))
    report.check(case, "helm lint --strict", lambda: check_lint(values))
    objects: list[dict[str, Any]] = []

    def render() -> str:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        objects.extend(parse_manifests(rendered))
        return f"{len(rendered)} templates"

    report.check(case, "render", render)
    if not objects:
        return merged
    report.check(case, "Kubernetes schemas", lambda: check_kubernetes_schemas(objects))
    report.check(case, "objects follow the values", lambda: check_objects(objects, merged))
    return merged


def expect_failure(chart: helm.Chart, values: dict[str, Any], stage: str, expected: list[str]) -> str:
    """Check that the values fail at the given stage, and return one line of the error."""
    if stage == "schema":
        try:
            chart.validate_schema(values)
        except helm.HelmValuesError:
            pass
        else:
            raise AssertionError("values.schema.json accepted the values")
        error_type: type[helm.HelmError] = helm.HelmValuesError
    else:
        chart.validate_schema(values)
        error_type = helm.HelmRenderError
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except error_type as error:
        message = str(error)
    else:
        raise AssertionError("rendered without an error")
    missing = [text for text in expected if text not in message]
    assert not missing, f"the error does not contain {missing}: {message}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if stage == "schema":
        # The order of schema errors varies between runs, so the first in sorted order is shown.
        return min(line for line in lines if line.startswith("- at "))
    return lines[-1]


def main() -> int:
    print(f"Helm SDK {helm.helm_sdk_version()}, kubernetes-validate {kubernetes_validate.__version__}")
    report = Report()
    value_files = sorted((CHART / "ci").glob("*-values.yaml"))
    value_sets = [("defaults", {})] + [
        (path.name, helm.values_from_yaml(path.read_text())) for path in value_files
    ]
    with helm.Chart.load(CHART) as chart:
        merged_sets = [check_valid_set(report, chart, case, values) for case, values in value_sets]

        # The valid sets together must turn on every optional part at least once, so that each
        # optional template is rendered and validated.
        coverage = {
            "autoscaling": lambda v: v["autoscaling"]["enabled"],
            "ingress": lambda v: v["ingress"]["enabled"],
            "podDisruptionBudget": lambda v: v["podDisruptionBudget"]["enabled"],
            "serviceMonitor": lambda v: v["serviceMonitor"]["enabled"],
            "redis": lambda v: v["redis"]["enabled"],
            "jwt.publicKeys": lambda v: v["jwt"]["publicKeys"]["enabled"],
            "migrations disabled": lambda v: not v["migrations"]["enabled"],
            "webhooks.allowNetworks": lambda v: v["webhooks"]["allowNetworks"],
            "shutdown.delaySeconds": lambda v: v["shutdown"]["delaySeconds"] > 0,
            "otel.resourceAttributes": lambda v: v["otel"]["resourceAttributes"],
        }

        def check_coverage() -> None:
            missing = [name for name, enabled in coverage.items() if not any(enabled(v) for v in merged_sets)]
            assert not missing, f"no value set in {CHART / 'ci'} turns on {', '.join(missing)}"

        report.check("all valid sets", "every optional part is covered", check_coverage)
        report.check("docs/deploy.md", "the values table lists every value", check_values_documented)
        report.check(
            "docs/configuration.md", "a variable the server does not read fails", check_unknown_variable_rejected
        )

        for case, values, stage, expected in INVALID_VALUE_SETS:
            report.check(
                f"invalid: {case}", f"rejected by the {stage}", lambda: expect_failure(chart, values, stage, expected)
            )

    print(f"helm-check: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
