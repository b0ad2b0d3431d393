#!/usr/bin/env bash
# scripts/lint.sh: gofmt, go vet and golangci-lint (staticcheck, and a
# depguard rule keeping every domain/ package on the standard library) over
# every module of go.work, and a build of each module without go.work.
# golangci-lint is installed into .cache/bin at the pinned version when
# missing.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
GOLANGCI_VERSION=v2.15.0
BIN=$ROOT/.cache/bin
LINT=$BIN/golangci-lint

if ! [ -x "$LINT" ] || ! "$LINT" version 2>/dev/null | grep -q "${GOLANGCI_VERSION#v}"; then
  echo "installing golangci-lint $GOLANGCI_VERSION into $BIN"
  GOBIN=$BIN go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_VERSION" || exit 1
fi

status=0
unformatted=$(gofmt -l $(scripts/modules.sh))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"
  echo "$unformatted"
  status=1
fi
for mod in $(scripts/modules.sh); do
  echo "=== lint $mod"
  (cd "$mod" && go vet ./... && "$LINT" run --allow-parallel-runners --config "$ROOT/.golangci.yml" ./...) || status=1
  # Each module must also build alone (its replace lines and go.mod
  # complete), as a user vendoring one module would build it.
  if ! (cd "$mod" && GOWORK=off go build -mod=readonly ./... >/dev/null); then
    echo "$mod does not build without go.work: run 'GOWORK=off go mod tidy' there"
    status=1
  fi
done
[ $status -eq 0 ] && echo "lint passed"
exit $status
