#!/usr/bin/env bash
# The test command's setup: what deploy/setup.sh installs to build, and the tools only
# the tests use:
#   chromium, chromium-driver, fonts-wqy-microhei  the headless browser test of the
#                   dashboard (and a CJK font for its screenshot and for printing forms)
#   libreoffice-calc-nogui  a real spreadsheet program: the exported forms are opened
#                   and printed to PDF headless, and their pages counted
#   poppler-utils   pdftotext and pdfinfo, to read those PDFs back
#   .venv           Python with stock grpcio, its tools, cryptography and a nats-server
#                   binary, pinned (deploy/setup-python.sh, tests/python/requirements.txt):
#                   the consumers nobody here wrote, and a real JetStream cluster
# Idempotent: installs only what is missing. Needs root (or sudo) the first time.
set -euo pipefail
bash "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/install-packages.sh"
install_packages chromium chromium-driver fonts-wqy-microhei poppler-utils
# The spreadsheet program alone (its recommended packages add a Java runtime and more).
NO_RECOMMENDS=1 install_packages libreoffice-calc-nogui
bash "$(dirname "$0")/setup-python.sh"
