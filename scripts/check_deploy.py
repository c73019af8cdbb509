"""Validate deploy/ offline: the Compose file against the vendored compose-spec schema, the Kubernetes
manifests against the schemas bundled in kubernetes-validate (strict: unknown fields are errors).

    .venv-load/bin/python scripts/check_deploy.py        (part of `make lint`)

Exit status 1 with file and problem for anything invalid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_SCHEMA = DEPLOY / "schemas" / "compose-spec.json"
KUBERNETES_VERSION = "1.30.0"


def check_compose(path: Path) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{path.relative_to(ROOT)}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
    for name, service in (document.get("services") or {}).items():
        if not service.get("image") and not service.get("build"):
            problems.append(f"{path.relative_to(ROOT)}: service {name} has neither image nor build")
        build = service.get("build")
        if isinstance(build, dict) and build.get("dockerfile"):
            dockerfile = (path.parent / build.get("context", ".") / build["dockerfile"]).resolve()
            if not dockerfile.exists():
                problems.append(f"{path.relative_to(ROOT)}: service {name}: no Dockerfile at {dockerfile}")
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else ""
            if source.startswith(".") and not (path.parent / source).exists():
                problems.append(f"{path.relative_to(ROOT)}: service {name}: mounted file {source} does not exist")
    return problems


def check_kubernetes(path: Path) -> list[str]:
    problems = []
    for i, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
        if document is None:
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(map(str, exc.path)) or "(top)"
            problems.append(
                f"{path.relative_to(ROOT)} document {i + 1} ({document.get('kind')}): {where}: {exc.message}"
            )
        except Exception as exc:  # noqa: BLE001 - an unknown kind / version is a problem too
            problems.append(f"{path.relative_to(ROOT)} document {i + 1}: {exc}")
    return problems


def main() -> int:
    compose = sorted((DEPLOY / "compose").glob("compose*.yml"))
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    if not compose or not manifests:
        print("check_deploy: no Compose file or no Kubernetes manifest found under deploy/", file=sys.stderr)
        return 1
    problems = [p for f in compose for p in check_compose(f)] + [p for f in manifests for p in check_kubernetes(f)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"deploy/: {len(compose)} Compose file(s), {len(manifests)} Kubernetes file(s): "
        f"{'OK' if not problems else f'{len(problems)} problem(s)'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
