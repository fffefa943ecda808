#!/usr/bin/env bash
# Tesseract (OCR of scanned PDF pages) with its English model, from the system's packages. Models ship in the
# packages, so OCR never downloads anything at run time. Installs when missing (apt, as root or with sudo); elsewhere
# it says what to install and carries on: extraction then reports scans as needing OCR.
set -euo pipefail

have_ocr() { command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx eng; }

have_ocr && exit 0
if command -v apt-get >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Tesseract OCR (tesseract-ocr, tesseract-ocr-eng)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null
fi
have_ocr || echo "WARNING: Tesseract with English is not installed; scanned PDF pages cannot be read" \
  "(install tesseract-ocr and tesseract-ocr-eng)." >&2
