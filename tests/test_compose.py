"""docker-compose.yml and its Dockerfile, checked by parsing (no Docker engine runs here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from evo.config.schema import load_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
RAY_SERVICES = ("ray-head", "ray-worker-gpu")
HEAD_GCS = "ray-head:6379"


def argv(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def option(args: list[str], name: str) -> str | None:
    """Value of ``--name value`` or ``--name=value`` in an argument list."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def mounts(service: str) -> dict[str, tuple[str, str]]:
    """container path -> (host path, mode) of a service's short-syntax bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        host, container, *mode = volume.split(":")
        out[container] = (host, mode[0] if mode else "rw")
    return out


def test_services_are_a_head_gpu_workers_and_a_driver() -> None:
    assert set(SERVICES) == {"ray-head", "ray-worker-gpu", "driver"}


def test_every_service_runs_the_one_image_built_from_the_dockerfile() -> None:
    images = {(s["image"], s["build"]["context"], s["build"]["dockerfile"]) for s in SERVICES.values()}
    assert len(images) == 1
    _, context, dockerfile = images.pop()
    assert (ROOT / context / dockerfile).resolve() == ROOT / "Dockerfile"


def test_dockerfile_installs_the_project_and_ray_at_the_same_version() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    for package in ("evo", "workers", "optimizers", "storage", "configs"):
        assert re.search(rf"^COPY {package} ", text, re.M), package
    assert "pip install ." in text
    assert "ray[default]==$(python -c 'import ray; print(ray.__version__)')" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)


def test_head_starts_ray_blocking_with_its_dashboard_inside_the_network() -> None:
    args = argv("ray-head")
    assert args[:3] == ["ray", "start", "--head"] and "--block" in args
    assert option(args, "--port") == HEAD_GCS.split(":")[1]
    assert option(args, "--dashboard-host") == "0.0.0.0"  # reachable through the published port only
    assert option(args, "--num-gpus") == "0"
    health = SERVICES["ray-head"]["healthcheck"]["test"]
    assert health[:3] == ["CMD", "ray", "status"]


def test_workers_join_the_head_and_reserve_nvidia_gpus() -> None:
    args = argv("ray-worker-gpu")
    assert args[:2] == ["ray", "start"] and "--head" not in args and "--block" in args
    assert option(args, "--address") == HEAD_GCS
    devices = SERVICES["ray-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert SERVICES["ray-worker-gpu"]["depends_on"]["ray-head"]["condition"] == "service_healthy"


def test_driver_runs_evo_against_the_head_with_the_database_on_a_volume() -> None:
    args = argv("driver")
    assert args[:2] == ["evo", "run"]
    assert option(args, "--address") == HEAD_GCS
    config = load_config(ROOT / args[2])
    assert config.executor.gpus_per_actor not in (0, "auto")  # the cluster's point: GPU actors
    db = option(args, "--db")
    assert db is not None and db.startswith("sqlite:////")
    db_dir = str(Path(db.removeprefix("sqlite:///")).parent)
    volumes = mounts("driver")
    assert volumes[db_dir] == ("./runs", "rw")
    assert volumes["/app/data"] == ("./data", "ro")
    assert set(SERVICES["driver"]["depends_on"]) == set(RAY_SERVICES)
    assert "ports" not in SERVICES["driver"]


@pytest.mark.parametrize("service", ["ray-head", "ray-worker-gpu", "driver"])
def test_data_is_mounted_read_only_where_work_runs(service: str) -> None:
    assert mounts(service)["/app/data"] == ("./data", "ro")


def test_published_ports_bind_to_localhost_only() -> None:
    published = [(name, p) for name, s in SERVICES.items() for p in s.get("ports", [])]
    assert published, "the head publishes its dashboard for `ray job submit`"
    for name, port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
        assert len(port.split(":")) == 3, (name, port)
    assert "127.0.0.1:8265:8265" in SERVICES["ray-head"]["ports"]


def test_ray_token_authentication_stays_on_with_the_token_in_a_secret() -> None:
    assert "RAY_AUTH_MODE=disabled" not in COMPOSE_TEXT and "RAY_AUTH_MODE: disabled" not in COMPOSE_TEXT
    token_file = COMPOSE["secrets"]["ray_auth_token"]["file"]
    assert token_file.startswith("./secrets/")
    for name, service in SERVICES.items():
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert "RAY_AUTH_TOKEN" not in env, name  # no literal token in the file
        assert env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token", name
        assert "ray_auth_token" in service["secrets"], name
    # the comments tell how to create the token and how `ray job submit` gets in
    assert "secrets/ray_auth_token" in COMPOSE_TEXT and "ray job submit" in COMPOSE_TEXT
