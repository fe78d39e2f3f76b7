"""Known vulnerabilities in the installed dependencies (pip-audit).

Fails on any known vulnerability. pip-audit reads vulnerability data from PyPI's JSON API;
where that cannot be reached (a mirror that serves only the package index), it audits
nothing, and this says so plainly instead of printing "no known vulnerabilities".
"""

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")

result = subprocess.run(  # noqa: S603 (a fixed command line)
    [str(PIP_AUDIT), "--skip-editable", "--progress-spinner", "off", "--format", "json"],
    capture_output=True,
    text=True,
    check=False,
)
try:
    report = json.loads(result.stdout)
except json.JSONDecodeError:
    sys.exit(f"pip-audit failed:\n{result.stderr}")
dependencies = report["dependencies"]
vulnerable = [d for d in dependencies if d.get("vulns")]
skipped = [d for d in dependencies if d.get("skip_reason")]
audited = len(dependencies) - len(skipped)
for dependency in vulnerable:
    for vulnerability in dependency["vulns"]:
        print(
            f"{dependency['name']} {dependency['version']}: {vulnerability['id']} "
            f"(fixed in {', '.join(vulnerability.get('fix_versions', [])) or 'no release'})"
        )
print(
    f"pip-audit: {audited} of {len(dependencies)} dependencies audited, "
    f"{len(vulnerable)} vulnerable"
)
if skipped and not audited:
    print(
        "pip-audit: WARNING: no vulnerability data could be fetched (PyPI's JSON API is "
        "unreachable from here); nothing was audited"
    )
sys.exit(1 if vulnerable else 0)
