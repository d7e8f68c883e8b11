"""Export swebench 4.1.0's spec tables as data, and what 4.1.0 derives for sample rows (test fixtures).

swebench 5.x rows carry ``image``/``eval_script``/``log_parser``/``eval_type``; classic (4.x-era) rows do
not, and 5.x cannot derive them. 4.1.0 derived them from tables keyed by repo and version. This script
reads those tables from an installed swebench 4.1.0 and writes them as JSON, which
``aem_envs.swe.derive`` reads (docs/swe-rows.md). It is run by hand, in a throwaway venv, never by tests:

    uv venv /tmp/sweb41 && VIRTUAL_ENV=/tmp/sweb41 uv pip install swebench==4.1.0
    /tmp/sweb41/bin/python scripts/swebench_specs.py specs            # tasks/swebench/specs-4.1.0.json
    /tmp/sweb41/bin/python scripts/swebench_specs.py golden ROWS OUT  # 4.1.0's own eval scripts for ROWS

``golden`` calls 4.1.0's own functions (``make_eval_script_list``, ``TestSpec.instance_image_key``,
``MAP_REPO_TO_PARSER``) on every row of ROWS (JSONL) and writes {instance_id: derived fields}; the
tests compare ``aem_envs.swe.derive`` with it. (``make_test_spec`` itself is not called: it fetches
requirements files from GitHub for most repos.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tasks" / "swebench" / "specs-4.1.0.json"


def _check_version() -> None:
    import swebench

    if swebench.__version__ != "4.1.0":
        sys.exit(f"needs swebench 4.1.0 (found {swebench.__version__}); see the module docstring")


def specs() -> None:
    from swebench.harness import constants as c
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER

    repos = {}
    for repo, versions in sorted(c.MAP_REPO_VERSION_TO_SPECS.items()):
        parser = MAP_REPO_TO_PARSER.get(repo)
        repos[repo] = {"ext": c.MAP_REPO_TO_EXT[repo], "log_parser": parser.__name__ if parser else None,
                       "install": c.MAP_REPO_TO_INSTALL.get(repo), "versions": versions}
    data = {
        "swebench": "4.1.0",
        "source": "swebench 4.1.0 from PyPI: swebench.harness.constants (MAP_REPO_VERSION_TO_SPECS, "
                  "MAP_REPO_TO_EXT, MAP_REPO_TO_INSTALL, NON_TEST_EXTS, REPO_BASE_COMMIT_BRANCH, "
                  "MAP_REPO_TO_REQS_PATHS, MAP_REPO_TO_ENV_YML_PATHS) and swebench.harness.log_parsers "
                  "(MAP_REPO_TO_PARSER, by function name)",
        "license": "MIT, Copyright (c) 2023 Carlos E Jimenez, John Yang, Alexander Wettig, Shunyu Yao, "
                   "Kexin Pei, Ofir Press, Karthik R Narasimhan",
        "non_test_exts": list(c.NON_TEST_EXTS),
        "fail_only_repos": sorted(c.FAIL_ONLY_REPOS),
        "base_commit_branch": c.REPO_BASE_COMMIT_BRANCH,
        "reqs_paths": c.MAP_REPO_TO_REQS_PATHS,
        "env_yml_paths": c.MAP_REPO_TO_ENV_YML_PATHS,
        "repos": repos,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({sum(len(r['versions']) for r in repos.values())} repo versions)")


def golden(rows_path: str, out_path: str) -> None:
    from swebench.harness.constants import MAP_REPO_TO_EXT, MAP_REPO_VERSION_TO_SPECS
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    from swebench.harness.test_spec.create_scripts import make_eval_script_list
    from swebench.harness.test_spec.test_spec import TestSpec

    out = {}
    for line in Path(rows_path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        specs = MAP_REPO_VERSION_TO_SPECS[row["repo"]][row["version"]]
        lines = make_eval_script_list(row, specs, "testbed", "/testbed", row["base_commit"],
                                      row["test_patch"])
        spec = TestSpec(instance_id=row["instance_id"], repo=row["repo"], version=row["version"],
                        repo_script_list=[], eval_script_list=lines, env_script_list=[], arch="x86_64",
                        FAIL_TO_PASS=[], PASS_TO_PASS=[], language=MAP_REPO_TO_EXT[row["repo"]],
                        docker_specs={}, namespace="swebench")
        local = TestSpec(**{**spec.__dict__, "namespace": None})
        out[row["instance_id"]] = {"eval_script": spec.eval_script,
                                   "log_parser": MAP_REPO_TO_PARSER[row["repo"]].__name__,
                                   "image_harness": spec.instance_image_key,
                                   "image_local": local.instance_image_key}
    Path(out_path).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out_path} ({len(out)} rows)")


if __name__ == "__main__":
    _check_version()
    if sys.argv[1:2] == ["specs"]:
        specs()
    elif sys.argv[1:2] == ["golden"] and len(sys.argv) == 4:
        golden(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
