"""The Helm chart, rendered and linted offline in-process (helm-python-sdk embeds Helm's
Go engine), every manifest validated against the Kubernetes schemas of the oldest and
newest supported versions (kubernetes-validate ships them), and the rendered objects
checked for what the chart promises: probes, security, secrets by reference, rolling
on config changes, the migration hook, and the optional parts switched on and off.

checkov itself cannot share the project's environment (it pins packaging<24,
importlib-metadata<8 and cachetools<6 below our lock), so ``policy_findings`` below runs
the checkov checks that apply to this chart and honours the chart's ``checkov.io/skipN``
annotations the way checkov does; helm/site-risk/README.md says how to run checkov too.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from models.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "site-risk"
RELEASE = "prod"
NAMESPACE = "pricing"
Manifest = dict[str, Any]
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())

# The three things with no default; everything else is the chart's own defaults.
REQUIRED: dict[str, Any] = {
    "database": {"existingSecret": "site-risk-db"},
    "keyPepper": {"existingSecret": "site-risk-pepper"},
    "mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
}

COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "everything-on": {
        "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "tls": [{"secretName": "site-risk-tls", "hosts": ["site-risk.example.com"]}],
        },
        "retraining": {"enabled": True, "data": {"existingClaim": "training-data"}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "mlflow": {"trackingUri": "", "existingSecret": "mlflow-auth"},
        "imagePullSecrets": [{"name": "registry"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
        "networkPolicy": {"egress": [{"to": [{"namespaceSelector": {}}]}]},
        "podDisruptionBudget": {"minAvailable": 1},
    },
    "values-not-secrets": {
        "database": {"existingSecret": "", "url": "postgresql+psycopg://u:p@pg:5432/siterisk"},
        "keyPepper": {"existingSecret": "", "value": "a-long-random-pepper"},
        "serviceAccount": {"create": False, "name": "pricing"},
    },
    "bare": {
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
        "migrations": {"enabled": False},
        "helmTest": {"enabled": False},
        "serviceAccount": {"create": False},
    },
}


# --- rendering -------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which PyYAML would silently collapse but the API rejects."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}")
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


@cache
def _render_json(values_json: str) -> tuple[tuple[str, str], ...]:
    values = json.loads(values_json)
    _chart().validate_schema(values)
    out = _chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return tuple(sorted(out.items()))


def render(values: Mapping[str, Any] | None = None, *, required: bool = True) -> list[Manifest]:
    """Every manifest the chart renders for ``values`` (on top of REQUIRED)."""
    full = merged(REQUIRED, values or {}) if required else dict(values or {})
    docs = []
    for source, text in _render_json(json.dumps(full, sort_keys=True)):
        if not source.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.load_all(text, Loader=_StrictLoader):
            if doc:
                docs.append(doc)
    return docs


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Manifest], kind: str, name_suffix: str = "") -> Manifest:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"{len(found)} {kind} named *{name_suffix}"
    return found[0]


def pod_template(doc: Manifest) -> Manifest:
    """The pod template (metadata and spec) of a Deployment, Job, CronJob or Pod."""
    if doc["kind"] in ("Deployment", "Job"):
        return dict(doc["spec"]["template"])
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"])
    if doc["kind"] == "Pod":
        return {"metadata": doc["metadata"], "spec": doc["spec"]}
    raise KeyError(doc["kind"])


def workloads(docs: list[Manifest]) -> list[Manifest]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob", "Pod")]


def api(docs: list[Manifest]) -> Manifest:
    container: Manifest = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def env_refs(container: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container.get("env", [])}


# --- lint and schemas ------------------------------------------------------------------


@pytest.mark.parametrize("combo", sorted(COMBINATIONS))
def test_chart_lints_clean_in_strict_mode(combo: str) -> None:
    report = helm.lint(
        CHART, merged(REQUIRED, COMBINATIONS[combo]), strict=True, kube_version="v1.27.0"
    )
    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); warnings (2) and errors (3) fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("combo", sorted(COMBINATIONS))
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_every_manifest_is_valid_kubernetes(combo: str, kube: str) -> None:
    docs = render(COMBINATIONS[combo])
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked by test_service_monitor_scrapes_the_metrics_port
        kubernetes_validate.validate(doc, kube, strict=True)


def test_the_kubernetes_validator_refuses_a_misspelt_field() -> None:
    deployment = copy.deepcopy(one(render(), "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenessprobe"] = container.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicas": 3}, "replicas"),
        ({"autoscaling": {"minReplica": 1}}, "minReplica"),
        ({"replicaCount": "two"}, "replicaCount"),
        ({"image": {"tag": "1.0 beta"}}, "tag"),
        ({"image": {"digest": "sha1:abc"}}, "digest"),
        ({"securityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"config": {"authCacheSeconds": 5}}, "authCacheSeconds"),
        ({"config": {"corsOrigins": ["a.example,b.example"]}}, "corsOrigins"),
        ({"config": {"extraEnv": {"BAD NAME": "x"}}}, "BAD NAME"),
        ({"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}, "cpu"),
        ({"retraining": {"concurrencyPolicy": "Sometimes"}}, "concurrencyPolicy"),
        ({"model": {"pollSeconds": -1}}, "pollSeconds"),
    ],
)
def test_values_schema_refuses_wrong_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        _chart().validate_schema(merged(REQUIRED, values))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "database.existingSecret"),
        (merged(REQUIRED, {"database": {"existingSecret": ""}}), "database.existingSecret"),
        (merged(REQUIRED, {"keyPepper": {"existingSecret": ""}}), "keyPepper.existingSecret"),
        (merged(REQUIRED, {"mlflow": {"trackingUri": ""}}), "mlflow.trackingUri"),
        (merged(REQUIRED, {"database": {"url": "postgresql+psycopg://x"}}), "only one"),
        (merged(REQUIRED, {"keyPepper": {"value": "p"}}), "only one"),
        (merged(REQUIRED, {"retraining": {"enabled": True}}), "existingClaim"),
        (
            merged(
                REQUIRED, {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}
            ),
            "minReplicas",
        ),
    ],
)
def test_values_that_cannot_work_are_refused_with_what_to_set(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(values, required=False)


# --- defaults ---------------------------------------------------------------------------


def test_defaults_render_the_service_and_nothing_optional() -> None:
    docs = render()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Job",
            "NetworkPolicy",
            "Pod",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    assert one(docs, "Deployment")["spec"]["replicas"] == 2
    assert all(d["metadata"]["namespace"] == NAMESPACE for d in docs)


def test_probes_separate_liveness_from_readiness() -> None:
    container = api(render())
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    live, ready, start = (
        container["livenessProbe"],
        container["readinessProbe"],
        container["startupProbe"],
    )
    assert live["httpGet"] == {"path": "/health/live", "port": "http"}
    assert ready["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert start["httpGet"] == {"path": "/health/live", "port": "http"}
    assert port["http"] == 8000
    # A model download gets minutes before the kubelet gives up, not seconds.
    assert start["periodSeconds"] * start["failureThreshold"] >= 300
    # Liveness never fails faster than readiness: an unready pod is not restarted first.
    assert (
        live["periodSeconds"] * live["failureThreshold"]
        >= ready["periodSeconds"] * ready["failureThreshold"]
    )


def test_the_service_listens_where_the_probes_and_service_look() -> None:
    docs = render({"config": {"port": 9100}})
    container = api(docs)
    assert one(docs, "ConfigMap")["data"]["SITERISK_PORT"] == "9100"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 9100}
    service_port = one(docs, "Service")["spec"]["ports"][0]
    assert service_port["targetPort"] == "http"
    assert container["args"] == ["serve", "--host", "0.0.0.0"]


def test_every_pod_runs_locked_down_with_writable_places_only_on_emptydirs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image_user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert image_user is not None
    for combo in COMBINATIONS.values():
        for doc in workloads(render(combo)):
            spec = pod_template(doc)["spec"]
            pod_ctx = spec["securityContext"]
            assert pod_ctx["runAsNonRoot"] is True
            assert pod_ctx["runAsUser"] == int(image_user[1])
            assert pod_ctx["runAsGroup"] == int(image_user[2])
            assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
            assert spec["automountServiceAccountToken"] is False
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for container in spec["containers"]:
                ctx = container["securityContext"]
                assert ctx["allowPrivilegeEscalation"] is False
                assert ctx["readOnlyRootFilesystem"] is True
                assert ctx["capabilities"] == {"drop": ["ALL"]}
                assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
                assert "limits" in container["resources"]
                assert "requests" in container["resources"]
                for mount in container.get("volumeMounts", []):
                    volume = volumes[mount["name"]]
                    assert "emptyDir" in volume or mount.get("readOnly") is True


def test_paths_the_service_writes_are_mounted_writable() -> None:
    docs = render()
    data = one(docs, "ConfigMap")["data"]
    container = api(docs)
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    mounts = {
        m["mountPath"]: volumes[m["name"]]
        for m in container["volumeMounts"]
        if "emptyDir" in volumes[m["name"]]
    }
    for path in (
        "/tmp",
        data["SITERISK_HOME"],
        data["SITERISK_MODEL_CACHE_DIR"],
        data["MPLCONFIGDIR"],
    ):
        assert any(path == m or path.startswith(m + "/") for m in mounts), path


# --- configuration and secrets -----------------------------------------------------------


def _settings_env_names() -> set[str]:
    names: set[str] = set()
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(c).upper() for c in choices)
        else:
            names.add(f"SITERISK_{field_name.upper()}")
    return names


def test_every_configmap_and_secret_variable_is_a_setting_the_service_reads() -> None:
    known = _settings_env_names()
    for combo in COMBINATIONS.values():
        docs = render(combo)
        names: set[str] = set(one(docs, "ConfigMap")["data"]) - {"MPLCONFIGDIR"}
        for doc in workloads(docs):
            for container in pod_template(doc)["spec"]["containers"]:
                names |= set(env_refs(container))
        assert names <= known, names - known


def test_the_service_reads_the_chart_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(
        {
            "model": {"pollSeconds": 45, "uri": "models:/site-risk/7"},
            "config": {
                "workers": 3,
                "corsOrigins": ["https://a.example", "https://b.example"],
                "requestTimeoutSeconds": 30,
                "dbStatementTimeoutSeconds": 12.5,
            },
        }
    )
    for name, value in one(docs, "ConfigMap")["data"].items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.model_poll_seconds == 45
    assert settings.workers == 3
    assert (settings.request_timeout_seconds, settings.db_statement_timeout_seconds) == (30, 12.5)
    assert settings.host == "0.0.0.0"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.champion_uri == "models:/site-risk/7"
    assert settings.tracking_uri == "http://mlflow.mlflow.svc:5000"
    assert settings.model_cache == Path("/var/cache/siterisk/models")
    assert not settings.is_dev


def test_secrets_are_referenced_never_inlined_with_existing_secrets() -> None:
    docs = render()
    assert of_kind(docs, "Secret") == []
    env = env_refs(api(docs))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "site-risk-db",
        "key": "database-url",
    }
    assert env["SITERISK_KEY_PEPPER"]["valueFrom"]["secretKeyRef"] == {
        "name": "site-risk-pepper",
        "key": "key-pepper",
    }
    for doc in workloads(docs):
        for container in pod_template(doc)["spec"]["containers"]:
            for var in container.get("env", []):
                assert "value" not in var or var["name"] == "SITERISK_ENV"


def test_existing_secret_keys_can_be_chosen() -> None:
    docs = render(
        {"database": {"existingSecretKey": "uri"}, "keyPepper": {"existingSecretKey": "pepper"}}
    )
    env = env_refs(api(docs))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "uri"
    assert env["SITERISK_KEY_PEPPER"]["valueFrom"]["secretKeyRef"]["key"] == "pepper"
    job = one(docs, "Job", "-migrations")["spec"]["template"]["spec"]["containers"][0]
    assert env_refs(job)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "site-risk-db",
        "key": "uri",
    }


def test_values_given_as_values_are_kept_in_a_chart_secret() -> None:
    combo = COMBINATIONS["values-not-secrets"]
    docs = render(combo)
    secrets = {d["metadata"]["name"]: d for d in of_kind(docs, "Secret")}
    release_secret = secrets[f"{RELEASE}-site-risk"]
    decoded = {k: base64.b64decode(v).decode() for k, v in release_secret["data"].items()}
    assert decoded == {
        "database-url": combo["database"]["url"],
        "key-pepper": combo["keyPepper"]["value"],
    }
    env = env_refs(api(docs))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-site-risk"
    # The migration hook runs before that Secret exists: it gets a hook Secret of its own.
    hook_secret = secrets[f"{RELEASE}-site-risk-migrations"]
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    job = one(docs, "Job", "-migrations")["spec"]["template"]["spec"]["containers"][0]
    assert env_refs(job)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
        f"{RELEASE}-site-risk-migrations"
    )


def test_mlflow_uri_comes_from_config_or_from_a_secret() -> None:
    plain = render()
    assert (
        one(plain, "ConfigMap")["data"]["MLFLOW_TRACKING_URI"]
        == (REQUIRED["mlflow"]["trackingUri"])
    )
    assert "MLFLOW_TRACKING_URI" not in env_refs(api(plain))
    secret = render({"mlflow": {"trackingUri": "", "existingSecret": "mlflow-auth"}})
    assert "MLFLOW_TRACKING_URI" not in one(secret, "ConfigMap")["data"]
    assert env_refs(api(secret))["MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-auth",
        "key": "tracking-uri",
    }


def test_pods_roll_when_config_or_chart_secret_changes_and_only_then() -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        return dict(
            one(render(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]
        )

    base = COMBINATIONS["values-not-secrets"]
    before = annotations(base)
    assert annotations(copy.deepcopy(base)) == before
    polled = annotations(merged(base, {"model": {"pollSeconds": 15}}))
    assert polled["checksum/config"] != before["checksum/config"]
    assert polled["checksum/secret"] == before["checksum/secret"]
    peppered = annotations(merged(base, {"keyPepper": {"value": "another-pepper"}}))
    assert peppered["checksum/secret"] != before["checksum/secret"]
    assert peppered["checksum/config"] == before["checksum/config"]


# --- the migration hook and retraining --------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook() -> None:
    docs = render()
    job = one(docs, "Job", "-migrations")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["args"] == ["db", "upgrade"]
    assert container["image"] == api(docs)["image"]
    # Hooks run before the release's ConfigMap and ServiceAccount exist.
    assert "envFrom" not in container
    assert "serviceAccountName" not in spec
    assert spec["restartPolicy"] == "Never"
    assert not [
        d for d in render({"migrations": {"enabled": False}}) if d["kind"] in ("Job", "Secret")
    ]


def test_retraining_is_off_by_default_and_trains_then_promotes_when_on() -> None:
    assert of_kind(render(), "CronJob") == []
    docs = render(COMBINATIONS["everything-on"])
    cron = one(docs, "CronJob")
    assert cron["spec"]["schedule"] == "0 3 * * 1"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    steps = [shlex.split(step) for step in container["args"][0].split("&&")]
    assert steps == [
        ["siterisk", "train", "--data", "/data"],
        ["siterisk", "model", "promote", "--data", "/data"],
    ]
    data = next(v for v in spec["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"] == {"claimName": "training-data", "readOnly": True}
    # Training needs MLflow only: neither the database nor the pepper.
    assert set(env_refs(container)) == {"MLFLOW_TRACKING_URI"}
    no_promotion = render(merged(COMBINATIONS["everything-on"], {"retraining": {"promote": False}}))
    train_only = one(no_promotion, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "promote" not in " ".join(train_only["containers"][0]["args"])


def test_retraining_reads_the_subfolder_it_is_given() -> None:
    docs = render(
        {"retraining": {"enabled": True, "data": {"existingClaim": "lake", "subPath": "world/v3"}}}
    )
    spec = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "data")
    assert mount == {"name": "data", "mountPath": "/data", "readOnly": True, "subPath": "world/v3"}


# --- scaling, routing, monitoring -----------------------------------------------------------


def test_autoscaling_replaces_the_fixed_replica_count() -> None:
    fixed = render({"replicaCount": 3})
    assert one(fixed, "Deployment")["spec"]["replicas"] == 3
    assert of_kind(fixed, "HorizontalPodAutoscaler") == []
    docs = render(COMBINATIONS["everything-on"])
    deployment = one(docs, "Deployment")
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment["spec"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_and_disruption_budget_select_the_api_pods_only() -> None:
    docs = render()
    api_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service_selector = one(docs, "Service")["spec"]["selector"]
    pdb = one(docs, "PodDisruptionBudget")
    assert _matches(service_selector, api_labels)
    assert _matches(pdb["spec"]["selector"]["matchLabels"], api_labels)
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    for doc in workloads(docs):
        if doc["kind"] != "Deployment":
            labels = pod_template(doc)["metadata"]["labels"]
            assert not _matches(service_selector, labels), doc["metadata"]["name"]
    minimum = one(render(COMBINATIONS["everything-on"]), "PodDisruptionBudget")
    assert minimum["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in minimum["spec"]


def test_ingress_is_optional_and_routes_to_the_service() -> None:
    assert of_kind(render(), "Ingress") == []
    docs = render(COMBINATIONS["everything-on"])
    ingress = one(docs, "Ingress")
    service = one(docs, "Service")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == COMBINATIONS["everything-on"]["ingress"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "site-risk.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"],
        "port": {"name": "http"},
    }
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_service_monitor_scrapes_the_metrics_port() -> None:
    assert of_kind(render(), "ServiceMonitor") == []
    docs = render(COMBINATIONS["everything-on"])
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert _matches(
        monitor["spec"]["selector"]["matchLabels"], one(docs, "Service")["metadata"]["labels"]
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]


def test_topology_spread_constraints_get_the_api_selector() -> None:
    docs = render(COMBINATIONS["everything-on"])
    spec = one(docs, "Deployment")["spec"]["template"]
    (constraint,) = spec["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "kubernetes.io/hostname"
    assert _matches(constraint["labelSelector"]["matchLabels"], spec["metadata"]["labels"])
    assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"


def test_image_is_pulled_by_tag_or_by_digest() -> None:
    assert api(render())["image"] == "site-risk:0.1.0"
    assert api(render({"image": {"repository": "reg.example/sr", "tag": "1.2.3"}}))["image"] == (
        "reg.example/sr:1.2.3"
    )
    digest = "sha256:" + "ab" * 32
    docs = render({"image": {"tag": "1.2.3", "digest": digest}})
    assert {c["image"] for d in workloads(docs) for c in pod_template(d)["spec"]["containers"]} == {
        f"site-risk@{digest}"
    }


# --- a checkov-equivalent policy scan ------------------------------------------------------

SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=([^=]{30,})$")


def _skips(doc: Manifest) -> set[str]:
    found = set()
    for key, value in (doc["metadata"].get("annotations") or {}).items():
        if SKIP_ANNOTATION.match(key):
            match = SKIP_VALUE.match(value)
            assert match, f"{doc['metadata']['name']}: {key} needs 'CHECK_ID=reason': {value!r}"
            found.add(match[1])
    return found


def _container_findings(container: Manifest, pod: Manifest) -> Iterator[tuple[str, str]]:
    image = container["image"]
    resources = container.get("resources", {})
    ctx = container.get("securityContext", {})
    pod_ctx = pod.get("securityContext", {})
    for check, kind, what in (
        ("CKV_K8S_10", "requests", "cpu"),
        ("CKV_K8S_11", "limits", "cpu"),
        ("CKV_K8S_12", "requests", "memory"),
        ("CKV_K8S_13", "limits", "memory"),
    ):
        if what not in resources.get(kind, {}):
            yield check, f"no {what} {kind}"
    if "@" not in image and (":" not in image or image.endswith(":latest")):
        yield "CKV_K8S_14", "image tag is blank or latest"
    if container.get("imagePullPolicy") != "Always":
        yield "CKV_K8S_15", "imagePullPolicy is not Always"
    if ctx.get("privileged"):
        yield "CKV_K8S_16", "privileged"
    if ctx.get("allowPrivilegeEscalation") is not False:
        yield "CKV_K8S_20", "privilege escalation allowed"
    if ctx.get("readOnlyRootFilesystem") is not True:
        yield "CKV_K8S_22", "writable root filesystem"
    if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
        yield "CKV_K8S_23", "may run as root"
    if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
        yield "CKV_K8S_28", "NET_RAW (and the rest) not dropped"
    if ctx.get("capabilities", {}).get("add"):
        yield "CKV_K8S_37", "capabilities added"
    seccomp = ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}
    if seccomp.get("type") != "RuntimeDefault":
        yield "CKV_K8S_31", "no RuntimeDefault seccomp profile"
    if any("secretKeyRef" in e.get("valueFrom", {}) for e in container.get("env", [])):
        yield "CKV_K8S_35", "secrets as environment variables"
    if int(ctx.get("runAsUser", pod_ctx.get("runAsUser", 0))) < 10000:
        yield "CKV_K8S_40", "UID below 10000"
    if "@sha256:" not in image:
        yield "CKV_K8S_43", "image not pinned by digest"


def policy_findings(
    docs: list[Manifest], *, honour_skips: bool = True
) -> list[tuple[str, str, str]]:
    """(check, resource, problem) for what checkov's Kubernetes checks would fail here."""
    policies = [
        d["spec"]["podSelector"].get("matchLabels", {}) for d in of_kind(docs, "NetworkPolicy")
    ]
    findings: list[tuple[str, str, str]] = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        problems: list[tuple[str, str]] = []
        if doc["metadata"].get("namespace", "default") == "default":
            problems.append(("CKV_K8S_21", "default namespace"))
        if doc["kind"] in ("Deployment", "Job", "CronJob", "Pod"):
            template = pod_template(doc)
            pod = template["spec"]
            for flag, check in (
                ("hostPID", "CKV_K8S_17"),
                ("hostIPC", "CKV_K8S_18"),
                ("hostNetwork", "CKV_K8S_19"),
            ):
                if pod.get(flag):
                    problems.append((check, flag))
            if pod.get("automountServiceAccountToken") is not False:
                problems.append(("CKV_K8S_38", "service account token mounted"))
            if any("hostPath" in v for v in pod.get("volumes", [])):
                problems.append(("CKV_K8S_27", "hostPath volume"))
            if not any(_matches(p, template["metadata"]["labels"]) for p in policies):
                problems.append(("CKV2_K8S_6", "no NetworkPolicy selects the pod"))
            for container in pod["containers"]:
                if doc["kind"] in ("Deployment", "Pod"):
                    if "livenessProbe" not in container:
                        problems.append(("CKV_K8S_8", "no liveness probe"))
                    if "readinessProbe" not in container:
                        problems.append(("CKV_K8S_9", "no readiness probe"))
                problems.extend(_container_findings(container, pod))
        skipped = _skips(doc) if honour_skips else set()
        findings += [(check, name, why) for check, why in problems if check not in skipped]
    return findings


