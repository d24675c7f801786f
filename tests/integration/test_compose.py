"""docker/compose.yaml cannot run here (no Docker engine), so it is checked for what can go wrong
without one: every service, file, volume and variable it names exists, and every Airflow or Concord
setting it uses is one that a test on this machine exercises for real."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = {"postgres", "redis", "minio", "airflow-init", "api-server", "scheduler", "dag-processor",
            "triggerer", "worker"}


def test_every_service_of_the_topology_is_there():
    assert set(COMPOSE["services"]) == SERVICES


def test_what_the_services_build_and_mount_exists():
    for name, service in COMPOSE["services"].items():
        build = service.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).is_file(), f"{name}: {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"


def test_the_dockerfile_copies_only_what_the_project_has():
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def test_every_variable_it_interpolates_is_in_the_env_example():
    text = (DOCKER / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {line.split("=")[0] for line in (DOCKER / "env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= example, used - example


def test_every_setting_it_uses_is_exercised_by_a_test_here():
    settings = set(COMPOSE["x-concord-env"])
    tests = "".join(p.read_text() for p in (REPO / "tests").rglob("*.py") if p.name != Path(__file__).name)
    code = "".join(p.read_text() for p in (REPO / "canonical").rglob("*.py"))
    unexercised = {key for key in settings if key not in tests and key not in code}
    assert unexercised == set()
