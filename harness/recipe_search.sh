#!/usr/bin/env bash
# Recipe search for needle retrieval (README, "Training for retrieval"): installs what is missing,
# builds, fetches the pinned data, then trains the recipes of harness/recipes.ini (or those named)
# and prints the table; every option is harness/recipe_search.py's (see its --help).
# usage: bash harness/recipe_search.sh [--only NAME[,NAME...]] [recipe_search.py options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
exec /usr/bin/python3 "$root/harness/recipe_search.py" "$@"
