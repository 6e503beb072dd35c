"""The chart's daily settlement of incentive agreements (issue 19): off by default; when
on, a locked-down CronJob runs exactly ``siterisk agreements settle-due`` with the service
database's URL from a Secret and nothing else of the service's environment. Rendering and
checks come from test_helm_chart.py."""

from __future__ import annotations

import inspect
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from test_helm_chart import (
    CHART,
    COMBINATIONS,
    KUBE_VERSIONS,
    RELEASE,
    REQUIRED,
    Manifest,
    env_refs,
    merged,
    of_kind,
    one,
    policy_findings,
    render,
)
from typer.testing import CliRunner

from siterisk.cli import app

ON: dict[str, Any] = {"settlement": {"enabled": True}}
COMMAND = ["siterisk", "agreements", "settle-due"]


def _cron(values: dict[str, Any]) -> Manifest:
    return one(render(values), "CronJob", "-settlement")


def _pod(cron: Manifest) -> Manifest:
    spec: Manifest = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def _database_ref(values: dict[str, Any]) -> Manifest:
    container = _pod(_cron(values))["containers"][0]
    ref: Manifest = env_refs(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    return ref


def test_off_by_default() -> None:
    assert not [
        d for d in of_kind(render(), "CronJob") if d["metadata"]["name"].endswith("-settlement")
    ]
    assert not [
        d
        for d in of_kind(render(COMBINATIONS["everything-on"]), "CronJob")
        if d["metadata"]["name"].endswith("-settlement")
    ]


def test_on_it_settles_due_agreements_daily_in_shanghai() -> None:
    cron = _cron(ON)
    assert cron["metadata"]["name"] == f"{RELEASE}-site-risk-settlement"
    assert cron["spec"]["schedule"] == "0 6 * * *"
    assert cron["spec"]["timeZone"] == "Asia/Shanghai"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod(cron)
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == COMMAND
    assert "args" not in container
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_it_gets_the_database_url_from_the_secret_and_nothing_else() -> None:
    container = _pod(_cron(ON))["containers"][0]
    # settle-due reads DATABASE_URL only: no ConfigMap, pepper or MLflow URI
    assert set(env_refs(container)) == {"DATABASE_URL"}
    assert "envFrom" not in container
    assert _database_ref(ON) == {"name": "site-risk-db", "key": "database-url"}
    assert _database_ref(merged(ON, {"database": {"existingSecretKey": "uri"}})) == {
        "name": "site-risk-db",
        "key": "uri",
    }


def test_a_url_given_as_a_value_comes_from_the_chart_secret() -> None:
    values = merged(COMBINATIONS["values-not-secrets"], ON)
    docs = render(values)
    secrets = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    ref = _database_ref(values)
    assert ref == {"name": f"{RELEASE}-site-risk", "key": "database-url"}
    # a CronJob is no hook: the release's own Secret exists when it runs
    assert ref["name"] in secrets
    env = env_refs(_pod(_cron(values))["containers"][0])
    assert "value" not in env["DATABASE_URL"]


def test_the_command_is_one_the_cli_has() -> None:
    """The CronJob runs `siterisk agreements settle-due`, which takes no arguments."""
    command = _pod(_cron(ON))["containers"][0]["command"]
    assert command[0] == "siterisk"
    group = next(g for g in app.registered_groups if g.name == command[1])
    assert group.typer_instance is not None
    found = next(c for c in group.typer_instance.registered_commands if c.name == command[2])
    assert found.callback is not None
    assert inspect.signature(found.callback).parameters == {}
    result = CliRunner().invoke(app, [*command[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "settle-due" in result.output


def test_runs_locked_down_and_passes_the_policy_scan() -> None:
    docs = render(ON)
    cron = one(docs, "CronJob", "-settlement")
    pod = _pod(cron)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert [f for f in policy_findings(docs) if f[1] == f"CronJob/{cron['metadata']['name']}"] == []
    # its pods are not the API's: the Service does not send them requests
    service_selector = one(docs, "Service")["spec"]["selector"]
    labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "settlement"
    assert any(labels.get(k) != v for k, v in service_selector.items())


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_the_cronjob_is_valid_kubernetes(kube: str) -> None:
    kubernetes_validate.validate(_cron(ON), kube, strict=True)


def test_lints_clean_when_on() -> None:
    report = helm.lint(CHART, merged(REQUIRED, ON), strict=True, kube_version="v1.27.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"settlement": {"concurrencyPolicy": "Sometimes"}}, "concurrencyPolicy"),
        ({"settlement": {"backoffLimit": -1}}, "backoffLimit"),
        ({"settlement": {"command": ["siterisk", "agreements", "replay"]}}, "command"),
        ({"settlement": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}}, "cpu"),
    ],
)
def test_the_schema_refuses_wrong_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        helm.Chart.load(CHART).validate_schema(merged(REQUIRED, values))
