# Upstream env families (issue 9): ScienceWorld and TextWorldExpress run their bundled jars on Java 17;
# MiniWoB++ drives Debian's headless Chromium through chromedriver. faketime runs the
# TextWorld generator under a shifted clock (the test that its games hash the same on any day).
# Sourced by scripts/setup_system.sh under `set -euo pipefail`: nothing here may abort the setup.
# Only ask for a JRE when no java is on PATH (an existing JDK 17+ is fine and we don't add a second one).
command -v java >/dev/null 2>&1 || PACKAGES+=(openjdk-17-jre-headless)
PACKAGES+=(chromium chromium-driver faketime)
