# aem/WebShop-v0: Debian's Chromium for the browser test of `aem serve webshop` (driven by the pip
# package playwright through executable_path=/usr/bin/chromium; `playwright install` is never run, it
# downloads a browser build). Sourced by scripts/setup_system.sh; without it the browser test skips.
PACKAGES+=(chromium)
