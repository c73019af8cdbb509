"""The scaled topology's generated files (scripts/scaled_config.py): Rasa's endpoints and nginx's config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import scaled_config


def test_endpoints_use_postgresql_and_redis_and_keep_passwords_out_of_the_file():
    backends = scaled_config.Backends(
        pg_url="postgresql://bot:s3cret@db.internal:5433",
        pg_db="dvc_scale",
        redis_host="cache",
        redis_port=6380,
        redis_db=5,
        redis_password="r3dis",
    )
    text = backends.endpoints_yaml("http://127.0.0.1:5712/webhook")
    assert "s3cret" not in text and "r3dis" not in text
    data = yaml.safe_load(text)
    assert data["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 5433,
        "db": "dvc_scale",
        "username": "bot",
        "password": "${DVC_PG_PASSWORD}",
    }
    assert data["lock_store"]["type"] == "redis" and data["lock_store"]["db"] == 5
    assert data["lock_store"]["key_prefix"] == "dvcscale"  # Rasa ignores a prefix that is not alphanumeric
    assert backends.pg_password == "s3cret"
    assert backends.database_url == "postgresql://bot:s3cret@db.internal:5433/dvc_scale"


def test_no_password_means_no_password_line():
    # Redis answers AUTH with an empty password with an error, and every message then fails
    data = yaml.safe_load(scaled_config.Backends().endpoints_yaml("http://x/webhook"))
    assert "password" not in data["lock_store"] and "password" not in data["tracker_store"]


def test_ports_stay_inside_the_base_range():
    ports = scaled_config.Ports(5710, 2)
    every = [ports.public, ports.api, ports.actions_proxy, *ports.rasa, *ports.actions, ports.console]
    assert len(set(every)) == len(every) and min(every) == 5710 and max(every) < 5800


def test_generated_nginx_config_is_valid(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not nginx:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    text = scaled_config.nginx_conf(scaled_config.Ports(5710, 2), tmp_path)
    assert "server 127.0.0.1:5720" in text and "server 127.0.0.1:5731" in text
    assert str(scaled_config.DEPLOY_LOCATIONS) in text  # the shipped public paths, not a copy
    conf = tmp_path / "nginx.conf"
    conf.write_text(text.replace(str(scaled_config.LOGS), str(tmp_path)), encoding="utf-8")
    result = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
