#!/usr/bin/env bash
# Print the local directory of a pinned upstream Go module, downloading it into the Go module cache if needed.
#
#   toolchain/upstream.sh ARGO_WORKFLOWS      -> /root/go/pkg/mod/github.com/argoproj/argo-workflows/v3@v3.7.9
#
# The schemas and CRDs the tests validate against, and the Argo build, come from these directories: the module
# proxy serves each pinned version's source, so nothing else has to be fetched or kept beside the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
name=${1:?usage: upstream.sh ARGO_WORKFLOWS|ARGO_CD|SPARK_OPERATOR|KUBERAY}
module_var=${name}_MODULE
version_var=${name}_VERSION
module=${!module_var:?unknown upstream $name}
version=${!version_var}
export GOTOOLCHAIN=${GOTOOLCHAIN:-$GO_TOOLCHAIN}
export GOFLAGS=-mod=mod
cd "${TMPDIR:-/tmp}"
go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
