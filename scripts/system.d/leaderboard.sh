# leaderboard: the web page's browser test drives Debian chromium through playwright
# (never `playwright install`); upstream.sh lists it too, duplicates are harmless.
PACKAGES+=(chromium)
