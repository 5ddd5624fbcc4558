#!/usr/bin/env bash
# Installs what the local stack and the tests need besides npm packages: Java 17+ and the gcloud
# Firestore and Pub/Sub emulators, and Chromium (the support console's browser test drives it headless).
# Debian/Ubuntu; run as root (or with sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v java >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq openjdk-17-jre-headless
fi
if ! command -v gcloud >/dev/null 2>&1 || [ ! -d "$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null)/platform/cloud-firestore-emulator" ]; then
  if ! apt-cache policy google-cloud-cli 2>/dev/null | grep -q Candidate; then
    $SUDO apt-get install -y -qq apt-transport-https ca-certificates gnupg curl
    curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | $SUDO gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg
    echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" | $SUDO tee /etc/apt/sources.list.d/google-cloud-sdk.list >/dev/null
    $SUDO apt-get update -qq
  fi
  $SUDO apt-get install -y -qq google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator
fi
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  # Debian names it chromium; Ubuntu's chromium-browser is a snap wrapper that does not run headless in CI.
  $SUDO apt-get install -y -qq chromium
fi
java -version 2>&1 | head -1
gcloud --version | head -1
chromium --version | head -1