@pytest.mark.parametrize("combo", ["defaults", "everything-on", "values-not-secrets"])
def test_policy_scan_finds_nothing_that_is_not_justified(combo: str) -> None:
    assert policy_findings(render(COMBINATIONS[combo])) == []


def test_policy_skips_cover_only_defaults_an_operator_can_change() -> None:
    docs = render()
    skipped = {check for check, _, _ in policy_findings(docs, honour_skips=False)}
    assert skipped == {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_43"}
    # Pinned by digest and always pulled, only the environment-variable secrets remain.
    pinned = render({"image": {"digest": "sha256:" + "0" * 64, "pullPolicy": "Always"}})
    remaining = {(c, r) for c, r, _ in policy_findings(pinned, honour_skips=False)}
    assert {c for c, r in remaining if not r.endswith("-test-ready")} == {"CKV_K8S_35"}
    # And the scan does bite: without the NetworkPolicy every pod is reported.
    bare = render(COMBINATIONS["bare"])
    assert {r for c, r, _ in policy_findings(bare) if c == "CKV2_K8S_6"} == {
        f"{d['kind']}/{d['metadata']['name']}" for d in workloads(bare)
    }


# --- documentation ---------------------------------------------------------------------


def _documented_paths() -> set[str]:
    """Keys of values.yaml with a '# --' comment right above them, as dotted paths."""
    documented: set[str] = set()
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in (CHART / "values.yaml").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if match:
            indent = len(match[1])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match[2]))
            if previous.lstrip().startswith("# --"):
                documented.add(".".join(key for _, key in stack))
        if line.strip():
            previous = line
    return documented


def _value_paths(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _value_paths(value, path + ".")
        else:
            yield path, value


def test_every_value_is_documented_in_values_yaml_and_the_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    documented = _documented_paths()
    for path, _ in _value_paths(values):
        parts = path.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        assert ancestors & documented, f"{path} has no '# --' comment"
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Za-z][\w.]*)` \| `([^`]*)` \|", readme, re.M))
    assert set(rows) == documented
    for path in documented:
        node: Any = values
        for part in path.split("."):
            node = node[part]
        assert json.loads(rows[path]) == node, path


def test_the_schema_describes_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    for path, _ in _value_paths(values):
        node = schema
        for part in path.split("."):
            if part in node.get("properties", {}):
                node = node["properties"][part]
                continue
            # Only Kubernetes objects passed through whole (resources, affinity…) are open.
            assert node.get("additionalProperties", True) is not False, f"{path} not in schema"
            break
