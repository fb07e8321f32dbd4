#!/bin/sh
# The engine's namespace and every custom search attribute it needs, on a running Temporal
# server (the `temporal` CLI of temporalio/admin-tools, addressed by TEMPORAL_ADDRESS). Safe to
# re-run: what exists is kept; an attribute that can be neither created nor listed fails it.
#   SEARCH_ATTRIBUTES="OrderStatus=Keyword OrderTotal=Int ..."  (workflows/names.py)
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-7d}"
: "${SEARCH_ATTRIBUTES:?name=Type pairs, as workflows/names.py SEARCH_ATTRIBUTES}"

tries=0
until temporal operator cluster health; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "Temporal did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

if ! temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
fi

for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if ! temporal operator search-attribute create --namespace "$NAMESPACE" \
    --name "$name" --type "$type"; then
    temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name" || {
      echo "search attribute $name ($type) could not be created" >&2
      exit 1
    }
  fi
done
echo "namespace $NAMESPACE ready with: $SEARCH_ATTRIBUTES"
