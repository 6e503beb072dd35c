"""The chart's scheduled aggregation of the platform's events (issue 20): off by default;
when on, a locked-down CronJob runs ``siterisk data aggregate /events --out /out`` with
the events read-only and the output writable, and values that cannot work are refused
with what to set. Rendering and checks come from test_helm_chart.py."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from test_helm_chart import (
    CHART,
    KUBE_VERSIONS,
    REQUIRED,
    Manifest,
    merged,
    of_kind,
    one,
    policy_findings,
    render,
)

from training.cli import app

ON: dict[str, Any] = {
    "aggregate": {
        "enabled": True,
        "events": {"existingClaim": "platform-events", "subPath": "shanghai"},
        "output": {"existingClaim": "training-data"},
    }
}


def _cron(values: dict[str, Any]) -> Manifest:
    return one(render(values), "CronJob", "-aggregate")


def _pod(cron: Manifest) -> Manifest:
    spec: Manifest = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_off_by_default() -> None:
    assert not [
        d for d in of_kind(render(), "CronJob") if d["metadata"]["name"].endswith("-aggregate")
    ]


def test_on_it_aggregates_the_events_claim_into_the_output_claim() -> None:
    cron = _cron(ON)
    assert cron["spec"]["schedule"] == "30 2 * * *"
    assert cron["spec"]["timeZone"] == "Asia/Shanghai"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod(cron)
    container = pod["containers"][0]
    assert container["command"] == ["siterisk", "data", "aggregate", "/events", "--out", "/out"]
    assert "args" not in container  # every month with attendance
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["events"] == {
        "name": "events", "mountPath": "/events", "readOnly": True, "subPath": "shanghai",
    }  # fmt: skip
    assert mounts["out"] == {"name": "out", "mountPath": "/out"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["events"]["persistentVolumeClaim"] == {
        "claimName": "platform-events", "readOnly": True,
    }  # fmt: skip
    assert volumes["out"]["persistentVolumeClaim"] == {"claimName": "training-data"}
    # DuckDB may spill: the working directory is the writable /tmp, sized by a value
    assert container["workingDir"] == "/tmp" == mounts["tmp"]["mountPath"]
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "8Gi"}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    # it reads files only: no database, no pepper, no MLflow secret
    assert "env" not in container


def test_the_command_is_one_the_cli_has() -> None:
    """The CronJob's command and options are those of `siterisk data aggregate`."""
    container = _pod(_cron(merged(ON, {"aggregate": {"months": "2025-01.."}})))["containers"][0]
    assert container["args"] == ["--months", "2025-01.."]
    group = next(g for g in app.registered_groups if g.name == "data")
    command = next(c for c in group.typer_instance.registered_commands if c.name == "aggregate")
    assert command.callback is not None
    assert {"events", "out", "months"} <= set(command.callback.__annotations__)


def test_runs_locked_down_and_passes_the_policy_scan() -> None:
    docs = render(ON)
    cron = one(docs, "CronJob", "-aggregate")
    pod = _pod(cron)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert [f for f in policy_findings(docs) if f[1] == f"CronJob/{cron['metadata']['name']}"] == []


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_the_cronjob_is_valid_kubernetes(kube: str) -> None:
    kubernetes_validate.validate(
        _cron(merged(ON, {"aggregate": {"months": "..2025-06"}})), kube, strict=True
    )


def test_lints_clean_when_on() -> None:
    report = helm.lint(CHART, merged(REQUIRED, ON), strict=True, kube_version="v1.27.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"aggregate": {"enabled": True, "output": {"existingClaim": "o"}}},
            "aggregate.events.existingClaim",
        ),
        (
            {"aggregate": {"enabled": True, "events": {"existingClaim": "e"}}},
            "aggregate.output.existingClaim",
        ),
    ],
)
def test_missing_claims_are_refused_with_what_to_set(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(values)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"aggregate": {"months": "2025-13"}}, "months"),
        ({"aggregate": {"months": "March"}}, "months"),
        ({"aggregate": {"engine": "spark"}}, "engine"),
        ({"aggregate": {"concurrencyPolicy": "Sometimes"}}, "concurrencyPolicy"),
        ({"aggregate": {"events": {"subPath": "/abs"}}}, "subPath"),
    ],
)
def test_the_schema_refuses_wrong_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        helm.Chart.load(CHART).validate_schema(merged(REQUIRED, values))


@pytest.mark.parametrize("months", ["2025-01..2025-06", "2025-01..", "..2025-06", "2025-03", ""])
def test_the_schema_takes_every_month_form_the_cli_takes(months: str) -> None:
    from models.events.aggregate import parse_months

    helm.Chart.load(CHART).validate_schema(merged(REQUIRED, {"aggregate": {"months": months}}))
    if months:
        parse_months(months)
