#!/usr/bin/env bash
# Fill the real-media cache used by the `realmedia` tests (see tests/realmedia.py).
# Usage: bash data_prep/fetch_real_media.sh [CACHE_DIR]   (default $AVLEARN_REALMEDIA or .realmedia_cache/)
# Fails soft: each source is optional and this script always exits 0.
cd "$(dirname "$0")/.." || exit 0
python tests/realmedia.py "$@" || echo "realmedia: fetch failed (ignored)"
exit 0
